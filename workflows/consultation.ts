// onlineConsultation (`consult:<id>`, 在线咨询, issue 12): a patient asks one doctor a question in
// text, pays the template's fee within its payment window (else it lapses), and the doctor answers
// within the template's response time. Each question that waits past it escalates to coordinators,
// tier after tier; a paid consultation the doctor has not answered within `takeWithin` is refunded
// and closed. Once answered, the conversation stays open for `maxRounds` answers or `openFor` after
// the first one, whichever comes first, then closes; the patient may rate it (1–5) within the
// template's rating window, and the workflow ends.
//
// Built on the shared core (workflows/kernel.ts): FIFO transitions, one projection per transition in
// one transaction (its row, timeline, tasks, notifications, the message it counts and the order's
// status), the escalation ladder. A message's text is stored by the API in PostgreSQL: the workflow
// holds its id and counts only, and its projection marks the message accepted.
import { condition, patched, setHandler } from '@temporalio/workflow';
import {
  ConsultationFailureType,
  consultationMessageUpdate,
  consultationQuery,
  consultationRatingUpdate,
  paymentUpdate,
  type ConsultationEnd,
  type ConsultationInput,
  type ConsultationMessageInput,
  type ConsultationRatingInput,
  type ConsultationSnapshot,
  type ConsultationTransition,
  type PaymentReceived,
  type PaymentTaken,
  type TaskChange,
  type TaskSubject,
  type TimelineEvent,
  actorName,
} from './definitions.js';
import { durationMs } from './duration.js';
import { SYSTEM, WorkflowKernel, localWork, refused } from './kernel.js';

/** Message ids kept to know a repeat (a retry comes within seconds; many messages lie between only in a long conversation). */
const KEEP_MESSAGE_IDS = 64;

/** A payment taken as the payment window closed goes on to the conversation (it completed, paid and unanswered, before). */
export const PAID_AT_DEADLINE_PATCH = 'consultation-paid-at-deadline';

/** What a projection of a consultation carries besides its snapshot, events and tasks. */
type Extra = Pick<ConsultationTransition, 'acceptMessage' | 'order' | 'payment'>;

class Consultation extends WorkflowKernel {
  readonly snapshot: ConsultationSnapshot;
  /** Questions asked so far that opened a wait for an answer (each has its reply task and ladder). */
  question = 0;
  /** Bumped by every message: the conversation's loop picks its next wait. */
  changes = 0;
  /** The latest messages taken (ids): one sent again (a retried request) is not counted twice. */
  seen: string[] = [];
  private extra: Extra = {};

  constructor(readonly input: ConsultationInput) {
    super(`consult:${input.consultationId}`, input.patientId);
    const t = input.template;
    const now = new Date().toISOString();
    this.snapshot = {
      id: input.consultationId,
      patientId: input.patientId,
      doctorId: input.doctorId,
      template: { id: t.id, version: t.version },
      status: 'awaiting-payment',
      payment: { orderId: `consult-${input.consultationId}`, amount: t.fee, currency: 'CNY', status: 'pending', dueBy: new Date(Date.parse(now) + durationMs(t.paymentWindow)).toISOString() },
      requestedAt: now,
      messages: { patient: 1, doctor: 0 },
      rounds: 0,
      maxRounds: t.maxRounds,
    };
    // A new workflow type: its short work runs as local activities from its first task.
    this.useLocalWork();
    this.notifiesInProjection = true;
  }

  get isEnding(): boolean {
    return this.snapshot.status === 'closed';
  }

  get taken(): boolean {
    return this.snapshot.takenAt !== undefined;
  }

  get subject(): TaskSubject {
    return { type: 'consultation', id: this.input.consultationId };
  }

  protected refs(): Record<string, string> {
    return { consultationId: this.input.consultationId };
  }

  protected indexOf() {
    return { status: this.snapshot.status, doctorId: this.snapshot.doctorId };
  }

  view(): ConsultationSnapshot {
    return JSON.parse(JSON.stringify(this.snapshot)) as ConsultationSnapshot;
  }

  protected async writeProjection(version: number, events: TimelineEvent[], tasks: TaskChange[] | undefined): Promise<void> {
    const extra = this.extra;
    this.extra = {};
    const { transition, sent } = this.outgoingTransition(version, this.view(), events, tasks);
    const recorded = await localWork.recordConsultationTransition({ ...transition, ...extra });
    this.outreachStored(sent, recorded);
  }

  /** Projects with what this transition adds to the row's own (the message it counts, the order). */
  private projectWith(extra: Extra, events: TimelineEvent[], tasks?: TaskChange[]): Promise<unknown> {
    this.extra = extra;
    return this.project(events, tasks);
  }

  private replyTask(status: TaskChange['status']): TaskChange {
    return {
      id: `${this.wfId}:reply:${this.question}`,
      kind: 'consultation-reply',
      role: 'doctor',
      assigneeId: this.input.doctorId,
      status,
      subject: this.subject,
      action: 'answer the patient\'s question',
      dueAt: this.snapshot.replyDueBy ?? new Date().toISOString(),
      tier: 1,
    };
  }

  // ---- checks (update validators, and again inside the transition) ----

  requireMessage(m: ConsultationMessageInput): void {
    const a = m.author;
    const mine = (a.role === 'patient' && a.id === this.input.patientId) || (a.role === 'doctor' && a.id === this.input.doctorId);
    if (!mine) throw refused(ConsultationFailureType.NotParticipant, 'only the patient and the consultation\'s doctor write in it');
    if (this.isEnding) throw refused(ConsultationFailureType.Closed, `the consultation has closed (${this.snapshot.end})`);
    if (this.snapshot.status === 'awaiting-payment') throw refused(ConsultationFailureType.Unpaid, 'the consultation fee is not paid yet');
  }

  requireRateable(r: ConsultationRatingInput): void {
    if (r.actor.role !== 'patient' || r.actor.id !== this.input.patientId) throw refused(ConsultationFailureType.NotParticipant, 'only the patient rates the consultation');
    const s = this.snapshot;
    if (s.status !== 'closed' || s.end === 'not-taken' || s.end === 'lapsed') throw refused(ConsultationFailureType.NotRateable, 'a consultation is rated once it has closed after an answer');
    if (s.rating !== undefined) throw refused(ConsultationFailureType.NotRateable, 'the consultation is rated already');
    if (Date.now() > Date.parse(s.ratingDueBy!)) throw refused(ConsultationFailureType.NotRateable, 'the rating window has passed');
  }

  // ---- transitions ----

  request(): Promise<void> {
    return this.transition(async () => {
      const p = this.snapshot.payment;
      this.sendWithProjection(this.notification('payment.due', p.orderId, { amount: p.amount, dueBy: p.dueBy }));
      await this.projectWith(
        { acceptMessage: this.input.firstMessageId, order: { orderId: p.orderId, amount: p.amount, dueBy: p.dueBy } },
        [
          this.event('consultation.requested', actorName(this.input.requestedBy), { doctorId: this.input.doctorId, template: this.snapshot.template, messageId: this.input.firstMessageId }),
          this.event('payment.requested', SYSTEM, { orderId: p.orderId, amount: p.amount, currency: 'CNY', dueBy: p.dueBy }),
        ],
      );
    });
  }

  onPayment(p: PaymentReceived): Promise<PaymentTaken> {
    return this.transition(() =>
      this.takePayment(this.snapshot.payment, p, this.snapshot.status === 'awaiting-payment', async () => {
        const s = this.snapshot;
        s.payment.status = 'paid';
        s.status = 'waiting';
        this.question = 1;
        s.replyDueBy = new Date(Date.now() + durationMs(this.input.template.replyWithin)).toISOString();
        await this.projectWith(
          { payment: { orderId: p.orderId, status: 'paid', paidAt: p.paidAt, channel: p.channel } },
          [this.event('consultation.paid', SYSTEM, { orderId: p.orderId, amount: p.amount, channel: p.channel, replyDueBy: s.replyDueBy })],
          [this.replyTask('open')],
        );
      }),
    );
  }

  /** The fee was not paid in its window: the order expires and the consultation closes. */
  lapse(): Promise<void> {
    return this.transition(async () => {
      if (this.snapshot.status !== 'awaiting-payment') return;
      const s = this.snapshot;
      s.payment.status = 'expired';
      this.closeState('lapsed');
      await this.projectWith({ payment: { orderId: s.payment.orderId, status: 'expired' } }, [
        this.event('payment.expired', SYSTEM, { orderId: s.payment.orderId }),
        this.event('consultation.lapsed', SYSTEM, { orderId: s.payment.orderId }),
      ]);
    });
  }

  message(m: ConsultationMessageInput): Promise<ConsultationSnapshot> {
    return this.transition(async () => {
      this.requireMessage(m);
      if (this.seen.includes(m.messageId) || m.messageId === this.input.firstMessageId) return this.view();
      this.seen = [...this.seen, m.messageId].slice(-KEEP_MESSAGE_IDS);
      const s = this.snapshot;
      const events = [this.event('consultation.message', actorName(m.author), { messageId: m.messageId, from: m.author.role }, m.messageId)];
      const tasks: TaskChange[] = [];
      this.changes += 1;
      if (m.author.role === 'patient') {
        s.messages.patient += 1;
        if (s.status === 'answered') {
          // A new question: it waits for an answer, with its own reply task and ladder.
          s.status = 'waiting';
          this.question += 1;
          s.replyDueBy = new Date(Date.now() + durationMs(this.input.template.replyWithin)).toISOString();
          tasks.push(this.replyTask('open'));
        }
        await this.projectWith({ acceptMessage: m.messageId }, events, tasks);
        return this.view();
      }
      s.messages.doctor += 1;
      if (s.status === 'waiting') {
        // An answer: the round is used, the reply task done, its escalations closed.
        tasks.push(this.replyTask('done'), ...this.closeEscalations(events));
        s.rounds += 1;
        s.status = 'answered';
        delete s.replyDueBy;
        if (!this.taken) {
          s.takenAt = new Date().toISOString();
          s.closesAt = new Date(Date.now() + durationMs(this.input.template.openFor)).toISOString();
          events.push(this.event('consultation.taken', actorName(m.author), { closesAt: s.closesAt }));
        }
        this.sendWithProjection(this.notification('consultation.replied', String(s.rounds), { count: s.rounds }));
        if (s.rounds >= s.maxRounds) this.closing('rounds-used', events, tasks);
      }
      await this.projectWith({ acceptMessage: m.messageId }, events, tasks);
      return this.view();
    });
  }

  /** Closes the conversation: its time is up (`time-up`). */
  timeUp(): Promise<void> {
    return this.transition(async () => {
      if (this.isEnding) return;
      const events: TimelineEvent[] = [];
      const tasks: TaskChange[] = [];
      this.closing('time-up', events, tasks);
      await this.project(events, tasks);
    });
  }

  /** Nobody answered the paid consultation in time: the fee is refunded, and it closes. */
  notTaken(): Promise<void> {
    return this.transition(async () => {
      if (this.isEnding || this.taken) return;
      const refund = await this.refundPayment(this.snapshot.payment, 'not-taken');
      const events = [refund];
      const tasks = [this.replyTask('cancelled'), ...this.closeEscalations(events, 'cancelled')];
      this.closeState('not-taken');
      events.push(this.event('consultation.closed', SYSTEM, { end: 'not-taken', rounds: 0 }));
      this.sendWithProjection(this.notification('payment.refunded', this.snapshot.payment.orderId, { amount: this.snapshot.payment.amount }));
      await this.project(events, tasks);
    });
  }

  rate(r: ConsultationRatingInput): Promise<ConsultationSnapshot> {
    return this.transition(async () => {
      this.requireRateable(r);
      this.snapshot.rating = r.score;
      await this.project([this.event('consultation.rated', actorName(r.actor), { score: r.score })]);
      return this.view();
    });
  }

  /** The end of an answered conversation, into this transition's events and tasks: the patient is asked to rate it. */
  private closing(end: 'rounds-used' | 'time-up', events: TimelineEvent[], tasks: TaskChange[]): void {
    if (this.snapshot.status === 'waiting') tasks.push(this.replyTask('cancelled'), ...this.closeEscalations(events, 'cancelled'));
    this.closeState(end);
    this.snapshot.ratingDueBy = new Date(Date.now() + durationMs(this.input.template.ratingWindow)).toISOString();
    events.push(this.event('consultation.closed', SYSTEM, { end, rounds: this.snapshot.rounds }));
    this.sendWithProjection(this.notification('consultation.closed', end, { count: this.snapshot.rounds, end }));
  }

  private closeState(end: ConsultationEnd): void {
    const s = this.snapshot;
    s.status = 'closed';
    s.end = end;
    s.closedAt = new Date().toISOString();
    delete s.replyDueBy;
  }

  /** The question `q`'s ladder: escalates while it waits past its reply deadline, until answered or closed. */
  escalateUnanswered(q: number): Promise<void> {
    const replyWithin = durationMs(this.input.template.replyWithin);
    return this.awaitWithEscalation({
      what: `reply-sla:${q}`,
      subject: this.subject,
      action: 'the doctor has not answered the patient\'s question in time',
      maxTier: this.input.template.maxEscalationTier,
      firstDeadline: Date.parse(this.snapshot.replyDueBy!),
      sla: replyWithin,
      done: () => this.isEnding || this.question !== q || this.snapshot.status !== 'waiting',
    });
  }
}

export async function onlineConsultation(input: ConsultationInput): Promise<ConsultationSnapshot> {
  const c = new Consultation(input);
  const t = input.template;
  setHandler(consultationQuery, () => c.view());
  setHandler(paymentUpdate, (p) => c.onPayment(p));
  setHandler(consultationMessageUpdate, (m) => c.message(m), { validator: (m: ConsultationMessageInput) => c.requireMessage(m) });
  setHandler(consultationRatingUpdate, (r) => c.rate(r), { validator: (r: ConsultationRatingInput) => c.requireRateable(r) });

  await c.request();
  let paid = await condition(() => c.snapshot.status !== 'awaiting-payment', Math.max(Date.parse(c.snapshot.payment.dueBy) - Date.now(), 1));
  if (!paid) {
    await c.lapse();
    // A payment taken in a transition queued before the lapse's: the lapse changed nothing, the conversation goes on.
    if (c.snapshot.status === 'waiting' && patched(PAID_AT_DEADLINE_PATCH)) paid = true;
  }
  if (paid) {
    const paidAt = Date.now();
    const ladders: Promise<void>[] = [];
    let watched = 0;
    while (!c.isEnding) {
      if (c.snapshot.status === 'waiting' && c.question !== watched) {
        watched = c.question;
        ladders.push(c.escalateUnanswered(watched));
      }
      const deadline = c.taken ? Date.parse(c.snapshot.closesAt!) : paidAt + durationMs(t.takeWithin);
      const before = c.changes;
      const moved = await condition(() => c.changes !== before || c.isEnding, Math.max(deadline - Date.now(), 1));
      if (!moved) await (c.taken ? c.timeUp() : c.notTaken());
    }
    await Promise.all(ladders);
    // Answered and closed: the patient may rate it until the window ends.
    if (c.snapshot.ratingDueBy) await condition(() => c.snapshot.rating !== undefined, Math.max(Date.parse(c.snapshot.ratingDueBy) - Date.now(), 1));
  }
  await c.drain();
  return c.view();
}
