// A prescription over HTTP on the real components: the outcome's prescribing rules (422s that record
// nothing), the pharmacist's review and the prescriber's revision through the work queues, payment and
// courier through signed webhooks (forged, duplicated and reordered ones change nothing), the journey
// completing when its prescription settles, dose confirmations and a cancel after delivery. And the
// rules of issue 10: every version signed in its prescriber's request and shown with its signature;
// a version whose stored row was altered cannot be reviewed, paid or dispensed; a verified pharmacist
// reviews; a real-name patient pays.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../activities/signature.js';
import { digestOf, localSigner } from '../activities/signing.js';
import { prescriptionContent, type PrescriptionSignature, type PrescriptionSnapshot } from '../workflows/definitions.js';
import { SECRETS, startStack, type Stack } from './support/stack.js';
import { json, waitFor } from './support/http.js';
import { verifiedClinician } from './support/people.js';
import { checkedIn } from './support/visits.js';
import { whileAlteredWhenPaid } from './support/read-model.js';

let stack: Stack;
let admin: string;
let coordinator: string;
let pharmacist: string;
let pharmacistId: string;
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
  coordinator = await stack.token('coordinator', 'coord-1');
  await json(await post('/v1/pathways', admin, pathway), 201);
  // Licences verified by an admin: only such a doctor prescribes and only such a pharmacist reviews.
  doctorId = (await verifiedClinician(stack, admin, { name: 'Dr. Rx', role: 'doctor', department: 'respiratory' })).id;
  doctor = await stack.token('doctor', doctorId);
  pharmacistId = (await verifiedClinician(stack, admin, { name: 'Pharmacist Rx', role: 'pharmacist' })).id;
  pharmacist = await stack.token('pharmacist', pharmacistId);
});
afterAll(async () => {
  await stack?.stop();
});

/** A journey in consultation with `doctorId`. */
async function inConsultation(o: { verified?: boolean } = {}): Promise<{ journeyId: string; patientId: string; patient: string }> {
  const { journeyId, patientId, patient } = await checkedIn(stack, { admin, doctorId, pathwayId: pathway.id, fee: 1000, complaint: '咳嗽咳痰一周', ...o });
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
    expect(rejected).toMatchObject({ status: 'revision-requested', review: { pharmacistId, decision: 'reject', reason: 'add food advice' } });
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

/** The stored signature of a version, as the table keeps it. */
async function storedSignature(rxId: string, version: number): Promise<PrescriptionSignature | undefined> {
  const [row] = await stack.db.sql<{ signer: string; algorithm: string; key_id: string; digest: string; signature: string; signed_at: Date }[]>`
    select signer, algorithm, key_id, digest, signature, signed_at from prescription_signatures where prescription_id = ${rxId} and version = ${version}`;
  return row && { signer: row.signer, algorithm: row.algorithm, keyId: row.key_id, digest: row.digest, signature: row.signature, signedAt: row.signed_at.toISOString() };
}

/** Alters the prescription's stored row as someone with access to the database would: a quantity in its items. */
const alterQuantity = (rxId: string, quantity: number) =>
  stack.db.sql`update prescriptions set snapshot = jsonb_set(snapshot, '{items,0,quantity}', to_jsonb(${quantity}::int)) where id = ${rxId}`;

describe('signed prescriptions over HTTP (issue 10, rules 2, 3 and 5)', () => {
  it("signs version 1 in the doctor's outcome request and shows the signature; a review of an altered row is 422 signature-mismatch, and so is its payment", async () => {
    const { journeyId } = await inConsultation();
    const done = await json(await post(`/v1/journeys/${journeyId}/outcome`, doctor, { diagnosis, notes: '', prescriptions: [{ items: [amoxicillin] }] }), 200);
    const rxId = (done.created.prescriptions as string[])[0]!;
    const rx = async (): Promise<Record<string, any>> => json(await get(`/v1/prescriptions/${rxId}`, admin), 200);
    const signed = await waitFor(async () => {
      const p = await rx();
      return p.signature ? p : undefined;
    });
    // Shown without the signature's value: who, how, with which key, over which digest, when.
    expect(Object.keys(signed.signature).sort()).toEqual(['algorithm', 'digest', 'keyId', 'signedAt', 'signer']);
    expect(signed.signature).toMatchObject({ signer: doctorId, algorithm: 'Ed25519' });
    // The digest is SHA-256 of the RFC 8785 form of the content as shown.
    const content = prescriptionContent(signed as PrescriptionSnapshot);
    expect(signed.signature.digest).toBe(digestOf(content));
    const stored = (await storedSignature(rxId, 1))!;
    expect(stored).toMatchObject({ ...signed.signature, signedAt: new Date(signed.signature.signedAt).toISOString() });
    const keys = await stack.db.sql<{ key_id: string; clinician_id: string }[]>`select key_id, clinician_id from signing_keys where clinician_id = ${doctorId}`;
    expect(keys).toEqual([{ key_id: signed.signature.keyId, clinician_id: doctorId }]);
    // A real Ed25519 signature by that doctor's key, checked with the public key alone.
    const verifier = localSigner(stack.db.sql);
    expect(await verifier.verify(stored, content)).toEqual({ valid: true });
    expect(await verifier.verify(stored, { ...content, items: [{ ...content.items[0]!, quantity: 30 }] })).toEqual({ valid: false, reason: 'digest-mismatch' });

    // A pharmacist whose licence nobody verified may not review.
    const unverified = await stack.token('pharmacist', (await json(await post('/v1/clinicians', admin, { name: 'Pharmacist New', role: 'pharmacist' }), 201)).id);
    expect((await json(await post(`/v1/prescriptions/${rxId}/review`, unverified, { decision: 'approve' }), 422)).type).toBe('https://carepath.dev/problems/clinician-unverified');

    // Someone with access to the database raises the quantity: the review is refused and says why.
    await alterQuantity(rxId, 30);
    expect((await rx()).items[0].quantity).toBe(30); // what a pharmacist would read
    const refused = await json(await post(`/v1/prescriptions/${rxId}/review`, pharmacist, { decision: 'approve' }), 422);
    expect(refused).toMatchObject({ type: 'https://carepath.dev/problems/signature-mismatch', status: 422 });
    const after = await rx();
    expect(after).toMatchObject({ status: 'pending-review', version: 1 });
    expect(after.payment).toBeUndefined();
    const found = digestOf({ ...content, items: [{ ...content.items[0]!, quantity: 30 }] });
    expect(after.timeline.filter((e: Json) => e.type === 'prescription.signature-mismatch').map((e: Json) => e.data)).toEqual([
      { version: 1, stage: 'review', reason: 'content-changed', signed: stored.digest, found },
    ]);
    // The projection that recorded it wrote the signed content back; coordinators have the incident.
    expect(after.items[0].quantity).toBe(3);
    const tasks = await json(await get('/v1/tasks?kind=escalation', coordinator), 200);
    expect(tasks.items.filter((t: Json) => t.subject.id === rxId).map((t: Json) => [t.id, t.role, t.status])).toEqual([[`rx:${rxId}:signature-mismatch:v1:review`, 'coordinator', 'open']]);

    // As signed again: approved. Altered before the payment: the payment is refused, nothing changes.
    const approved = await json(await post(`/v1/prescriptions/${rxId}/review`, pharmacist, { decision: 'approve' }), 200);
    const orderId = approved.payment.orderId as string;
    await alterQuantity(rxId, 1);
    const paid = { orderId, status: 'paid', amount: 150, paidAt: new Date().toISOString(), channel: 'wechat' };
    expect((await json(await stack.payWebhook(paid), 422)).type).toBe('https://carepath.dev/problems/signature-mismatch');
    const [order] = await stack.db.sql<{ status: string }[]>`select status from payments where order_id = ${orderId}`;
    expect(order!.status).toBe('pending');
    expect(await rx()).toMatchObject({ status: 'awaiting-payment', payment: { status: 'pending' } });
    // The provider's retry, the content as signed again: taken, dispensed once.
    expect((await stack.payWebhook(paid)).status).toBe(204);
    await waitFor(async () => ((await rx()).status === 'shipped' ? true : undefined));
    const [dispensed] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from dispenses where prescription_id = ${rxId}`;
    expect(dispensed!.n).toBe(1);
    expect((await rx()).timeline.filter((e: Json) => e.type === 'prescription.signature-mismatch').map((e: Json) => e.data.stage)).toEqual(['review', 'payment']);
  });

  it("signs each revision again; refuses an unverified patient's payment (422 patient-unverified); holds content altered before dispensing, and a coordinator's cancel refunds it", async () => {
    const { journeyId, patientId } = await inConsultation({ verified: false });
    const done = await json(await post(`/v1/journeys/${journeyId}/outcome`, doctor, { diagnosis, notes: '', prescriptions: [{ items: [amoxicillin] }] }), 200);
    const rxId = (done.created.prescriptions as string[])[0]!;
    const rx = async (): Promise<Record<string, any>> => json(await get(`/v1/prescriptions/${rxId}`, admin), 200);
    await waitFor(async () => ((await rx()).signature ? true : undefined));
    await json(await post(`/v1/prescriptions/${rxId}/review`, pharmacist, { decision: 'reject', reason: 'two days' }), 200);
    const revised = await json(await post(`/v1/prescriptions/${rxId}/revision`, doctor, { items: [{ ...amoxicillin, days: 2, quantity: 6 }] }), 200);
    expect(revised).toMatchObject({ version: 2, signature: { signer: doctorId, algorithm: 'Ed25519', digest: digestOf(prescriptionContent(revised as PrescriptionSnapshot)) } });
    const v1 = (await storedSignature(rxId, 1))!;
    const v2 = (await storedSignature(rxId, 2))!;
    expect(v2.digest).toBe(revised.signature.digest);
    expect(v2.digest).not.toBe(v1.digest);
    expect(v2.keyId).toBe(v1.keyId); // the doctor's one key
    const approved = await json(await post(`/v1/prescriptions/${rxId}/review`, pharmacist, { decision: 'approve' }), 200);
    const orderId = approved.payment.orderId as string;
    const paid = { orderId, status: 'paid', amount: 300, paidAt: new Date().toISOString(), channel: 'wechat' };

    // The patient was seen offline without real-name verification: the prescription is not paid until they are verified.
    expect((await json(await stack.payWebhook(paid), 422)).type).toBe('https://carepath.dev/problems/patient-unverified');
    expect(await rx()).toMatchObject({ status: 'awaiting-payment', payment: { status: 'pending' } });
    await json(await post(`/v1/patients/${patientId}/identity-verifications`, coordinator, { method: 'id-card' }), 201);

    // Someone alters the row as soon as it is paid, before dispensing: held, never dispensed.
    await whileAlteredWhenPaid(stack.db.sql, async () => {
      expect((await stack.payWebhook(paid)).status).toBe(204);
      const held = await waitFor(async () => {
        const p = await rx();
        return p.status === 'on-hold' ? p : undefined;
      });
      expect(held.timeline.filter((e: Json) => e.type === 'prescription.signature-mismatch').map((e: Json) => [e.data.stage, e.data.reason])).toEqual([['dispense', 'content-changed']]);
      expect(held.openTasks.map((t: Json) => t.id)).toContain(`rx:${rxId}:signature-mismatch:v2:dispense`);
    });
    const [dispensed] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from dispenses where prescription_id = ${rxId}`;
    expect(dispensed!.n).toBe(0);
    const [deliveries] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from deliveries where prescription_id = ${rxId}`;
    expect(deliveries!.n).toBe(0);
    const cancelled = await json(await post(`/v1/prescriptions/${rxId}/cancel`, coordinator, { reason: 'content altered before dispensing' }), 200);
    expect(cancelled).toMatchObject({ status: 'cancelled', payment: { status: 'refunded', amount: 300 } });
    expect(cancelled.openTasks.filter((t: Json) => t.id.includes('signature-mismatch:v2:dispense'))).toEqual([]);
  });
});
