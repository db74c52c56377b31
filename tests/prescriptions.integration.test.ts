// A prescription over HTTP on the real components: the outcome's prescribing rules (422s that record
// nothing), the pharmacist's review and the prescriber's revision through the work queues, payment and
// courier through signed webhooks (forged, duplicated and reordered ones change nothing), the journey
// completing when its prescription settles, dose confirmations and a cancel after delivery.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../activities/signature.js';
import { SECRETS, startStack, type Stack } from './support/stack.js';
import { json, waitFor } from './support/http.js';
import { checkedIn } from './support/visits.js';

let stack: Stack;
let admin: string;
let pharmacist: string;
let doctorId: string;
let doctor: string;

const pathway = {
  id: 'rx-test', version: 1, name: 'Prescription test', modes: ['offline'], fees: { registration: 1000 },
  paymentWindow: 'PT1M', appointmentReminders: [], nearTurnAhead: 1, noShowGrace: 'PT1M',
  consultStartSla: 'PT1M', pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D',
};

type Json = Record<string, any>;

const post = (path: string, token: string, body?: unknown) => stack.call('POST', path, { token, ...(body === undefined ? {} : { body }) });
const get = (path: string, token: string) => stack.call('GET', path, { token });
function courier(body: Json, secret = SECRETS.courierWebhook): Promise<Response> {
  const raw = JSON.stringify(body);
  return stack.call('POST', '/v1/webhooks/courier', { raw, headers: { 'X-Signature': sign(secret, raw) } });
}

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'admin-1');
  pharmacist = await stack.token('pharmacist', 'ph-1');
  await json(await post('/v1/pathways', admin, pathway), 201);
  doctorId = (await json(await post('/v1/clinicians', admin, { name: 'Dr. Rx', role: 'doctor', department: 'respiratory' }), 201)).id;
  doctor = await stack.token('doctor', doctorId);
});
afterAll(async () => {
  await stack?.stop();
});

/** A journey in consultation with `doctorId`. */
async function inConsultation(): Promise<{ journeyId: string; patientId: string; patient: string }> {
  const { journeyId, patientId, patient } = await checkedIn(stack, { admin, doctorId, pathwayId: pathway.id, fee: 1000, complaint: '咳嗽咳痰一周' });
  await json(await post(`/v1/journeys/${journeyId}/consultation`, doctor), 200);
  return { journeyId, patientId, patient };
}

const amoxicillin = { drugCode: 'amoxicillin-500mg', dose: '500 mg', frequency: 'tid', days: 1, quantity: 3 };
const diagnosis = { code: 'J20.9', text: 'Acute bronchitis' };

describe('prescriptions over HTTP', () => {
  it('refuses an outcome that breaks a prescribing rule with 422 naming the rule, and records nothing', async () => {
    const { journeyId } = await inConsultation();
    const outcome = (extra: Json) => post(`/v1/journeys/${journeyId}/outcome`, doctor, { diagnosis, notes: '', ...extra });
    const cases: [Json, string][] = [
      [{ prescriptions: [{ items: [{ ...amoxicillin, drugCode: 'morphine-10mg', days: 1 }] }] }, 'controlled-drug'],
      [{ prescriptions: [{ items: [{ ...amoxicillin, drugCode: 'diazepam-5mg' }] }] }, 'controlled-drug'],
      [{ prescriptions: [{ items: [{ ...amoxicillin, drugCode: 'no-such-drug' }] }] }, 'unknown-drug'],
      [{ prescriptions: [{ items: ['amoxicillin-500mg', 'ibuprofen-300mg', 'paracetamol-500mg', 'omeprazole-20mg', 'loratadine-10mg', 'ambroxol-30mg'].map((drugCode) => ({ ...amoxicillin, drugCode })) }] }, 'too-many-drugs'],
      [{ prescriptions: [{ items: [{ ...amoxicillin, days: 8 }] }] }, 'course-too-long'],
      [{ prescriptions: [{ items: [{ ...amoxicillin, drugCode: 'amlodipine-5mg', frequency: 'qd', days: 31 }] }] }, 'course-too-long'],
      [{ prescriptions: [{ long: true, items: [{ ...amoxicillin, drugCode: 'amlodipine-5mg', frequency: 'qd', days: 60 }] }] }, 'course-too-long'], // not enrolled
      [{ exams: [{ code: 'no-such-exam' }] }, 'unknown-exam'],
      [{ referral: { facilityId: 'nowhere', department: 'cardiology', reason: 'r', urgency: 'routine', consent: true } }, 'unknown-facility'],
      [{ referral: { facilityId: 'nowhere', department: 'cardiology', reason: 'r', urgency: 'routine', consent: false } }, 'referral-without-consent'],
    ];
    for (const [extra, type] of cases) {
      const problem = await json(await outcome(extra), 422);
      expect(problem.type, JSON.stringify(extra)).toBe(`https://carepath.dev/problems/${type}`);
    }
    const journey = await json(await get(`/v1/journeys/${journeyId}`, admin), 200);
    expect(journey).toMatchObject({ phase: 'visit', step: 'in-consultation', status: 'active' });
    expect(journey.outcome).toBeUndefined();
    const [rows] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from prescriptions where journey_id = ${journeyId}`;
    expect(rows!.n).toBe(0);
  });

  it('takes a prescription through review, revision, payment and courier to delivery; the journey completes', async () => {
    const { journeyId, patientId, patient } = await inConsultation();
    const done = await json(await post(`/v1/journeys/${journeyId}/outcome`, doctor, { diagnosis, notes: 'Rest.', prescriptions: [{ items: [amoxicillin] }] }), 200);
    expect(done.created.exams).toEqual([]);
    const rxId = (done.created.prescriptions as string[])[0]!;
    expect(done).toMatchObject({ phase: 'post-visit', step: 'follow-through', status: 'active', children: { prescriptions: [{ id: rxId, status: 'pending-review' }], exams: [], referrals: [] } });
    const rx = async (token = admin): Promise<Json> => json(await get(`/v1/prescriptions/${rxId}`, token), 200);

    // Visibility: the patient and pharmacists, not another patient or another doctor.
    await json(await get(`/v1/prescriptions/${rxId}`, patient), 200);
    expect((await get(`/v1/prescriptions/${rxId}`, await stack.token('patient', 'someone-else'))).status).toBe(404);
    expect((await get(`/v1/prescriptions/${rxId}`, await stack.token('doctor', 'doc-other'))).status).toBe(404);

    // The pharmacist's queue has the review; a rejection needs a reason and goes back to the prescriber.
    const queue = await json(await get('/v1/tasks?kind=pharmacist-review', pharmacist), 200);
    expect(queue.items.find((t: Json) => t.subject.id === rxId)).toMatchObject({ kind: 'pharmacist-review', role: 'pharmacist', tier: 0, overdue: false, journeyId });
    expect((await post(`/v1/prescriptions/${rxId}/review`, pharmacist, { decision: 'reject' })).status).toBe(400);
    expect((await post(`/v1/prescriptions/${rxId}/review`, doctor, { decision: 'approve' })).status).toBe(403);
    const rejected = await json(await post(`/v1/prescriptions/${rxId}/review`, pharmacist, { decision: 'reject', reason: 'add food advice' }), 200);
    expect(rejected).toMatchObject({ status: 'revision-requested', review: { pharmacistId: 'ph-1', decision: 'reject', reason: 'add food advice' } });
    const mine = await json(await get('/v1/tasks', doctor), 200);
    expect(mine.items.filter((t: Json) => t.subject.id === rxId).map((t: Json) => [t.kind, t.assigneeId])).toEqual([['prescription-revision', doctorId]]);
    expect((await json(await post(`/v1/prescriptions/${rxId}/revision`, doctor, { items: [{ ...amoxicillin, drugCode: 'morphine-10mg' }] }), 422)).type).toMatch(/controlled-drug$/);
    const revised = await json(await post(`/v1/prescriptions/${rxId}/revision`, doctor, { items: [{ ...amoxicillin, quantity: 6, days: 2 }] }), 200);
    expect(revised).toMatchObject({ status: 'pending-review', version: 2, items: [{ drugCode: 'amoxicillin-500mg', quantity: 6, unitPrice: 50, name: '阿莫西林胶囊' }] });

    // Approved: the patient is asked to pay 6 × 50 fen.
    const approved = await json(await post(`/v1/prescriptions/${rxId}/review`, pharmacist, { decision: 'approve' }), 200);
    expect(approved).toMatchObject({ status: 'awaiting-payment', payment: { amount: 300, currency: 'CNY', status: 'pending' } });
    const orderId = approved.payment.orderId as string;
    const due = await waitFor(async () => stack.notifications.find((n) => n.body.kind === 'payment.due' && n.body.refs.prescriptionId === rxId));
    expect(due.body.refs).toEqual({ journeyId, prescriptionId: rxId });
    expect((await stack.payWebhook({ orderId, status: 'paid', amount: 301, paidAt: new Date().toISOString(), channel: 'alipay' })).status).toBe(422);
    expect((await stack.payWebhook({ orderId, status: 'paid', amount: 300, paidAt: new Date().toISOString(), channel: 'alipay' })).status).toBe(204);
    expect((await stack.payWebhook({ orderId, status: 'paid', amount: 300, paidAt: new Date().toISOString(), channel: 'alipay' })).status).toBe(204);
    const shipped = await waitFor(async () => {
      const p = await rx();
      return p.status === 'shipped' ? p : undefined;
    });
    const deliveryId = shipped.delivery.deliveryId as string;
    expect(shipped.delivery).toEqual({ deliveryId, status: 'ordered' });
    const [dispensed] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from dispenses where prescription_id = ${rxId}`;
    expect(dispensed!.n).toBe(1);

    // Courier webhooks: forged → 401; duplicated or backwards → 204, nothing changes.
    expect((await courier({ deliveryId, status: 'delivered', at: new Date().toISOString() }, 'forged')).status).toBe(401);
    expect((await courier({ deliveryId: 'no-such-delivery', status: 'delivered', at: new Date().toISOString() })).status).toBe(404);
    expect((await courier({ deliveryId, status: 'picked-up', at: new Date().toISOString() })).status).toBe(204);
    expect((await courier({ deliveryId, status: 'in-transit', at: new Date().toISOString() })).status).toBe(204);
    expect((await courier({ deliveryId, status: 'picked-up', at: new Date().toISOString() })).status).toBe(204);
    expect((await courier({ deliveryId, status: 'in-transit', at: new Date().toISOString() })).status).toBe(204);
    expect((await rx()).delivery.status).toBe('in-transit');
    expect((await courier({ deliveryId, status: 'delivered', at: new Date().toISOString() })).status).toBe(204);
    const delivered = await waitFor(async () => {
      const p = await rx();
      return p.status === 'delivered' && p.reminders ? p : undefined;
    });
    expect(delivered.timeline.map((e: Json) => e.type)).toEqual([
      'prescription.created', 'task.created', 'prescription.rejected', 'task.created', 'prescription.revised', 'task.created',
      'prescription.approved', 'payment.requested', 'payment.received', 'prescription.dispensed', 'delivery.ordered',
      'delivery.picked-up', 'delivery.in-transit', 'delivery.delivered',
    ]);
    expect(delivered.reminders).toMatchObject({ timezone: 'Asia/Shanghai', times: ['08:00', '12:00', '18:00'] });
    expect(delivered.reminders.next).toMatch(/T(08|12|18):00:00\+08:00$/);

    // The journey completes once its one child has settled.
    const journey = await waitFor(async () => {
      const j = await json(await get(`/v1/journeys/${journeyId}`, patient), 200);
      return j.status === 'completed' ? j : undefined;
    });
    expect(journey).toMatchObject({ phase: 'closed', step: 'done', children: { prescriptions: [{ id: rxId, status: 'delivered' }] } });
    expect(journey.timeline.slice(-2).map((e: Json) => [e.type, e.data])).toEqual([
      ['item.settled', { type: 'prescription', id: rxId, status: 'delivered' }],
      ['journey.completed', {}],
    ]);

    // Doses: only planned occurrences; the first answer stands.
    const next = delivered.reminders.next as string;
    expect((await json(await post(`/v1/prescriptions/${rxId}/doses`, patient, { scheduledAt: '2026-01-01T08:00:00+08:00', taken: true }), 422)).type).toMatch(/unknown-dose$/);
    expect(await json(await post(`/v1/prescriptions/${rxId}/doses`, patient, { scheduledAt: next, taken: true }), 200)).toEqual({ prescriptionId: rxId, scheduledAt: new Date(next).toISOString(), taken: true });
    expect((await post(`/v1/prescriptions/${rxId}/doses`, patient, { scheduledAt: next, taken: false })).status).toBe(409);
    expect((await post(`/v1/prescriptions/${rxId}/doses`, doctor, { scheduledAt: next, taken: true })).status).toBe(403);

    // A cancel after delivery stops the course; the status stays delivered; a second is 409.
    const stopped = await json(await post(`/v1/prescriptions/${rxId}/cancel`, doctor, { reason: 'rash' }), 200);
    expect(stopped.status).toBe('delivered');
    expect(stopped.timeline.slice(-2).map((e: Json) => [e.type, e.data])).toEqual([
      ['dose.confirmed', { scheduledAt: new Date(next).toISOString() }],
      ['course.stopped', { reason: 'rash' }],
    ]);
    expect((await post(`/v1/prescriptions/${rxId}/cancel`, doctor, { reason: 'again' })).status).toBe(409);
    const inbox = await json(await get(`/v1/patients/${patientId}/notifications`, patient), 200);
    expect(inbox.items.filter((n: Json) => n.kind === 'delivery.update').map((n: Json) => n.body)).toHaveLength(4);
  });
});
