// examOrder: one exam the doctor ordered, from payment to its result. Unpaid within the pathway's
// payment window it expires; paid, it is booked at the earliest free time of the exam's daily
// schedule and the patient is reminded before it; the result completes it (an abnormal one opens a
// task for the ordering doctor), escalated to coordinators when it is late.
//
// On the shared kernel, like prescriptionFulfillment: every change of state is a FIFO transition,
// projected with its events and tasks in one transaction; notifications are stored, then delivered
// in the background.
import { condition, setHandler } from '@temporalio/workflow';
import {
  EXAM_SETTLED,
  FailureType,
  ItemFailureType,
  cancelExamUpdate,
  examQuery,
  examResultUpdate,
  examWorkflowId,
  paymentUpdate,
  type ExamInput,
  type ExamResultInput,
  type ExamSnapshot,
  type ExamStatus,
  type ItemCancelInput,
  type PaymentReceived,
  type PaymentTaken,
  type TaskChange,
  type TimelineEvent,
  actorName,
} from './definitions.js';
import { durationMs } from './duration.js';
import { ItemKernel, SYSTEM, act, partner, refused } from './kernel.js';

const DEFAULT_RESULT_SLA = 'P1D';
/** Escalation tiers for a late result: at the SLA and at twice the SLA, then a wait without a timer. */
const RESULT_ESCALATION_TIERS = 2;
/** How long the ordering doctor has to look at an abnormal result. */
const ABNORMAL_REVIEW_MS = 24 * 60 * 60 * 1000;


class Exam extends ItemKernel<ExamSnapshot> {
  readonly snapshot: ExamSnapshot;

  constructor(readonly input: ExamInput) {
    super('exam', input.examId, input.journeyId, examWorkflowId(input.examId), input.patientId);
    this.snapshot = {
      id: input.examId,
      journeyId: input.journeyId,
      patientId: input.patientId,
      doctorId: input.doctorId,
      code: input.code,
      name: input.name,
      status: 'awaiting-payment',
    };
  }

  get status(): ExamStatus {
    return this.snapshot.status;
  }

  protected indexOf() {
    return { status: this.snapshot.status, doctorId: this.snapshot.doctorId };
  }

  /** Completed, expired or cancelled: nothing more happens but late payments being paid back. */
  get isEnding(): boolean {
    return EXAM_SETTLED.includes(this.status);
  }

  // ---- checks, used by update validators and again inside the transition -----------------

  requireScheduled(): void {
    if (this.status !== 'scheduled') throw refused(FailureType.InvalidState, `the exam is ${this.status}, not scheduled`);
  }

  requireCancellable(c: ItemCancelInput): void {
    const staff = c.actor.role === 'coordinator' || c.actor.role === 'admin';
    const patient = c.actor.role === 'patient' && c.actor.id === this.input.patientId;
    if (!staff && !patient) throw refused(ItemFailureType.NotAllowed, 'only the patient or a coordinator may cancel an exam');
    if (this.status !== 'awaiting-payment' && this.status !== 'scheduled') throw refused(FailureType.InvalidState, `a ${this.status} exam cannot be cancelled`);
    // Once the exam's time has come the patient may have had it: only staff can tell, and cancel.
    if (patient && this.snapshot.scheduledAt && Date.now() >= Date.parse(this.snapshot.scheduledAt)) {
      throw refused(FailureType.InvalidState, 'the exam time has passed: a coordinator may still cancel it');
    }
  }

  // ---- ordering, payment and scheduling --------------------------------------------------

  /** Ordered: the patient is asked to pay the catalogue price (a free exam is booked at once). */
  order(): Promise<void> {
    return this.transition(async () => {
      const { examId, journeyId, doctorId, code, price } = this.input;
      const ordered = this.event('exam.ordered', `doctor:${doctorId}`, { code, price });
      if (price === 0) {
        await this.project([ordered]);
        await this.schedule();
        return;
      }
      const orderId = `${examId}-exam`;
      const dueBy = new Date(Date.now() + durationMs(this.input.timings.paymentWindow)).toISOString();
      await partner.requestPayment({ orderId, journeyId, amount: price, dueBy, subject: { type: 'exam', id: this.input.examId } });
      this.snapshot.payment = { orderId, amount: price, currency: 'CNY', status: 'pending', dueBy };
      await this.project([ordered, this.event('payment.requested', SYSTEM, { orderId, amount: price, currency: 'CNY', dueBy })]);
      await this.send(this.notification('payment.due', orderId, { amount: price, dueBy }));
    });
  }

  /**
   * A payment for the exam's order. Taken while it is awaited, and then the exam is booked in the same
   * transition, so the update answers with the exam scheduled; a duplicate changes nothing; one that
   * arrives after expiry or cancellation is paid back at once, the status unchanged.
   */
  onPayment(p: PaymentReceived): Promise<PaymentTaken> {
    return this.transition(() =>
      this.takePayment(this.snapshot.payment, p, this.status === 'awaiting-payment', async () => {
        this.snapshot.payment!.status = 'paid';
        await act.markPayment({ orderId: p.orderId, status: 'paid', paidAt: p.paidAt, channel: p.channel });
        await this.project([this.event('exam.paid', 'payment-provider', { orderId: p.orderId, amount: p.amount, channel: p.channel })]);
        await this.schedule();
      }),
    );
  }

  /** Books the earliest free time of the exam's daily schedule (inside a transition). */
  private async schedule(): Promise<void> {
    const { scheduledAt } = await act.scheduleExam({ examId: this.input.examId, code: this.input.code });
    this.snapshot.status = 'scheduled';
    this.snapshot.scheduledAt = scheduledAt;
    await this.project([this.event('exam.scheduled', SYSTEM, { scheduledAt })]);
    await this.send(this.notification('exam.scheduled', 'scheduled', { scheduledAt }));
  }

  /** The payment window passed unpaid. */
  expire(): Promise<void> {
    return this.transition(async () => {
      const pay = this.snapshot.payment;
      if (this.status !== 'awaiting-payment' || pay?.status !== 'pending') return; // moved on meanwhile
      await act.markPayment({ orderId: pay.orderId, status: 'expired' });
      pay.status = 'expired';
      this.snapshot.status = 'expired';
      await this.project([this.event('exam.expired', SYSTEM, { reason: 'unpaid', orderId: pay.orderId })]);
    });
  }

  sendReminder(offset: string): Promise<void> {
    return this.transition(async () => {
      if (this.status !== 'scheduled') return;
      const start = this.snapshot.scheduledAt!;
      // Withheld (outreach consent withdrawn, workflows/kernel.ts): not told as sent.
      const sent = await this.send(this.notification('appointment.reminder', offset, { start, offset }));
      await this.project(sent ? [this.event('reminder.sent', SYSTEM, { offset, start }, offset)] : []);
    });
  }

  // ---- result and cancellation -------------------------------------------------------------

  /** The result: the patient is told; an abnormal one goes to the ordering doctor. The summary stays out of events. */
  recordResult(r: ExamResultInput): Promise<ExamSnapshot> {
    return this.transition(async () => {
      this.requireScheduled();
      this.snapshot.status = 'completed';
      this.snapshot.result = { summary: r.summary, abnormal: r.abnormal, at: new Date().toISOString() };
      const events: TimelineEvent[] = [this.event('exam.completed', r.actor, { abnormal: r.abnormal })];
      const tasks = this.closeEscalations(events);
      if (r.abnormal) {
        const task: TaskChange = {
          id: `${this.wfId}:abnormal-result`,
          kind: 'abnormal-result',
          role: 'doctor',
          assigneeId: this.input.doctorId,
          status: 'open',
          subject: this.subject,
          action: `Review the abnormal result of exam ${this.input.code} and contact the patient`,
          dueAt: new Date(Date.now() + ABNORMAL_REVIEW_MS).toISOString(),
          tier: 0,
        };
        tasks.push(task);
        events.push(this.event('task.created', SYSTEM, { taskId: task.id, kind: task.kind }, 'abnormal-result'));
      }
      await this.project(events, tasks);
      await this.send(this.notification('report.ready', 'result'));
      return this.view();
    });
  }

  cancel(c: ItemCancelInput): Promise<ExamSnapshot> {
    return this.transition(async () => {
      this.requireCancellable(c);
      const by = actorName(c.actor);
      const events: TimelineEvent[] = [];
      const tasks = this.closeEscalations(events, 'cancelled');
      const pay = this.snapshot.payment;
      if (pay?.status === 'pending') {
        await act.markPayment({ orderId: pay.orderId, status: 'expired' });
        pay.status = 'expired';
      }
      if (pay?.status === 'paid') events.push(await this.refundPayment(pay, 'cancelled'));
      if (this.snapshot.scheduledAt) await act.releaseExamBooking({ examId: this.input.examId });
      this.snapshot.status = 'cancelled';
      events.push(this.event('exam.cancelled', by, { reason: c.reason, by }));
      await this.project(events, tasks);
      if (pay?.status === 'refunded') await this.send(this.notification('payment.refunded', pay.orderId, { amount: pay.amount }));
      await this.send(this.notification('exam.cancelled', 'cancelled'));
      return this.view();
    });
  }

}

export async function examOrder(input: ExamInput): Promise<ExamSnapshot> {
  const e = new Exam(input);
  const t = input.timings;
  setHandler(examQuery, () => e.view());
  setHandler(paymentUpdate, (p) => e.onPayment(p));
  setHandler(examResultUpdate, (r) => e.recordResult(r), { validator: (_r: ExamResultInput) => e.requireScheduled() });
  setHandler(cancelExamUpdate, (c) => e.cancel(c), { validator: (c) => e.requireCancellable(c) });

  await e.order();
  if (e.current() === 'awaiting-payment') {
    const dueBy = Date.parse(e.snapshot.payment!.dueBy);
    if (!(await condition(() => e.current() !== 'awaiting-payment', Math.max(dueBy - Date.now(), 1)))) await e.expire();
  }

  if (e.current() === 'scheduled') {
    // Reminders before the exam; offsets already past when it was booked are skipped, never sent late.
    const at = Date.parse(e.snapshot.scheduledAt!);
    await e.remindBefore(at, t.appointmentReminders, () => e.current() !== 'scheduled', (offset) => e.sendReminder(offset));
    const sla = durationMs(t.examResultSla ?? DEFAULT_RESULT_SLA);
    await e.awaitWithEscalation({
      what: 'result-sla',
      subject: e.subject,
      action: 'Exam result not reported within the SLA after the exam time',
      maxTier: RESULT_ESCALATION_TIERS,
      firstDeadline: at + sla,
      sla,
      done: () => e.current() !== 'scheduled',
    });
  }

  await e.announceSettled();
  await e.drain();
  return e.view();
}
