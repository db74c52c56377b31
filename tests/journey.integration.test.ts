// A whole journey over HTTP on the real components: Temporal dev server, PostgreSQL, the API, signed
// payment webhooks in, signed notifications out to a local listener.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../activities/signature.js';
import { journeyWorkflowId, type Triage } from '../workflows/definitions.js';
import { HAPPY_PATH_TIMELINE } from './support/expectations.js';
import { SECRETS, startStack, type Stack } from './support/stack.js';
import { json, waitFor } from './support/http.js';
import { verifyClinicianId, verifyPatientId } from './support/people.js';

let stack: Stack;
let admin: string;
let doctorId: string;
let doctor: string;
let otherDoctor: string;

const quick = {
  id: 'quick-test',
  version: 1,
  name: 'Quick pathway for tests',
  modes: ['offline', 'online'],
  fees: { registration: 1500 },
  paymentWindow: 'PT3S',
  appointmentReminders: ['PT6S', 'PT3S'],
  nearTurnAhead: 1,
  noShowGrace: 'PT2S',
  consultStartSla: 'PT2S',
  pharmacistReviewSla: 'PT30M',
  prescriptionValidity: 'P3D',
};

async function newPatient(): Promise<{ id: string; token: string }> {
  const p = await json<{ id: string }>(
    await stack.call('POST', '/v1/patients', { token: admin, body: { name: '测试患者', phone: '+8613800000000', birthDate: '1970-01-01', sex: 'M' } }),
    201,
  );
  await verifyPatientId(stack, admin, p.id);
  return { id: p.id, token: await stack.token('patient', p.id) };
}

async function newSlot(startInMs: number, capacity = 5): Promise<{ id: string; start: string }> {
  const start = new Date(Date.now() + startInMs);
  return json(
    await stack.call('POST', '/v1/slots', {
      token: admin,
      body: { doctorId, department: 'cardiology', start: start.toISOString(), end: new Date(start.getTime() + 3_600_000).toISOString(), capacity, mode: 'offline' },
    }),
    201,
  );
}

interface JourneyBody {
  id: string;
  status: string;
  phase: string;
  step: string;
  triage: Triage;
  appointment?: { slotId: string; start: string; queueNumber?: number };
  payment?: { orderId: string; amount: number; status: string; dueBy: string };
  timeline: { seq: number; type: string; at: string; actor: string; data: Record<string, unknown> }[];
  openTasks: { kind: string; role: string; status: string; subject: string }[];
}

async function startJourney(patient: { id: string; token: string }, complaint = '高血压，最近头晕', pathwayId = quick.id): Promise<JourneyBody> {
  return json(await stack.call('POST', '/v1/journeys', { token: patient.token, body: { patientId: patient.id, mode: 'offline', complaint, pathwayId } }), 201);
}

const getJourney = async (id: string, token = admin): Promise<JourneyBody> => json(await stack.call('GET', `/v1/journeys/${id}`, { token }), 200);

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'admin-1');
  const d = await json<{ id: string }>(await stack.call('POST', '/v1/clinicians', { token: admin, body: { name: 'Dr. Li', role: 'doctor', department: 'cardiology' } }), 201);
  doctorId = d.id;
  await verifyClinicianId(stack, admin, d.id);
  doctor = await stack.token('doctor', d.id);
  otherDoctor = await stack.token('doctor', 'someone-else');
  await json(await stack.call('POST', '/v1/pathways', { token: admin, body: quick }), 201);
});

afterAll(async () => {
  await stack?.stop();
});

describe('a whole journey over HTTP', () => {
  it('goes from complaint to outcome with signed payment and signed notifications at their offsets', async () => {
    const patient = await newPatient();
    const journey = await startJourney(patient);
    expect(journey).toMatchObject({ status: 'active', phase: 'pre-visit', step: 'booking', triage: { department: 'cardiology', urgency: 'routine' } });

    const slot = await newSlot(10_000);
    const booked = await json<JourneyBody>(await stack.call('POST', `/v1/journeys/${journey.id}/appointment`, { token: patient.token, body: { slotId: slot.id } }), 200);
    expect(booked).toMatchObject({ step: 'awaiting-payment', payment: { status: 'pending', amount: 1500, currency: 'CNY' }, appointment: { slotId: slot.id } });

    // A bad signature changes nothing.
    const payment = { orderId: booked.payment!.orderId, status: 'paid', amount: 1500, paidAt: new Date().toISOString(), channel: 'wechat' };
    expect((await stack.payWebhook(payment, 'wrong-secret')).status).toBe(401);
    expect((await getJourney(journey.id)).payment!.status).toBe('pending');
    expect((await stack.payWebhook({ ...payment, amount: 1 })).status).toBe(422);
    expect((await stack.payWebhook(payment)).status).toBe(204);
    // The 204 comes once the payment is taken: a read right after shows it.
    const paid = await getJourney(journey.id, patient.token);
    expect(paid).toMatchObject({ status: 'active', phase: 'pre-visit', step: 'booked', payment: { orderId: payment.orderId, amount: 1500, status: 'paid' } });
    expect(paid.timeline.at(-1)).toMatchObject({ type: 'payment.received', actor: 'payment-provider', data: { orderId: payment.orderId, amount: 1500, channel: 'wechat' } });
    expect((await stack.payWebhook(payment)).status).toBe(204); // duplicate: nothing changes
    const again = await getJourney(journey.id, patient.token);
    expect(again.payment).toEqual(paid.payment);
    expect(again.timeline.filter((e) => e.type === 'payment.received')).toHaveLength(1);

    // Reminders arrive signed, within 2 s of start - offset.
    const start = Date.parse(slot.start);
    const reminders = await waitFor(async () => {
      const r = stack.notifications.filter((n) => n.body.refs.journeyId === journey.id && n.body.kind === 'appointment.reminder');
      return r.length === 2 ? r : undefined;
    });
    expect(Math.abs(reminders[0]!.at - (start - 6000))).toBeLessThan(2000);
    expect(Math.abs(reminders[1]!.at - (start - 3000))).toBeLessThan(2000);
    for (const n of stack.notifications.filter((x) => x.body.refs.journeyId === journey.id)) {
      expect(verifySignature(SECRETS.notifyWebhook, n.raw, n.headers['x-signature'] as string)).toBe(true);
      expect(n.body.patientId).toBe(patient.id);
    }
    expect(stack.notifications.filter((n) => n.body.refs.journeyId === journey.id).map((n) => n.body.kind)).toEqual([
      'payment.due',
      'appointment.reminder',
      'appointment.reminder',
    ]);

    const queued = await json(await stack.call('POST', `/v1/journeys/${journey.id}/check-in`, { token: patient.token }), 200);
    expect(queued).toEqual({ queueNumber: 1, ahead: 0 });
    await waitFor(async () => stack.notifications.find((n) => n.body.refs.journeyId === journey.id && n.body.kind === 'queue.near-turn'));

    expect((await stack.call('POST', `/v1/journeys/${journey.id}/consultation`, { token: otherDoctor })).status).toBe(403);
    const consulting = await json<JourneyBody>(await stack.call('POST', `/v1/journeys/${journey.id}/consultation`, { token: doctor }), 200);
    expect(consulting).toMatchObject({ phase: 'visit', step: 'in-consultation' });

    const outcome = { diagnosis: { code: 'I10', text: 'Essential hypertension' }, notes: 'Lifestyle advice; recheck in 4 weeks.' };
    expect((await stack.call('POST', `/v1/journeys/${journey.id}/outcome`, { token: otherDoctor, body: outcome })).status).toBe(403);
    const done = await json<JourneyBody>(await stack.call('POST', `/v1/journeys/${journey.id}/outcome`, { token: doctor, body: outcome }), 200);
    expect(done).toMatchObject({ phase: 'closed', status: 'completed', step: 'done' });
    const types = done.timeline.map((e) => e.type);
    expect(types).toEqual(HAPPY_PATH_TIMELINE);
    expect(done.timeline.map((e) => e.seq)).toEqual(types.map((_, i) => i + 1));

    // The doctor sees the journey in their list; the patient's inbox has the notifications.
    const list = await json<{ items: { id: string }[] }>(await stack.call('GET', '/v1/journeys?status=completed', { token: doctor }), 200);
    expect(list.items.map((j) => j.id)).toContain(journey.id);
    const inbox = await json<{ items: { kind: string }[] }>(await stack.call('GET', `/v1/patients/${patient.id}/notifications`, { token: patient.token }), 200);
    expect(inbox.items.map((n) => n.kind).sort()).toEqual(['appointment.reminder', 'appointment.reminder', 'payment.due', 'queue.near-turn']);
  });

  it('lapses an unpaid booking, frees the seat, and refunds a payment that comes too late', async () => {
    const patient = await newPatient();
    const journey = await startJourney(patient);
    const slot = await newSlot(60_000, 1);
    const booked = await json<JourneyBody>(await stack.call('POST', `/v1/journeys/${journey.id}/appointment`, { token: patient.token, body: { slotId: slot.id } }), 200);
    const lapsed = await waitFor(async () => {
      const j = await getJourney(journey.id);
      return j.status === 'cancelled' ? j : undefined;
    });
    expect(lapsed).toMatchObject({ phase: 'closed', payment: { status: 'expired' } });
    expect(lapsed.timeline.slice(-2).map((e) => e.type)).toEqual(['payment.expired', 'journey.cancelled']);
    const slots = await json<{ items: { id: string; remaining: number }[] }>(await stack.call('GET', `/v1/slots?department=cardiology`, { token: patient.token }), 200);
    expect(slots.items.find((s) => s.id === slot.id)!.remaining).toBe(1);
    await waitFor(async () => stack.notifications.find((n) => n.body.refs.journeyId === journey.id && n.body.kind === 'journey.cancelled'));

    // The journey's workflow has completed, so the refund is latePaymentRefund's.
    await stack.env.client.workflow.getHandle(journeyWorkflowId(journey.id)).result();

    const late = { orderId: booked.payment!.orderId, status: 'paid', amount: 1500, paidAt: new Date().toISOString(), channel: 'alipay' };
    // The provider reports it twice at once: both are answered once it is refunded, and it is refunded once.
    const answers = await Promise.all([stack.payWebhook(late), stack.payWebhook(late)]);
    expect(answers.map((r) => r.status)).toEqual([204, 204]);
    const after = await getJourney(journey.id);
    expect(after).toMatchObject({ status: 'cancelled', phase: 'closed', step: 'done', payment: { orderId: late.orderId, amount: 1500, status: 'refunded' } });
    expect(after.timeline.slice(-3).map((e) => e.type)).toEqual(['payment.expired', 'journey.cancelled', 'payment.refunded']);
    expect(after.timeline.at(-1)).toMatchObject({ actor: 'system', data: { orderId: late.orderId, amount: 1500, reason: 'late-payment' } });
    const [refund] = await stack.db.sql`select amount from refunds where order_id = ${late.orderId}`;
    expect(refund?.amount).toBe(1500);
    // The refunded order keeps when and how the late payment was made.
    const [order] = await stack.db.sql<{ status: string; paid_at: Date; channel: string }[]>`select status, paid_at, channel from payments where order_id = ${late.orderId}`;
    expect({ status: order?.status, paidAt: order?.paid_at.toISOString(), channel: order?.channel }).toEqual({ status: 'refunded', paidAt: late.paidAt, channel: 'alipay' });
    expect(stack.notifications.filter((n) => n.body.refs.journeyId === journey.id && n.body.kind === 'payment.refunded')).toHaveLength(1);
    expect((await stack.payWebhook(late)).status).toBe(204);
    expect(await stack.db.sql`select 1 from refunds where order_id = ${late.orderId}`).toHaveLength(1);
    expect(await getJourney(journey.id)).toEqual(after);
  });

  it('cancels a paid booking with a refund', async () => {
    const patient = await newPatient();
    const journey = await startJourney(patient, '高血压', 'standard-outpatient');
    const slot = await newSlot(3_600_000, 2);
    const booked = await json<JourneyBody>(await stack.call('POST', `/v1/journeys/${journey.id}/appointment`, { token: patient.token, body: { slotId: slot.id } }), 200);
    expect((await stack.payWebhook({ orderId: booked.payment!.orderId, status: 'paid', amount: 1500, paidAt: new Date().toISOString(), channel: 'insurance' })).status).toBe(204);
    const cancelled = await json<JourneyBody>(await stack.call('POST', `/v1/journeys/${journey.id}/cancel`, { token: patient.token, body: { reason: 'feeling better' } }), 200);
    expect(cancelled).toMatchObject({ status: 'cancelled', phase: 'closed', payment: { status: 'refunded' } });
    const [refund] = await stack.db.sql`select amount from refunds where order_id = ${booked.payment!.orderId}`;
    expect(refund?.amount).toBe(1500);
    const slots = await json<{ items: { id: string; remaining: number }[] }>(await stack.call('GET', '/v1/slots?department=cardiology', { token: admin }), 200);
    expect(slots.items.find((s) => s.id === slot.id)!.remaining).toBe(2);
    expect((await stack.call('POST', `/v1/journeys/${journey.id}/cancel`, { token: patient.token, body: { reason: 'again' } })).status).toBe(409);
  });

  it('makes a no-show of a patient who never checks in, and escalates a late consultation to coordinators', async () => {
    const absent = await newPatient();
    const present = await newPatient();
    const slot = await newSlot(4_000);
    const a = await startJourney(absent);
    const b = await startJourney(present);
    for (const [j, p] of [[a, absent], [b, present]] as const) {
      const booked = await json<JourneyBody>(await stack.call('POST', `/v1/journeys/${j.id}/appointment`, { token: p.token, body: { slotId: slot.id } }), 200);
      expect((await stack.payWebhook({ orderId: booked.payment!.orderId, status: 'paid', amount: 1500, paidAt: new Date().toISOString(), channel: 'wechat' })).status).toBe(204);
    }
    await json(await stack.call('POST', `/v1/journeys/${b.id}/check-in`, { token: present.token }), 200);

    const noShow = await waitFor(async () => {
      const j = await getJourney(a.id);
      return j.status === 'no-show' ? j : undefined;
    });
    expect(noShow).toMatchObject({ phase: 'closed', step: 'done' });
    expect(noShow.timeline.at(-1)!.type).toBe('journey.no-show');

    const escalated = await waitFor(async () => {
      const j = await getJourney(b.id);
      return j.openTasks.length > 0 ? j : undefined;
    });
    expect(escalated.openTasks[0]).toMatchObject({ kind: 'escalation', role: 'coordinator', status: 'open' });
    expect(escalated.timeline.map((e) => e.type)).toContain('task.escalated');
    const coordinator = await stack.token('coordinator', 'coord-1');
    const overdue = await json<{ items: { id: string; overdue: boolean }[] }>(await stack.call('GET', '/v1/journeys?overdue=true', { token: coordinator }), 200);
    expect(overdue.items.map((j) => j.id)).toContain(b.id);

    await json(await stack.call('POST', `/v1/journeys/${b.id}/consultation`, { token: doctor }), 200);
    const started = await getJourney(b.id);
    expect(started.openTasks).toEqual([]);
  });

  it('books exactly 3 of 50 concurrent requests for a 3-seat slot', async () => {
    const slot = await newSlot(3_600_000, 3);
    const journeys = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const p = await newPatient();
        return { p, j: await startJourney(p, '血压高', 'standard-outpatient') };
      }),
    );
    const statuses = await Promise.all(
      journeys.map(async ({ p, j }) => (await stack.call('POST', `/v1/journeys/${j.id}/appointment`, { token: p.token, body: { slotId: slot.id } })).status),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(statuses.filter((s) => s === 409)).toHaveLength(47);
    const [row] = await stack.db.sql`select remaining from slots where id = ${slot.id}`;
    expect(row?.remaining).toBe(0);
    expect(await stack.db.sql`select 1 from seats where slot_id = ${slot.id} and status = 'held'`).toHaveLength(3);
  });

  it('redirects a red-flag complaint to emergency care without booking', async () => {
    const patient = await newPatient();
    const j = await startJourney(patient, 'sudden chest pain and shortness of breath');
    expect(j).toMatchObject({ status: 'redirected', phase: 'closed', triage: { urgency: 'emergency', rule: 'red-flag-chest-pain-breathless' } });
    expect(j.timeline.map((e) => e.type)).toEqual(['journey.started', 'triage.completed', 'journey.redirected']);
    const slot = await newSlot(3_600_000);
    expect((await stack.call('POST', `/v1/journeys/${j.id}/appointment`, { token: patient.token, body: { slotId: slot.id } })).status).toBe(409);
  });

  it('redirects a child with fever and convulsions, and books a negated chest pain as the blood pressure it is', async () => {
    const patient = await newPatient();
    const child = await startJourney(patient, '孩子发烧抽筋');
    expect(child).toMatchObject({ status: 'redirected', phase: 'closed', triage: { urgency: 'emergency', department: 'pediatrics', rule: 'red-flag-seizure' } });
    expect(child.triage.matched).toEqual([{ concept: 'seizure', words: '抽筋', status: 'present' }]);
    expect(child.triage.advice).toContain('抽搐');
    const negated = await startJourney(await newPatient(), '没有胸痛也不气短，就是最近血压高');
    expect(negated).toMatchObject({ status: 'active', phase: 'pre-visit', triage: { urgency: 'routine', department: 'cardiology', rule: 'department:cardiology' } });
    expect(negated.triage.matched).toEqual([{ concept: 'hypertension', words: '血压高', status: 'present' }]);
    expect(negated.triage.excluded).toEqual([
      { concept: 'chest-pain', words: '胸痛', status: 'negated' },
      { concept: 'breathless', words: '气短', status: 'negated' },
    ]);
    expect(negated.timeline.map((e) => e.type)).toEqual(['journey.started', 'triage.completed']);
  });

  it.each([
    ['straight to the engine', 0],
    // Long enough for a red-flag workflow to complete between two calls: starting and then updating
    // would find it closed (409); one update-with-start call cannot.
    ['over a slow link to the engine', 1500],
  ])('answers every red-flag journey with its emergency advice, 12 at once, %s', async (_label, latencyMs) => {
    const call = latencyMs ? (await stack.slowApi(latencyMs)).call : stack.call;
    const patients = await Promise.all(Array.from({ length: 6 }, () => newPatient()));
    const complaints = ['胸痛伴呼吸困难', 'chest pain and shortness of breath'];
    const started = await Promise.all(
      patients.flatMap((p) => complaints.map((complaint) => call('POST', '/v1/journeys', { token: p.token, body: { patientId: p.id, mode: 'offline', complaint } }))),
    );
    expect(started).toHaveLength(12);
    for (const res of started) {
      const j = await json<JourneyBody>(res, 201);
      expect(j).toMatchObject({ status: 'redirected', phase: 'closed', step: 'done', triage: { urgency: 'emergency' } });
      expect(j.triage.advice).toMatch(/emergency|急诊/);
      expect(j.timeline.map((e) => e.type)).toEqual(['journey.started', 'triage.completed', 'journey.redirected']);
    }
  });

  it('tells the next patient it is nearly their turn when the consultation ahead starts', async () => {
    await json(await stack.call('POST', '/v1/pathways', { token: admin, body: { ...quick, id: 'quick-queue', nearTurnAhead: 0, consultStartSla: 'PT10M' } }), 201);
    const first = await newPatient();
    const second = await newPatient();
    const slot = await newSlot(60_000);
    const journeys: JourneyBody[] = [];
    for (const p of [first, second]) {
      const j = await startJourney(p, '高血压', 'quick-queue');
      const booked = await json<JourneyBody>(await stack.call('POST', `/v1/journeys/${j.id}/appointment`, { token: p.token, body: { slotId: slot.id } }), 200);
      expect((await stack.payWebhook({ orderId: booked.payment!.orderId, status: 'paid', amount: 1500, paidAt: new Date().toISOString(), channel: 'wechat' })).status).toBe(204);
      journeys.push(j);
    }
    const [a, b] = journeys as [JourneyBody, JourneyBody];
    expect(await json(await stack.call('POST', `/v1/journeys/${a.id}/check-in`, { token: first.token }), 200)).toEqual({ queueNumber: 1, ahead: 0 });
    expect(await json(await stack.call('POST', `/v1/journeys/${b.id}/check-in`, { token: second.token }), 200)).toEqual({ queueNumber: 2, ahead: 1 });
    const nearTurn = (id: string) => stack.notifications.filter((n) => n.body.refs.journeyId === id && n.body.kind === 'queue.near-turn');
    await waitFor(async () => (nearTurn(a.id).length === 1 ? true : undefined));
    expect(nearTurn(b.id)).toHaveLength(0);
    await json(await stack.call('POST', `/v1/journeys/${a.id}/consultation`, { token: doctor }), 200);
    await waitFor(async () => (nearTurn(b.id).length === 1 ? true : undefined));
    const timeline = (await getJourney(b.id)).timeline.map((e) => e.type);
    expect(timeline.slice(-2)).toEqual(['journey.checked-in', 'queue.near-turn']);
    await new Promise((r) => setTimeout(r, 500));
    expect(nearTurn(b.id)).toHaveLength(1);
  });
});
