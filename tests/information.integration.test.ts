// What a patient looks up, over HTTP on the real stack (issue 13): the price list, and the registration
// fee a booking asks for agrees with it; a drug's information; the hospital guide; admins' edits, each
// kept in the history and none reset by the seed at the next start; a patient's records, newest first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedReferenceData } from '../activities/seed.js';
import { startStack, type Stack } from './support/stack.js';
import { json, problem } from './support/http.js';
import { verifiedClinician, verifiedPatient } from './support/people.js';
import { checkedIn } from './support/visits.js';

type Json = Record<string, any>;
let stack: Stack;
let admin: string;
let patient: { id: string; token: string };

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'admin-info');
  const p = await verifiedPatient(stack, admin, { name: '查询患者', phone: '+8613800000093', birthDate: '1970-03-03', sex: 'M' });
  patient = { id: p.id, token: await stack.token('patient', p.id) };
});
afterAll(async () => {
  await stack?.stop();
});

const get = async (path: string, token = patient.token, status = 200) => json(await stack.call('GET', path, { token }), status);
const put = (path: string, token: string, body: unknown) => stack.call('PUT', path, { token, body });

describe('the price list', () => {
  it('shows a patient registration, consultation, exam and drug prices, and finds them by code or either name', async () => {
    const all = (await get('/v1/prices')).items as Json[];
    const find = (kind: string, code: string) => all.find((i) => i.kind === kind && i.code === code);
    expect(find('registration', 'standard-outpatient')).toEqual({ kind: 'registration', code: 'standard-outpatient', name: { 'zh-CN': 'Standard outpatient visit', en: 'Standard outpatient visit' }, amount: 1500, currency: 'CNY', unit: 'visit', version: 1 });
    expect(find('registration', 'online-follow-up')).toMatchObject({ amount: 1000 });
    expect(find('consultation', 'text-consultation')).toMatchObject({ amount: 3000, unit: 'consultation' });
    expect(find('consultation', 'mdt-standard')).toBeUndefined();
    expect(find('exam', 'cbc')).toMatchObject({ amount: 2500, unit: 'exam' });
    expect(find('drug', 'amlodipine-5mg')).toEqual({ kind: 'drug', code: 'amlodipine-5mg', name: { 'zh-CN': '氨氯地平片', en: 'Amlodipine 5 mg tablet' }, amount: 150, currency: 'CNY', unit: 'tablet' });
    // By kind, then code.
    const kinds = all.map((i) => i.kind);
    expect(kinds).toEqual([...kinds].sort((a, b) => ['registration', 'consultation', 'exam', 'drug'].indexOf(a) - ['registration', 'consultation', 'exam', 'drug'].indexOf(b)));
    expect((await get(`/v1/prices?query=${encodeURIComponent('氨氯')}`)).items.map((i: Json) => i.code)).toEqual(['amlodipine-5mg']);
    expect((await get('/v1/prices?query=HBA1C')).items.map((i: Json) => i.code)).toEqual(['hba1c']);
    expect((await get('/v1/prices?query=100%25')).items).toEqual([]);
    expect((await get('/v1/prices?kind=registration')).items.every((i: Json) => i.kind === 'registration')).toBe(true);
    expect((await stack.call('GET', '/v1/prices')).status).toBe(401);
    expect((await stack.call('GET', '/v1/prices?kind=parking', { token: patient.token })).status).toBe(400);
  });

  it('asks a booking for the registration fee it lists, invoices what was paid, and voids the invoice on refund', async () => {
    const listed = (await get('/v1/prices?kind=registration&query=standard-outpatient')).items[0];
    const doctor = await verifiedClinician(stack, admin, { name: '价格医生', role: 'doctor', department: 'cardiology' });
    const start = new Date(Date.now() + 3_600_000);
    const slot = await json(
      await stack.call('POST', '/v1/slots', { token: admin, body: { doctorId: doctor.id, department: 'cardiology', start: start.toISOString(), end: new Date(start.getTime() + 1_800_000).toISOString(), capacity: 2, mode: 'offline' } }),
      201,
    );
    const j = await json(await stack.call('POST', '/v1/journeys', { token: patient.token, body: { patientId: patient.id, mode: 'offline', complaint: '高血压，最近头晕' } }), 201);
    const booked = await json(await stack.call('POST', `/v1/journeys/${j.id}/appointment`, { token: patient.token, body: { slotId: slot.id } }), 200);
    expect(booked.pathway).toEqual({ id: listed.code, version: listed.version });
    expect(booked.payment).toMatchObject({ amount: listed.amount, currency: listed.currency });

    // Paid: one invoice for what was paid, itemized as listed; cancelled, the fee refunded: voided.
    expect((await stack.payWebhook({ orderId: booked.payment.orderId, status: 'paid', amount: listed.amount, paidAt: new Date().toISOString(), channel: 'wechat' })).status).toBe(204);
    const invoices = async () => ((await get(`/v1/patients/${patient.id}/invoices`)).items as Json[]).filter((i) => i.orderId === booked.payment.orderId);
    const [issued, ...none] = await invoices();
    expect(none).toEqual([]);
    expect(issued).toMatchObject({
      status: 'issued',
      amount: listed.amount,
      payers: { self: listed.amount, insurance: 0 },
      channel: 'wechat',
      items: [{ kind: 'registration', code: listed.code, name: listed.name.en, quantity: 1, unitPrice: listed.amount, amount: listed.amount }],
    });
    expect((await stack.call('GET', `/v1/patients/${patient.id}/invoices`, { token: await stack.token('patient', 'someone-else') })).status).toBe(404);
    await json(await stack.call('POST', `/v1/journeys/${j.id}/cancel`, { token: patient.token, body: { reason: '改期' } }), 200);
    expect((await invoices()).map((i) => [i.number, i.status])).toEqual([[issued!.number, 'voided']]);
  });
});

describe("a drug's information", () => {
  it('answers a patient with usage, contraindications and the leaflet in both languages, and the unit price', async () => {
    const d = await get('/v1/drugs/metformin-500mg');
    expect(d).toMatchObject({ code: 'metformin-500mg', name: { 'zh-CN': '二甲双胍片', en: 'Metformin 500 mg tablet' }, form: 'tablet', class: 'ordinary', unitPrice: expect.any(Number), currency: 'CNY', version: 1 });
    for (const field of ['usage', 'contraindications', 'leaflet']) {
      expect(d[field]['zh-CN'].length, field).toBeGreaterThan(10);
      expect(d[field].en.length, field).toBeGreaterThan(10);
    }
    // A controlled drug's leaflet says it is not prescribed online.
    expect((await get('/v1/drugs/morphine-10mg')).leaflet['zh-CN']).toContain('不通过互联网医院开具');
    expect((await stack.call('GET', '/v1/drugs/no-such-drug', { token: patient.token })).status).toBe(404);
    expect((await stack.call('GET', '/v1/drugs/BAD%20CODE', { token: patient.token })).status).toBe(400);
    // The catalogue search stays for staff.
    expect((await stack.call('GET', '/v1/drugs?query=metformin', { token: patient.token })).status).toBe(403);
  });

  it("lets an admin edit a drug's information and price; each edit is kept, the price list follows, and the seed does not undo them", async () => {
    const info = {
      usage: { 'zh-CN': '每日一次，每次一片，遵医嘱。', en: 'One tablet once a day, as your doctor prescribed.' },
      contraindications: { 'zh-CN': '对本品过敏者禁用。', en: 'Do not take it if you are allergic to it.' },
      leaflet: { 'zh-CN': '用于降血压。修订版说明。', en: 'Lowers blood pressure. Revised leaflet.' },
    };
    expect((await put('/v1/drugs/amlodipine-5mg/information', patient.token, info)).status).toBe(403);
    const edited = await json(await put('/v1/drugs/amlodipine-5mg/information', admin, info), 200);
    expect(edited).toMatchObject({ code: 'amlodipine-5mg', version: 2, ...info });
    expect((await get('/v1/drugs/amlodipine-5mg')).leaflet).toEqual(info.leaflet);
    expect((await problem(await put('/v1/drugs/amlodipine-5mg/information', admin, { ...info, leaflet: { en: 'x' } }), 400)).errors!.map((e) => e.path)).toContain('json.leaflet.zh-CN');
    expect((await put('/v1/drugs/no-such-drug/information', admin, info)).status).toBe(404);

    expect(await json(await put('/v1/drugs/amlodipine-5mg/price', admin, { amount: 180 }), 200)).toEqual({ code: 'amlodipine-5mg', amount: 180, version: 1 });
    expect(await json(await put('/v1/exam-catalogue/cbc/price', admin, { amount: 2800 }), 200)).toEqual({ code: 'cbc', amount: 2800, version: 1 });
    expect((await put('/v1/drugs/amlodipine-5mg/price', admin, { amount: -1 })).status).toBe(400);
    expect((await put('/v1/exam-catalogue/cbc/price', patient.token, { amount: 1 })).status).toBe(403);
    const prices = async () => Object.fromEntries(((await get('/v1/prices')).items as Json[]).map((i) => [`${i.kind}:${i.code}`, i.amount]));
    expect(await prices()).toMatchObject({ 'drug:amlodipine-5mg': 180, 'exam:cbc': 2800 });
    expect((await get('/v1/drugs/amlodipine-5mg')).unitPrice).toBe(180);

    // The seed runs at every start: what an admin set stays.
    await seedReferenceData(stack.db.sql);
    expect(await prices()).toMatchObject({ 'drug:amlodipine-5mg': 180, 'exam:cbc': 2800 });
    expect((await get('/v1/drugs/amlodipine-5mg')).version).toBe(2);

    const history = (await get('/v1/information-changes?key=amlodipine-5mg', admin)).items as Json[];
    expect(history.map((h) => [h.kind, h.version, h.data, h.changedBy])).toEqual([
      ['drug-price', 1, { amount: 180 }, 'admin:admin-info'],
      ['drug-information', 2, info, 'admin:admin-info'],
    ]);
    expect((await get('/v1/information-changes?kind=exam-price', admin)).items.map((h: Json) => [h.key, h.data])).toEqual([['cbc', { amount: 2800 }]]);
    expect((await stack.call('GET', '/v1/information-changes', { token: patient.token })).status).toBe(403);
  });
});

describe('the hospital guide', () => {
  it('lists every department with building, floor, location and hours, and the procedures, in both languages', async () => {
    const g = await get('/v1/guide');
    expect(g.departments).toHaveLength(13);
    expect(g.departments[0].code).toBe('general-medicine');
    const cardiology = g.departments.find((d: Json) => d.code === 'cardiology');
    expect(cardiology).toMatchObject({ name: { 'zh-CN': '心血管内科', en: 'Cardiology' }, floor: expect.any(Number), version: 1 });
    for (const f of ['building', 'location', 'hours']) expect(Object.keys(cardiology[f]).sort()).toEqual(['en', 'zh-CN']);
    expect(g.procedures.map((p: Json) => p.code)).toEqual(['visit', 'medicine-pickup', 'payment-and-insurance', 'online-follow-up']);
    expect(g.procedures[1].steps.length).toBeGreaterThan(3);
  });

  it('takes admins\' edits, adds a new entry at the end, and keeps each edit', async () => {
    const body = {
      name: { 'zh-CN': '心血管内科', en: 'Cardiology' },
      building: { 'zh-CN': '门诊楼', en: 'Outpatient Building' },
      floor: 4,
      location: { 'zh-CN': '门诊楼4层东区 401–410诊室', en: 'Outpatient Building, 4th floor east, rooms 401–410' },
      hours: { 'zh-CN': '周一至周六 8:00–17:00', en: 'Mon–Sat 8:00–17:00' },
    };
    expect((await put('/v1/guide/departments/cardiology', patient.token, body)).status).toBe(403);
    expect(await json(await put('/v1/guide/departments/cardiology', admin, body), 200)).toEqual({ code: 'cardiology', version: 2 });
    expect(await json(await put('/v1/guide/departments/sleep-clinic', admin, { ...body, name: { 'zh-CN': '睡眠门诊', en: 'Sleep clinic' } }), 200)).toEqual({ code: 'sleep-clinic', version: 1 });
    const procedure = { title: { 'zh-CN': '夜间急诊', en: 'Night emergency' }, steps: [{ 'zh-CN': '直接前往急诊科。', en: 'Go straight to the emergency department.' }] };
    expect(await json(await put('/v1/guide/procedures/night-emergency', admin, procedure), 200)).toEqual({ code: 'night-emergency', version: 1 });
    expect((await put('/v1/guide/procedures/night-emergency', admin, { ...procedure, steps: [] })).status).toBe(400);
    const g = await get('/v1/guide');
    expect(g.departments.find((d: Json) => d.code === 'cardiology')).toMatchObject({ floor: 4, version: 2, location: body.location });
    expect(g.departments.at(-1).code).toBe('sleep-clinic');
    expect(g.procedures.at(-1)).toMatchObject({ code: 'night-emergency', ...procedure });
    const history = (await get('/v1/information-changes?kind=guide-department', admin)).items as Json[];
    expect(history.map((h) => [h.key, h.version])).toEqual([
      ['sleep-clinic', 1],
      ['cardiology', 2],
    ]);
    await seedReferenceData(stack.db.sql);
    expect((await get('/v1/guide')).departments.find((d: Json) => d.code === 'cardiology')).toMatchObject({ floor: 4, version: 2 });
  });
});

describe("a patient's records", () => {
  it('lists the journey, its outcome, prescription and exam newest first, each with its link; others may not read them', async () => {
    const doctor = await verifiedClinician(stack, admin, { name: '记录医生', role: 'doctor', department: 'respiratory' });
    const doctorToken = await stack.token('doctor', doctor.id);
    const visit = await checkedIn(stack, { admin, doctorId: doctor.id, pathwayId: 'standard-outpatient', fee: 1500 });
    await json(await stack.call('POST', `/v1/journeys/${visit.journeyId}/consultation`, { token: doctorToken }), 200);
    const outcome = await json(
      await stack.call('POST', `/v1/journeys/${visit.journeyId}/outcome`, {
        token: doctorToken,
        body: {
          diagnosis: { code: 'J20.9', text: '急性支气管炎' },
          notes: '多饮水',
          prescriptions: [{ items: [{ drugCode: 'ambroxol-30mg', dose: '30 mg', frequency: 'tid', days: 3, quantity: 9 }] }],
          exams: [{ code: 'cbc' }],
        },
      }),
      200,
    );
    const [rxId] = outcome.created.prescriptions as string[];
    const [examId] = outcome.created.exams as string[];
    const records = (await get(`/v1/patients/${visit.patientId}/records`, visit.patient)).items as Json[];
    expect(records.map((r) => [r.type, r.id])).toEqual(
      expect.arrayContaining([
        ['journey', visit.journeyId],
        ['outcome', visit.journeyId],
        ['prescription', rxId],
        ['exam', examId],
      ]),
    );
    expect(records).toHaveLength(4);
    const ats = records.map((r) => Date.parse(r.at));
    expect(ats).toEqual([...ats].sort((a, b) => b - a));
    expect(records.at(-1)).toMatchObject({ type: 'journey', href: `/v1/journeys/${visit.journeyId}`, status: expect.any(String), detail: { mode: 'offline', department: 'respiratory' } });
    expect(records.find((r) => r.type === 'outcome')).toMatchObject({ href: `/v1/journeys/${visit.journeyId}`, detail: { diagnosis: { code: 'J20.9', text: '急性支气管炎' }, doctorId: doctor.id } });
    expect(records.find((r) => r.type === 'prescription')).toMatchObject({ href: `/v1/prescriptions/${rxId}`, journeyId: visit.journeyId, detail: { items: [{ drugCode: 'ambroxol-30mg', quantity: 9 }] } });
    expect(records.find((r) => r.type === 'exam')).toMatchObject({ href: `/v1/exams/${examId}`, detail: { code: 'cbc' } });
    // Each link reads its detail for the patient.
    for (const r of records) expect((await stack.call('GET', r.href, { token: visit.patient })).status, r.href).toBe(200);
    // Staff read them too; another patient gets 404, a doctor 403.
    expect((await get(`/v1/patients/${visit.patientId}/records`, admin)).items).toHaveLength(4);
    expect((await stack.call('GET', `/v1/patients/${visit.patientId}/records`, { token: patient.token })).status).toBe(404);
    expect((await stack.call('GET', `/v1/patients/${visit.patientId}/records`, { token: doctorToken })).status).toBe(403);
    expect((await get(`/v1/patients/${visit.patientId}/records?limit=2`, visit.patient)).items).toHaveLength(2);
  });
});
