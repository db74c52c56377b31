// prescriptionFulfillment on the time-skipping server: review (with both escalation tiers), the
// revision loop, payment and expiry, dispensing once, courier delivery with one retry, cancellation
// at every stage, and medication reminders over a whole course.
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import pathways from '../db/seed/pathways.json' with { type: 'json' };
import programTemplates from '../db/seed/program-templates.json' with { type: 'json' };
import {
  CARE_PROGRAM_WORKFLOW,
  PRESCRIPTION_WORKFLOW,
  cancelPrescriptionUpdate,
  prescriptionContent,
  courierUpdate,
  paymentUpdate,
  prescriptionQuery,
  prescriptionWorkflowId,
  reviewUpdate,
  reviseUpdate,
  programQuery,
  programWorkflowId,
  type PathwayTemplate,
  type PrescriptionInput,
  type ProgramInput,
  type ProgramTemplate,
  type PrescriptionItem,
} from '../workflows/definitions.js';
import type { prescriptionFulfillment } from '../workflows/prescription.js';
import { fakeSignature, type FakeWorld } from './support/fake-activities.js';
import { sleepUntilHour } from './support/clock.js';
import { quiet, refusal, waitFor, workflowHarness } from './support/workflow-harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const h = workflowHarness();
const coordinator = { role: 'coordinator' as const, id: 'coord-1' };
const prescriber = { role: 'doctor' as const, id: 'doc-1' };

const amlodipine: PrescriptionItem = { drugCode: 'amlodipine-5mg', dose: '5 mg', frequency: 'qd', days: 2, quantity: 2, name: '氨氯地平片', unitPrice: 150 };
const metformin: PrescriptionItem = { drugCode: 'metformin-500mg', dose: '500 mg', frequency: 'bid', days: 2, quantity: 4, name: '二甲双胍片', unitPrice: 40 };
const AMOUNT = 2 * 150 + 4 * 40;

type Handle = WorkflowHandle<typeof prescriptionFulfillment>;

async function startRx(world: FakeWorld, taskQueue: string, over: Partial<PrescriptionInput> = {}): Promise<{ handle: Handle; id: string }> {
  const id = randomUUID();
  const input: PrescriptionInput = {
    prescriptionId: id,
    journeyId: 'journey-1',
    patientId: 'pat-1',
    prescriberId: 'doc-1',
    items: [amlodipine, metformin],
    long: false,
    timezone: 'Asia/Shanghai',
    timings: { pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D', paymentWindow: 'PT15M', appointmentReminders: ['PT1H'], deliverySla: 'P2D' },
    ...over,
  };
  // Signed by its prescriber, as the API signs every version.
  if (!('signature' in over)) input.signature = fakeSignature(prescriptionContent({ ...input, id, version: 1 }));
  const handle = await h.env().client.workflow.start<typeof prescriptionFulfillment>(PRESCRIPTION_WORKFLOW, {
    taskQueue,
    workflowId: prescriptionWorkflowId(id),
    args: [input],
  });
  h.started.push(handle);
  await waitFor(async () => (await handle.query(prescriptionQuery)).status === 'pending-review');
  // Its first projection made (the review task is in it), then nothing outstanding: a query answers
  // 'pending-review' from the first workflow task, before the projection's activity has run.
  await waitFor(async () => world.tasks.has(`rx:${id}:review:v1`));
  await quiet(handle);
  return { handle, id };
}

/** A revision as the API sends it: signed by the prescriber over the next version's content. */
async function revise(handle: Handle, items: PrescriptionItem[]) {
  const now = await handle.query(prescriptionQuery);
  return handle.executeUpdate(reviseUpdate, { args: [{ prescriberId: 'doc-1', items, signature: fakeSignature(prescriptionContent({ ...now, version: now.version + 1, items })) }] });
}

const approve = (handle: Handle) => handle.executeUpdate(reviewUpdate, { args: [{ pharmacistId: 'ph-1', decision: 'approve' }] });
const pay = (handle: Handle, orderId: string, amount = AMOUNT) =>
  handle.executeUpdate(paymentUpdate, { args: [{ orderId, amount, paidAt: new Date().toISOString(), channel: 'wechat' }] });
const courier = (handle: Handle, deliveryId: string, status: 'picked-up' | 'in-transit' | 'delivered' | 'failed') =>
  handle.executeUpdate(courierUpdate, { args: [{ deliveryId, status, at: new Date().toISOString() }] });

/** Approved (unless it is already) and paid: dispensed and shipped with the first courier order. */
async function shipped(handle: Handle): Promise<string> {
  const now = await handle.query(prescriptionQuery);
  const approved = now.status === 'awaiting-payment' ? now : await approve(handle);
  expect(await pay(handle, approved.payment!.orderId)).toEqual({ outcome: 'paid' });
  await waitFor(async () => (await handle.query(prescriptionQuery)).status === 'shipped');
  return (await handle.query(prescriptionQuery)).delivery!.deliveryId;
}

function expectNothingDispensed(world: FakeWorld): void {
  expect(world.dispenseCalls).toEqual([]);
  expect(world.courierCalls).toEqual([]);
}

describe('prescriptionFulfillment', () => {
  it('reviews, takes payment, dispenses once, ships, delivers and reminds at each dose time of the course', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      await sleepUntilHour(h.env()); // the course starts at 08:00 whatever the hour the tests run at
      const { handle, id } = await startRx(world, taskQueue);
      const review = world.tasks.get(`rx:${id}:review:v1`)!;
      expect(review).toMatchObject({ kind: 'pharmacist-review', role: 'pharmacist', status: 'open', subject: { type: 'prescription', id }, tier: 0 });
      expect(world.types(id)).toEqual(['prescription.created', 'task.created']);

      const approved = await approve(handle);
      expect(approved).toMatchObject({ status: 'awaiting-payment', review: { pharmacistId: 'ph-1', decision: 'approve' }, payment: { amount: AMOUNT, currency: 'CNY', status: 'pending' } });
      expect(Date.parse(approved.payment!.dueBy) - (await h.env().currentTimeMs())).toBeGreaterThan(3 * DAY - MIN);
      expect(world.tasks.get(review.id)!.status).toBe('done');
      expect(world.notificationsOf('payment.due').map((n) => [n.refs, n.params])).toEqual([
        [{ journeyId: 'journey-1', prescriptionId: id }, { amount: AMOUNT, dueBy: approved.payment!.dueBy }],
      ]);
      expect(world.orders.get(approved.payment!.orderId)).toMatchObject({ amount: AMOUNT, subject: { type: 'prescription', id } });
      expectNothingDispensed(world); // not before payment

      const deliveryId = await shipped(handle);
      expect(deliveryId).toBe(`${id}-d1`);
      expect(world.dispenseCalls).toEqual([{ prescriptionId: id, version: 1 }]);
      expect(world.courierCalls).toEqual([{ deliveryId, prescriptionId: id, attempt: 1 }]);
      expect((await courier(handle, deliveryId, 'picked-up')).outcome).toBe('applied');
      expect((await courier(handle, deliveryId, 'in-transit')).outcome).toBe('applied');
      expect((await courier(handle, deliveryId, 'picked-up')).outcome).toBe('unchanged'); // backwards
      expect((await courier(handle, deliveryId, 'delivered')).outcome).toBe('applied');
      await waitFor(async () => (await handle.query(prescriptionQuery)).reminders !== undefined);
      const delivered = await handle.query(prescriptionQuery);
      expect(delivered).toMatchObject({ status: 'delivered', delivery: { deliveryId, status: 'delivered' }, reminders: { timezone: 'Asia/Shanghai', times: ['08:00', '20:00'] } });
      expect(delivered.reminders!.next).toMatch(/T08:00:00\+08:00$/);
      expect(world.types(id)).toEqual([
        'prescription.created', 'task.created', 'prescription.approved', 'payment.requested',
        'payment.received', 'prescription.dispensed', 'delivery.ordered', 'delivery.picked-up', 'delivery.in-transit', 'delivery.delivered',
      ]);
      expect(world.notificationsOf('delivery.update').map((n) => n.params.status)).toEqual(['ordered', 'picked-up', 'in-transit', 'delivered']);

      // The course: amlodipine qd and metformin bid for 2 days → 4 distinct times, 08:00 with both.
      await h.env().sleep(3 * DAY);
      const sent = world.events(id, 'medication.reminder-sent');
      expect(sent.map((e) => [String(e.data.at).slice(11), e.data.drugCodes])).toEqual([
        ['08:00:00+08:00', ['amlodipine-5mg', 'metformin-500mg']],
        ['20:00:00+08:00', ['metformin-500mg']],
        ['08:00:00+08:00', ['amlodipine-5mg', 'metformin-500mg']],
        ['20:00:00+08:00', ['metformin-500mg']],
      ]);
      for (const e of sent) expect(Math.abs(Date.parse(e.at) - Date.parse(String(e.data.at)))).toBeLessThan(2000);
      expect(Date.parse(String(sent[2]!.data.at)) - Date.parse(String(sent[0]!.data.at))).toBe(DAY);
      expect(world.notificationsOf('medication.reminder').map((n) => n.params.count)).toEqual([2, 1, 2, 1]);
      const done = await handle.result();
      expect(done).toMatchObject({ status: 'delivered', reminders: { next: null } });
      expect(world.dispenseCalls).toHaveLength(1);
      const ids = world.notifyCalls.map((n) => n.id);
      expect(new Set(ids).size).toBe(ids.length);
    });
  });

  it('escalates an overdue review at the SLA and at twice the SLA, then waits; approval closes both', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startRx(world, taskQueue);
      const t0 = await h.env().currentTimeMs();
      await h.env().sleep(29 * MIN);
      expect(world.events(id, 'task.escalated')).toEqual([]);
      await h.env().sleep(2 * MIN);
      await h.env().sleep(30 * MIN);
      await h.env().sleep(5 * HOUR);
      const escalated = world.events(id, 'task.escalated');
      expect(escalated.map((e) => e.data.tier)).toEqual([1, 2]);
      escalated.forEach((e, i) => expect(Math.abs(Date.parse(e.at) - (t0 + (i + 1) * 30 * MIN))).toBeLessThan(3000));
      const tiers = [...world.tasks.values()].filter((t) => t.kind === 'escalation');
      expect(tiers.map((t) => [t.id, t.role, t.subject, t.tier, t.status, t.action])).toEqual([
        [`rx:${id}:review-sla:v1:1`, 'coordinator', { type: 'prescription', id }, 1, 'open', 'Pharmacist review of prescription version 1 is overdue'],
        [`rx:${id}:review-sla:v1:2`, 'coordinator', { type: 'prescription', id }, 2, 'open', 'Pharmacist review of prescription version 1 is overdue'],
      ]);
      await approve(handle);
      expect([...world.tasks.values()].filter((t) => t.kind === 'escalation').map((t) => t.status)).toEqual(['done', 'done']);
      expect(world.projectedOf(id, 'task.escalated')).toHaveLength(2);
    });
  });

  it('sends a rejection back to the prescriber, who revises; version 2 is reviewed again', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startRx(world, taskQueue);
      await expect(handle.executeUpdate(reviewUpdate, { args: [{ pharmacistId: 'ph-1', decision: 'reject', reason: 'dose too high' }] })).resolves.toMatchObject({
        status: 'revision-requested', version: 1, review: { decision: 'reject', reason: 'dose too high' },
      });
      expect(world.tasks.get(`rx:${id}:revision:v1`)).toMatchObject({ kind: 'prescription-revision', role: 'doctor', assigneeId: 'doc-1', status: 'open' });
      expect(world.events(id, 'prescription.rejected').map((e) => [e.actor, e.data])).toEqual([['pharmacist:ph-1', { version: 1, reason: 'dose too high' }]]);
      expect(world.notificationsOf('prescription.rejected')).toHaveLength(1);
      await expect(approve(handle)).rejects.toSatisfy((e) => refusal(e) === 'invalid-state');
      await expect(handle.executeUpdate(reviseUpdate, { args: [{ prescriberId: 'doc-2', items: [amlodipine] }] })).rejects.toSatisfy((e) => refusal(e) === 'not-prescriber');
      const revised = await revise(handle, [{ ...amlodipine, quantity: 1, days: 1 }]);
      expect(revised).toMatchObject({ status: 'pending-review', version: 2, items: [{ drugCode: 'amlodipine-5mg', quantity: 1 }] });
      expect(revised.review).toBeUndefined();
      expect(world.tasks.get(`rx:${id}:revision:v1`)!.status).toBe('done');
      expect(world.tasks.get(`rx:${id}:review:v2`)).toMatchObject({ status: 'open', kind: 'pharmacist-review' });
      const approved = await approve(handle);
      expect(approved).toMatchObject({ status: 'awaiting-payment', version: 2, payment: { amount: 150 } });
      expectNothingDispensed(world);
    });
  });

  it('expires when the prescriber never revises within the validity', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startRx(world, taskQueue);
      await handle.executeUpdate(reviewUpdate, { args: [{ pharmacistId: 'ph-1', decision: 'reject', reason: 'interaction' }] });
      await h.env().sleep(3 * DAY + MIN);
      expect(await handle.result()).toMatchObject({ status: 'expired' });
      expect(world.events(id, 'prescription.expired').map((e) => e.data)).toEqual([{ reason: 'not-revised', version: 1 }]);
      expect(world.tasks.get(`rx:${id}:revision:v1`)!.status).toBe('cancelled');
      expectNothingDispensed(world);
    });
  });

  it('expires unpaid after its validity from approval and is never dispensed', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startRx(world, taskQueue);
      const approved = await approve(handle);
      await h.env().sleep(3 * DAY - MIN);
      expect((await handle.query(prescriptionQuery)).status).toBe('awaiting-payment');
      await h.env().sleep(2 * MIN);
      expect(await handle.result()).toMatchObject({ status: 'expired', payment: { status: 'expired' } });
      expect(world.events(id, 'prescription.expired').map((e) => e.data)).toEqual([{ reason: 'unpaid', version: 1 }]);
      expect(world.payments.get(approved.payment!.orderId)!.status).toBe('expired');
      expect(world.notificationsOf('prescription.expired').map((n) => [n.id, n.params])).toEqual([[`rx:${id}:prescription.expired:expired`, { reason: 'unpaid' }]]);
      expectNothingDispensed(world);
    });
  });

  it('refunds a payment that arrives after a cancellation, with the amount, leaving it cancelled', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startRx(world, taskQueue);
      const approved = await approve(handle);
      const open = world.hold('deliverNotification'); // keeps the workflow open to take the late payment
      await handle.executeUpdate(cancelPrescriptionUpdate, { args: [{ reason: 'patient declined', actor: coordinator }] });
      expect(await pay(handle, approved.payment!.orderId)).toEqual({ outcome: 'refunded' });
      open();
      expect(await handle.result()).toMatchObject({ status: 'cancelled', payment: { status: 'refunded' } });
      expect(world.refundCalls).toEqual([{ orderId: approved.payment!.orderId, amount: AMOUNT, reason: 'late-payment', paidAt: expect.any(String), channel: 'wechat' }]);
      expect(world.events(id, 'payment.refunded').map((e) => e.data)).toEqual([{ orderId: approved.payment!.orderId, amount: AMOUNT, reason: 'late-payment' }]);
      expect(world.notificationsOf('payment.refunded').map((n) => n.params)).toEqual([{ amount: AMOUNT }]);
      expectNothingDispensed(world);
    });
  });

  it('retries a failed delivery once with a new delivery id, ignores the replaced one, then marks delivery-failed and escalates; cancel then refunds', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startRx(world, taskQueue);
      const first = await shipped(handle);
      expect((await courier(handle, first, 'failed')).outcome).toBe('applied');
      await waitFor(async () => (await handle.query(prescriptionQuery)).delivery?.deliveryId === `${id}-d2`);
      expect(world.courierCalls.map((c) => [c.deliveryId, c.attempt])).toEqual([[first, 1], [`${id}-d2`, 2]]);
      expect((await courier(handle, first, 'delivered')).outcome).toBe('unchanged'); // replaced
      expect((await handle.query(prescriptionQuery)).status).toBe('shipped');
      expect((await courier(handle, `${id}-d2`, 'failed')).outcome).toBe('applied');
      const failed = await handle.query(prescriptionQuery);
      expect(failed).toMatchObject({ status: 'delivery-failed', delivery: { deliveryId: `${id}-d2`, status: 'failed' } });
      expect(world.tasks.get(`rx:${id}:delivery-failed`)).toMatchObject({
        kind: 'escalation', role: 'coordinator', tier: 1, status: 'open', subject: { type: 'prescription', id },
        action: 'Delivery failed twice: contact the patient, then cancel (refund) or arrange another delivery',
      });
      expect(world.events(id, 'task.escalated').map((e) => [e.key, e.data])).toEqual([
        ['task.escalated:delivery-failed', { taskId: `rx:${id}:delivery-failed`, kind: 'escalation', subject: { type: 'prescription', id }, tier: 1 }],
      ]);
      expect(world.notificationsOf('delivery.update').map((n) => n.params.status)).toEqual(['ordered', 'failed', 'ordered', 'delivery-failed']);
      const cancelled = await handle.executeUpdate(cancelPrescriptionUpdate, { args: [{ reason: 'patient moved', actor: coordinator }] });
      expect(cancelled).toMatchObject({ status: 'cancelled', payment: { status: 'refunded' } });
      expect(world.refundCalls).toEqual([{ orderId: cancelled.payment!.orderId, amount: AMOUNT, reason: 'cancelled' }]);
      expect(world.tasks.get(`rx:${id}:delivery-failed`)!.status).toBe('cancelled');
      expect(world.dispenseCalls).toHaveLength(1);
      await handle.result();
    });
  });

  it('pays the patient back when a failed delivery is left alone past the validity', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startRx(world, taskQueue);
      const first = await shipped(handle);
      await courier(handle, first, 'failed');
      await waitFor(async () => (await handle.query(prescriptionQuery)).delivery?.deliveryId === `${id}-d2`);
      await courier(handle, `${id}-d2`, 'failed');
      await h.env().sleep(3 * DAY - HOUR);
      expect((await handle.query(prescriptionQuery)).status).toBe('delivery-failed');
      expect(world.refundCalls).toEqual([]);
      await h.env().sleep(2 * HOUR);
      const closed = await handle.result();
      expect(closed).toMatchObject({ status: 'cancelled', payment: { status: 'refunded', amount: AMOUNT } });
      expect(world.refundCalls).toEqual([{ orderId: closed.payment!.orderId, amount: AMOUNT, reason: 'cancelled' }]);
      expect(world.events(id, 'prescription.cancelled').map((e) => [e.actor, e.data])).toEqual([['coordinator:system', { reason: 'not delivered within the validity', version: 1 }]]);
      expect(world.tasks.get(`rx:${id}:delivery-failed`)!.status).toBe('cancelled');
      expect(world.notificationsOf('payment.refunded').map((n) => n.params)).toEqual([{ amount: AMOUNT }]);
    });
  });

  it('refuses a cancel while paid, dispensed or shipped; after delivery stops the course and its reminders', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startRx(world, taskQueue);
      const deliveryId = await shipped(handle);
      await expect(handle.executeUpdate(cancelPrescriptionUpdate, { args: [{ reason: 'x', actor: prescriber }] })).rejects.toSatisfy((e) => refusal(e) === 'invalid-state');
      await courier(handle, deliveryId, 'delivered');
      await waitFor(async () => (await handle.query(prescriptionQuery)).reminders !== undefined);
      await h.env().sleep(DAY); // some reminders
      const before = world.events(id, 'medication.reminder-sent').length;
      expect(before).toBeGreaterThan(0);
      await expect(handle.executeUpdate(cancelPrescriptionUpdate, { args: [{ reason: 'x', actor: { role: 'doctor', id: 'doc-2' } }] })).rejects.toSatisfy((e) => refusal(e) === 'not-prescriber');
      const stopped = await handle.executeUpdate(cancelPrescriptionUpdate, { args: [{ reason: 'side effects', actor: prescriber }] });
      expect(stopped.status).toBe('delivered');
      expect(world.events(id, 'course.stopped').map((e) => [e.actor, e.data])).toEqual([['doctor:doc-1', { reason: 'side effects' }]]);
      expect(await handle.result()).toMatchObject({ status: 'delivered' });
      await h.env().sleep(3 * DAY);
      expect(world.events(id, 'medication.reminder-sent')).toHaveLength(before);
      expect(world.refundCalls).toEqual([]);
    });
  });

  it('cancels before review and refuses payment afterwards with a refund; a duplicate payment dispenses once', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const a = await startRx(world, taskQueue);
      const cancelled = await a.handle.executeUpdate(cancelPrescriptionUpdate, { args: [{ reason: 'wrong patient', actor: prescriber }] });
      expect(cancelled).toMatchObject({ status: 'cancelled' });
      expect(world.tasks.get(`rx:${a.id}:review:v1`)!.status).toBe('cancelled');
      expect(world.events(a.id, 'prescription.cancelled').map((e) => [e.actor, e.data])).toEqual([['doctor:doc-1', { reason: 'wrong patient', version: 1 }]]);
      expect(world.notificationsOf('prescription.cancelled').map((n) => n.id)).toEqual([`rx:${a.id}:prescription.cancelled:cancelled`]);
      await expect(approve(a.handle)).rejects.toSatisfy((e) => refusal(e) === 'invalid-state' || e instanceof Error);

      const b = await startRx(world, taskQueue);
      const approved = await approve(b.handle);
      const [one, two] = await Promise.all([pay(b.handle, approved.payment!.orderId), pay(b.handle, approved.payment!.orderId)]);
      expect([one.outcome, two.outcome].sort()).toEqual(['paid', 'unchanged']);
      await waitFor(async () => (await b.handle.query(prescriptionQuery)).status === 'shipped');
      expect(world.dispenseCalls.filter((d) => d.prescriptionId === b.id)).toHaveLength(1);
      expect(world.courierCalls.filter((d) => d.prescriptionId === b.id)).toHaveLength(1);
      expect(world.projectedOf(b.id, 'payment.received')).toHaveLength(1);
    });
  });

  it('leaves the drugs of the patient’s care program to the program: their days go to its supply, the course reminds of the rest', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      await sleepUntilHour(h.env());
      const template = programTemplates[0] as ProgramTemplate;
      const program: ProgramInput = {
        programId: randomUUID(),
        patientId: 'pat-1',
        condition: 'hypertension',
        doctorId: 'doc-1',
        enrolledBy: prescriber,
        template,
        plan: { medications: [{ drugCode: 'amlodipine-5mg', dose: '5 mg', times: ['08:00'], supplyDays: 5 }] },
        timezone: 'Asia/Shanghai',
        enrolledAt: new Date(await h.env().currentTimeMs()).toISOString(),
        followUpPathway: pathways[1] as PathwayTemplate,
      };
      const ph = await h.env().client.workflow.start(CARE_PROGRAM_WORKFLOW, { taskQueue, workflowId: programWorkflowId('pat-1', 'hypertension'), args: [program] });
      h.started.push(ph);
      await waitFor(async () => world.programs.has(program.programId));
      const supplyBefore = Date.parse(world.programs.get(program.programId)!.supply[0]!.until);

      const { handle, id } = await startRx(world, taskQueue);
      const deliveryId = await shipped(handle);
      await courier(handle, deliveryId, 'delivered');
      await waitFor(async () => (await handle.query(prescriptionQuery)).reminders !== undefined);
      const rx = await handle.query(prescriptionQuery);
      expect(rx.reminders).toMatchObject({ by: 'program', programId: program.programId, programDrugs: ['amlodipine-5mg'], times: ['08:00', '20:00'] });
      expect(world.events(id, 'course.by-program').map((e) => e.data)).toEqual([{ programId: program.programId, drugCodes: ['amlodipine-5mg'] }]);
      // The program got the 2 days of amlodipine once, on its own timeline.
      await waitFor(async () => world.events(program.programId, 'supply.added').length === 1);
      expect(world.events(program.programId, 'supply.added')[0]!.data).toMatchObject({ prescriptionId: id, drugCode: 'amlodipine-5mg', days: 2 });
      expect(Date.parse((await ph.query(programQuery)).supply[0]!.until)).toBe(supplyBefore + 2 * DAY);
      // Over the course, the prescription reminds only of metformin; the program of amlodipine.
      await h.env().sleep(3 * DAY);
      const sent = world.events(id, 'medication.reminder-sent');
      expect(sent.map((e) => e.data.drugCodes)).toEqual([['metformin-500mg'], ['metformin-500mg'], ['metformin-500mg'], ['metformin-500mg']]);
      expect(world.notifyCalls.filter((n) => n.kind === 'medication.reminder' && n.refs.programId === program.programId).every((n) => n.refs.drugCode === 'amlodipine-5mg')).toBe(true);
      expect(world.notifyCalls.filter((n) => n.kind === 'medication.reminder' && n.refs.programId === program.programId).length).toBeGreaterThanOrEqual(3);
    });
  });

  it('records every step on its own timeline with who did it and what, and tasks with their action and deadline', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const t0 = await h.env().currentTimeMs();
      const { handle, id } = await startRx(world, taskQueue);
      const review = world.tasks.get(`rx:${id}:review:v1`)!;
      expect(review.action).toBe('Review prescription version 1');
      expect(Date.parse(review.dueAt) - t0).toBeGreaterThanOrEqual(30 * MIN - 2000);
      expect(Date.parse(review.dueAt) - t0).toBeLessThanOrEqual(30 * MIN + 5000);
      // Rejected: the prescriber's revision task is due within the review SLA.
      await handle.executeUpdate(reviewUpdate, { args: [{ pharmacistId: 'ph-1', decision: 'reject', reason: 'dose too high' }] });
      const revision = world.tasks.get(`rx:${id}:revision:v1`)!;
      expect(revision).toMatchObject({ kind: 'prescription-revision', role: 'doctor', assigneeId: 'doc-1', status: 'open', action: 'Revise or cancel prescription version 1: the pharmacist rejected it' });
      expect(Date.parse(revision.dueAt) - (await h.env().currentTimeMs())).toBeGreaterThan(30 * MIN - 5000);
      expect(world.notificationsOf('prescription.rejected').map((n) => n.id)).toEqual([`rx:${id}:prescription.rejected:v1`]);
      await revise(handle, [amlodipine]);
      const reviewV2 = world.tasks.get(`rx:${id}:review:v2`)!;
      expect(Date.parse(reviewV2.dueAt) - (await h.env().currentTimeMs())).toBeGreaterThan(30 * MIN - 5000);
      const approved = await handle.executeUpdate(reviewUpdate, { args: [{ pharmacistId: 'ph-2', decision: 'approve' }] });
      const { orderId, dueBy } = approved.payment!;
      expect(world.notificationsOf('prescription.approved').map((n) => [n.id, n.params])).toEqual([[`rx:${id}:prescription.approved:v2`, { amount: 300, dueBy }]]);
      await pay(handle, orderId, 300);
      expect(world.payments.get(orderId)!.status).toBe('paid');
      await waitFor(async () => (await handle.query(prescriptionQuery)).status === 'shipped');
      expect((await handle.query(prescriptionQuery)).delivery).toEqual({ deliveryId: `${id}-d1`, status: 'ordered' });
      await courier(handle, `${id}-d1`, 'picked-up');
      // The same step again is no step: nothing projected, nothing sent.
      expect((await courier(handle, `${id}-d1`, 'picked-up')).outcome).toBe('unchanged');
      expect(world.projectedOf(id, 'delivery.picked-up')).toHaveLength(1);
      await courier(handle, `${id}-d1`, 'delivered');
      expect(world.notificationsOf('delivery.update').map((n) => [n.id, n.params])).toEqual([
        [`rx:${id}:delivery.update:${id}-d1:ordered`, { status: 'ordered', deliveryId: `${id}-d1` }],
        [`rx:${id}:delivery.update:${id}-d1:picked-up`, { status: 'picked-up', deliveryId: `${id}-d1` }],
        [`rx:${id}:delivery.update:${id}-d1:delivered`, { status: 'delivered', deliveryId: `${id}-d1` }],
      ]);
      const at = expect.any(String);
      // The first 13 entries (the course's reminders follow).
      expect(world.timeline.get(id)!.slice(0, 13).map((e) => ({ key: e.key, type: e.type, actor: e.actor, data: e.data }))).toEqual([
        { key: 'prescription.created', type: 'prescription.created', actor: 'doctor:doc-1', data: { version: 1, long: false, items: [{ drugCode: 'amlodipine-5mg', frequency: 'qd', days: 2, quantity: 2 }, { drugCode: 'metformin-500mg', frequency: 'bid', days: 2, quantity: 4 }], digest: world.signatures.get(`${id}:v1`)!.digest } },
        { key: 'task.created:review:v1', type: 'task.created', actor: 'system', data: { taskId: `rx:${id}:review:v1`, kind: 'pharmacist-review' } },
        { key: 'prescription.rejected:v1', type: 'prescription.rejected', actor: 'pharmacist:ph-1', data: { version: 1, reason: 'dose too high' } },
        { key: 'task.created:revision:v1', type: 'task.created', actor: 'system', data: { taskId: `rx:${id}:revision:v1`, kind: 'prescription-revision' } },
        { key: 'prescription.revised:v2', type: 'prescription.revised', actor: 'doctor:doc-1', data: { version: 2, items: [{ drugCode: 'amlodipine-5mg', frequency: 'qd', days: 2, quantity: 2 }], digest: world.signatures.get(`${id}:v2`)!.digest } },
        { key: 'task.created:review:v2', type: 'task.created', actor: 'system', data: { taskId: `rx:${id}:review:v2`, kind: 'pharmacist-review' } },
        { key: 'prescription.approved:v2', type: 'prescription.approved', actor: 'pharmacist:ph-2', data: { version: 2 } },
        { key: 'payment.requested', type: 'payment.requested', actor: 'system', data: { orderId, amount: 300, currency: 'CNY', dueBy } },
        { key: 'payment.received', type: 'payment.received', actor: 'payment-provider', data: { orderId, amount: 300, channel: 'wechat' } },
        { key: 'prescription.dispensed:v2', type: 'prescription.dispensed', actor: 'system', data: { version: 2 } },
        { key: `delivery.ordered:${id}-d1`, type: 'delivery.ordered', actor: 'system', data: { deliveryId: `${id}-d1`, attempt: 1 } },
        { key: `delivery.picked-up:${id}-d1`, type: 'delivery.picked-up', actor: 'courier', data: { deliveryId: `${id}-d1`, at } },
        { key: `delivery.delivered:${id}-d1`, type: 'delivery.delivered', actor: 'courier', data: { deliveryId: `${id}-d1`, at } },
      ]);
      expect(world.orders.get(orderId)).toMatchObject({ amount: 300 });
      expect((await handle.query(prescriptionQuery)).delivery).toEqual({ deliveryId: `${id}-d1`, status: 'delivered' });
    });
  });

  it('refuses in the validator, so a refused update leaves no trace in the history', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle } = await startRx(world, taskQueue);
      const accepted = async () => ((await handle.fetchHistory()).events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
      await expect(handle.executeUpdate(reviewUpdate, { args: [{ pharmacistId: 'doc-1', decision: 'approve' }] })).rejects.toSatisfy((e) => refusal(e) === 'own-prescription');
      await expect(handle.executeUpdate(reviseUpdate, { args: [{ prescriberId: 'doc-1', items: [amlodipine] }] })).rejects.toSatisfy((e) => refusal(e) === 'invalid-state');
      await expect(handle.executeUpdate(cancelPrescriptionUpdate, { args: [{ reason: 'x', actor: { role: 'doctor', id: 'doc-2' } }] })).rejects.toSatisfy((e) => refusal(e) === 'not-prescriber');
      expect(await accepted()).toBe(0);
      // The prescriber and a coordinator may cancel, an admin too; a patient may not.
      await expect(handle.executeUpdate(cancelPrescriptionUpdate, { args: [{ reason: 'x', actor: { role: 'patient', id: 'pat-1' } }] })).rejects.toSatisfy((e) => refusal(e) === 'not-prescriber');
      expect((await handle.executeUpdate(cancelPrescriptionUpdate, { args: [{ reason: 'changed my mind', actor: { role: 'admin', id: 'adm-1' } }] })).status).toBe('cancelled');
      expect(await accepted()).toBe(1);
    });
  });

  it('cancels a prescription waiting for its revision: the revision task is cancelled, a pending payment never existed', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startRx(world, taskQueue);
      await handle.executeUpdate(reviewUpdate, { args: [{ pharmacistId: 'ph-1', decision: 'reject', reason: 'interaction' }] });
      const cancelled = await handle.executeUpdate(cancelPrescriptionUpdate, { args: [{ reason: 'not needed', actor: coordinator }] });
      expect(cancelled.status).toBe('cancelled');
      expect(world.tasks.get(`rx:${id}:revision:v1`)!.status).toBe('cancelled');
      expect(world.tasks.get(`rx:${id}:review:v1`)!.status).toBe('done');
      expect(world.refundCalls).toEqual([]);
      expect(world.events(id, 'prescription.cancelled').map((e) => [e.actor, e.data])).toEqual([['coordinator:coord-1', { reason: 'not needed', version: 1 }]]);
    });
  });

  it('cancels an unpaid approved prescription: its payment order expires, no refund', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle } = await startRx(world, taskQueue);
      const approved = await approve(handle);
      const cancelled = await handle.executeUpdate(cancelPrescriptionUpdate, { args: [{ reason: 'too expensive', actor: prescriber }] });
      expect(cancelled).toMatchObject({ status: 'cancelled', payment: { status: 'expired' } });
      expect(world.payments.get(approved.payment!.orderId)!.status).toBe('expired');
      expect(world.refundCalls).toEqual([]);
      expect(world.notificationsOf('payment.refunded')).toEqual([]);
    });
  });

  it('escalates a shipment the courier does not report on at the delivery SLA and twice it; a new courier order starts its own ladder', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startRx(world, taskQueue);
      const first = await shipped(handle);
      await h.env().sleep(2 * DAY + MIN);
      const ladder = (deliveryId: string) => [...world.tasks.values()].filter((t) => t.id.startsWith(`rx:${id}:delivery-sla:${deliveryId}:`));
      expect(ladder(first).map((t) => [t.id, t.tier, t.status, t.action, t.subject])).toEqual([
        [`rx:${id}:delivery-sla:${first}:1`, 1, 'open', 'Delivery is taking longer than the delivery SLA', { type: 'prescription', id }],
      ]);
      await h.env().sleep(2 * DAY);
      expect(ladder(first).map((t) => [t.tier, t.status])).toEqual([[1, 'open'], [2, 'open']]);
      // The courier reports a failure: the first ladder is cancelled, the second order has its own.
      await courier(handle, first, 'failed');
      await waitFor(async () => (await handle.query(prescriptionQuery)).delivery?.deliveryId === `${id}-d2`);
      expect(ladder(first).map((t) => t.status)).toEqual(['cancelled', 'cancelled']);
      await h.env().sleep(2 * DAY + MIN);
      expect(ladder(`${id}-d2`).map((t) => [t.tier, t.status])).toEqual([[1, 'open']]);
      await courier(handle, `${id}-d2`, 'delivered');
      expect(ladder(`${id}-d2`).map((t) => t.status)).toEqual(['done']);
      expect((await handle.query(prescriptionQuery)).status).toBe('delivered');
    });
  });
});
