// patientJourney on the time-skipping test server: every branch of the pre-visit and visit phases.
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import pathways from '../db/seed/pathways.json' with { type: 'json' };
import programTemplates from '../db/seed/program-templates.json' with { type: 'json' };
import {
  FailureType,
  PATIENT_JOURNEY_WORKFLOW,
  bookUpdate,
  cancelUpdate,
  checkInUpdate,
  journeyWorkflowId,
  paymentReceivedSignal,
  paymentUpdate,
  prescriptionQuery,
  prescriptionWorkflowId,
  programWorkflowId,
  courierUpdate,
  reviewUpdate,
  queueAdvancedSignal,
  recordOutcomeUpdate,
  snapshotQuery,
  startConsultationUpdate,
  triagedUpdate,
  type JourneyInput,
  type JourneySnapshot,
  type PathwayTemplate,
  type ProgramInput,
  type ProgramTemplate,
} from '../workflows/definitions.js';
import type { patientJourney } from '../workflows/patient-journey.js';
import { HAPPY_PATH_TIMELINE } from './support/expectations.js';
import type { FakeWorld } from './support/fake-activities.js';
import { quiet, refusal, waitFor, workflowHarness } from './support/workflow-harness.js';

const HOUR = 3_600_000;
const MIN = 60_000;
const standard = pathways[0] as PathwayTemplate;
const patientActor = { role: 'patient' as const, id: 'pat-1' };

const h = workflowHarness();
const started = h.started;
let env: TestWorkflowEnvironment;
beforeAll(() => {
  env = h.env();
});

/** Runs `fn` with a worker on fresh fakes; a journey that has ended completes once its deliveries are done. */
const withWorker = <T>(fn: (ctx: { world: FakeWorld; taskQueue: string }) => Promise<T>): Promise<T> =>
  h.withWorker(fn, { ended: async (handle) => ((await handle.query(snapshotQuery).catch(() => undefined))?.status ?? 'active') !== 'active' });


async function startJourney(
  taskQueue: string,
  over: Partial<JourneyInput> = {},
): Promise<{ handle: WorkflowHandle<typeof patientJourney>; journeyId: string; triaged: JourneySnapshot }> {
  const journeyId = randomUUID();
  const input: JourneyInput = {
    journeyId,
    patientId: 'pat-1',
    mode: 'offline',
    complaint: '咳嗽一周，有痰',
    pathway: standard,
    startedBy: patientActor,
    ...over,
  };
  const handle = await env.client.workflow.start<typeof patientJourney>(PATIENT_JOURNEY_WORKFLOW, {
    taskQueue,
    workflowId: journeyWorkflowId(journeyId),
    args: [input],
  });
  started.push(handle);
  const triaged = await handle.executeUpdate(triagedUpdate);
  return { handle, journeyId, triaged };
}

async function now(): Promise<number> {
  return env.currentTimeMs();
}

/** Books a respiratory slot of doctor `doc-1` starting `inMs` from now and pays it. */
async function bookAndPay(world: FakeWorld, handle: WorkflowHandle<typeof patientJourney>, inMs: number, opts: { pay?: boolean; slotId?: string } = {}) {
  const slotId = opts.slotId ?? randomUUID();
  if (!world.slots.has(slotId)) {
    world.addSlot({ id: slotId, doctorId: 'doc-1', department: 'respiratory', mode: 'offline', start: (await now()) + inMs, remaining: 3 });
  }
  const booked = await handle.executeUpdate(bookUpdate, { args: [{ slotId, actor: patientActor }] });
  if (opts.pay !== false) {
    await handle.signal(paymentReceivedSignal, { orderId: booked.payment!.orderId, amount: booked.payment!.amount, paidAt: new Date().toISOString(), channel: 'wechat' });
    await waitFor(async () => (await handle.query(snapshotQuery)).payment?.status === 'paid');
  }
  return { booked, slotId, start: Date.parse(booked.appointment!.start) };
}

/**
 * Starts booking a fresh one-seat slot and holds it while its seat and payment order are being stored
 * (one local activity, journey-order-with-seat).
 */
async function bookingHeldAtSeatAndOrder(world: FakeWorld, handle: WorkflowHandle<typeof patientJourney>) {
  const slot = world.addSlot({ id: randomUUID(), doctorId: 'doc-1', department: 'respiratory', mode: 'offline', start: (await now()) + 2 * HOUR, remaining: 1 });
  const open = world.hold('reserveSeat');
  const booking = handle.executeUpdate(bookUpdate, { args: [{ slotId: slot.id, actor: patientActor }] });
  await waitFor(async () => (world.calls.reserveSeat ?? 0) > 0);
  return { slot, open, booking };
}

/** Two journeys booked and paid in one slot, on a pathway that calls near-turn only when nobody is ahead. */
async function twoPaidInOneSlot(world: FakeWorld, taskQueue: string) {
  const tight = { ...standard, nearTurnAhead: 0 };
  const a = await startJourney(taskQueue, { pathway: tight });
  const b = await startJourney(taskQueue, { pathway: tight });
  const { slotId } = await bookAndPay(world, a.handle, HOUR);
  await bookAndPay(world, b.handle, HOUR, { slotId });
  return [a, b] as const;
}

/**
 * Each notification was stored once and queued once for the outbox dispatcher, in its transition's
 * projection (journey-one-transaction): counted from the calls, repeats included. None is delivered by
 * an activity of the journey.
 */
function expectEachNotificationOnce(world: FakeWorld): void {
  const stored = world.notifyCalls.map((n) => n.id);
  expect(new Set(stored).size, `stored twice for one id: ${stored.join(', ')}`).toBe(stored.length);
  expect([...world.queued].sort()).toEqual([...stored].sort());
  expect(world.delivered).toEqual([]);
  expect(world.calls.notify ?? 0).toBe(0);
}

/** Checks in, then lets the consult-start SLA pass `periods` times with nobody starting. */
async function checkedInAndLate(world: FakeWorld, taskQueue: string, periods: number) {
  const j = await startJourney(taskQueue);
  const { start } = await bookAndPay(world, j.handle, HOUR);
  await env.sleep(HOUR - 10 * MIN);
  await j.handle.executeUpdate(checkInUpdate, { args: [patientActor] });
  await env.sleep(10 * MIN + periods * 30 * MIN + MIN);
  return { ...j, start };
}

async function timersStarted(handle: WorkflowHandle): Promise<number> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).filter((e) => e.timerStartedEventAttributes).length;
}

describe('patientJourney', () => {
  it('runs the happy path: triage, booking, payment, reminders at their offsets, check-in, consultation, outcome', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId, triaged } = await startJourney(taskQueue);
      expect(triaged).toMatchObject({ step: 'booking', phase: 'pre-visit', triage: { department: 'respiratory', urgency: 'routine' } });

      const { booked, start } = await bookAndPay(world, handle, 2 * 24 * HOUR);
      expect(booked).toMatchObject({ step: 'awaiting-payment', payment: { status: 'pending', amount: 1500, currency: 'CNY' } });
      expect(world.notificationsOf('payment.due')).toEqual([
        expect.objectContaining({ id: `journey:${journeyId}:payment.due:${journeyId}-reg`, patientId: 'pat-1', refs: { journeyId }, params: { amount: 1500, dueBy: booked.payment!.dueBy } }),
      ]);

      await env.sleep(2 * 24 * HOUR - 10 * MIN);
      const reminders = world.events(journeyId, 'reminder.sent');
      expect(reminders.map((e) => e.data.offset)).toEqual(['P1D', 'PT1H']);
      expect(Math.abs(Date.parse(reminders[0]!.at) - (start - 24 * HOUR))).toBeLessThan(2000);
      expect(Math.abs(Date.parse(reminders[1]!.at) - (start - HOUR))).toBeLessThan(2000);
      expect(world.notificationsOf('appointment.reminder')).toHaveLength(2);

      const queued = await handle.executeUpdate(checkInUpdate, { args: [patientActor] });
      expect(queued).toEqual({ queueNumber: 1, ahead: 0 });
      expect(world.notificationsOf('queue.near-turn')).toHaveLength(1);

      const inConsult = await handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] });
      expect(inConsult).toMatchObject({ step: 'in-consultation', phase: 'visit' });
      const done = await handle.executeUpdate(recordOutcomeUpdate, { args: [{ doctorId: 'doc-1', diagnosis: { code: 'J20.9', text: 'Acute bronchitis' }, notes: 'Rest, fluids.' }] });
      expect(done).toMatchObject({ phase: 'closed', status: 'completed', step: 'done', outcome: { diagnosis: { code: 'J20.9' } } });
      expect(await handle.result()).toMatchObject({ status: 'completed' });
      expect(world.types(journeyId)).toEqual(HAPPY_PATH_TIMELINE);
      expect(world.projected.get(journeyId)!.map((e) => e.type)).toEqual(HAPPY_PATH_TIMELINE); // each projected once
      expect(world.notificationsOf('appointment.reminder').map((n) => n.params)).toEqual([
        { start: booked.appointment!.start, offset: 'P1D' },
        { start: booked.appointment!.start, offset: 'PT1H' },
      ]);
      expect(world.marks).toEqual([{ orderId: booked.payment!.orderId, status: 'paid' }]);
      // The order was stored with the seat (journey-order-with-seat): no requestPayment activity ran.
      expect(world.orders.get(booked.payment!.orderId)).toEqual({ amount: 1500, dueBy: booked.payment!.dueBy });
      expect(world.calls.requestPayment).toBeUndefined();
      expect(world.refundCalls).toEqual([]);
      expectEachNotificationOnce(world);
      // What the timeline says of each step, not only that it happened.
      const data = (type: string) => world.events(journeyId, type).map((e) => e.data);
      expect(data('journey.started')).toEqual([{ mode: 'offline', pathway: { id: standard.id, version: standard.version }, followUp: false }]);
      expect(data('triage.completed')).toEqual([{ department: 'respiratory', urgency: 'routine' }]);
      expect(data('appointment.booked')).toEqual([expect.objectContaining({ slotId: booked.appointment!.slotId, doctorId: 'doc-1', start: booked.appointment!.start })]);
      expect(data('payment.requested')).toEqual([{ orderId: `${journeyId}-reg`, amount: 1500, currency: 'CNY', dueBy: booked.payment!.dueBy }]);
      expect(world.events(journeyId, 'outcome.recorded').map((e) => [e.actor, e.data.diagnosisCode])).toEqual([['doctor:doc-1', 'J20.9']]);
    });
  });

  it('refuses an update in the wrong step with its validator, so it is never accepted into the history', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle } = await startJourney(taskQueue);
      // Updates the workflow accepted (a validator's refusal comes before acceptance).
      const historyLength = async () => (await handle.fetchHistory()).events?.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length ?? 0;
      /** Refused with `type` (and a message matching `message`) by the validator: never accepted into the history. */
      const refusedBeforeHistory = async (send: () => Promise<unknown>, type: string, message?: RegExp) => {
        const before = await historyLength();
        const err = await send().then(() => undefined, (e: unknown) => e);
        expect(refusal(err)).toBe(type);
        if (message) expect(((err as { cause?: { message?: string } }).cause?.message) ?? '').toMatch(message);
        expect(await historyLength()).toBe(before);
      };
      const outcome = { doctorId: 'doc-1', diagnosis: { text: 'x' }, notes: '' };
      await refusedBeforeHistory(() => handle.executeUpdate(checkInUpdate, { args: [patientActor] }), FailureType.InvalidState, /step booking/);
      await refusedBeforeHistory(() => handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] }), FailureType.NotBookedDoctor);
      await refusedBeforeHistory(() => handle.executeUpdate(recordOutcomeUpdate, { args: [outcome] }), FailureType.NotBookedDoctor);
      const { slotId } = await bookAndPay(world, handle, HOUR);
      await quiet(handle); // the payment's projection and notifications done
      await refusedBeforeHistory(() => handle.executeUpdate(bookUpdate, { args: [{ slotId, actor: patientActor }] }), FailureType.InvalidState);
      await refusedBeforeHistory(() => handle.executeUpdate(recordOutcomeUpdate, { args: [outcome] }), FailureType.InvalidState);
      await handle.executeUpdate(checkInUpdate, { args: [patientActor] });
      await quiet(handle);
      // Checked in, the patient may no longer cancel; a coordinator may.
      await refusedBeforeHistory(() => handle.executeUpdate(cancelUpdate, { args: [{ reason: 'changed my mind', actor: patientActor }] }), FailureType.InvalidState, /only a coordinator/);
      await refusedBeforeHistory(() => handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-2' }] }), FailureType.NotBookedDoctor, /only the booked doctor/);
    });
  });

  it('cancels the journey and frees the seat when the payment window passes', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId } = await startJourney(taskQueue);
      const { slotId } = await bookAndPay(world, handle, 2 * 24 * HOUR, { pay: false });
      expect(world.slots.get(slotId)!.remaining).toBe(2);
      await env.sleep(14 * MIN);
      expect((await handle.query(snapshotQuery)).status).toBe('active');
      await env.sleep(2 * MIN);
      const result = await handle.result();
      expect(result).toMatchObject({ status: 'cancelled', phase: 'closed', payment: { status: 'expired' } });
      expect(world.slots.get(slotId)!.remaining).toBe(3);
      expect(world.types(journeyId).slice(-2)).toEqual(['payment.expired', 'journey.cancelled']);
      expect(world.events(journeyId, 'payment.expired').map((e) => [e.actor, e.data])).toEqual([['system', { orderId: `${journeyId}-reg` }]]);
      expect(world.events(journeyId, 'journey.cancelled').map((e) => [e.actor, e.data])).toEqual([['system', { reason: 'payment-expired' }]]);
      expect(world.notificationsOf('journey.cancelled').map((n) => [n.id, n.params])).toEqual([[`journey:${journeyId}:journey.cancelled:cancel`, { reason: 'payment-expired' }]]);
      expect(world.payments.get(`${journeyId}-reg`)!.status).toBe('expired');
      expect(world.refundCalls).toEqual([]);
    });
  });

  it('cancels a paid journey with a refund and frees the seat', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId } = await startJourney(taskQueue);
      const { booked, slotId } = await bookAndPay(world, handle, 2 * 24 * HOUR);
      const cancelled = await handle.executeUpdate(cancelUpdate, { args: [{ reason: 'feeling better', actor: patientActor }] });
      expect(cancelled).toMatchObject({ status: 'cancelled', phase: 'closed', payment: { status: 'refunded' } });
      const orderId = booked.payment!.orderId;
      expect(world.refundCalls).toEqual([{ orderId, amount: 1500, reason: 'cancelled' }]);
      expect(world.slots.get(slotId)!.remaining).toBe(3);
      expect(world.events(journeyId, 'payment.refunded').map((e) => e.data)).toEqual([{ orderId, amount: 1500, reason: 'cancelled' }]);
      expect(world.events(journeyId, 'journey.cancelled').map((e) => [e.actor, e.data])).toEqual([['patient:pat-1', { reason: 'patient', note: 'feeling better' }]]);
      expect(world.notificationsOf('journey.cancelled').map((n) => n.params)).toEqual([{ reason: 'patient' }]);
      expect(world.notificationsOf('payment.refunded').map((n) => n.params)).toEqual([{ amount: 1500 }]);
      // The journey is closed: a second cancellation is refused (by the workflow, or by the server once it has completed).
      await expect(handle.executeUpdate(cancelUpdate, { args: [{ reason: 'again', actor: patientActor }] })).rejects.toSatisfy(
        (e) => refusal(e) === 'invalid-state' || e instanceof WorkflowNotFoundError,
      );
      expect(world.refundCalls).toHaveLength(1);
      await handle.result();
      expectEachNotificationOnce(world);
    });
  });

  it('refunds at once a payment that arrives while the journey is being cancelled', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId } = await startJourney(taskQueue);
      const { booked } = await bookAndPay(world, handle, 2 * 24 * HOUR, { pay: false });
      // The cancellation's one projection (seat, order and events together) is held.
      const projections = world.calls.recordTransition ?? 0;
      const open = world.hold('recordTransition');
      const cancelling = handle.executeUpdate(cancelUpdate, { args: [{ reason: 'changed my mind', actor: patientActor }] });
      await waitFor(async () => (world.calls.recordTransition ?? 0) > projections);
      // The payment lands while the cancellation is under way: it is handled after it, as a late payment.
      const order = booked.payment!;
      await handle.signal(paymentReceivedSignal, { orderId: order.orderId, amount: order.amount, paidAt: new Date().toISOString(), channel: 'alipay' });
      open();
      expect(await cancelling).toMatchObject({ status: 'cancelled', phase: 'closed', step: 'done', payment: { status: 'expired' } });
      expect(await handle.result()).toMatchObject({ status: 'cancelled', phase: 'closed', step: 'done', payment: { status: 'refunded' } });
      expect(world.refunds.get(order.orderId)).toBe(1500);
      expect(world.types(journeyId).slice(-2)).toEqual(['journey.cancelled', 'payment.refunded']);
      expect(world.types(journeyId)).not.toContain('payment.received');
      expect(world.snapshots.get(journeyId)).toMatchObject({ status: 'cancelled', payment: { status: 'refunded' } });
    });
  });

  it('skips reminder offsets already past when the booking is paid', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId } = await startJourney(taskQueue);
      const { start } = await bookAndPay(world, handle, 2 * HOUR);
      await env.sleep(2 * HOUR - 5 * MIN);
      const reminders = world.events(journeyId, 'reminder.sent');
      expect(reminders.map((e) => e.data.offset)).toEqual(['PT1H']);
      expect(Math.abs(Date.parse(reminders[0]!.at) - (start - HOUR))).toBeLessThan(2000);
    });
  });

  it('marks a patient who never checks in as a no-show after start + noShowGrace', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId } = await startJourney(taskQueue);
      const { slotId, start } = await bookAndPay(world, handle, 3 * HOUR);
      await env.sleep(3 * HOUR + 29 * MIN);
      expect((await handle.query(snapshotQuery)).status).toBe('active');
      await env.sleep(2 * MIN);
      expect(await handle.result()).toMatchObject({ status: 'no-show', phase: 'closed', step: 'done' });
      expect(world.types(journeyId).at(-1)).toBe('journey.no-show');
      expect(world.notificationsOf('journey.no-show').map((n) => n.params)).toEqual([{ start: new Date(start).toISOString() }]);
      expect(world.events(journeyId, 'journey.no-show').map((e) => e.data)).toEqual([{ start: new Date(start).toISOString() }]);
      expect(world.seats.get(journeyId)?.status).toBe('no-show');
      expect(world.slots.get(slotId)!.remaining).toBe(3);
    });
  });

  it('escalates to coordinators when the doctor has not started within the SLA, and closes the task on start', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId } = await startJourney(taskQueue);
      const { start } = await bookAndPay(world, handle, 2 * HOUR);
      await env.sleep(2 * HOUR - 20 * MIN);
      await handle.executeUpdate(checkInUpdate, { args: [patientActor] });
      await env.sleep(45 * MIN); // start + 25 min: SLA (30 min from start) not passed yet
      expect(world.events(journeyId, 'task.escalated')).toHaveLength(0);
      await env.sleep(10 * MIN);
      const escalated = world.events(journeyId, 'task.escalated');
      expect(escalated).toHaveLength(1);
      expect(Math.abs(Date.parse(escalated[0]!.at) - (start + 30 * MIN))).toBeLessThan(2000);
      const task = [...world.tasks.values()][0]!;
      expect(task).toMatchObject({ kind: 'escalation', role: 'coordinator', status: 'open', tier: 1 });
      await handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] });
      expect(world.tasks.get(task.id)!.status).toBe('done');
    });
  });

  it('ends triage with emergency advice on a red flag: no booking', async () => {
    await withWorker(async ({ taskQueue, world }) => {
      const { handle, journeyId, triaged } = await startJourney(taskQueue, { complaint: '突发胸痛伴呼吸困难半小时' });
      expect(triaged).toMatchObject({ status: 'redirected', phase: 'closed', triage: { urgency: 'emergency', rule: 'red-flag-chest-pain-breathless' } });
      expect(triaged.triage!.advice).toMatch(/急诊/);
      expect(triaged.triage!.matched!.map((m) => m.words)).toEqual(['胸痛', '呼吸困难']);
      expect(await handle.result()).toMatchObject({ status: 'redirected' });
      expect(world.types(journeyId)).toEqual(['journey.started', 'triage.completed', 'journey.redirected']);
      expect(world.events(journeyId, 'journey.redirected').map((e) => e.data)).toEqual([{ reason: 'red-flag' }]);
      expect(world.events(journeyId, 'triage.completed').map((e) => e.data)).toEqual([{ department: triaged.triage!.department, urgency: 'emergency' }]);
    });
  });

  it('refuses an online first visit', async () => {
    await withWorker(async ({ taskQueue }) => {
      const journeyId = randomUUID();
      const handle = await env.client.workflow.start<typeof patientJourney>(PATIENT_JOURNEY_WORKFLOW, {
        taskQueue,
        workflowId: journeyWorkflowId(journeyId),
        args: [{ journeyId, patientId: 'pat-1', mode: 'online', complaint: '血糖高', pathway: pathways[1] as PathwayTemplate, startedBy: patientActor }],
      });
      const err = await handle.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect(((err as WorkflowFailedError).cause as ApplicationFailure).type).toBe('first-visit-online');
    });
  });

  it('accepts consultation and outcome only from the booked doctor, in order', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle } = await startJourney(taskQueue);
      await bookAndPay(world, handle, HOUR);
      await expect(handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] })).rejects.toSatisfy((e) => refusal(e) === 'invalid-state');
      await handle.executeUpdate(checkInUpdate, { args: [patientActor] });
      await expect(handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-2' }] })).rejects.toSatisfy((e) => refusal(e) === 'not-booked-doctor');
      await expect(
        handle.executeUpdate(recordOutcomeUpdate, { args: [{ doctorId: 'doc-1', diagnosis: { text: 'x' }, notes: '' }] }),
      ).rejects.toSatisfy((e) => refusal(e) === 'invalid-state');
      await handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] });
      await expect(
        handle.executeUpdate(recordOutcomeUpdate, { args: [{ doctorId: 'doc-2', diagnosis: { text: 'x' }, notes: '' }] }),
      ).rejects.toSatisfy((e) => refusal(e) === 'not-booked-doctor');
      await expect(handle.executeUpdate(cancelUpdate, { args: [{ reason: 'late', actor: patientActor }] })).rejects.toSatisfy((e) => refusal(e) === 'invalid-state');
    });
  });

  it('refuses a full slot and a second booking', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const full = world.addSlot({ id: 'full', doctorId: 'doc-1', department: 'respiratory', mode: 'offline', start: (await now()) + HOUR, remaining: 0 });
      const { handle } = await startJourney(taskQueue);
      await expect(handle.executeUpdate(bookUpdate, { args: [{ slotId: full.id, actor: patientActor }] })).rejects.toSatisfy((e) => refusal(e) === 'slot-unavailable');
      expect((await handle.query(snapshotQuery)).step).toBe('booking');
      world.addSlot({ id: 'wrong-dept', doctorId: 'doc-1', department: 'cardiology', mode: 'offline', start: (await now()) + HOUR, remaining: 1 });
      await expect(handle.executeUpdate(bookUpdate, { args: [{ slotId: 'wrong-dept', actor: patientActor }] })).rejects.toSatisfy((e) => refusal(e) === 'slot-mismatch');
      await bookAndPay(world, handle, HOUR, { pay: false });
      await expect(handle.executeUpdate(bookUpdate, { args: [{ slotId: 'other', actor: patientActor }] })).rejects.toSatisfy((e) => refusal(e) === 'invalid-state');
    });
  });

  it('sends queue.near-turn once, when a consultation ahead starts', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const [a, b] = await twoPaidInOneSlot(world, taskQueue);
      expect(await a.handle.executeUpdate(checkInUpdate, { args: [patientActor] })).toEqual({ queueNumber: 1, ahead: 0 });
      expect(await b.handle.executeUpdate(checkInUpdate, { args: [patientActor] })).toEqual({ queueNumber: 2, ahead: 1 });
      expect(world.events(b.journeyId, 'queue.near-turn')).toHaveLength(0);
      await a.handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] });
      expect(world.queueSignals.at(-1)).toEqual([b.journeyId]);
      await b.handle.signal(queueAdvancedSignal);
      await b.handle.signal(queueAdvancedSignal);
      await waitFor(async () => world.events(b.journeyId, 'queue.near-turn').length === 1);
      expect(world.notificationsOf('queue.near-turn').filter((n) => n.refs.journeyId === b.journeyId)).toHaveLength(1);
    });
  });

  it('lets a cancellation that arrives mid-booking wait for the booking, then undo it cleanly', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId } = await startJourney(taskQueue);
      const { slot, open, booking } = await bookingHeldAtSeatAndOrder(world, handle);
      const cancelling = handle.executeUpdate(cancelUpdate, { args: [{ reason: 'wrong slot', actor: patientActor }] });
      open();
      await booking;
      expect(await cancelling).toMatchObject({ status: 'cancelled', payment: { status: 'expired' } });
      expect(world.types(journeyId)).toEqual(['journey.started', 'triage.completed', 'appointment.booked', 'payment.requested', 'journey.cancelled']);
      expect(world.slots.get(slot.id)!.remaining).toBe(1);
      expect(world.snapshots.get(journeyId)).toMatchObject({ status: 'cancelled', phase: 'closed' });
    });
  });

  it('lapses a journey that is never booked within the booking window', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId } = await startJourney(taskQueue, { pathway: { ...standard, bookingWindow: 'PT2H' } });
      await env.sleep(HOUR);
      expect((await handle.query(snapshotQuery)).status).toBe('active');
      await env.sleep(HOUR + MIN);
      expect(await handle.result()).toMatchObject({ status: 'cancelled', phase: 'closed', step: 'done' });
      expect(world.events(journeyId, 'journey.cancelled')[0]!.data).toMatchObject({ reason: 'not-booked' });
      expect(world.notificationsOf('journey.cancelled')).toHaveLength(1);
    });
  });

  it('never holds the journey on a messaging gateway that is down: its notices are queued with their transitions', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      // A delivery activity would wait here; the journey runs none (the outbox dispatcher delivers,
      // workers/outbox.ts, tested in tests/notifications.test.ts).
      world.hold('deliverNotification');
      const { handle, journeyId } = await startJourney(taskQueue);
      const { booked } = await bookAndPay(world, handle, 2 * HOUR);
      expect(booked.step).toBe('awaiting-payment');
      expect(world.notificationsOf('payment.due')).toHaveLength(1); // in the inbox at once
      expect(world.queued).toEqual([`journey:${journeyId}:payment.due:${booked.payment!.orderId}`]);
      await handle.executeUpdate(cancelUpdate, { args: [{ reason: 'x', actor: patientActor }] });
      expect(await handle.result()).toMatchObject({ status: 'cancelled' });
      expect(world.calls.deliverNotification).toBeUndefined();
      expect(world.queued.sort()).toEqual([...world.notifications.keys()].sort());
      expectEachNotificationOnce(world);
    });
  });

  it('refunds a payment that lands while the payment window is expiring (its projection being stored), and says so', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId } = await startJourney(taskQueue, { pathway: { ...standard, paymentWindow: 'PT2S' } });
      const { booked } = await bookAndPay(world, handle, 2 * HOUR, { pay: false });
      // The lapse's projection (its events and the journey.cancelled notice, one transaction) is held.
      const projections = world.calls.recordTransition ?? 0;
      const open = world.hold('recordTransition');
      await waitFor(async () => (world.calls.recordTransition ?? 0) > projections);
      const order = booked.payment!;
      await handle.signal(paymentReceivedSignal, { orderId: order.orderId, amount: order.amount, paidAt: new Date().toISOString(), channel: 'wechat' });
      open();
      expect(await handle.result()).toMatchObject({ status: 'cancelled', payment: { status: 'refunded' } });
      expect(world.refunds.get(order.orderId)).toBe(1500);
      expect(world.types(journeyId).slice(-3)).toEqual(['payment.expired', 'journey.cancelled', 'payment.refunded']);
      expect(world.notificationsOf('payment.refunded').map((n) => n.params)).toEqual([{ amount: 1500 }]);
      // Marked expired with the lapse (its projection), then refunded by the provider.
      expect(world.marks).toEqual([{ orderId: order.orderId, status: 'expired' }]);
      expectEachNotificationOnce(world);
    });
  });

  it('takes a payment that lands while its booking is still being recorded', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId } = await startJourney(taskQueue);
      const { open, booking } = await bookingHeldAtSeatAndOrder(world, handle);
      await handle.signal(paymentReceivedSignal, { orderId: `${journeyId}-reg`, amount: 1500, paidAt: new Date().toISOString(), channel: 'wechat' });
      open();
      await booking;
      await waitFor(async () => world.snapshots.get(journeyId)?.payment?.status === 'paid');
      expect(world.types(journeyId).slice(-3)).toEqual(['appointment.booked', 'payment.requested', 'payment.received']);
      expect(world.refunds.size).toBe(0);
    });
  });

  it('accepts one outcome when two arrive at once, and refuses the other', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId } = await startJourney(taskQueue);
      await bookAndPay(world, handle, HOUR);
      await handle.executeUpdate(checkInUpdate, { args: [patientActor] });
      await handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] });
      const outcome = (text: string) => handle.executeUpdate(recordOutcomeUpdate, { args: [{ doctorId: 'doc-1', diagnosis: { text }, notes: '' }] });
      const results = await Promise.allSettled([outcome('first'), outcome('second')]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      const accepted = results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<JourneySnapshot>;
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(refusal(rejected.reason) ?? (rejected.reason instanceof WorkflowNotFoundError ? 'closed' : undefined)).toBeDefined();
      expect(world.snapshots.get(journeyId)!.outcome!.diagnosis.text).toBe(accepted.value.outcome!.diagnosis.text);
      expect(world.events(journeyId, 'outcome.recorded')).toHaveLength(1);
    });
  });

  it('sends near-turn after check-in when the queue moves during the check-in itself', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const [a, b] = await twoPaidInOneSlot(world, taskQueue);
      await a.handle.executeUpdate(checkInUpdate, { args: [patientActor] });
      const open = world.hold('checkIn');
      const checking = b.handle.executeUpdate(checkInUpdate, { args: [patientActor] });
      await waitFor(async () => (world.calls.checkIn ?? 0) > 1);
      await b.handle.signal(queueAdvancedSignal); // arrives mid check-in
      open();
      expect(await checking).toEqual({ queueNumber: 2, ahead: 1 });
      await a.handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] });
      await b.handle.signal(queueAdvancedSignal);
      await waitFor(async () => world.events(b.journeyId, 'queue.near-turn').length === 1);
      expect(world.types(b.journeyId).slice(-2)).toEqual(['journey.checked-in', 'queue.near-turn']);
      const sent = world.notificationsOf('queue.near-turn').filter((n) => n.refs.journeyId === b.journeyId);
      expect(sent).toHaveLength(1);
      expect(sent[0]!.params).toMatchObject({ queueNumber: 2, ahead: 0 });
    });
  });
  it('takes a duplicate payment once: one payment.received, the order marked paid once, no refund', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId } = await startJourney(taskQueue);
      const { booked } = await bookAndPay(world, handle, 2 * HOUR, { pay: false });
      const p = { orderId: booked.payment!.orderId, amount: 1500, paidAt: new Date().toISOString(), channel: 'wechat' as const };
      // Another order's payment while this one is still pending changes nothing.
      expect(await handle.executeUpdate(paymentUpdate, { args: [{ ...p, orderId: 'another-order' }] })).toEqual({ outcome: 'unchanged' });
      expect((await handle.query(snapshotQuery)).payment).toMatchObject({ status: 'pending' });
      expect(await handle.executeUpdate(paymentUpdate, { args: [p] })).toEqual({ outcome: 'paid' });
      expect(await handle.executeUpdate(paymentUpdate, { args: [p] })).toEqual({ outcome: 'unchanged' });
      await handle.signal(paymentReceivedSignal, p);
      expect(await handle.executeUpdate(paymentUpdate, { args: [{ ...p, orderId: 'another-order' }] })).toEqual({ outcome: 'unchanged' });
      expect(world.projectedOf(journeyId, 'payment.received').map((e) => e.data)).toEqual([{ orderId: p.orderId, amount: 1500, channel: 'wechat' }]);
      expect(world.marks).toEqual([{ orderId: p.orderId, status: 'paid' }]);
      expect(world.refundCalls).toEqual([]);
      expect((await handle.query(snapshotQuery)).payment).toMatchObject({ status: 'paid', amount: 1500 });
    });
  });

  it('answers a payment for a cancelled journey as refunded, with the amount', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle } = await startJourney(taskQueue);
      const { booked } = await bookAndPay(world, handle, 2 * HOUR, { pay: false });
      // The cancellation's projection is held, so both reports are taken by the open workflow, after it.
      const projections = world.calls.recordTransition ?? 0;
      const open = world.hold('recordTransition');
      const cancelling = handle.executeUpdate(cancelUpdate, { args: [{ reason: 'x', actor: patientActor }] });
      await waitFor(async () => (world.calls.recordTransition ?? 0) > projections);
      const p = { orderId: booked.payment!.orderId, amount: 1500, paidAt: new Date().toISOString(), channel: 'alipay' as const };
      const reports = [handle.executeUpdate(paymentUpdate, { args: [p] }), handle.executeUpdate(paymentUpdate, { args: [p] })];
      open();
      await cancelling;
      // One refunds it; the other finds it refunded already.
      expect((await Promise.all(reports)).map((r) => r.outcome).sort()).toEqual(['refunded', 'unchanged']);
      expect(await handle.result()).toMatchObject({ status: 'cancelled', step: 'done', payment: { status: 'refunded' } });
      // The late payment's report goes with the refund, so the refunded order keeps when and how it was paid.
      expect(world.refundCalls).toEqual([{ orderId: p.orderId, amount: 1500, reason: 'late-payment', paidAt: p.paidAt, channel: 'alipay' }]);
      expect(world.notificationsOf('payment.refunded').map((n) => n.params)).toEqual([{ amount: 1500 }]);
      expectEachNotificationOnce(world);
    });
  });

  it('raises tier 1, 2 and 3 as tasks of their own, each at its SLA, then waits without a timer', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId, start } = await checkedInAndLate(world, taskQueue, 3);
      const escalated = world.events(journeyId, 'task.escalated');
      expect(escalated.map((e) => e.data.tier)).toEqual([1, 2, 3]);
      escalated.forEach((e, i) => expect(Math.abs(Date.parse(e.at) - (start + (i + 1) * 30 * MIN))).toBeLessThan(2000));
      const tasks = [...world.tasks.values()];
      expect(tasks.map((t) => [t.id, t.tier, t.status])).toEqual([1, 2, 3].map((tier) => [`journey:${journeyId}:consult-start-sla:${tier}`, tier, 'open']));
      expect(tasks[0]).toMatchObject({ kind: 'escalation', role: 'coordinator', subject: { type: 'journey', id: journeyId }, dueAt: new Date(start + 30 * MIN).toISOString() });
      // After the last tier: no more escalations and no timer re-armed every SLA period.
      const timers = await timersStarted(handle);
      await env.sleep(24 * HOUR);
      expect(await timersStarted(handle)).toBe(timers);
      expect(world.projectedOf(journeyId, 'task.escalated')).toHaveLength(3);
      // The work is done at last: every tier closes with it.
      await handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] });
      expect([...world.tasks.values()].map((t) => t.status)).toEqual(['done', 'done', 'done']);
      expect(world.events(journeyId, 'task.closed').map((e) => e.data.taskId)).toEqual(tasks.map((t) => t.id));
    });
  });

  it('lets a coordinator end a checked-in journey before the consultation: refund, tasks cancelled, queue moves up', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const [a, b] = await twoPaidInOneSlot(world, taskQueue);
      await a.handle.executeUpdate(checkInUpdate, { args: [patientActor] });
      expect(await b.handle.executeUpdate(checkInUpdate, { args: [patientActor] })).toEqual({ queueNumber: 2, ahead: 1 });
      await env.sleep(HOUR + 31 * MIN); // a's consult-start SLA passed: tier 1
      expect(world.events(a.journeyId, 'task.escalated')).toHaveLength(1);
      // The patient may not end it in the visit phase.
      await expect(a.handle.executeUpdate(cancelUpdate, { args: [{ reason: 'tired of waiting', actor: patientActor }] })).rejects.toSatisfy(
        (e) => refusal(e) === 'invalid-state',
      );
      const coordinator = { role: 'coordinator' as const, id: 'coord-1' };
      const ended = await a.handle.executeUpdate(cancelUpdate, { args: [{ reason: 'doctor unavailable', actor: coordinator }] });
      expect(ended).toMatchObject({ status: 'cancelled', phase: 'closed', step: 'done', payment: { status: 'refunded', amount: 1500 } });
      const orderId = ended.payment!.orderId;
      expect(world.refundCalls).toEqual([{ orderId, amount: 1500, reason: 'cancelled' }]);
      expect(world.events(a.journeyId, 'journey.cancelled').map((e) => [e.actor, e.data])).toEqual([['coordinator:coord-1', { reason: 'staff', note: 'doctor unavailable' }]]);
      const task = [...world.tasks.values()].find((t) => t.subject.id === a.journeyId)!;
      expect(task.status).toBe('cancelled');
      expect(world.events(a.journeyId, 'task.closed').map((e) => e.data)).toEqual([{ taskId: task.id, status: 'cancelled' }]);
      // b moves up: a left the queue and b's workflow was told.
      expect(world.queue.find((q) => q.journeyId === a.journeyId)!.status).toBe('done');
      expect(world.queueSignals.at(-1)).toEqual([b.journeyId]);
      await b.handle.signal(queueAdvancedSignal);
      await waitFor(async () => world.events(b.journeyId, 'queue.near-turn').length === 1);
      expect(world.events(b.journeyId, 'queue.near-turn')[0]!.data).toEqual({ ahead: 0 });
      expect(await a.handle.result()).toMatchObject({ status: 'cancelled' });
      expect(world.notificationsOf('journey.cancelled').map((n) => [n.refs.journeyId, n.params])).toEqual([[a.journeyId, { reason: 'staff' }]]);
      // Once the consultation has started it can no longer be ended this way.
      await b.handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] });
      await expect(b.handle.executeUpdate(cancelUpdate, { args: [{ reason: 'x', actor: coordinator }] })).rejects.toSatisfy((e) => refusal(e) === 'invalid-state');
    });
  });
  it('starts a prescription child from the outcome, stays in post-visit until it settles, then completes', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId } = await startJourney(taskQueue);
      await bookAndPay(world, handle, HOUR);
      await handle.executeUpdate(checkInUpdate, { args: [patientActor] });
      await handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] });
      const rxId = randomUUID();
      const item = { drugCode: 'amoxicillin-500mg', dose: '500 mg', frequency: 'tid' as const, days: 5, quantity: 15, name: '阿莫西林胶囊', unitPrice: 50 };
      const outcome = await handle.executeUpdate(recordOutcomeUpdate, {
        args: [{ doctorId: 'doc-1', diagnosis: { code: 'J02.9', text: 'Pharyngitis' }, notes: '', items: { prescriptions: [{ prescriptionId: rxId, items: [item], long: false, timezone: 'Asia/Shanghai' }], exams: [], referrals: [] } }],
      });
      expect(outcome).toMatchObject({ phase: 'post-visit', step: 'follow-through', status: 'active', children: { prescriptions: [rxId], exams: [], referrals: [] } });
      expect(world.events(journeyId, 'outcome.recorded').map((e) => e.data)).toEqual([{ diagnosisCode: 'J02.9', prescriptions: 1, exams: 0, referrals: 0 }]);
      const rx = env.client.workflow.getHandle(prescriptionWorkflowId(rxId));
      started.push(rx);
      await waitFor(async () => (await rx.query(prescriptionQuery).catch(() => undefined))?.status === 'pending-review');
      // The child copies the journey's template timings and prescriber.
      expect(await rx.query(prescriptionQuery)).toMatchObject({ journeyId, patientId: 'pat-1', prescriberId: 'doc-1', version: 1 });
      const approved = await rx.executeUpdate(reviewUpdate, { args: [{ pharmacistId: 'ph-1', decision: 'approve' }] });
      expect(approved.payment).toMatchObject({ amount: 750 });
      await rx.executeUpdate(paymentUpdate, { args: [{ orderId: approved.payment!.orderId, amount: 750, paidAt: new Date().toISOString(), channel: 'wechat' }] });
      await waitFor(async () => (await rx.query(prescriptionQuery)).status === 'shipped');
      expect((await handle.query(snapshotQuery)).phase).toBe('post-visit');
      await rx.executeUpdate(courierUpdate, { args: [{ deliveryId: `${rxId}-d1`, status: 'delivered', at: new Date().toISOString() }] });
      // Settled at delivery: the journey completes while the course's reminders run on.
      expect(await handle.result()).toMatchObject({ phase: 'closed', status: 'completed', step: 'done' });
      expect(world.types(journeyId).slice(-3)).toEqual(['outcome.recorded', 'item.settled', 'journey.completed']);
      expect(world.events(journeyId, 'item.settled')[0]!.data).toEqual({ type: 'prescription', id: rxId, status: 'delivered' });
      expect((await rx.describe()).status.name).toBe('RUNNING');
    });
  });

  it('enrols the patient in the care program the outcome names, which outlives the journey', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId } = await startJourney(taskQueue);
      await bookAndPay(world, handle, HOUR);
      await handle.executeUpdate(checkInUpdate, { args: [patientActor] });
      await handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] });
      const template = programTemplates[0] as ProgramTemplate;
      const program: ProgramInput = {
        programId: randomUUID(),
        patientId: 'pat-1',
        condition: 'hypertension',
        doctorId: 'doc-1',
        enrolledBy: { role: 'doctor', id: 'doc-1' },
        template,
        plan: { medications: [{ drugCode: 'amlodipine-5mg', dose: '5 mg', times: ['08:00'], supplyDays: 28 }] },
        timezone: 'Asia/Shanghai',
        enrolledAt: new Date(await env.currentTimeMs()).toISOString(),
        followUpPathway: pathways[1] as PathwayTemplate,
      };
      const done = await handle.executeUpdate(recordOutcomeUpdate, {
        args: [{ doctorId: 'doc-1', diagnosis: { code: 'I10', text: 'Hypertension' }, notes: '', items: { prescriptions: [], exams: [], referrals: [], program } }],
      });
      // Nothing to wait for: the journey completes, the program runs on with the journey's id.
      expect(done).toMatchObject({ phase: 'closed', status: 'completed', children: { prescriptions: [], exams: [], referrals: [], programs: [program.programId] } });
      const p = env.client.workflow.getHandle(programWorkflowId('pat-1', 'hypertension'));
      started.push(p);
      await waitFor(async () => world.programs.get(program.programId) !== undefined);
      expect(world.programs.get(program.programId)).toMatchObject({ status: 'active', journeyId, doctorId: 'doc-1' });
      expect(await handle.result()).toMatchObject({ status: 'completed' });
      expect((await p.describe()).status.name).toBe('RUNNING');
      expect(world.types(program.programId)).toEqual(['program.enrolled']);
    });
  });
});
