// The rules of online care attacked from outside, over HTTP on the real stack (dev server, PostgreSQL,
// the API): an unverified doctor, a doctor too new for online work, an unverified patient, a child
// without a guardian, and an online visit that ends as "needs in-person care".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../activities/signature.js';
import { SECRETS, startStack, type Stack } from './support/stack.js';
import { json, problem, waitFor } from './support/http.js';
import { verifyClinicianId, verifyPatientId } from './support/people.js';

let stack: Stack;
let admin: string;
let coordinator: string;

const quick = {
  id: 'rules-online',
  version: 1,
  name: 'Online follow-up for the rules',
  modes: ['online', 'offline'],
  fees: { registration: 1000 },
  paymentWindow: 'PT1M',
  appointmentReminders: [],
  nearTurnAhead: 2,
  noShowGrace: 'PT5M',
  consultStartSla: 'PT5M',
  pharmacistReviewSla: 'PT30M',
  prescriptionValidity: 'P3D',
};
const followUpOf = { diagnosis: 'Chronic bronchitis', visitDate: '2026-01-05', facility: 'CarePath' };

const post = (path: string, token: string, body?: unknown) => stack.call('POST', path, { token, ...(body === undefined ? {} : { body }) });
const get = (path: string, token = admin) => stack.call('GET', path, { token });


async function doctor(name: string, years?: number): Promise<string> {
  const d = await json(await post('/v1/clinicians', admin, { name, role: 'doctor', department: 'respiratory' }), 201);
  if (years !== undefined) await verifyClinicianId(stack, admin, d.id, years);
  return d.id as string;
}

async function patient(o: { verified?: boolean; birthDate?: string } = {}): Promise<{ id: string; token: string }> {
  const p = await json(await post('/v1/patients', admin, { name: '规则患者', phone: '+8613800000081', birthDate: o.birthDate ?? '1970-03-03', sex: 'F' }), 201);
  if (o.verified !== false) await verifyPatientId(stack, coordinator, p.id);
  return { id: p.id, token: await stack.token('patient', p.id) };
}

async function slot(doctorId: string, mode: 'online' | 'offline', inMs = 3_600_000): Promise<string> {
  const start = new Date(Date.now() + inMs);
  const s = await json(await post('/v1/slots', admin, { doctorId, department: 'respiratory', start: start.toISOString(), end: new Date(start.getTime() + 3_600_000).toISOString(), capacity: 5, mode }), 201);
  return s.id as string;
}

async function journey(p: { id: string; token: string }, mode: 'online' | 'offline', extra: Record<string, unknown> = {}): Promise<Record<string, any>> {
  return json(await post('/v1/journeys', p.token, { patientId: p.id, mode, complaint: '咳嗽两周', pathwayId: quick.id, ...(mode === 'online' ? { followUpOf } : {}), ...extra }), 201);
}

/** A journey booked, paid and checked in with a new verified doctor (6 years), in consultation. */
async function inConsultation(mode: 'online' | 'offline', name: string): Promise<{ j: Record<string, any>; p: { id: string; token: string }; dt: string }> {
  const doctorId = await doctor(name, 6);
  const dt = await stack.token('doctor', doctorId);
  const p = await patient();
  const start = Date.now() + 2500;
  const slotId = await slot(doctorId, mode, 2500);
  const j = await journey(p, mode);
  const booked = await json(await post(`/v1/journeys/${j.id}/appointment`, p.token, { slotId }), 200);
  expect((await stack.payWebhook({ orderId: booked.payment.orderId, status: 'paid', amount: 1000, paidAt: new Date().toISOString(), channel: 'wechat' })).status).toBe(204);
  await new Promise((r) => setTimeout(r, Math.max(0, start - Date.now()) + 100));
  await json(await post(`/v1/journeys/${j.id}/check-in`, p.token), 200);
  await json(await post(`/v1/journeys/${j.id}/consultation`, dt), 200);
  return { j, p, dt };
}

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'admin-rules');
  coordinator = await stack.token('coordinator', 'coord-rules');
  await json(await post('/v1/pathways', admin, quick), 201);
});

afterAll(async () => {
  await stack?.stop();
});

describe('verified clinicians', () => {
  it('carries the licence on the clinician; only an admin verifies it', async () => {
    const created = await json(await post('/v1/clinicians', admin, { name: 'Dr. New', role: 'doctor', department: 'respiratory', licenceNumber: 'LIC-2026-0001', yearsOfPractice: 4 }), 201);
    expect(created).toMatchObject({ licenceNumber: 'LIC-2026-0001', yearsOfPractice: 4, verifiedAt: null });
    await problem(await post(`/v1/clinicians/${created.id}/verification`, coordinator, { licenceNumber: 'LIC-2026-0001', yearsOfPractice: 4 }), 403);
    await problem(await post('/v1/clinicians/no-such-clinician/verification', admin, { licenceNumber: 'LIC-2026-0001', yearsOfPractice: 4 }), 404);
    await problem(await post(`/v1/clinicians/${created.id}/verification`, admin, { licenceNumber: 'x', yearsOfPractice: 4 }), 400);
    const before = Date.now();
    const verified = await json(await post(`/v1/clinicians/${created.id}/verification`, admin, { licenceNumber: 'LIC-2026-0001', yearsOfPractice: 5 }), 200);
    expect(verified).toMatchObject({ id: created.id, licenceNumber: 'LIC-2026-0001', yearsOfPractice: 5 });
    expect(Date.parse(verified.verifiedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(await json(await get(`/v1/clinicians/${created.id}`, coordinator), 200)).toEqual(verified);
    await problem(await get(`/v1/clinicians/${created.id}`, await stack.token('doctor', created.id)), 403);
  });

  it('refuses to book an unverified doctor (422 naming the rule, nothing booked), then books once verified', async () => {
    const doctorId = await doctor('Dr. Unverified');
    const slotId = await slot(doctorId, 'offline');
    const p = await patient();
    const j = await journey(p, 'offline');
    const refused = await problem(await post(`/v1/journeys/${j.id}/appointment`, p.token, { slotId }), 422);
    expect(refused.type).toMatch(/clinician-unverified$/);
    expect((await json(await get(`/v1/journeys/${j.id}`), 200)).step).toBe('booking');
    const slots = await json(await get(`/v1/slots?department=respiratory&mode=offline`), 200);
    expect(slots.items.find((s: { id: string }) => s.id === slotId).remaining).toBe(5);
    await verifyClinicianId(stack, admin, doctorId, 10);
    expect((await json(await post(`/v1/journeys/${j.id}/appointment`, p.token, { slotId }), 200)).step).toBe('awaiting-payment');
  });

  it('refuses an online visit with a doctor of under three years of practice', async () => {
    const doctorId = await doctor('Dr. Junior', 2);
    const slotId = await slot(doctorId, 'online');
    const p = await patient();
    const j = await journey(p, 'online');
    expect((await problem(await post(`/v1/journeys/${j.id}/appointment`, p.token, { slotId }), 422)).type).toMatch(/insufficient-practice$/);
  });
});

describe('real-name patients', () => {
  it('refuses an unverified patient an online visit (422 patient-unverified) until a coordinator verifies them', async () => {
    const doctorId = await doctor('Dr. Online', 8);
    const slotId = await slot(doctorId, 'online');
    const p = await patient({ verified: false });
    expect(await json(await get(`/v1/patients/${p.id}`, p.token), 200)).toMatchObject({ id: p.id, identity: null });
    const j = await journey(p, 'online');
    expect((await problem(await post(`/v1/journeys/${j.id}/appointment`, p.token, { slotId }), 422)).type).toMatch(/patient-unverified$/);
    // A patient cannot verify themself; a coordinator can.
    await problem(await post(`/v1/patients/${p.id}/identity-verifications`, p.token, { method: 'id-card' }), 403);
    const record = await json(await post(`/v1/patients/${p.id}/identity-verifications`, coordinator, { method: 'passport', reference: 'E12345678' }), 201);
    expect(record).toMatchObject({ patientId: p.id, method: 'passport', source: 'coordinator', verifiedBy: 'coord-rules', reference: 'E12345678' });
    expect((await json(await get(`/v1/patients/${p.id}`, p.token), 200)).identity).toEqual(record);
    expect((await json(await post(`/v1/journeys/${j.id}/appointment`, p.token, { slotId }), 200)).step).toBe('awaiting-payment');
  });

  it("takes an identity provider's signed verification once; a forged or unknown one changes nothing", async () => {
    const p = await patient({ verified: false });
    const body = { patientId: p.id, method: 'face-recognition', verifiedAt: new Date(Date.now() - 60_000).toISOString(), reference: `idp-${p.id}` };
    const raw = JSON.stringify(body);
    const send = (r: string, secret = SECRETS.identityWebhook) => stack.call('POST', '/v1/webhooks/identity', { raw: r, headers: { 'X-Signature': sign(secret, r), 'content-type': 'application/json' } });
    await problem(await send(raw, 'not-the-secret'), 401);
    expect((await json(await get(`/v1/patients/${p.id}`), 200)).identity).toBeNull();
    const unknown = JSON.stringify({ ...body, patientId: 'no-such-patient', reference: 'idp-unknown' });
    await problem(await send(unknown), 404);
    expect((await send(raw)).status).toBe(204);
    expect((await send(raw)).status).toBe(204);
    const identity = (await json(await get(`/v1/patients/${p.id}`), 200)).identity;
    expect(identity).toMatchObject({ patientId: p.id, method: 'face-recognition', source: 'identity-provider', verifiedAt: body.verifiedAt, reference: body.reference });
    const [row] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from identity_verifications where patient_id = ${p.id}`;
    expect(row!.n).toBe(1);
    // A sibling verified with the same document reference is a record of their own, not a 500.
    const sibling = await patient({ verified: false });
    expect((await send(JSON.stringify({ ...body, patientId: sibling.id }))).status).toBe(204);
    expect((await json(await get(`/v1/patients/${sibling.id}`), 200)).identity).toMatchObject({ patientId: sibling.id, reference: body.reference });
    // The records are evidence: the database refuses to change or remove them.
    await expect(stack.db.sql`update identity_verifications set method = 'passport' where patient_id = ${p.id}`).rejects.toThrow(/append-only: UPDATE/);
    await expect(stack.db.sql`delete from identity_verifications where patient_id = ${p.id}`).rejects.toThrow(/append-only: DELETE/);
  });

  it('hides another patient\'s record (404) and refuses doctors (403)', async () => {
    const a = await patient();
    const b = await patient();
    await problem(await get(`/v1/patients/${b.id}`, a.token), 404);
    await problem(await get(`/v1/patients/${b.id}`, await stack.token('doctor', 'doc-x')), 403);
  });
});

describe('children', () => {
  const birthDate = new Date(Date.now() - 3 * 365 * 86_400_000).toISOString().slice(0, 10);

  it("refuses a guardian the child's own unverified account vouches for; a coordinator may", async () => {
    const child = await patient({ birthDate, verified: false });
    const guardian = { name: '赵爸爸', relation: 'parent', verified: true };
    const body = { patientId: child.id, mode: 'online', complaint: '发热咳嗽', pathwayId: quick.id, followUpOf, guardian };
    expect((await problem(await post('/v1/journeys', child.token, body), 422)).type).toMatch(/guardian-required$/);
    expect((await json(await post('/v1/journeys', coordinator, body), 201)).guardian).toEqual(guardian);
  });

  it('refuses an online journey for a child under six without a verified guardian, and records one that is', async () => {
    const child = await patient({ birthDate });
    expect((await problem(await post('/v1/journeys', child.token, { patientId: child.id, mode: 'online', complaint: '发热咳嗽', pathwayId: quick.id, followUpOf }), 422)).type).toMatch(/guardian-required$/);
    const unverified = { name: '张妈妈', relation: 'parent', verified: false };
    expect((await problem(await post('/v1/journeys', child.token, { patientId: child.id, mode: 'online', complaint: '发热咳嗽', pathwayId: quick.id, followUpOf, guardian: unverified }), 422)).type).toMatch(/guardian-required$/);
    const before = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from journeys where patient_id = ${child.id}`;
    expect(before[0]!.n).toBe(0);
    const guardian = { name: '张妈妈', relation: 'parent', verified: true };
    const j = await journey(child, 'online', { guardian });
    expect(j.guardian).toEqual(guardian);
    expect((await json(await get(`/v1/journeys/${j.id}`), 200)).guardian).toEqual(guardian);
    // Offline, the child is brought in person: no guardian is asked for here.
    expect((await journey(child, 'offline')).step).toBe('booking');
  });
});

describe('needs in-person care', () => {
  it('ends an online visit without issuing anything, closes it referred-offline and opens an offline journey at the same department', async () => {
    const { j, p, dt } = await inConsultation('online', 'Dr. Remote');

    const base = { diagnosis: { text: '需线下查体' }, notes: 'Auscultation needed', kind: 'needs-in-person' };
    const withRx = { ...base, reason: 'physical-examination', prescriptions: [{ items: [{ drugCode: 'ambroxol-30mg', dose: '30 mg', frequency: 'tid', days: 3, quantity: 9 }] }] };
    expect((await problem(await post(`/v1/journeys/${j.id}/outcome`, dt, withRx), 422)).type).toMatch(/in-person-only$/);
    await problem(await post(`/v1/journeys/${j.id}/outcome`, dt, base), 400);
    const [rx] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from prescriptions where journey_id = ${j.id}`;
    expect(rx!.n).toBe(0);

    const closed = await json(await post(`/v1/journeys/${j.id}/outcome`, dt, { ...base, reason: 'physical-examination' }), 200);
    expect(closed).toMatchObject({ status: 'referred-offline', phase: 'closed', step: 'done', outcome: { kind: 'needs-in-person', reason: 'physical-examination' } });
    expect(closed.created).toEqual({ prescriptions: [], exams: [], referrals: [], programs: [] });
    expect(closed.timeline.map((e: { type: string }) => e.type).slice(-2)).toEqual(['outcome.recorded', 'journey.referred-offline']);
    const next = await json(await get(`/v1/journeys/${closed.referredTo}`, p.token), 200);
    expect(next).toMatchObject({ mode: 'offline', patientId: p.id, status: 'active', step: 'booking', referredFrom: j.id, triage: { department: 'respiratory', urgency: 'routine' } });
    expect(next.timeline.map((e: { type: string }) => e.type)).toEqual(['journey.started', 'triage.completed']);
    const inbox = await waitFor(async () => {
      const items = (await json(await get(`/v1/patients/${p.id}/notifications`, p.token), 200)).items as { kind: string; title: string; body: string; refs: Record<string, string> }[];
      return items.find((n) => n.kind === 'journey.referred-offline');
    });
    expect(inbox.refs).toEqual({ journeyId: j.id });
    expect(inbox.title).toContain('需要当面体格检查');
    expect(inbox.body).toContain('呼吸内科');
  });

  it('is refused in an offline visit', async () => {
    const { j, dt } = await inConsultation('offline', 'Dr. Clinic');
    expect((await problem(await post(`/v1/journeys/${j.id}/outcome`, dt, { diagnosis: { text: 'x' }, notes: '', kind: 'needs-in-person', reason: 'procedure' }), 422)).type).toMatch(/in-person-only$/);
    expect((await json(await get(`/v1/journeys/${j.id}`), 200)).step).toBe('in-consultation');
  });
});
