// Signed partner webhooks for post-visit items, over HTTP on the real components (dev server,
// PostgreSQL, a worker): a payment goes to the workflow of the order's subject (here a prescription),
// a payment that arrives after the prescription's workflow has closed is refunded by latePaymentRefund
// onto the prescription's own read model, and courier reports move the delivery on (duplicates,
// reports out of order, for a replaced delivery id or an ended workflow change nothing). Forged
// signatures are 401 and change nothing.
//
// The prescription is started directly with the Temporal client and approved through its update
// (the outcome and review routes belong to another change); everything partners do goes over HTTP.
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getItem, type ItemView } from '../activities/items.js';
import { sign } from '../activities/signature.js';
import { DEV_SIGNING_KEYS, localSigner } from '../activities/signing.js';
import {
  JOURNEY_TASK_QUEUE,
  PRESCRIPTION_WORKFLOW,
  cancelPrescriptionUpdate,
  prescriptionContent,
  prescriptionWorkflowId,
  reviewUpdate,
  type PrescriptionInput,
  type PrescriptionItem,
  type PrescriptionSnapshot,
} from '../workflows/definitions.js';
import type { prescriptionFulfillment } from '../workflows/prescription.js';
import { SECRETS, startStack, type Stack } from './support/stack.js';
import { json, waitFor } from './support/http.js';
import { verifiedClinician, verifiedPatient } from './support/people.js';

let stack: Stack;
let admin: string;

const amlodipine: PrescriptionItem = { drugCode: 'amlodipine-5mg', dose: '5 mg', frequency: 'qd', days: 2, quantity: 2, name: '氨氯地平片', unitPrice: 150 };
const metformin: PrescriptionItem = { drugCode: 'metformin-500mg', dose: '500 mg', frequency: 'bid', days: 2, quantity: 4, name: '二甲双胍片', unitPrice: 40 };
const AMOUNT = 2 * 150 + 4 * 40;

function signedPost(path: string, body: unknown, secret: string): Promise<Response> {
  const raw = JSON.stringify(body);
  return stack.call('POST', path, { raw, headers: { 'X-Signature': sign(secret, raw) } });
}
const courier = (deliveryId: string, status: string, at = new Date().toISOString(), secret = SECRETS.courierWebhook) =>
  signedPost('/v1/webhooks/courier', { deliveryId, status, at }, secret);
const paid = (orderId: string, amount = AMOUNT) => ({ orderId, status: 'paid', amount, paidAt: new Date().toISOString(), channel: 'alipay' });

const rx = async (id: string): Promise<ItemView<PrescriptionSnapshot>> => (await getItem<PrescriptionSnapshot>(stack.db.sql, 'prescription', id))!;
const refundsOf = (orderId: string) => stack.db.sql<{ amount: number; reason: string }[]>`select amount, reason from refunds where order_id = ${orderId}`;
const orderRow = async (orderId: string) =>
  (await stack.db.sql<{ status: string; channel: string | null }[]>`select status, channel from payments where order_id = ${orderId}`)[0];
const deliveryRows = (prescriptionId: string) =>
  stack.db.sql<{ delivery_id: string; attempt: number }[]>`select delivery_id, attempt from deliveries where prescription_id = ${prescriptionId} order by attempt`;

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'admin-1');
});
afterAll(async () => {
  await stack?.stop();
});

/**
 * A real-name patient with a journey (the prescriptions row needs both), and an approved prescription
 * awaiting payment: signed by its prescriber as the outcome's request signs it, approved by a verified pharmacist.
 */
async function approvedPrescription(): Promise<{ id: string; journeyId: string; patientId: string; orderId: string; handle: WorkflowHandle<typeof prescriptionFulfillment> }> {
  const p = await verifiedPatient(stack, admin, { name: '配药患者', phone: '+8613800000011', birthDate: '1958-06-06', sex: 'M' });
  const pharmacistId = (await verifiedClinician(stack, admin, { name: 'Ph. Webhooks', role: 'pharmacist' })).id as string;
  const patient = await stack.token('patient', p.id);
  const journey = await json(await stack.call('POST', '/v1/journeys', { token: patient, body: { patientId: p.id, mode: 'offline', complaint: '高血压复查' } }), 201);
  const id = randomUUID();
  const input: PrescriptionInput = {
    prescriptionId: id,
    journeyId: journey.id,
    patientId: p.id,
    prescriberId: 'doc-rx',
    items: [amlodipine, metformin],
    long: false,
    timezone: 'Asia/Shanghai',
    timings: { pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D', paymentWindow: 'PT15M', appointmentReminders: [], deliverySla: 'P2D' },
  };
  input.signature = await localSigner(stack.db.sql, DEV_SIGNING_KEYS).sign({ role: 'doctor', id: input.prescriberId }, prescriptionContent({ ...input, id, version: 1 }));
  const handle = await stack.env.client.workflow.start<typeof prescriptionFulfillment>(PRESCRIPTION_WORKFLOW, {
    taskQueue: JOURNEY_TASK_QUEUE,
    workflowId: prescriptionWorkflowId(id),
    args: [input],
  });
  const approved = await handle.executeUpdate(reviewUpdate, { args: [{ pharmacistId, decision: 'approve' }] });
  expect(approved).toMatchObject({ status: 'awaiting-payment', payment: { orderId: `${id}-rx`, amount: AMOUNT, status: 'pending' } });
  return { id, journeyId: journey.id, patientId: p.id, orderId: approved.payment!.orderId, handle };
}

describe('payment webhook for a prescription order', () => {
  it("goes to the prescription's workflow: paid, dispensed and shipped; wrong amount, forged and duplicate change nothing", async () => {
    const { id, journeyId, orderId } = await approvedPrescription();

    // Forged (signed with another partner's secret), and a wrong amount: nothing changes.
    const forged = JSON.stringify(paid(orderId));
    expect((await stack.call('POST', '/v1/webhooks/payments', { raw: forged, headers: { 'X-Signature': sign(SECRETS.courierWebhook, forged) } })).status).toBe(401);
    const wrong = await stack.payWebhook(paid(orderId, AMOUNT - 1));
    expect(wrong.status).toBe(422);
    expect(((await wrong.json()) as { type: string }).type).toMatch(/amount-mismatch$/);
    expect((await stack.payWebhook(paid(`${id}-nope`))).status).toBe(404);
    expect(await orderRow(orderId)).toEqual({ status: 'pending', channel: null });
    expect((await rx(id)).status).toBe('awaiting-payment');

    // Taken: by the 204 the read model shows it paid (and the workflow goes on to dispense and ship).
    expect((await stack.payWebhook(paid(orderId))).status).toBe(204);
    const after = await rx(id);
    expect(after.payment).toMatchObject({ orderId, amount: AMOUNT, currency: 'CNY', status: 'paid' });
    expect(after.timeline.find((e) => e.type === 'payment.received')).toMatchObject({ actor: 'payment-provider', data: { orderId, amount: AMOUNT, channel: 'alipay' } });
    expect(await orderRow(orderId)).toEqual({ status: 'paid', channel: 'alipay' });
    const shipped = await waitFor(async () => ((await rx(id)).status === 'shipped' ? rx(id) : undefined));
    expect(shipped.delivery).toEqual({ deliveryId: `${id}-d1`, status: 'ordered' });
    expect(shipped.timeline.filter((e) => e.type === 'prescription.dispensed')).toHaveLength(1);

    // A duplicate: 204 and nothing new anywhere.
    const events = shipped.timeline.length;
    expect((await stack.payWebhook(paid(orderId))).status).toBe(204);
    const again = await rx(id);
    expect(again.timeline).toHaveLength(events);
    expect(again.timeline.filter((e) => e.type === 'payment.received')).toHaveLength(1);
    expect(await refundsOf(orderId)).toEqual([]);
    // The journey's own row is not the prescription's: its payment is its registration (none booked here).
    const j = await json(await stack.call('GET', `/v1/journeys/${journeyId}`, { token: admin }), 200);
    expect(j.payment).toBeUndefined();
    expect(j.timeline.map((e: any) => e.type)).not.toContain('payment.received');
  });

  it('after the prescription has closed (cancelled, workflow ended), refunds a late payment onto the prescription, its status unchanged', async () => {
    const { id, journeyId, patientId, orderId, handle } = await approvedPrescription();
    await handle.executeUpdate(cancelPrescriptionUpdate, { args: [{ reason: 'patient changed their mind', actor: { role: 'coordinator', id: 'coord-1' } }] });
    await handle.result(); // the workflow has ended: only latePaymentRefund can take the payment now
    expect(await orderRow(orderId)).toMatchObject({ status: 'expired' });
    const before = await rx(id);

    expect((await stack.payWebhook(paid(orderId))).status).toBe(204);
    const after = await rx(id);
    expect(after.status).toBe('cancelled');
    expect(after.payment).toMatchObject({ orderId, amount: AMOUNT, status: 'refunded' });
    expect(after.timeline.slice(before.timeline.length).map((e) => [e.type, e.actor, e.data])).toEqual([
      ['payment.refunded', 'system', { orderId, amount: AMOUNT, reason: 'late-payment' }],
    ]);
    expect(await orderRow(orderId)).toMatchObject({ status: 'refunded' });
    expect(await refundsOf(orderId)).toEqual([{ amount: AMOUNT, reason: 'late-payment' }]);
    const version = async () => (await stack.db.sql<{ version: number }[]>`select version from prescriptions where id = ${id}`)[0]!.version;
    const v = await version();

    // The patient is told, with the prescription named.
    const notice = await waitFor(async () => stack.notifications.find((n) => n.body.id === `rx:${id}:payment.refunded:${orderId}`));
    expect(notice.body).toMatchObject({ patientId, kind: 'payment.refunded', refs: { journeyId, prescriptionId: id } });

    // The provider reports it again: 204, nothing new.
    expect((await stack.payWebhook(paid(orderId))).status).toBe(204);
    expect((await rx(id)).timeline).toHaveLength(after.timeline.length);
    expect(await version()).toBe(v);
    expect(await refundsOf(orderId)).toEqual([{ amount: AMOUNT, reason: 'late-payment' }]);
    expect(stack.notifications.filter((n) => n.body.id === notice.body.id)).toHaveLength(1);
  });
});

describe('courier webhook', () => {
  it('moves the delivery on; forged, duplicate, backwards, replaced-id and ended-workflow reports answer as they should and change nothing', async () => {
    const { id, orderId, handle } = await approvedPrescription();
    expect((await stack.payWebhook(paid(orderId))).status).toBe(204);
    await waitFor(async () => ((await rx(id)).status === 'shipped' ? true : undefined));
    const d1 = `${id}-d1`;
    const deliveryEvents = async () => (await rx(id)).timeline.filter((e) => e.type.startsWith('delivery.')).map((e) => [e.type, e.actor, e.data]);

    // Unknown delivery: 404. Forged: 401 (no signature, the payment secret, a tampered body).
    expect((await courier('no-such-delivery', 'picked-up')).status).toBe(404);
    expect((await courier(d1, 'picked-up', new Date().toISOString(), SECRETS.paymentWebhook)).status).toBe(401);
    const raw = JSON.stringify({ deliveryId: d1, status: 'delivered', at: new Date().toISOString() });
    expect((await stack.call('POST', '/v1/webhooks/courier', { raw })).status).toBe(401);
    expect((await stack.call('POST', '/v1/webhooks/courier', { raw: raw.replace('delivered', 'failed'), headers: { 'X-Signature': sign(SECRETS.courierWebhook, raw) } })).status).toBe(401);
    expect((await courier(d1, 'teleported')).status).toBe(400);
    expect((await rx(id)).delivery).toEqual({ deliveryId: d1, status: 'ordered' });

    // Picked up, then the same report again: applied once.
    const pickedAt = '2026-03-01T10:00:00+08:00';
    expect((await courier(d1, 'picked-up', pickedAt)).status).toBe(204);
    expect((await rx(id)).delivery).toEqual({ deliveryId: d1, status: 'picked-up' });
    expect((await courier(d1, 'picked-up', pickedAt)).status).toBe(204);
    // In transit; then a late "picked-up" arrives out of order: 204, nothing moves back.
    const transitAt = '2026-03-01T12:00:00+08:00';
    expect((await courier(d1, 'in-transit', transitAt)).status).toBe(204);
    expect((await courier(d1, 'picked-up', '2026-03-01T11:00:00+08:00')).status).toBe(204);
    expect((await rx(id)).delivery).toEqual({ deliveryId: d1, status: 'in-transit' });
    expect(await deliveryEvents()).toEqual([
      ['delivery.ordered', 'system', { deliveryId: d1, attempt: 1 }],
      ['delivery.picked-up', 'courier', { deliveryId: d1, at: pickedAt }],
      ['delivery.in-transit', 'courier', { deliveryId: d1, at: transitAt }],
    ]);

    // Failed: re-ordered under a new delivery id. Reports for the replaced id change nothing.
    expect((await courier(d1, 'failed', '2026-03-01T15:00:00+08:00')).status).toBe(204);
    const d2 = `${id}-d2`;
    const reordered = await rx(id);
    expect(reordered).toMatchObject({ status: 'shipped', delivery: { deliveryId: d2, status: 'ordered' } });
    expect((await deliveryRows(id)).map((r) => [r.delivery_id, r.attempt])).toEqual([[d1, 1], [d2, 2]]);
    expect((await courier(d1, 'delivered')).status).toBe(204);
    expect((await rx(id)).delivery).toEqual({ deliveryId: d2, status: 'ordered' });
    expect((await rx(id)).timeline).toHaveLength(reordered.timeline.length);

    // Delivered on the new id: the prescription is delivered; the delivery steps of each id are on its timeline.
    const deliveredAt = '2026-03-02T09:30:00+08:00';
    expect((await courier(d2, 'delivered', deliveredAt)).status).toBe(204);
    const delivered = await rx(id);
    expect(delivered).toMatchObject({ status: 'delivered', delivery: { deliveryId: d2, status: 'delivered' } });
    expect((await deliveryEvents()).slice(3)).toEqual([
      ['delivery.failed', 'courier', { deliveryId: d1, at: '2026-03-01T15:00:00+08:00' }],
      ['delivery.ordered', 'system', { deliveryId: d2, attempt: 2 }],
      ['delivery.delivered', 'courier', { deliveryId: d2, at: deliveredAt }],
    ]);
    expect((await courier(d2, 'in-transit')).status).toBe(204);
    expect((await rx(id)).delivery).toEqual({ deliveryId: d2, status: 'delivered' });

    // The course is stopped, so the workflow ends; a courier report after that: 204, nothing changes.
    await handle.executeUpdate(cancelPrescriptionUpdate, { args: [{ reason: 'stopped by the doctor', actor: { role: 'coordinator', id: 'coord-1' } }] });
    await handle.result();
    const ended = await rx(id);
    expect(ended.status).toBe('delivered');
    expect((await courier(d2, 'failed')).status).toBe(204);
    expect((await rx(id)).timeline).toHaveLength(ended.timeline.length);
    expect((await rx(id)).delivery).toEqual({ deliveryId: d2, status: 'delivered' });
  });
});

describe('lab and facility webhooks: signature, shape and unknown ids', () => {
  const lab = { examId: 'no-such-exam', summary: 'HbA1c 6.1%', abnormal: false };
  const accepted = { referralId: 'no-such-referral', decision: 'accepted', appointmentAt: '2026-12-03T09:00:00+08:00', note: 'bring the record' };

  it('refuses forged signatures (401) before anything else: missing, another partner\'s secret, a tampered body', async () => {
    for (const [path, body, secret] of [
      ['/v1/webhooks/lab', lab, SECRETS.labWebhook],
      ['/v1/webhooks/facility', accepted, SECRETS.facilityWebhook],
    ] as const) {
      const raw = JSON.stringify(body);
      const missing = await stack.call('POST', path, { raw });
      expect(missing.status).toBe(401);
      expect(((await missing.json()) as { type: string }).type).toMatch(/bad-signature$/);
      for (const other of [SECRETS.paymentWebhook, SECRETS.courierWebhook, path.endsWith('lab') ? SECRETS.facilityWebhook : SECRETS.labWebhook]) {
        expect((await stack.call('POST', path, { raw, headers: { 'X-Signature': sign(other, raw) } })).status, `${path} with another secret`).toBe(401);
      }
      expect((await stack.call('POST', path, { raw: raw.replace('no-such', 'other'), headers: { 'X-Signature': sign(secret, raw) } })).status).toBe(401);
      // The right secret: past the signature, the id names nothing.
      expect((await signedPost(path, body, secret)).status).toBe(404);
    }
  });

  it('verifies the signature over the raw bytes: a byte-order mark or invalid UTF-8 verifies exactly as signed, and only so', async () => {
    const json = Buffer.from(JSON.stringify({ deliveryId: 'no-such-delivery', status: 'picked-up', at: new Date().toISOString() }));
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json]);
    // 0xff is never valid UTF-8: decoding it would sign U+FFFD's bytes instead.
    const invalid = Buffer.from(JSON.stringify({ deliveryId: 'no-such-delivery-#', status: 'picked-up', at: new Date().toISOString() }).replace('#', '\u0000'));
    invalid[invalid.indexOf(0)] = 0xff;
    for (const bytes of [bom, invalid]) {
      const post = (signature: string) => stack.call('POST', '/v1/webhooks/courier', { raw: bytes, headers: { 'X-Signature': signature } });
      // Signed as sent: past the signature, parsed, and the delivery is unknown.
      const res = await post(sign(SECRETS.courierWebhook, bytes));
      expect(res.status).toBe(404);
      expect(((await res.json()) as { type: string }).type).toMatch(/not-found$/);
      // Signed over the text the bytes decode to: other bytes, so refused.
      const decoded = Buffer.from(new TextDecoder().decode(bytes));
      expect(decoded.equals(bytes)).toBe(false);
      expect((await post(sign(SECRETS.courierWebhook, decoded))).status).toBe(401);
    }
  });

  it('validates the bodies (400 with field paths): text limits, NUL, strict objects, the appointment rule', async () => {
    const bad = async (path: string, body: unknown, secret: string): Promise<{ path: string; message: string }[]> => {
      const res = await signedPost(path, body, secret);
      const problem = (await res.json()) as { status: number; errors?: { path: string; message: string }[] };
      expect(res.status, JSON.stringify(body)).toBe(400);
      return problem.errors ?? [];
    };
    const labPath = '/v1/webhooks/lab';
    const facilityPath = '/v1/webhooks/facility';
    expect((await bad(labPath, { ...lab, summary: ' ' }, SECRETS.labWebhook)).map((e) => e.path)).toEqual(['json.summary']);
    expect((await bad(labPath, { ...lab, summary: 'x'.repeat(4001) }, SECRETS.labWebhook)).map((e) => e.path)).toEqual(['json.summary']);
    expect((await bad(labPath, { ...lab, summary: 'a\u0000b' }, SECRETS.labWebhook)).map((e) => e.path)).toEqual(['json.summary']);
    expect((await bad(labPath, { ...lab, abnormal: 'no' }, SECRETS.labWebhook)).map((e) => e.path)).toEqual(['json.abnormal']);
    expect(await bad(labPath, { ...lab, doctor: 'Dr Hu' }, SECRETS.labWebhook)).toHaveLength(1);
    expect((await bad(facilityPath, { referralId: 'r', decision: 'accepted' }, SECRETS.facilityWebhook)).map((e) => e.path)).toEqual(['json.appointmentAt']);
    expect((await bad(facilityPath, { referralId: 'r', decision: 'declined', appointmentAt: accepted.appointmentAt }, SECRETS.facilityWebhook)).map((e) => e.path)).toEqual(['json.appointmentAt']);
    expect(new Set((await bad(facilityPath, { ...accepted, appointmentAt: 'tomorrow' }, SECRETS.facilityWebhook)).map((e) => e.path))).toEqual(new Set(['json.appointmentAt']));
    expect((await bad(facilityPath, { ...accepted, decision: 'maybe' }, SECRETS.facilityWebhook)).length).toBeGreaterThan(0);
    expect((await bad(facilityPath, { referralId: 'r', summary: 'seen', decision: 'declined' }, SECRETS.facilityWebhook)).length).toBeGreaterThan(0);
    expect((await bad(facilityPath, { referralId: 'r' }, SECRETS.facilityWebhook)).length).toBeGreaterThan(0);
    expect((await bad(facilityPath, { referralId: 'r', summary: 'x'.repeat(4001) }, SECRETS.facilityWebhook)).map((e) => e.path)).toEqual(['json.summary']);
    expect((await bad(facilityPath, { ...accepted, note: '\u0000' }, SECRETS.facilityWebhook)).map((e) => e.path)).toEqual(['json.note']);
    const notJson = await stack.call('POST', labPath, { raw: '{"examId":', headers: { 'X-Signature': sign(SECRETS.labWebhook, '{"examId":') } });
    expect(notJson.status).toBe(400);
    // Well-formed, for ids that name nothing: 404 (an attendance too).
    expect((await signedPost(facilityPath, { referralId: 'no-such-referral', summary: 'seen in clinic' }, SECRETS.facilityWebhook)).status).toBe(404);
    expect((await signedPost(facilityPath, { referralId: 'no-such-referral', decision: 'declined', note: 'no beds' }, SECRETS.facilityWebhook)).status).toBe(404);
  });

  it('documents both webhooks, their bodies and the signature header in /openapi.json', async () => {
    const doc = (await (await stack.call('GET', '/openapi.json')).json()) as any;
    for (const [path, schema] of [['/v1/webhooks/lab', 'LabWebhook'], ['/v1/webhooks/facility', 'FacilityWebhook']]) {
      const op = doc.paths[path!]?.post;
      expect(op, path).toBeDefined();
      expect(op.requestBody.content['application/json'].schema.$ref).toBe(`#/components/schemas/${schema}`);
      expect(op.parameters.map((p: any) => [p.in, p.name])).toContainEqual(['header', 'x-signature']);
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['204', '400', '401', '404', '409']));
    }
    expect(Object.keys(doc.components.schemas.LabWebhook.properties)).toEqual(['examId', 'summary', 'abnormal']);
    expect(doc.components.schemas.FacilityWebhook.anyOf.map((s: any) => s.$ref)).toEqual([
      '#/components/schemas/FacilityResponseWebhook',
      '#/components/schemas/FacilityAttendanceWebhook',
    ]);
  });
});
