// The post-visit API over HTTP on the real components (dev server, PostgreSQL, a worker): the drug
// and facility catalogue; exams and referrals from a doctor's outcome to completion, through their
// routes and the lab's and facility's signed webhooks (forged ones change nothing), with who may see
// and do what, the refusals of each state, and a late exam payment refunded onto the exam.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../activities/signature.js';
import { notificationListener, SECRETS, startStack, type Received, type Stack } from './support/stack.js';
import { json, problem, waitFor } from './support/http.js';
import { pharmacistToken, verifyClinicianId, verifyPatientId } from './support/people.js';

let stack: Stack;
let admin: string;
let coordinator: string;
let doctor: string;
let pharmacist: string;
let patient: string;



beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'admin-1');
  coordinator = await stack.token('coordinator', 'coord-1');
  doctor = await stack.token('doctor', 'doc-1');
  pharmacist = await pharmacistToken(stack, admin);
  patient = await stack.token('patient', 'pat-1');
});
afterAll(async () => {
  await stack?.stop();
});

describe('GET /v1/drugs', () => {
  interface Drug { code: string; name: string; nameEn: string; form: string; class: string; unitPrice: number; maxDays: number; chronic: boolean; condition?: string }
  const search = async (query: string, token = doctor): Promise<Drug[]> => (await json<{ items: Drug[] }>(await stack.call('GET', `/v1/drugs${query}`, { token }), 200)).items;

  it('finds a drug by its Chinese name, its English name in any case, or its code, with every catalogue field', async () => {
    const amlodipine = { code: 'amlodipine-5mg', name: '氨氯地平片', nameEn: 'Amlodipine 5 mg tablet', form: 'tablet', class: 'ordinary', unitPrice: 150, maxDays: 30, chronic: true, condition: 'hypertension' };
    expect(await search(`?query=${encodeURIComponent('氨氯地平')}`)).toEqual([amlodipine]);
    expect(await search('?query=amlodipine')).toEqual([amlodipine]);
    expect(await search('?query=AMLODIPINE')).toEqual([amlodipine]);
    expect(await search('?query=amlodipine-5')).toEqual([amlodipine]);
    expect((await search(`?query=${encodeURIComponent('二甲双胍')}`)).map((d) => [d.code, d.chronic, d.maxDays])).toEqual([['metformin-500mg', true, 30]]);
  });

  it('lists controlled drugs with their class (so a search finds them), and filters by class', async () => {
    const morphine = await search(`?query=${encodeURIComponent('吗啡')}`);
    expect(morphine).toEqual([{ code: 'morphine-10mg', name: '吗啡片', nameEn: 'Morphine 10 mg tablet', form: 'tablet', class: 'narcotic', unitPrice: 300, maxDays: 3, chronic: false }]);
    expect((await search(`?query=${encodeURIComponent('地西泮')}`)).map((d) => d.class)).toEqual(['psychotropic']);
    const narcotics = await search('?class=narcotic');
    expect(narcotics.length).toBeGreaterThanOrEqual(3);
    expect(new Set(narcotics.map((d) => d.class))).toEqual(new Set(['narcotic']));
    expect(narcotics.map((d) => d.code)).toEqual(expect.arrayContaining(['morphine-10mg', 'oxycodone-5mg', 'fentanyl-patch-25ug']));
    expect(await search(`?query=${encodeURIComponent('吗啡')}&class=ordinary`)).toEqual([]);
    // No query, or an empty one: the whole catalogue, by English name.
    const all = await search('');
    expect(all.length).toBeGreaterThan(20);
    expect(all.map((d) => d.nameEn)).toEqual([...all.map((d) => d.nameEn)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(await search('?query=')).toEqual(all);
    // LIKE wildcards are matched literally: '%' finds the one drug whose name has a percent sign.
    expect((await search('?query=%25')).map((d) => d.nameEn)).toEqual(['Hydrocortisone cream 1%']);
    expect(await search('?query=_')).toEqual([]);
  });

  it('answers every clinician; a patient is 403, no token 401; bad queries 400', async () => {
    for (const token of [doctor, pharmacist, coordinator, admin]) expect((await search('?query=metformin', token)).map((d) => d.code)).toEqual(['metformin-500mg']);
    await problem(await stack.call('GET', '/v1/drugs?query=metformin', { token: patient }), 403);
    await problem(await stack.call('GET', '/v1/drugs'), 401);
    expect((await problem(await stack.call('GET', '/v1/drugs?class=opioid', { token: doctor }), 400)).errors?.map((e) => e.path)).toEqual(['query.class']);
    expect((await problem(await stack.call('GET', `/v1/drugs?query=${'x'.repeat(101)}`, { token: doctor }), 400)).errors?.map((e) => e.path)).toEqual(['query.query']);
    expect((await problem(await stack.call('GET', '/v1/drugs?query=a%00b', { token: doctor }), 400)).errors?.map((e) => e.path)).toEqual(['query.query']);
    expect((await problem(await stack.call('GET', '/v1/drugs?name=x', { token: doctor }), 400)).type).toMatch(/validation$/);
  });
});

describe('/v1/facilities', () => {
  it('an admin adds facilities (201, webhookUrl optional); every clinician lists them by name; the URL only admins see', async () => {
    const hospital = await json(await stack.call('POST', '/v1/facilities', {
      token: admin, body: { name: '瑞金医院 Ruijin Hospital', kind: 'hospital', webhookUrl: 'https://ruijin.example/carepath/referrals' },
    }), 201);
    expect(hospital).toEqual({ id: expect.any(String), name: '瑞金医院 Ruijin Hospital', kind: 'hospital', webhookUrl: 'https://ruijin.example/carepath/referrals', createdAt: expect.any(String) });
    expect(Math.abs(Date.parse(hospital.createdAt) - Date.now())).toBeLessThan(60_000);
    const clinic = await json(await stack.call('POST', '/v1/facilities', { token: admin, body: { name: 'A community clinic', kind: 'community' } }), 201);
    expect(clinic).toEqual({ id: expect.any(String), name: 'A community clinic', kind: 'community', createdAt: expect.any(String) });
    const lab = await json(await stack.call('POST', '/v1/facilities', { token: admin, body: { name: 'Lab on the corner', kind: 'lab', webhookUrl: 'http://127.0.0.1:9/lab' } }), 201);

    const listed = (await json<{ items: any[] }>(await stack.call('GET', '/v1/facilities', { token: admin }), 200)).items;
    expect(listed.map((f) => f.id)).toEqual([clinic.id, lab.id, hospital.id]); // by name
    expect(listed.find((f) => f.id === hospital.id)).toEqual(hospital);
    for (const token of [doctor, pharmacist, coordinator]) {
      const items = (await json<{ items: any[] }>(await stack.call('GET', '/v1/facilities', { token }), 200)).items;
      expect(items.find((f) => f.id === hospital.id)).toEqual({ id: hospital.id, name: hospital.name, kind: 'hospital', createdAt: hospital.createdAt });
      expect(items.every((f) => f.webhookUrl === undefined)).toBe(true);
    }
    expect((await json<{ items: any[] }>(await stack.call('GET', '/v1/facilities?kind=lab', { token: doctor }), 200)).items.map((f) => f.id)).toEqual([lab.id]);
  });

  it('refuses other roles (403), no token (401), and bad bodies (400): URL scheme, unknown fields, text limits', async () => {
    const body = { name: 'X hospital', kind: 'hospital' };
    for (const token of [coordinator, doctor, pharmacist, patient]) await problem(await stack.call('POST', '/v1/facilities', { token, body }), 403);
    await problem(await stack.call('POST', '/v1/facilities', { body }), 401);
    await problem(await stack.call('GET', '/v1/facilities', { token: patient }), 403);
    const paths = async (b: unknown) => (await problem(await stack.call('POST', '/v1/facilities', { token: admin, body: b }), 400)).errors?.map((e) => e.path);
    for (const url of ['ftp://files.example/x', 'javascript:alert(1)', 'not a url', 'http://', `https://x.example/${'a'.repeat(2000)}`]) {
      expect(await paths({ ...body, webhookUrl: url }), url).toEqual(['json.webhookUrl']);
    }
    expect(await paths({ ...body, kind: 'pharmacy' })).toEqual(['json.kind']);
    expect(await paths({ ...body, name: ' ' })).toEqual(['json.name']);
    expect(await paths({ ...body, name: 'x'.repeat(201) })).toEqual(['json.name']);
    expect(await paths({ ...body, name: 'a\u0000b' })).toEqual(['json.name']);
    expect(await paths({ ...body, id: 'mine' })).toHaveLength(1);
    const before = (await json<{ items: any[] }>(await stack.call('GET', '/v1/facilities', { token: admin }), 200)).items.length;
    expect(before).toBe(3); // nothing refused was stored
  });

  it('documents the catalogue routes in /openapi.json', async () => {
    const doc = (await (await stack.call('GET', '/openapi.json')).json()) as any;
    expect(doc.paths['/v1/drugs']?.get).toBeDefined();
    expect(doc.paths['/v1/facilities']?.get).toBeDefined();
    expect(doc.paths['/v1/facilities']?.post.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/FacilityInput');
    expect(Object.keys(doc.components.schemas.Drug.properties)).toEqual(expect.arrayContaining(['code', 'name', 'nameEn', 'form', 'class', 'unitPrice', 'maxDays', 'chronic']));
  });
});

// ---- exams and referrals ------------------------------------------------------------------------

type Json = Record<string, any>;

const post = (path: string, token: string, body?: unknown) => stack.call('POST', path, { token, ...(body === undefined ? {} : { body }) });
const get = (path: string, token: string) => stack.call('GET', path, { token });
function signedPost(path: string, body: unknown, secret: string): Promise<Response> {
  const raw = JSON.stringify(body);
  return stack.call('POST', path, { raw, headers: { 'X-Signature': sign(secret, raw) } });
}
const lab = (body: Json, secret = SECRETS.labWebhook) => signedPost('/v1/webhooks/lab', body, secret);
const facilityHook = (body: Json, secret = SECRETS.facilityWebhook) => signedPost('/v1/webhooks/facility', body, secret);
const pay = (orderId: string, amount: number) => stack.payWebhook({ orderId, status: 'paid', amount, paidAt: new Date().toISOString(), channel: 'wechat' });
const inAWeek = () => new Date(Date.now() + 7 * 86_400_000).toISOString();

const visitPathway = {
  id: 'post-visit-api', version: 1, name: 'Post-visit API test', modes: ['offline'], fees: { registration: 800 },
  paymentWindow: 'PT10M', appointmentReminders: ['P1D'], nearTurnAhead: 1, noShowGrace: 'PT10M',
  consultStartSla: 'PT10M', pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D', referralResponseSla: 'P2D',
};

let doctorId: string;
let visitDoctor: string;
let otherDoctor: string;
let facilityId: string;
let facilityInbox: { url: string; received: Received[]; close(): Promise<void> };

describe('exams and referrals', () => {
  beforeAll(async () => {
    await json(await post('/v1/pathways', admin, visitPathway), 201);
    doctorId = (await json(await post('/v1/clinicians', admin, { name: 'Dr. After', role: 'doctor', department: 'cardiology' }), 201)).id;
    await verifyClinicianId(stack, admin, doctorId);
    visitDoctor = await stack.token('doctor', doctorId);
    otherDoctor = await stack.token('doctor', 'doc-elsewhere');
    facilityInbox = await notificationListener();
    facilityId = (await json(await post('/v1/facilities', admin, { name: 'Referral Hospital', kind: 'hospital', webhookUrl: facilityInbox.url }), 201)).id;
  });
  afterAll(async () => {
    await facilityInbox?.close();
  });

  /** A journey with `doctorId` whose outcome ordered `exams` and, optionally, a referral to the test facility. */
  async function outcome(exams: string[], referral = true): Promise<{ journeyId: string; patientId: string; patient: string; exams: string[]; referralId?: string }> {
    const p = await json(await post('/v1/patients', admin, { name: '检查患者', phone: '+8613800000031', birthDate: '1962-07-07', sex: 'F' }), 201);
    await verifyPatientId(stack, admin, p.id);
    const patient = await stack.token('patient', p.id);
    const start = new Date(Date.now() + 2500); // time to start, book and pay before it begins, even on a loaded machine
    const slot = await json(await post('/v1/slots', admin, {
      doctorId, department: 'cardiology', start: start.toISOString(), end: new Date(start.getTime() + 3600_000).toISOString(), capacity: 5, mode: 'offline',
    }), 201);
    const j = await json(await post('/v1/journeys', patient, { patientId: p.id, mode: 'offline', complaint: '高血压 头晕', pathwayId: visitPathway.id }), 201);
    const booked = await json(await post(`/v1/journeys/${j.id}/appointment`, patient, { slotId: slot.id }), 200);
    expect((await pay(booked.payment.orderId, 800)).status).toBe(204);
    await new Promise((r) => setTimeout(r, Math.max(0, start.getTime() - Date.now()) + 50));
    await json(await post(`/v1/journeys/${j.id}/check-in`, patient), 200);
    await json(await post(`/v1/journeys/${j.id}/consultation`, visitDoctor), 200);
    const done = await json(await post(`/v1/journeys/${j.id}/outcome`, visitDoctor, {
      diagnosis: { code: 'I10', text: 'Essential hypertension' },
      notes: 'Check HbA1c and lipids.',
      exams: exams.map((code) => ({ code })),
      ...(referral ? { referral: { facilityId, department: 'cardiology', reason: 'Echocardiography', urgency: 'routine', consent: true } } : {}),
    }), 200);
    expect(done.created.exams).toHaveLength(exams.length);
    expect(done.created.referrals).toHaveLength(referral ? 1 : 0);
    return { journeyId: j.id, patientId: p.id, patient, exams: done.created.exams, ...(referral ? { referralId: done.created.referrals[0] } : {}) };
  }

  const exam = async (id: string, token = admin) => json(await get(`/v1/exams/${id}`, token), 200);
  const referralOf = async (id: string, token = admin) => json(await get(`/v1/referrals/${id}`, token), 200);
  /** An item as read right after the outcome: undefined (404) until its first projection lands. */
  const once = async (path: string): Promise<Json | undefined> => {
    const res = await get(path, admin);
    return res.status === 404 ? undefined : json(res, 200);
  };
  /** Waits for the referral's own projection to show `status` (its row appears with its first projection). */
  const referralAt = (id: string, status: string) => waitFor(async () => ((await once(`/v1/referrals/${id}`))?.status === status ? true : undefined));
  const eventsOf = (item: Json) => item.timeline.map((e: Json) => [e.type, e.actor, e.data]);

  it('takes exams from order to result through the API and the lab webhook, and a referral from sent to attended; the journey completes', async () => {
    const { journeyId, patientId, patient, exams: [hba1c, lipids, ecg], referralId } = await outcome(['hba1c', 'lipid-panel', 'ecg']);
    const stranger = await stack.token('patient', 'someone-else');

    // ---- reading an exam: who may see it --------------------------------------------------
    const ordered = await waitFor(async () => {
      const e = await once(`/v1/exams/${hba1c}`);
      return e?.payment ? e : undefined;
    });
    expect(ordered).toMatchObject({
      id: hba1c, journeyId, patientId, doctorId, code: 'hba1c', status: 'awaiting-payment',
      payment: { orderId: `${hba1c}-exam`, amount: 6000, currency: 'CNY', status: 'pending' },
    });
    expect(ordered.name).toMatch(/HbA1c/);
    expect(eventsOf(ordered).slice(0, 2)).toEqual([
      ['exam.ordered', `doctor:${doctorId}`, { code: 'hba1c', price: 6000 }],
      ['payment.requested', 'system', { orderId: `${hba1c}-exam`, amount: 6000, currency: 'CNY', dueBy: ordered.payment.dueBy }],
    ]);
    for (const token of [patient, visitDoctor, coordinator]) expect((await exam(hba1c!, token)).id).toBe(hba1c);
    for (const token of [stranger, otherDoctor, pharmacist]) await problem(await get(`/v1/exams/${hba1c}`, token), 404);
    await problem(await get('/v1/exams/no-such-exam', admin), 404);
    await problem(await get(`/v1/exams/${'x'.repeat(201)}`, admin), 404);
    await problem(await get(`/v1/exams/${hba1c}`, ''), 401);

    // ---- a result before the exam is paid and scheduled: 409, nothing changes ----------------
    expect((await problem(await lab({ examId: hba1c, summary: 'HbA1c 7.9%', abnormal: true }), 409)).type).toMatch(/invalid-state$/);
    expect((await exam(hba1c!)).status).toBe('awaiting-payment');

    // ---- paid through the payment webhook (the order's subject is the exam): scheduled ---------
    expect((await pay(`${hba1c}-exam`, 5999)).status).toBe(422);
    expect((await pay(`${hba1c}-exam`, 6000)).status).toBe(204);
    const scheduled = await exam(hba1c!);
    expect(scheduled).toMatchObject({ status: 'scheduled', payment: { status: 'paid', amount: 6000 } });
    expect(Date.parse(scheduled.scheduledAt)).toBeGreaterThan(Date.now() + 59 * 60_000);
    expect(eventsOf(scheduled).slice(2, 4)).toEqual([
      ['exam.paid', 'payment-provider', { orderId: `${hba1c}-exam`, amount: 6000, channel: 'wechat' }],
      ['exam.scheduled', 'system', { scheduledAt: scheduled.scheduledAt }],
    ]);
    expect((await pay(`${hba1c}-exam`, 6000)).status).toBe(204); // a duplicate
    expect((await exam(hba1c!)).timeline).toHaveLength(scheduled.timeline.length);

    // ---- the lab's result: forged is 401 and changes nothing; signed completes it --------------
    expect((await lab({ examId: hba1c, summary: 'HbA1c 7.9%', abnormal: true }, SECRETS.facilityWebhook)).status).toBe(401);
    expect((await exam(hba1c!)).status).toBe('scheduled');
    expect((await lab({ examId: hba1c, summary: 'HbA1c 7.9%', abnormal: true })).status).toBe(204);
    const completed = await exam(hba1c!);
    expect(completed).toMatchObject({ status: 'completed', result: { summary: 'HbA1c 7.9%', abnormal: true } });
    expect(eventsOf(completed).slice(scheduled.timeline.length)).toEqual([
      ['exam.completed', 'lab', { abnormal: true }],
      ['task.created', 'system', { taskId: `exam:${hba1c}:abnormal-result`, kind: 'abnormal-result' }],
    ]);
    // The abnormal result is a task in the ordering doctor's queue, about the exam.
    const doctorTasks = (await json(await get('/v1/tasks', visitDoctor), 200)).items as Json[];
    expect(doctorTasks.find((t) => t.subject.id === hba1c)).toMatchObject({ kind: 'abnormal-result', role: 'doctor', status: 'open', subject: { type: 'exam', id: hba1c }, journeyId });
    // The patient is told the report is ready, with the exam named.
    const report = await waitFor(async () => stack.notifications.find((n) => n.body.kind === 'report.ready' && n.body.refs.examId === hba1c));
    expect(report.body).toMatchObject({ patientId, refs: { journeyId, examId: hba1c } });
    expect(report.body.body).not.toContain('7.9');
    // A second result, from the lab or a coordinator: 409; cancelling a completed exam: 409.
    expect((await lab({ examId: hba1c, summary: 'again', abnormal: false })).status).toBe(409);
    await problem(await post(`/v1/exams/${hba1c}/result`, coordinator, { summary: 'again', abnormal: false }), 409);
    await problem(await post(`/v1/exams/${hba1c}/cancel`, patient, { reason: 'no longer needed' }), 409);
    expect((await exam(hba1c!)).result).toMatchObject({ summary: 'HbA1c 7.9%', abnormal: true });

    // ---- the lipid panel: the patient cancels it unpaid; then a late payment is refunded ------
    await problem(await post(`/v1/exams/${lipids}/cancel`, visitDoctor, { reason: 'x' }), 403);
    await problem(await post(`/v1/exams/${lipids}/cancel`, stranger, { reason: 'x' }), 404);
    await problem(await post(`/v1/exams/${lipids}/cancel`, patient, {}), 400);
    const cancelled = await json(await post(`/v1/exams/${lipids}/cancel`, patient, { reason: 'will do it at my local clinic' }), 200);
    expect(cancelled).toMatchObject({ id: lipids, status: 'cancelled', payment: { status: 'expired', amount: 4500 } });
    expect(eventsOf(cancelled).at(-1)).toEqual(['exam.cancelled', `patient:${patientId}`, { reason: 'will do it at my local clinic', by: `patient:${patientId}` }]);
    await problem(await post(`/v1/exams/${lipids}/cancel`, coordinator, { reason: 'again' }), 409);
    await waitFor(async () => (await stack.env.client.workflow.getHandle(`exam:${lipids}`).describe()).status.name === 'COMPLETED' || undefined);
    expect((await problem(await post(`/v1/exams/${lipids}/result`, coordinator, { summary: 'late', abnormal: false }), 409)).type).toMatch(/item-closed$/);
    expect((await pay(`${lipids}-exam`, 4500)).status).toBe(204); // late: refunded by latePaymentRefund
    const refunded = await exam(lipids!);
    expect(refunded).toMatchObject({ status: 'cancelled', payment: { status: 'refunded', amount: 4500 } });
    expect(eventsOf(refunded).at(-1)).toEqual(['payment.refunded', 'system', { orderId: `${lipids}-exam`, amount: 4500, reason: 'late-payment' }]);
    const refundNotice = await waitFor(async () => stack.notifications.find((n) => n.body.id === `exam:${lipids}:payment.refunded:${lipids}-exam`));
    expect(refundNotice.body).toMatchObject({ kind: 'payment.refunded', refs: { journeyId, examId: lipids } });

    // ---- the ECG: paid, and its result recorded by a coordinator -----------------------------
    await waitFor(async () => ((await once(`/v1/exams/${ecg}`))?.payment ? true : undefined));
    expect((await pay(`${ecg}-exam`, 3000)).status).toBe(204);
    await problem(await post(`/v1/exams/${ecg}/result`, visitDoctor, { summary: 'Sinus rhythm', abnormal: false }), 403);
    await problem(await post(`/v1/exams/${ecg}/result`, patient, { summary: 'Sinus rhythm', abnormal: false }), 403);
    const badResult = await problem(await post(`/v1/exams/${ecg}/result`, coordinator, { summary: 'Sinus rhythm', abnormal: 'no' }), 400);
    expect(badResult.errors?.map((e) => e.path)).toEqual(['json.abnormal']);
    await problem(await post(`/v1/exams/${ecg}/result`, coordinator, { summary: 'x'.repeat(4001), abnormal: false }), 400);
    await problem(await post(`/v1/exams/${ecg}/result`, coordinator, { summary: 'Sinus rhythm', abnormal: false, extra: 1 }), 400);
    const ecgDone = await json(await post(`/v1/exams/${ecg}/result`, coordinator, { summary: 'Sinus rhythm, normal', abnormal: false }), 200);
    expect(ecgDone).toMatchObject({ id: ecg, status: 'completed', result: { summary: 'Sinus rhythm, normal', abnormal: false } });
    expect(eventsOf(ecgDone).at(-1)).toEqual(['exam.completed', 'coordinator:coord-1', { abnormal: false }]);
    expect(ecgDone.openTasks).toEqual([]);

    // ---- the referral: sent to the facility's webhook; forged answers change nothing ----------
    const sent = await waitFor(async () => {
      const r = await once(`/v1/referrals/${referralId}`);
      return r?.status === 'sent' ? r : undefined;
    });
    expect(sent).toMatchObject({ id: referralId, journeyId, patientId, facilityId, department: 'cardiology', urgency: 'routine' });
    const delivered = facilityInbox.received.find((m) => (m.body as unknown as Json).referralId === referralId);
    expect(delivered?.body).toMatchObject({ referralId, journeyId, department: 'cardiology', reason: 'Echocardiography', urgency: 'routine' });
    for (const token of [patient, visitDoctor, coordinator]) expect((await referralOf(referralId!, token)).id).toBe(referralId);
    for (const token of [stranger, otherDoctor, pharmacist]) await problem(await get(`/v1/referrals/${referralId}`, token), 404);
    await problem(await get('/v1/referrals/no-such-referral', coordinator), 404);

    const appointmentAt = inAWeek();
    expect((await facilityHook({ referralId, decision: 'accepted', appointmentAt }, SECRETS.labWebhook)).status).toBe(401);
    expect((await facilityHook({ referralId, summary: 'seen' })).status).toBe(409); // not accepted yet
    expect((await referralOf(referralId!)).status).toBe('sent');
    // An appointment in the past is refused by the referral (422), through either door.
    expect(((await (await facilityHook({ referralId, decision: 'accepted', appointmentAt: '2020-01-01T09:00:00+08:00' })).json()) as Json).type).toMatch(/invalid-appointment$/);
    await problem(await post(`/v1/referrals/${referralId}/response`, coordinator, { decision: 'accepted', appointmentAt: '2020-01-01T09:00:00+08:00' }), 422);
    // The facility accepts; a second answer (from anyone) is 409.
    expect((await facilityHook({ referralId, decision: 'accepted', appointmentAt, note: 'Bring previous ECGs' })).status).toBe(204);
    const accepted = await referralOf(referralId!);
    expect(accepted).toMatchObject({ status: 'accepted', appointmentAt, note: 'Bring previous ECGs' });
    expect(eventsOf(accepted).find((e: any[]) => e[0] === 'referral.accepted')).toEqual(['referral.accepted', `facility:${facilityId}`, { appointmentAt, by: `facility:${facilityId}` }]);
    expect((await facilityHook({ referralId, decision: 'declined' })).status).toBe(409);
    await problem(await post(`/v1/referrals/${referralId}/response`, coordinator, { decision: 'declined' }), 409);
    const acceptedNotice = await waitFor(async () => stack.notifications.find((n) => n.body.kind === 'referral.accepted' && n.body.refs.referralId === referralId));
    expect(acceptedNotice.body).toMatchObject({ patientId, refs: { journeyId, referralId } });

    // Attended, recorded by a coordinator (doctor and patient: 403; bad body: 400).
    await problem(await post(`/v1/referrals/${referralId}/attended`, visitDoctor, { summary: 'Echo normal' }), 403);
    await problem(await post(`/v1/referrals/${referralId}/attended`, patient, { summary: 'Echo normal' }), 403);
    await problem(await post(`/v1/referrals/${referralId}/attended`, coordinator, { summary: '' }), 400);
    const attended = await json(await post(`/v1/referrals/${referralId}/attended`, coordinator, { summary: 'Echo normal, EF 62%' }), 200);
    expect(attended).toMatchObject({ status: 'attended', summary: 'Echo normal, EF 62%', appointmentAt });
    expect(eventsOf(attended).at(-1)).toEqual(['referral.attended', 'coordinator:coord-1', { by: 'coordinator:coord-1' }]);
    // Once attended the facility's attendance is refused (409: attended already, or the referral has ended).
    expect((await facilityHook({ referralId, summary: 'again' })).status).toBe(409);

    // ---- every child has settled: the journey completes ------------------------------------
    const journey = await waitFor(async () => {
      const j = await json(await get(`/v1/journeys/${journeyId}`, admin), 200);
      return j.status === 'completed' ? j : undefined;
    });
    expect(journey).toMatchObject({ phase: 'closed', step: 'done' });
    expect(journey.children.exams).toEqual(expect.arrayContaining([
      { id: hba1c, status: 'completed' }, { id: lipids, status: 'cancelled' }, { id: ecg, status: 'completed' },
    ]));
    expect(journey.children.referrals).toEqual([{ id: referralId, status: 'attended' }]);
  });

  it('lets a coordinator record a declined referral (a task to find another facility), then refuses attendance; validates responses', async () => {
    const { referralId, journeyId } = await outcome([], true);
    await referralAt(referralId!, 'sent');
    const path = `/v1/referrals/${referralId}/response`;
    for (const token of [visitDoctor, pharmacist, await stack.token('patient', 'p')]) await problem(await post(path, token, { decision: 'declined' }), 403);
    expect((await problem(await post(path, coordinator, { decision: 'accepted' }), 400)).errors?.map((e) => e.path)).toEqual(['json.appointmentAt']);
    expect((await problem(await post(path, coordinator, { decision: 'declined', appointmentAt: inAWeek() }), 400)).errors?.map((e) => e.path)).toEqual(['json.appointmentAt']);
    await problem(await post(path, coordinator, { decision: 'later' }), 400);
    await problem(await post(path, coordinator, { decision: 'declined', note: 'x'.repeat(1001) }), 400);
    await problem(await post('/v1/referrals/no-such-referral/response', coordinator, { decision: 'declined' }), 404);
    expect((await referralOf(referralId!)).status).toBe('sent');

    const declined = await json(await post(path, admin, { decision: 'declined', note: 'No cardiology beds this month' }), 200);
    expect(declined).toMatchObject({ id: referralId, status: 'declined', note: 'No cardiology beds this month' });
    expect(eventsOf(declined).filter((e: any[]) => e[0] !== 'referral.sent').slice(-2)).toEqual([
      ['referral.declined', 'admin:admin-1', { by: 'admin:admin-1' }],
      ['task.created', 'system', { taskId: `referral:${referralId}:declined`, kind: 'referral-declined' }],
    ]);
    const tasks = (await json(await get('/v1/tasks?kind=referral-declined', coordinator), 200)).items as Json[];
    expect(tasks.find((t) => t.subject.id === referralId)).toMatchObject({ role: 'coordinator', status: 'open', subject: { type: 'referral', id: referralId }, journeyId });
    await problem(await post(`/v1/referrals/${referralId}/attended`, coordinator, { summary: 'seen' }), 409);
    expect((await referralOf(referralId!)).status).toBe('declined');
  });

  it("takes a coordinator's acceptance and the facility's signed attendance; a duplicate attendance is 409 and changes nothing", async () => {
    const { referralId, journeyId } = await outcome([], true);
    await referralAt(referralId!, 'sent');
    const appointmentAt = inAWeek();
    const accepted = await json(await post(`/v1/referrals/${referralId}/response`, coordinator, { decision: 'accepted', appointmentAt }), 200);
    expect(accepted).toMatchObject({ status: 'accepted', appointmentAt });
    expect(eventsOf(accepted).find((e: any[]) => e[0] === 'referral.accepted')).toEqual(['referral.accepted', 'coordinator:coord-1', { appointmentAt, by: 'coordinator:coord-1' }]);

    const forged = JSON.stringify({ referralId, summary: 'forged' });
    expect((await stack.call('POST', '/v1/webhooks/facility', { raw: forged, headers: { 'X-Signature': sign(SECRETS.facilityWebhook, `${forged} `) } })).status).toBe(401);
    expect((await referralOf(referralId!)).status).toBe('accepted');
    expect((await facilityHook({ referralId, summary: 'Seen in cardiology clinic; echo normal' })).status).toBe(204);
    const attended = await referralOf(referralId!);
    expect(attended).toMatchObject({ status: 'attended', summary: 'Seen in cardiology clinic; echo normal' });
    expect(eventsOf(attended).at(-1)).toEqual(['referral.attended', `facility:${facilityId}`, { by: `facility:${facilityId}` }]);
    expect((await facilityHook({ referralId, summary: 'again' })).status).toBe(409);
    const after = await referralOf(referralId!);
    expect(after.summary).toBe('Seen in cardiology clinic; echo normal');
    expect(after.timeline).toHaveLength(attended.timeline.length);
    const journey = await waitFor(async () => {
      const j = await json(await get(`/v1/journeys/${journeyId}`, admin), 200);
      return j.status === 'completed' ? j : undefined;
    });
    expect(journey.children.referrals).toEqual([{ id: referralId, status: 'attended' }]);
  });

  it('documents the exam and referral routes in /openapi.json', async () => {
    const doc = (await (await stack.call('GET', '/openapi.json')).json()) as any;
    for (const [method, path] of [
      ['get', '/v1/exams/{id}'], ['post', '/v1/exams/{id}/result'], ['post', '/v1/exams/{id}/cancel'],
      ['get', '/v1/referrals/{id}'], ['post', '/v1/referrals/{id}/response'], ['post', '/v1/referrals/{id}/attended'],
    ] as const) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
      expect(doc.paths[path][method].security).toEqual([{ bearerAuth: [] }]);
    }
    expect(doc.paths['/v1/referrals/{id}/response'].post.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/ReferralResponseInput');
    expect(Object.keys(doc.components.schemas.Exam.properties)).toEqual(expect.arrayContaining(['id', 'journeyId', 'code', 'name', 'status', 'payment', 'scheduledAt', 'result', 'timeline']));
    expect(Object.keys(doc.components.schemas.Referral.properties)).toEqual(expect.arrayContaining(['id', 'journeyId', 'facilityId', 'status', 'appointmentAt', 'summary', 'timeline']));
  });
});
