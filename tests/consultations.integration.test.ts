// Online consultations over HTTP on the real components (dev server, PostgreSQL, a worker, the
// notification listener), with short template timings: templates, a question answered round after
// round to its limit and rated, one nobody answered (escalated, refunded), one never paid (lapsed, a
// late payment refunded), and who may read and write what.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './support/stack.js';
import { json, problem, waitFor } from './support/http.js';
import { verifiedClinician, verifiedPatient } from './support/people.js';

type Json = Record<string, any>;

let stack: Stack;
let admin: string;
let coordinator: string;
let doctor: { id: string; token: string };
let otherDoctor: { id: string; token: string };

const post = (path: string, token: string, body?: unknown) => stack.call('POST', path, { token, ...(body === undefined ? {} : { body }) });
const get = (path: string, token: string) => stack.call('GET', path, { token });
const typeOf = (p: Json) => String(p.type).replace('https://carepath.dev/problems/', '');
const templateOf = (id: string, over: Json = {}) => ({
  id,
  version: 1,
  name: `Test ${id}`,
  fee: 3000,
  paymentWindow: 'PT15M',
  replyWithin: 'PT1H',
  maxEscalationTier: 2,
  takeWithin: 'PT24H',
  maxRounds: 2,
  openFor: 'P1D',
  ratingWindow: 'P7D',
  ...over,
});

async function patient(): Promise<{ id: string; token: string }> {
  const p = await verifiedPatient(stack, admin, { name: '咨询患者', phone: '+8613800000009', birthDate: '1980-05-05', sex: 'F' });
  return { id: p.id, token: await stack.token('patient', p.id) };
}

const ask = (p: { id: string; token: string }, templateId: string, text = '最近血压偏高，需要调整用药吗？') =>
  post('/v1/consultations', p.token, { patientId: p.id, doctorId: doctor.id, templateId, message: { body: text, attachments: ['upload:bp-chart-1'] } });

const pay = (c: Json) => stack.payWebhook({ orderId: c.payment.orderId, status: 'paid', amount: c.payment.amount, paidAt: new Date().toISOString(), channel: 'wechat' });

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'admin-1');
  coordinator = await stack.token('coordinator', 'coord-1');
  const d = await verifiedClinician(stack, admin, { name: 'Dr. Online', department: 'cardiology' });
  const o = await verifiedClinician(stack, admin, { name: 'Dr. Other', department: 'cardiology' });
  doctor = { id: d.id, token: await stack.token('doctor', d.id) };
  otherDoctor = { id: o.id, token: await stack.token('doctor', o.id) };
  await json(await post('/v1/consultation-templates', admin, templateOf('two-rounds')), 201);
  await json(await post('/v1/consultation-templates', admin, templateOf('quick-take', { replyWithin: 'PT1S', maxEscalationTier: 1, takeWithin: 'PT3S' })), 201);
  await json(await post('/v1/consultation-templates', admin, templateOf('quick-pay', { paymentWindow: 'PT2S' })), 201);
});
afterAll(async () => {
  await stack?.stop();
});

describe('consultation templates', () => {
  it('are published once by an admin and listed to anyone signed in, the seeded one among them', async () => {
    expect(typeOf(await problem(await post('/v1/consultation-templates', admin, templateOf('two-rounds')), 409))).toBe('version-exists');
    expect((await post('/v1/consultation-templates', coordinator, templateOf('by-coordinator'))).status).toBe(403);
    expect((await problem(await post('/v1/consultation-templates', admin, { ...templateOf('bad'), maxRounds: 0 }), 400)).errors?.map((e) => e.path)).toEqual(['json.maxRounds']);
    const p = await patient();
    const items = (await json(await get('/v1/consultation-templates', p.token), 200)).items as Json[];
    expect(items.map((t) => t.id)).toEqual(expect.arrayContaining(['text-consultation', 'two-rounds', 'quick-take', 'quick-pay']));
    expect(items.find((t) => t.id === 'text-consultation')).toMatchObject({ fee: 3000, replyWithin: 'PT2H', maxRounds: 5 });
  });
});

describe('an online consultation', () => {
  it('is asked, paid, answered round after round to its limit, then rated; its patient told of each answer', async () => {
    const p = await patient();
    const c = await json(await ask(p, 'two-rounds'), 201);
    expect(c).toMatchObject({ patientId: p.id, doctorId: doctor.id, status: 'awaiting-payment', payment: { amount: 3000, currency: 'CNY', status: 'pending' }, messages: { patient: 1, doctor: 0 } });
    expect(c.timeline.map((e: Json) => e.type)).toEqual(['consultation.requested', 'payment.requested']);

    // Nothing more before the fee is paid, and the refused text is not kept.
    expect(typeOf(await problem(await post(`/v1/consultations/${c.id}/messages`, p.token, { body: '还在吗？' }), 409))).toBe('consultation-unpaid');
    const before = (await json(await get(`/v1/consultations/${c.id}/messages`, p.token), 200)).items as Json[];
    expect(before).toEqual([expect.objectContaining({ from: 'patient', authorId: p.id, body: '最近血压偏高，需要调整用药吗？', attachments: ['upload:bp-chart-1'] })]);

    expect((await pay(c)).status).toBe(204);
    const paid = await json(await get(`/v1/consultations/${c.id}`, p.token), 200);
    expect(paid).toMatchObject({ status: 'waiting', payment: { status: 'paid' } });
    // The doctor's queue holds the question, due by the reply deadline; another doctor's does not.
    const mine = (await json(await get('/v1/tasks', doctor.token), 200)).items as Json[];
    expect(mine.filter((t) => t.subject.id === c.id)).toEqual([expect.objectContaining({ kind: 'consultation-reply', assigneeId: doctor.id, dueAt: paid.replyDueBy, subject: { type: 'consultation', id: c.id } })]);
    expect(((await json(await get('/v1/tasks', otherDoctor.token), 200)).items as Json[]).filter((t) => t.subject.id === c.id)).toEqual([]);
    const queue = (await json(await get('/v1/consultations?status=open', doctor.token), 200)).items as Json[];
    expect(queue.map((x) => x.id)).toContain(c.id);

    // Another doctor may not read or write it; the doctor answers.
    expect((await get(`/v1/consultations/${c.id}`, otherDoctor.token)).status).toBe(404);
    expect((await post(`/v1/consultations/${c.id}/messages`, otherDoctor.token, { body: '我来回答' })).status).toBe(404);
    const answered = await json(await post(`/v1/consultations/${c.id}/messages`, doctor.token, { body: '建议继续服药，一周后复测。' }), 201);
    expect(answered.message).toMatchObject({ from: 'doctor', authorId: doctor.id, body: '建议继续服药，一周后复测。' });
    expect(answered.consultation).toMatchObject({ status: 'answered', rounds: 1 });
    const told = await waitFor(async () => stack.notifications.find((n) => n.body.kind === 'consultation.replied' && n.body.refs.consultationId === c.id));
    expect(told.body).toMatchObject({ patientId: p.id, title: '医生已回复' });
    expect(told.raw).not.toContain('建议继续服药');

    // A question sent again under its Idempotency-Key is the same message, counted once.
    const retry = (key: string) => stack.call('POST', `/v1/consultations/${c.id}/messages`, { token: p.token, body: { body: '需要复查什么？' }, headers: { 'Idempotency-Key': key } });
    const q1 = await json(await retry('question-2'), 201);
    const q2 = await json(await retry('question-2'), 201);
    expect(q2.message.id).toBe(q1.message.id);
    expect(q2.consultation.messages).toEqual({ patient: 2, doctor: 1 });

    // The second question and its answer use the last round: it closes, and the patient is asked to rate it.
    const last = await json(await post(`/v1/consultations/${c.id}/messages`, doctor.token, { body: '复查血压和肾功能。' }), 201);
    expect(last.consultation).toMatchObject({ status: 'closed', end: 'rounds-used', rounds: 2, messages: { patient: 2, doctor: 2 } });
    expect(typeOf(await problem(await post(`/v1/consultations/${c.id}/messages`, p.token, { body: '谢谢' }), 409))).toBe('consultation-closed');
    await waitFor(async () => stack.notifications.find((n) => n.body.kind === 'consultation.closed' && n.body.refs.consultationId === c.id));

    expect(typeOf(await problem(await post(`/v1/consultations/${c.id}/rating`, doctor.token, { score: 5 }), 403))).toBe('forbidden');
    expect((await json(await post(`/v1/consultations/${c.id}/rating`, p.token, { score: 5 }), 200)).rating).toBe(5);
    expect(typeOf(await problem(await post(`/v1/consultations/${c.id}/rating`, p.token, { score: 4 }), 409))).toBe('consultation-not-rateable');

    const messages = (await json(await get(`/v1/consultations/${c.id}/messages`, doctor.token), 200)).items as Json[];
    expect(messages.map((m) => [m.from, m.body])).toEqual([
      ['patient', '最近血压偏高，需要调整用药吗？'],
      ['doctor', '建议继续服药，一周后复测。'],
      ['patient', '需要复查什么？'],
      ['doctor', '复查血压和肾功能。'],
    ]);
    const final = await json(await get(`/v1/consultations/${c.id}`, coordinator), 200);
    expect(final.timeline.map((e: Json) => e.type)).toEqual([
      'consultation.requested', 'payment.requested', 'consultation.paid',
      'consultation.message', 'consultation.taken', 'consultation.message', 'consultation.message', 'consultation.closed', 'consultation.rated',
    ]);
    // The timeline and the workflow carry ids, never the text.
    expect(JSON.stringify(final)).not.toContain('复查血压');
    // Accepted: the four it took. The refused one before payment is gone; the one after it closed is
    // kept unaccepted (a refusal its own first attempt could have caused: api/routes/consultations.ts sendText).
    const rows = await stack.db.sql<{ body: string; accepted: boolean }[]>`select body, accepted_at is not null as accepted from consultation_messages where consultation_id = ${c.id} order by at, id`;
    expect(rows.filter((r) => r.accepted)).toHaveLength(4);
    expect(rows.filter((r) => !r.accepted).map((r) => r.body)).toEqual(['谢谢']);
  });

  it('that nobody answers escalates to coordinators, then is refunded and closed, the patient told', async () => {
    const p = await patient();
    const c = await json(await ask(p, 'quick-take'), 201);
    expect((await pay(c)).status).toBe(204);
    const closed = await waitFor(async () => {
      const v = await json(await get(`/v1/consultations/${c.id}`, p.token), 200);
      return v.status === 'closed' ? v : undefined;
    });
    expect(closed).toMatchObject({ end: 'not-taken', rounds: 0, payment: { status: 'refunded' } });
    expect(closed.timeline.map((e: Json) => e.type)).toEqual(['consultation.requested', 'payment.requested', 'consultation.paid', 'task.escalated', 'payment.refunded', 'task.closed', 'consultation.closed']);
    expect(closed.openTasks).toEqual([]);
    const [refund] = await stack.db.sql<{ amount: number; reason: string }[]>`select amount, reason from refunds where order_id = ${c.payment.orderId}`;
    expect(refund).toEqual({ amount: 3000, reason: 'not-taken' });
    const told = await waitFor(async () => stack.notifications.find((n) => n.body.kind === 'payment.refunded' && n.body.refs.consultationId === c.id));
    expect(told.body.body).toContain('¥30.00');
    expect(typeOf(await problem(await post(`/v1/consultations/${c.id}/rating`, p.token, { score: 1 }), 409))).toBe('consultation-not-rateable');
    // The doctor answering too late changes nothing.
    expect(typeOf(await problem(await post(`/v1/consultations/${c.id}/messages`, doctor.token, { body: '抱歉来晚了' }), 409))).toBe('consultation-closed');
  });

  it('never paid lapses; a payment after that is refunded', async () => {
    const p = await patient();
    const c = await json(await ask(p, 'quick-pay'), 201);
    await waitFor(async () => {
      const v = await json(await get(`/v1/consultations/${c.id}`, p.token), 200);
      return v.status === 'closed' ? v : undefined;
    });
    expect((await pay(c)).status).toBe(204);
    const after = await json(await get(`/v1/consultations/${c.id}`, p.token), 200);
    expect(after).toMatchObject({ status: 'closed', end: 'lapsed', payment: { status: 'refunded' } });
    expect(after.timeline.map((e: Json) => e.type)).toEqual(['consultation.requested', 'payment.requested', 'payment.expired', 'consultation.lapsed', 'payment.refunded']);
    const [refund] = await stack.db.sql<{ amount: number }[]>`select amount from refunds where order_id = ${c.payment.orderId}`;
    expect(refund?.amount).toBe(3000);
  });

  it('is asked only by its patient (or staff), of a verified doctor, and read only by its people', async () => {
    const p = await patient();
    const q = await patient();
    const body = { patientId: p.id, doctorId: doctor.id, templateId: 'two-rounds', message: { body: '你好' } };
    expect((await post('/v1/consultations', q.token, body)).status).toBe(403);
    expect((await post('/v1/consultations', doctor.token, body)).status).toBe(403);
    const unverified = await json(await post('/v1/clinicians', admin, { name: 'Dr. New', role: 'doctor', department: 'cardiology' }), 201);
    expect(typeOf(await problem(await post('/v1/consultations', p.token, { ...body, doctorId: unverified.id }), 422))).toBe('clinician-unverified');
    expect(typeOf(await problem(await post('/v1/consultations', p.token, { ...body, templateId: 'no-such-template' }), 404))).toBe('not-found');
    const c = await json(await post('/v1/consultations', coordinator, body), 201);
    expect((await get(`/v1/consultations/${c.id}`, q.token)).status).toBe(404);
    expect((await get(`/v1/consultations/${c.id}/messages`, q.token)).status).toBe(404);
    expect((await json(await get(`/v1/consultations?patientId=${p.id}`, q.token), 200)).items).toEqual([]);
    expect(((await json(await get('/v1/consultations', p.token), 200)).items as Json[]).map((x) => x.id)).toEqual([c.id]);
    expect((await get('/v1/consultations', await stack.token('pharmacist', 'ph-1'))).status).toBe(403);
    // Reads of it are audited under its patient.
    const audit = (await json(await get(`/v1/audit?patientId=${p.id}`, admin), 200)).items as Json[];
    expect(audit.map((e) => e.action)).toEqual(expect.arrayContaining(['POST /v1/consultations', 'GET /v1/consultations/{id}']));
  });
});
