// The rules of online care in prescriptionFulfillment (issue 10), on the time-skipping server: a
// verified pharmacist reviews and a verified doctor revises (rule 2), a real-name patient pays (rule 3),
// and every version is signed by its prescriber, its stored content checked against that signature
// before a review, a payment or dispensing (rule 5). Each test breaks one precondition and sees the
// refusal, and that nothing else changed.
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import {
  PRESCRIPTION_WORKFLOW,
  cancelPrescriptionUpdate,
  paymentUpdate,
  prescriptionContent,
  prescriptionQuery,
  prescriptionWorkflowId,
  reviewUpdate,
  reviseUpdate,
  type PrescriptionInput,
  type PrescriptionItem,
  type PrescriptionSignature,
} from '../workflows/definitions.js';
import type { prescriptionFulfillment } from '../workflows/prescription.js';
import { fakeSignature, type FakeWorld } from './support/fake-activities.js';
import { quiet, refusal, waitFor, workflowHarness } from './support/workflow-harness.js';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const h = workflowHarness();

const amlodipine: PrescriptionItem = { drugCode: 'amlodipine-5mg', dose: '5 mg', frequency: 'qd', days: 2, quantity: 2, name: '氨氯地平片', unitPrice: 150 };
const AMOUNT = 300;

type Handle = WorkflowHandle<typeof prescriptionFulfillment>;

/** A prescription by doc-1 for pat-1, signed as the API signs it unless `signature` says otherwise. */
async function startRx(taskQueue: string, signature?: (input: PrescriptionInput) => PrescriptionSignature): Promise<{ handle: Handle; id: string; input: PrescriptionInput }> {
  const id = randomUUID();
  const input: PrescriptionInput = {
    prescriptionId: id,
    journeyId: 'journey-1',
    patientId: 'pat-1',
    prescriberId: 'doc-1',
    items: [amlodipine],
    long: false,
    timezone: 'Asia/Shanghai',
    timings: { pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D', paymentWindow: 'PT15M', appointmentReminders: [], deliverySla: 'P2D' },
  };
  input.signature = signature ? signature(input) : fakeSignature(prescriptionContent({ ...input, id, version: 1 }));
  const handle = await h.env().client.workflow.start<typeof prescriptionFulfillment>(PRESCRIPTION_WORKFLOW, { taskQueue, workflowId: prescriptionWorkflowId(id), args: [input] });
  h.started.push(handle);
  await waitFor(async () => (await handle.query(prescriptionQuery).catch(() => undefined)) !== undefined);
  await quiet(handle); // its signature stored and its first projection made
  return { handle, id, input };
}

const review = (handle: Handle, pharmacistId = 'ph-1', decision: 'approve' | 'reject' = 'approve') =>
  handle.executeUpdate(reviewUpdate, { args: [{ pharmacistId, decision, ...(decision === 'reject' ? { reason: 'shorter course' } : {}) }] });
const pay = (handle: Handle, orderId: string) =>
  handle.executeUpdate(paymentUpdate, { args: [{ orderId, amount: AMOUNT, paidAt: new Date().toISOString(), channel: 'wechat' }] });
const status = async (handle: Handle) => (await handle.query(prescriptionQuery)).status;

function nothingDispensed(world: FakeWorld): void {
  expect(world.dispenseCalls).toEqual([]);
  expect(world.courierCalls).toEqual([]);
}

describe('prescriptionFulfillment: verified people (issue 10, rules 2 and 3)', () => {
  it('refuses a review by a pharmacist whose licence is not verified, or who is no pharmacist (422 clinician-unverified): nothing changes', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startRx(taskQueue);
      world.clinicians.set('ph-unverified', { verifiedAt: null });
      world.clinicians.set('ph-no-licence', { licenceNumber: null });
      world.clinicians.set('doc-7', { role: 'doctor' });
      for (const who of ['ph-unverified', 'ph-no-licence', 'doc-7']) {
        await expect(review(handle, who)).rejects.toSatisfy((e) => refusal(e) === 'clinician-unverified');
        await expect(review(handle, who, 'reject')).rejects.toSatisfy((e) => refusal(e) === 'clinician-unverified');
      }
      // Never the prescriber, verified or not (checked first, as before).
      await expect(review(handle, 'doc-1')).rejects.toSatisfy((e) => refusal(e) === 'own-prescription');
      expect(await status(handle)).toBe('pending-review');
      expect(world.types(id)).toEqual(['prescription.created', 'task.created']);
      expect(world.tasks.get(`rx:${id}:review:v1`)!.status).toBe('open');
      expect(world.orders.size).toBe(0);
      const approved = await review(handle, 'ph-1');
      expect(approved).toMatchObject({ status: 'awaiting-payment', review: { pharmacistId: 'ph-1', decision: 'approve' }, payment: { amount: AMOUNT } });
    });
  });

  it('refuses a revision by a prescriber whose licence is no longer verified (422 clinician-unverified)', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id, input } = await startRx(taskQueue);
      await review(handle, 'ph-1', 'reject');
      const items = [{ ...amlodipine, days: 1, quantity: 1 }];
      const signature = fakeSignature(prescriptionContent({ ...input, id, version: 2, items }));
      world.clinicians.set('doc-1', { verifiedAt: null });
      await expect(handle.executeUpdate(reviseUpdate, { args: [{ prescriberId: 'doc-1', items, signature }] })).rejects.toSatisfy((e) => refusal(e) === 'clinician-unverified');
      expect(await handle.query(prescriptionQuery)).toMatchObject({ status: 'revision-requested', version: 1, items: [amlodipine] });
      expect(world.signatures.has(`${id}:v2`)).toBe(false);
      world.clinicians.delete('doc-1');
      expect(await handle.executeUpdate(reviseUpdate, { args: [{ prescriberId: 'doc-1', items, signature }] })).toMatchObject({ status: 'pending-review', version: 2, items });
    });
  });

  it('refuses the payment of a patient whose real-name identity is not verified (422 patient-unverified): the order stays pending; once verified the retry is taken', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      world.unverifiedPatients.add('pat-1');
      const { handle, id } = await startRx(taskQueue);
      const approved = await review(handle);
      const orderId = approved.payment!.orderId;
      await expect(pay(handle, orderId)).rejects.toSatisfy((e) => refusal(e) === 'patient-unverified');
      await expect(pay(handle, orderId)).rejects.toSatisfy((e) => refusal(e) === 'patient-unverified');
      await quiet(handle);
      expect(await handle.query(prescriptionQuery)).toMatchObject({ status: 'awaiting-payment', payment: { orderId, status: 'pending' } });
      expect(world.payments.get(orderId)!.status).toBe('pending');
      expect(world.types(id)).not.toContain('payment.received');
      expect(world.refundCalls).toEqual([]);
      nothingDispensed(world);
      // Verified now: the provider's next delivery of the same report is taken.
      world.unverifiedPatients.delete('pat-1');
      expect(await pay(handle, orderId)).toEqual({ outcome: 'paid' });
      await waitFor(async () => (await status(handle)) === 'shipped');
      expect(world.dispenseCalls).toEqual([{ prescriptionId: id, version: 1 }]);
    });
  });
});

describe('prescriptionFulfillment: signed prescriptions (issue 10, rule 5)', () => {
  it("stores version 1's signature and shows it without its value; a revision carries the prescriber's own signature of exactly the new version", async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id, input } = await startRx(taskQueue);
      const v1 = input.signature!;
      expect(world.signatures.get(`${id}:v1`)).toEqual(v1);
      expect((await handle.query(prescriptionQuery)).signature).toEqual({ signer: 'doc-1', algorithm: 'Ed25519', keyId: 'key-doc-1', digest: v1.digest, signedAt: v1.signedAt });
      expect(world.events(id, 'prescription.created')[0]!.data.digest).toBe(v1.digest);
      await review(handle, 'ph-1', 'reject');
      const items = [{ ...amlodipine, days: 1, quantity: 1 }];
      const revise = (signature?: PrescriptionSignature) => handle.executeUpdate(reviseUpdate, { args: [{ prescriberId: 'doc-1', items, ...(signature ? { signature } : {}) }] });
      const v2 = prescriptionContent({ ...input, id, version: 2, items });
      // Unsigned, or signed by anyone but the prescriber: 403 signer-not-prescriber.
      await expect(revise()).rejects.toSatisfy((e) => refusal(e) === 'signer-not-prescriber');
      await expect(revise(fakeSignature(v2, 'doc-2'))).rejects.toSatisfy((e) => refusal(e) === 'signer-not-prescriber');
      // The prescriber's signature of other content (the old version, other items): 422 signature-mismatch.
      await expect(revise(v1)).rejects.toSatisfy((e) => refusal(e) === 'signature-mismatch');
      await expect(revise(fakeSignature({ ...v2, items: [{ ...items[0]!, quantity: 9 }] }))).rejects.toSatisfy((e) => refusal(e) === 'signature-mismatch');
      expect(await handle.query(prescriptionQuery)).toMatchObject({ status: 'revision-requested', version: 1, signature: { digest: v1.digest } });
      expect(world.signatures.has(`${id}:v2`)).toBe(false);
      const signed = fakeSignature(v2);
      expect(await revise(signed)).toMatchObject({ status: 'pending-review', version: 2, signature: { digest: signed.digest } });
      expect(world.signatures.get(`${id}:v2`)).toEqual(signed);
      expect(world.events(id, 'prescription.revised')[0]!.data.digest).toBe(signed.digest);
      expect(await review(handle)).toMatchObject({ status: 'awaiting-payment', version: 2 });
      expect(world.signatureChecks.filter((c) => c.prescriptionId === id)).toEqual([
        { prescriptionId: id, version: 1, stage: 'review', ok: true },
        { prescriptionId: id, version: 2, stage: 'review', ok: true },
      ]);
    });
  });

  it('refuses to review content that no longer matches its signature (422 signature-mismatch), recorded once with a task for coordinators', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id, input } = await startRx(taskQueue);
      world.tampered.set(id, ['review']);
      await expect(review(handle)).rejects.toSatisfy((e) => refusal(e) === 'signature-mismatch');
      await expect(review(handle, 'ph-2', 'reject')).rejects.toSatisfy((e) => refusal(e) === 'signature-mismatch');
      expect(await handle.query(prescriptionQuery)).toMatchObject({ status: 'pending-review', version: 1 });
      expect(world.orders.size).toBe(0);
      expect(world.types(id)).toEqual(['prescription.created', 'task.created', 'prescription.signature-mismatch', 'task.escalated']);
      expect(world.events(id, 'prescription.signature-mismatch').map((e) => [e.actor, e.data])).toEqual([
        ['system', { version: 1, stage: 'review', reason: 'content-changed', signed: input.signature!.digest, found: '0'.repeat(64) }],
      ]);
      const taskId = `rx:${id}:signature-mismatch:v1:review`;
      expect(world.tasks.get(taskId)).toMatchObject({ kind: 'escalation', role: 'coordinator', status: 'open', tier: 1, subject: { type: 'prescription', id } });
      expect(world.tasks.get(`rx:${id}:review:v1`)!.status).toBe('open');
      // The content matches again: the review goes through; the incident's task stays for coordinators.
      world.tampered.delete(id);
      expect(await review(handle)).toMatchObject({ status: 'awaiting-payment' });
      expect(world.tasks.get(taskId)!.status).toBe('open');
    });
  });

  it('refuses to take a payment for content that no longer matches its signature (422 signature-mismatch): the order stays pending', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startRx(taskQueue);
      const orderId = (await review(handle)).payment!.orderId;
      world.tampered.set(id, ['payment']);
      await expect(pay(handle, orderId)).rejects.toSatisfy((e) => refusal(e) === 'signature-mismatch');
      await quiet(handle);
      expect(await handle.query(prescriptionQuery)).toMatchObject({ status: 'awaiting-payment', payment: { status: 'pending' } });
      expect(world.payments.get(orderId)!.status).toBe('pending');
      expect(world.types(id)).not.toContain('payment.received');
      expect(world.events(id, 'prescription.signature-mismatch').map((e) => e.data.stage)).toEqual(['payment']);
      expect(world.tasks.get(`rx:${id}:signature-mismatch:v1:payment`)!.status).toBe('open');
      nothingDispensed(world);
      world.tampered.delete(id);
      expect(await pay(handle, orderId)).toEqual({ outcome: 'paid' });
      await waitFor(async () => (await status(handle)) === 'shipped');
    });
  });

  it('never dispenses content that no longer matches its signature: the paid prescription is held (on-hold) for coordinators, whose cancel refunds it', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startRx(taskQueue);
      const orderId = (await review(handle)).payment!.orderId;
      world.tampered.set(id, ['dispense']);
      expect(await pay(handle, orderId)).toEqual({ outcome: 'paid' });
      await waitFor(async () => (await status(handle)) === 'on-hold');
      await quiet(handle);
      nothingDispensed(world);
      expect(world.types(id)).toEqual([
        'prescription.created', 'task.created', 'prescription.approved', 'payment.requested', 'payment.received', 'prescription.signature-mismatch', 'task.escalated',
      ]);
      const taskId = `rx:${id}:signature-mismatch:v1:dispense`;
      expect(world.tasks.get(taskId)).toMatchObject({ kind: 'escalation', role: 'coordinator', status: 'open', tier: 1 });
      expect(world.items.get(id)).toMatchObject({ status: 'on-hold', payment: { status: 'paid' } });
      // The patient is paid back by a coordinator's cancel; the hold's task is closed with it.
      const cancelled = await handle.executeUpdate(cancelPrescriptionUpdate, { args: [{ reason: 'content altered', actor: { role: 'coordinator', id: 'coord-1' } }] });
      expect(cancelled).toMatchObject({ status: 'cancelled', payment: { status: 'refunded' } });
      expect(world.refundCalls).toEqual([{ orderId, amount: AMOUNT, reason: 'cancelled' }]);
      expect(world.tasks.get(taskId)!.status).toBe('cancelled');
      await handle.result();
      nothingDispensed(world);
    });
  });

  it('pays the patient back when a held prescription is left alone past its validity', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startRx(taskQueue);
      const orderId = (await review(handle)).payment!.orderId;
      // Altered after the payment's check, before dispensing.
      world.tampered.set(id, ['dispense']);
      await pay(handle, orderId);
      await waitFor(async () => (await status(handle)) === 'on-hold');
      await h.env().sleep(3 * DAY + MIN);
      const done = await handle.result();
      expect(done).toMatchObject({ status: 'cancelled', payment: { status: 'refunded' } });
      expect(world.events(id, 'prescription.cancelled').map((e) => [e.actor, e.data.reason])).toEqual([['coordinator:system', 'held: its content no longer matched its signature']]);
      expect(world.refundCalls.map((r) => [r.orderId, r.amount])).toEqual([[orderId, AMOUNT]]);
      nothingDispensed(world);
    });
  });

  it("keeps no signature that is not the prescriber's of its content: the version then cannot be reviewed (missing-signature)", async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startRx(taskQueue, (input) => fakeSignature(prescriptionContent({ ...input, id: input.prescriptionId, version: 1 }), 'doc-2'));
      expect(world.signatures.size).toBe(0);
      expect((await handle.query(prescriptionQuery)).signature).toBeUndefined();
      await expect(review(handle)).rejects.toSatisfy((e) => refusal(e) === 'signature-mismatch');
      expect(world.events(id, 'prescription.signature-mismatch').map((e) => e.data.reason)).toEqual(['missing-signature']);
      expect(world.orders.size).toBe(0);
    });
  });
});
