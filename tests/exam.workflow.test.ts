// examOrder on the time-skipping server: payment and expiry, automatic scheduling, reminders before
// the exam, normal and abnormal results, cancellation with refund and its rules, duplicate and late
// payments, and the late-result escalation ladder that stops starting timers after its last tier.
import { randomUUID } from 'node:crypto';
import { WorkflowUpdateStage, type WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import {
  EXAM_WORKFLOW,
  cancelExamUpdate,
  examQuery,
  examResultUpdate,
  examWorkflowId,
  paymentUpdate,
  type Actor,
  type ExamInput,
} from '../workflows/definitions.js';
import type { examOrder } from '../workflows/exam.js';
import type { FakeWorld } from './support/fake-activities.js';
import { refusal, waitFor, workflowHarness } from './support/workflow-harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const PRICE = 6000;
const h = workflowHarness();
const coordinator: Actor = { role: 'coordinator', id: 'coord-1' };
const patient: Actor = { role: 'patient', id: 'pat-1' };

type Handle = WorkflowHandle<typeof examOrder>;

/** Starts an exam and waits until it has asked for payment (or, free, has been booked). */
async function startExam(world: FakeWorld, taskQueue: string, over: Partial<ExamInput> = {}): Promise<{ handle: Handle; id: string; t0: number }> {
  const id = randomUUID();
  const input: ExamInput = {
    examId: id,
    journeyId: 'journey-1',
    patientId: 'pat-1',
    doctorId: 'doc-1',
    code: 'hba1c',
    name: '糖化血红蛋白 (HbA1c)',
    price: PRICE,
    timings: { pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D', paymentWindow: 'PT15M', appointmentReminders: ['P1D', 'PT1H'], examResultSla: 'P1D' },
    ...over,
  };
  const t0 = await h.env().currentTimeMs();
  const handle = await h.env().client.workflow.start<typeof examOrder>(EXAM_WORKFLOW, { taskQueue, workflowId: examWorkflowId(id), args: [input] });
  h.started.push(handle);
  const kind = input.price === 0 ? 'exam.scheduled' : 'payment.due';
  await waitFor(async () => world.notifyCalls.some((n) => n.kind === kind && n.refs.examId === id));
  return { handle, id, t0 };
}

const pay = (handle: Handle, orderId: string, amount = PRICE) =>
  handle.executeUpdate(paymentUpdate, { args: [{ orderId, amount, paidAt: new Date().toISOString(), channel: 'alipay' }] });
const result = (handle: Handle, abnormal: boolean) =>
  handle.executeUpdate(examResultUpdate, { args: [{ summary: 'HbA1c 9.1 %, above target', abnormal, actor: 'coordinator:coord-1' }] });
const cancel = (handle: Handle, actor: Actor, reason = 'no longer needed') => handle.executeUpdate(cancelExamUpdate, { args: [{ reason, actor }] });

/** The fake scheduler's next time: `ahead` from the server's clock, on a whole minute. */
async function nextExamTime(world: FakeWorld, ahead: number): Promise<string> {
  const at = new Date(Math.ceil(((await h.env().currentTimeMs()) + ahead) / MIN) * MIN).toISOString();
  world.examTimes.push(at);
  return at;
}

/** Pays the exam: the fake books it `ahead` from now; returns the booked time. */
async function paidAndScheduled(world: FakeWorld, handle: Handle, ahead = 2 * DAY): Promise<string> {
  const at = await nextExamTime(world, ahead);
  const { payment } = await handle.query(examQuery);
  expect(await pay(handle, payment!.orderId)).toEqual({ outcome: 'paid' });
  return at;
}

async function timersStarted(handle: WorkflowHandle): Promise<number> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).filter((e) => e.timerStartedEventAttributes).length;
}

function expectEachNotificationOnce(world: FakeWorld): void {
  const ids = world.notifyCalls.map((n) => n.id);
  expect(new Set(ids).size, `notify called twice for one id: ${ids.join(', ')}`).toBe(ids.length);
}

/** The result's summary is the patient's data: it is kept on the exam and nowhere in its events. */
function expectNoSummaryInEvents(world: FakeWorld, id: string): void {
  expect(JSON.stringify(world.projected.get(id) ?? [])).not.toContain('HbA1c 9.1');
}

describe('examOrder', () => {
  it('asks for payment, schedules when paid, reminds at each offset, and completes with a normal result (report.ready, no task)', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id, t0 } = await startExam(world, taskQueue);
      const orderId = `${id}-exam`;
      const ordered = await handle.query(examQuery);
      expect(ordered).toMatchObject({ status: 'awaiting-payment', code: 'hba1c', doctorId: 'doc-1', payment: { orderId, amount: PRICE, currency: 'CNY', status: 'pending' } });
      expect(Math.abs(Date.parse(ordered.payment!.dueBy) - (t0 + 15 * MIN))).toBeLessThan(3000);
      expect(world.orders.get(orderId)).toMatchObject({ amount: PRICE, dueBy: ordered.payment!.dueBy, subject: { type: 'exam', id } });
      expect(world.timeline.get(id)!.map((e) => [e.type, e.actor, e.data])).toEqual([
        ['exam.ordered', 'doctor:doc-1', { code: 'hba1c', price: PRICE }],
        ['payment.requested', 'system', { orderId, amount: PRICE, currency: 'CNY', dueBy: ordered.payment!.dueBy }],
      ]);
      expect(world.notificationsOf('payment.due').map((n) => [n.id, n.refs, n.params])).toEqual([
        [`exam:${id}:payment.due:${orderId}`, { journeyId: 'journey-1', examId: id }, { amount: PRICE, dueBy: ordered.payment!.dueBy }],
      ]);
      expect(world.scheduleExamCalls).toEqual([]); // not before payment

      const at = await paidAndScheduled(world, handle);
      const scheduled = await handle.query(examQuery);
      expect(scheduled).toMatchObject({ status: 'scheduled', scheduledAt: at, payment: { status: 'paid' } });
      expect(world.scheduleExamCalls).toEqual([{ examId: id, code: 'hba1c' }]);
      expect(world.payments.get(orderId)!.status).toBe('paid');
      expect(world.events(id, 'exam.paid').map((e) => [e.actor, e.data])).toEqual([['payment-provider', { orderId, amount: PRICE, channel: 'alipay' }]]);
      expect(world.events(id, 'exam.scheduled').map((e) => e.data)).toEqual([{ scheduledAt: at }]);
      expect(world.notificationsOf('exam.scheduled').map((n) => [n.refs, n.params])).toEqual([[{ journeyId: 'journey-1', examId: id }, { scheduledAt: at }]]);

      // Reminders at 1 day and 1 hour before the exam.
      await h.env().sleep(Date.parse(at) - (await h.env().currentTimeMs()) - 10 * MIN);
      const reminders = world.events(id, 'reminder.sent');
      expect(reminders.map((e) => e.data)).toEqual([{ offset: 'P1D', start: at }, { offset: 'PT1H', start: at }]);
      expect(Math.abs(Date.parse(reminders[0]!.at) - (Date.parse(at) - DAY))).toBeLessThan(2000);
      expect(Math.abs(Date.parse(reminders[1]!.at) - (Date.parse(at) - HOUR))).toBeLessThan(2000);
      expect(world.notificationsOf('appointment.reminder').map((n) => [n.id, n.refs, n.params])).toEqual([
        [`exam:${id}:appointment.reminder:P1D`, { journeyId: 'journey-1', examId: id }, { start: at, offset: 'P1D' }],
        [`exam:${id}:appointment.reminder:PT1H`, { journeyId: 'journey-1', examId: id }, { start: at, offset: 'PT1H' }],
      ]);

      const completed = await result(handle, false);
      expect(completed).toMatchObject({ status: 'completed', result: { summary: 'HbA1c 9.1 %, above target', abnormal: false } });
      expect(world.events(id, 'exam.completed').map((e) => [e.actor, e.data])).toEqual([['coordinator:coord-1', { abnormal: false }]]);
      expect(world.notificationsOf('report.ready').map((n) => [n.id, n.refs])).toEqual([[`exam:${id}:report.ready:result`, { journeyId: 'journey-1', examId: id }]]);
      expect([...world.tasks.values()]).toEqual([]);
      expect(await handle.result()).toMatchObject({ status: 'completed' });
      expect(world.items.get(id)).toMatchObject({ status: 'completed', scheduledAt: at });
      expectNoSummaryInEvents(world, id);
      expectEachNotificationOnce(world);
      expect(world.refundCalls).toEqual([]);
    });
  });

  it('gives an abnormal result to the ordering doctor as a task; a patient may not cancel once the exam time has come', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startExam(world, taskQueue, { doctorId: 'doc-7' });
      const at = await paidAndScheduled(world, handle, 3 * HOUR);
      await h.env().sleep(3 * HOUR + MIN);
      expect(world.events(id, 'reminder.sent').map((e) => e.data.offset)).toEqual(['PT1H']); // 1 day before had passed when booked
      await expect(cancel(handle, patient)).rejects.toSatisfy((e) => refusal(e) === 'invalid-state');
      expect((await handle.query(examQuery)).status).toBe('scheduled');

      const now = await h.env().currentTimeMs();
      await result(handle, true);
      const task = world.tasks.get(`exam:${id}:abnormal-result`)!;
      expect(task).toMatchObject({ kind: 'abnormal-result', role: 'doctor', assigneeId: 'doc-7', status: 'open', subject: { type: 'exam', id }, tier: 0 });
      expect(Math.abs(Date.parse(task.dueAt) - (now + DAY))).toBeLessThan(3000);
      expect(world.events(id, 'exam.completed').map((e) => e.data)).toEqual([{ abnormal: true }]);
      expect(world.events(id, 'task.created').map((e) => e.data)).toEqual([{ taskId: task.id, kind: 'abnormal-result' }]);
      expect(world.notificationsOf('report.ready')).toHaveLength(1);
      expect(await handle.result()).toMatchObject({ status: 'completed', scheduledAt: at, result: { abnormal: true } });
      expect(world.releaseExamCalls).toEqual([]);
      expectNoSummaryInEvents(world, id);
    });
  });

  it('expires unpaid at the end of the payment window; a result before scheduling is refused', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startExam(world, taskQueue);
      await expect(result(handle, false)).rejects.toSatisfy((e) => refusal(e) === 'invalid-state');
      await h.env().sleep(14 * MIN);
      expect((await handle.query(examQuery)).status).toBe('awaiting-payment');
      await h.env().sleep(2 * MIN);
      expect(await handle.result()).toMatchObject({ status: 'expired', payment: { status: 'expired' } });
      expect(world.events(id, 'exam.expired').map((e) => e.data)).toEqual([{ reason: 'unpaid', orderId: `${id}-exam` }]);
      expect(world.payments.get(`${id}-exam`)!.status).toBe('expired');
      expect(world.scheduleExamCalls).toEqual([]);
      expect(world.refundCalls).toEqual([]);
    });
  });

  it('cancels for the patient before the exam: refunds the amount paid, releases the booking, sends no reminder', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startExam(world, taskQueue);
      await paidAndScheduled(world, handle);
      await expect(cancel(handle, { role: 'doctor', id: 'doc-1' })).rejects.toSatisfy((e) => refusal(e) === 'not-allowed');
      await expect(cancel(handle, { role: 'patient', id: 'pat-2' })).rejects.toSatisfy((e) => refusal(e) === 'not-allowed');
      const cancelled = await cancel(handle, patient, 'feeling better');
      expect(cancelled).toMatchObject({ status: 'cancelled', payment: { status: 'refunded', amount: PRICE } });
      expect(world.refundCalls).toEqual([{ orderId: `${id}-exam`, amount: PRICE, reason: 'cancelled' }]);
      expect(world.releaseExamCalls).toEqual([id]);
      expect(world.events(id, 'payment.refunded').map((e) => e.data)).toEqual([{ orderId: `${id}-exam`, amount: PRICE, reason: 'cancelled' }]);
      expect(world.events(id, 'exam.cancelled').map((e) => [e.actor, e.data])).toEqual([['patient:pat-1', { reason: 'feeling better', by: 'patient:pat-1' }]]);
      expect(world.notificationsOf('payment.refunded').map((n) => [n.refs, n.params])).toEqual([[{ journeyId: 'journey-1', examId: id }, { amount: PRICE }]]);
      expect(world.notificationsOf('exam.cancelled').map((n) => n.refs)).toEqual([{ journeyId: 'journey-1', examId: id }]);
      expect(await handle.result()).toMatchObject({ status: 'cancelled' });
      await h.env().sleep(3 * DAY);
      expect(world.events(id, 'reminder.sent')).toEqual([]);
      expect(world.notificationsOf('appointment.reminder')).toEqual([]);
    });
  });

  it('lets a coordinator cancel an unpaid exam without a refund, and refuses a second cancel', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startExam(world, taskQueue);
      const open = world.hold('deliverNotification'); // keeps the workflow open for the second cancel
      expect(await cancel(handle, coordinator, 'ordered twice')).toMatchObject({ status: 'cancelled', payment: { status: 'expired' } });
      await expect(cancel(handle, coordinator)).rejects.toSatisfy((e) => refusal(e) === 'invalid-state');
      open();
      expect(await handle.result()).toMatchObject({ status: 'cancelled' });
      expect(world.payments.get(`${id}-exam`)!.status).toBe('expired');
      expect(world.events(id, 'exam.cancelled').map((e) => e.data)).toEqual([{ reason: 'ordered twice', by: 'coordinator:coord-1' }]);
      expect(world.refundCalls).toEqual([]);
      expect(world.releaseExamCalls).toEqual([]);
      expect(world.notificationsOf('payment.refunded')).toEqual([]);
    });
  });

  it('takes a payment reported twice once: one schedule, one exam.paid', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startExam(world, taskQueue);
      await nextExamTime(world, DAY);
      const [one, two] = await Promise.all([pay(handle, `${id}-exam`), pay(handle, `${id}-exam`)]);
      expect([one.outcome, two.outcome].sort()).toEqual(['paid', 'unchanged']);
      expect(await pay(handle, `${id}-exam`)).toEqual({ outcome: 'unchanged' });
      expect(await pay(handle, 'another-order')).toEqual({ outcome: 'unchanged' });
      expect(world.scheduleExamCalls).toHaveLength(1);
      expect(world.projectedOf(id, 'exam.paid')).toHaveLength(1);
      expect(world.projectedOf(id, 'exam.scheduled')).toHaveLength(1);
      expect(world.refundCalls).toEqual([]);
    });
  });

  it('refunds a payment that arrives during the expiry, with its amount, leaving the exam expired', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startExam(world, taskQueue);
      const open = world.hold('markPayment'); // the expiry, once it starts, waits here
      await h.env().sleep(15 * MIN + 1000);
      await waitFor(async () => (world.calls.markPayment ?? 0) === 1);
      const late = await handle.startUpdate(paymentUpdate, {
        args: [{ orderId: `${id}-exam`, amount: PRICE, paidAt: new Date().toISOString(), channel: 'wechat' }],
        waitForStage: WorkflowUpdateStage.ACCEPTED,
      });
      open();
      expect(await late.result()).toEqual({ outcome: 'refunded' });
      expect(await handle.result()).toMatchObject({ status: 'expired', payment: { status: 'refunded' } });
      expect(world.refundCalls).toEqual([{ orderId: `${id}-exam`, amount: PRICE, reason: 'late-payment', paidAt: expect.any(String), channel: 'wechat' }]);
      expect(world.events(id, 'payment.refunded').map((e) => e.data)).toEqual([{ orderId: `${id}-exam`, amount: PRICE, reason: 'late-payment' }]);
      expect(world.notificationsOf('payment.refunded').map((n) => [n.refs, n.params])).toEqual([[{ journeyId: 'journey-1', examId: id }, { amount: PRICE }]]);
      expect(world.types(id)).toEqual(['exam.ordered', 'payment.requested', 'exam.expired', 'payment.refunded']);
      expect(world.scheduleExamCalls).toEqual([]);
    });
  });

  it('escalates a late result at the SLA and at twice the SLA, then waits without a timer; the result closes both tiers', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startExam(world, taskQueue);
      const at = Date.parse(await paidAndScheduled(world, handle, 2 * HOUR));
      await h.env().sleep(at + DAY - (await h.env().currentTimeMs()) - MIN);
      expect(world.events(id, 'task.escalated')).toEqual([]);
      await h.env().sleep(DAY + 2 * MIN);
      const escalated = world.events(id, 'task.escalated');
      expect(escalated.map((e) => e.data)).toEqual([
        { taskId: `exam:${id}:result-sla:1`, kind: 'escalation', subject: { type: 'exam', id }, tier: 1 },
        { taskId: `exam:${id}:result-sla:2`, kind: 'escalation', subject: { type: 'exam', id }, tier: 2 },
      ]);
      escalated.forEach((e, i) => expect(Math.abs(Date.parse(e.at) - (at + (i + 1) * DAY))).toBeLessThan(3000));
      const tiers = [...world.tasks.values()];
      expect(tiers.map((t) => [t.id, t.kind, t.role, t.subject, t.tier, t.status])).toEqual([
        [`exam:${id}:result-sla:1`, 'escalation', 'coordinator', { type: 'exam', id }, 1, 'open'],
        [`exam:${id}:result-sla:2`, 'escalation', 'coordinator', { type: 'exam', id }, 2, 'open'],
      ]);
      // Each tier is due at the deadline it missed.
      tiers.forEach((t, i) => expect(Math.abs(Date.parse(t.dueAt) - (at + (i + 1) * DAY))).toBeLessThan(3000));

      // After the last tier: no new timer, however long the result takes.
      const timers = await timersStarted(handle);
      await h.env().sleep(10 * DAY);
      expect(await timersStarted(handle)).toBe(timers);
      expect(world.projectedOf(id, 'task.escalated')).toHaveLength(2);

      await result(handle, false);
      expect([...world.tasks.values()].map((t) => t.status)).toEqual(['done', 'done']);
      expect(world.events(id, 'task.closed').map((e) => e.data)).toEqual([
        { taskId: `exam:${id}:result-sla:1`, status: 'done' },
        { taskId: `exam:${id}:result-sla:2`, status: 'done' },
      ]);
      expect(await handle.result()).toMatchObject({ status: 'completed' });
    });
  });

  it('lets a coordinator cancel after the exam time, closing the open escalation as cancelled', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startExam(world, taskQueue);
      const at = Date.parse(await paidAndScheduled(world, handle, 2 * HOUR));
      await h.env().sleep(at + DAY + MIN - (await h.env().currentTimeMs()));
      expect(world.tasks.get(`exam:${id}:result-sla:1`)!.status).toBe('open');
      await cancel(handle, coordinator, 'patient did not come');
      expect(world.tasks.get(`exam:${id}:result-sla:1`)!.status).toBe('cancelled');
      expect(world.refundCalls).toEqual([{ orderId: `${id}-exam`, amount: PRICE, reason: 'cancelled' }]);
      expect(world.releaseExamCalls).toEqual([id]);
      expect(await handle.result()).toMatchObject({ status: 'cancelled' });
    });
  });

  it('books a free exam at once, without a payment order', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const at = await nextExamTime(world, DAY);
      const { handle, id } = await startExam(world, taskQueue, { price: 0 });
      await waitFor(async () => (await handle.query(examQuery)).status === 'scheduled');
      const exam = await handle.query(examQuery);
      expect(exam.scheduledAt).toBe(at);
      expect(exam.payment).toBeUndefined();
      expect(world.orders.size).toBe(0);
      expect(world.types(id)).toEqual(['exam.ordered', 'exam.scheduled']);
      expect(world.notificationsOf('payment.due')).toEqual([]);
    });
  });
});
