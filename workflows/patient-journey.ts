// patientJourney: one episode of care, pre-visit and visit. Deterministic: time, ids and waits come
// from the workflow runtime; every side effect is an activity; every wait's deadline comes from the
// pathway template the journey copied at its start.
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import {
  FailureType,
  bookUpdate,
  cancelUpdate,
  checkInUpdate,
  journeyWorkflowId,
  paymentReceivedSignal,
  queueAdvancedSignal,
  recordOutcomeUpdate,
  snapshotQuery,
  startConsultationUpdate,
  triagedUpdate,
  type Actor,
  type BookInput,
  type CancelInput,
  type CheckInResult,
  type JourneyInput,
  type JourneySnapshot,
  type NotificationRequest,
  type PaymentReceived,
  type TaskChange,
  type TimelineEvent,
  type TimelineType,
} from './definitions.js';
import { durationMs } from './duration.js';

const act = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 ms', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** Webhook deliveries retry on their own, in the background, until the gateway takes them. */
const delivery = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Escalation tiers raised while the same thing stays late. */
const MAX_ESCALATION_TIER = 3;
const DEFAULT_OUTCOME_SLA = 'PT2H';
const DEFAULT_BOOKING_WINDOW = 'P7D';

const actorName = (a: Actor): string => `${a.role}:${a.id}`;
const SYSTEM = 'system';

function refused(type: FailureType, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}

/** The journey's state and every transition on it; the workflow function only sequences waits. */
class Journey {
  readonly snapshot: JourneySnapshot;
  readonly wfId: string;
  private ending = false;
  paid = false;
  checkedIn = false;
  checkedInAt = 0;
  consultationStarted = false;
  outcomeRecorded = false;
  nearTurnSent = false;
  /** Set once triage is projected, so the API's answer reads a read model that already has it. */
  triageDone = false;
  /** The escalation task currently open for this journey, closed by the transition that resolves it. */
  private openTask: TaskChange | undefined;
  private paymentEvents: PaymentReceived[] = [];
  private deliveries: Promise<unknown>[] = [];
  /** The booking in progress, if any: ending transitions wait for it instead of racing it. */
  private booking: Promise<unknown> = Promise.resolve();
  /** Increases with every projection, so the read model never takes an older snapshot over a newer one. */
  private version = 0;
  private paymentWork: Promise<void> = Promise.resolve();

  constructor(readonly input: JourneyInput) {
    this.wfId = journeyWorkflowId(input.journeyId);
    this.snapshot = {
      id: input.journeyId,
      patientId: input.patientId,
      mode: input.mode,
      pathway: { id: input.pathway.id, version: input.pathway.version },
      phase: 'pre-visit',
      status: 'active',
      step: 'triage',
    };
  }

  get template() {
    return this.input.pathway;
  }

  /** True once a terminal transition has been claimed; handlers and timers check it first. */
  get isEnding(): boolean {
    return this.ending || this.snapshot.status !== 'active';
  }

  private claimEnd(): void {
    if (this.isEnding) throw refused(FailureType.InvalidState, `journey is already ${this.snapshot.status}`);
    this.ending = true;
  }

  event(type: TimelineType, actor: string, data: Record<string, unknown> = {}, occurrence = ''): TimelineEvent {
    return { key: occurrence ? `${type}:${occurrence}` : type, at: new Date().toISOString(), type, actor, data };
  }

  async project(events: TimelineEvent[], tasks?: TaskChange[]): Promise<void> {
    this.version += 1;
    await act.recordTransition({ version: this.version, snapshot: { ...this.snapshot }, events, tasks });
  }

  /** Stores the notification (awaited) and delivers it in the background: a down gateway never holds the journey. */
  async send(req: NotificationRequest): Promise<void> {
    await act.notify(req);
    this.deliveries.push(
      delivery.deliverNotification({ id: req.id }).catch((err: unknown) => log.warn('notification delivery gave up', { notificationId: req.id, error: String(err) })),
    );
  }

  /** Resolves once every notification sent so far has been delivered (or given up). */
  async deliveriesSettled(): Promise<void> {
    let seen = -1;
    while (seen !== this.deliveries.length) {
      seen = this.deliveries.length;
      await Promise.all(this.deliveries);
    }
  }

  /** How much background work (payments, deliveries) has been started so far. */
  workCount(): number {
    return this.paymentEvents.length + this.deliveries.length;
  }

  notification(kind: NotificationRequest['kind'], occurrence: string, params: NotificationRequest['params'] = {}): NotificationRequest {
    return {
      id: `${this.wfId}:${kind}:${occurrence}`,
      patientId: this.input.patientId,
      kind,
      refs: { journeyId: this.input.journeyId },
      params,
    };
  }

  // ---- pre-visit --------------------------------------------------------------------------

  async start(): Promise<void> {
    const i = this.input;
    await this.project([
      this.event('journey.started', actorName(i.startedBy), {
        mode: i.mode,
        pathway: this.snapshot.pathway,
        followUp: i.followUpOf !== undefined,
      }),
    ]);
    const triage = await act.triage({ complaint: i.complaint });
    this.snapshot.triage = triage;
    const events = [this.event('triage.completed', SYSTEM, { department: triage.department, urgency: triage.urgency })];
    if (triage.urgency === 'emergency') {
      this.close('redirected');
      events.push(this.event('journey.redirected', SYSTEM, { reason: 'red-flag' }));
    } else {
      this.snapshot.step = 'booking';
    }
    await this.project(events);
    this.triageDone = true;
  }

  validateBook(): void {
    if (this.isEnding || this.snapshot.step !== 'booking') {
      throw refused(FailureType.InvalidState, `journey is not at the booking step (step ${this.snapshot.step})`);
    }
  }

  book(slotId: string, actor: Actor): Promise<JourneySnapshot> {
    const run = this.doBook(slotId, actor);
    this.booking = run.catch(() => undefined);
    return run;
  }

  /** Waits for a booking in progress to finish (or be refused). */
  async bookingSettled(): Promise<void> {
    await this.booking;
  }

  private async doBook(slotId: string, actor: Actor): Promise<JourneySnapshot> {
    this.validateBook();
    // Hold the step while the seat is reserved, so a second booking is refused, not raced.
    this.snapshot.step = 'awaiting-payment';
    const triage = this.snapshot.triage!;
    const seat = await act.reserveSeat({
      journeyId: this.input.journeyId,
      slotId,
      mode: this.input.mode,
      department: triage.department,
    });
    if (!seat.ok) {
      this.snapshot.step = 'booking';
      const type =
        seat.reason === 'not-found'
          ? FailureType.SlotNotFound
          : seat.reason === 'mismatch'
            ? FailureType.SlotMismatch
            : FailureType.SlotUnavailable;
      throw refused(type, seat.message);
    }
    if (this.isEnding) {
      // Cancelled while the seat was being reserved: give it back.
      await act.releaseSeat({ journeyId: this.input.journeyId });
      throw refused(FailureType.InvalidState, 'journey was cancelled while booking');
    }
    this.snapshot.appointment = seat.appointment;
    const amount = this.template.fees.registration;
    const dueBy = new Date(Date.now() + durationMs(this.template.paymentWindow)).toISOString();
    const orderId = `${this.input.journeyId}-reg`;
    await act.requestPayment({ orderId, journeyId: this.input.journeyId, amount, dueBy });
    this.snapshot.payment = { orderId, amount, currency: 'CNY', status: 'pending', dueBy };
    const who = actorName(actor);
    await this.project([
      this.event('appointment.booked', who, { slotId, doctorId: seat.appointment.doctorId, start: seat.appointment.start }),
      this.event('payment.requested', SYSTEM, { orderId, amount, currency: 'CNY', dueBy }),
    ]);
    await this.send(this.notification('payment.due', orderId, { amount, dueBy }));
    return this.view();
  }

  onPayment(p: PaymentReceived): void {
    this.paymentEvents.push(p);
    // Serialise payment handling: each one runs after the previous finished.
    this.paymentWork = this.paymentWork.then(() => this.handlePayment(p));
  }

  private async handlePayment(p: PaymentReceived): Promise<void> {
    const pay = this.snapshot.payment;
    if (!pay || pay.orderId !== p.orderId) return;
    if (pay.status === 'paid' || pay.status === 'refunded') return; // duplicate: nothing changes
    if (pay.status === 'pending' && !this.isEnding && this.snapshot.step === 'awaiting-payment') {
      // State first, synchronously: a payment window timer firing meanwhile sees the journey paid.
      pay.status = 'paid';
      this.paid = true;
      this.snapshot.step = 'booked';
      await act.markPayment({ orderId: p.orderId, status: 'paid', paidAt: p.paidAt, channel: p.channel });
      await this.project([this.event('payment.received', 'payment-provider', { orderId: p.orderId, amount: p.amount, channel: p.channel })]);
      return;
    }
    // The journey is no longer waiting for this payment (lapsed or cancelled): refund at once.
    await this.refund('late-payment');
  }

  private async refund(reason: string): Promise<void> {
    const pay = this.snapshot.payment!;
    await act.refundPayment({ orderId: pay.orderId, amount: pay.amount, reason });
    pay.status = 'refunded';
    await this.project([this.event('payment.refunded', SYSTEM, { orderId: pay.orderId, amount: pay.amount, reason })]);
    await this.send(this.notification('payment.refunded', pay.orderId, { amount: pay.amount }));
  }

  /** Waits until every payment signal received so far has been handled. */
  async paymentsSettled(): Promise<void> {
    let seen = -1;
    while (seen !== this.paymentEvents.length) {
      seen = this.paymentEvents.length;
      await this.paymentWork;
    }
  }

  async expirePayment(): Promise<void> {
    this.claimEnd();
    const pay = this.snapshot.payment!;
    await act.releaseSeat({ journeyId: this.input.journeyId });
    await act.markPayment({ orderId: pay.orderId, status: 'expired' });
    pay.status = 'expired';
    this.close('cancelled');
    await this.project([
      this.event('payment.expired', SYSTEM, { orderId: pay.orderId }),
      this.event('journey.cancelled', SYSTEM, { reason: 'payment-expired' }),
    ]);
    await this.send(this.notification('journey.cancelled', 'cancel', { reason: 'payment-expired' }));
  }

  validateCancel(): void {
    if (this.isEnding || this.snapshot.phase !== 'pre-visit') {
      throw refused(FailureType.InvalidState, `only an active journey before the visit can be cancelled (phase ${this.snapshot.phase}, status ${this.snapshot.status})`);
    }
  }

  async cancel(reason: string, actor: Actor): Promise<JourneySnapshot> {
    this.validateCancel();
    this.claimEnd();
    await this.bookingSettled();
    await this.paymentsSettled();
    if (this.snapshot.appointment) await act.releaseSeat({ journeyId: this.input.journeyId });
    const pay = this.snapshot.payment;
    if (pay?.status === 'pending') {
      await act.markPayment({ orderId: pay.orderId, status: 'expired' });
      pay.status = 'expired';
    }
    if (pay?.status === 'paid') await this.refund('cancelled');
    this.close('cancelled');
    await this.project([this.event('journey.cancelled', actorName(actor), { reason: actor.role === 'patient' ? 'patient' : 'staff', note: reason })]);
    await this.send(this.notification('journey.cancelled', 'cancel', { reason: actor.role === 'patient' ? 'patient' : 'staff' }));
    return this.view();
  }

  async sendReminder(offset: string): Promise<void> {
    const a = this.snapshot.appointment!;
    await this.send(this.notification('appointment.reminder', offset, { start: a.start, offset }));
    await this.project([this.event('reminder.sent', SYSTEM, { offset, start: a.start }, offset)]);
  }

  async noShow(): Promise<void> {
    this.claimEnd();
    await act.releaseSeat({ journeyId: this.input.journeyId, noShow: true });
    this.close('no-show');
    await this.project([this.event('journey.no-show', SYSTEM, { start: this.snapshot.appointment!.start })]);
    await this.send(this.notification('journey.no-show', 'no-show', { start: this.snapshot.appointment!.start }));
  }

  // ---- visit ------------------------------------------------------------------------------

  validateCheckIn(): void {
    if (this.isEnding || this.snapshot.step !== 'booked') {
      throw refused(FailureType.InvalidState, `journey cannot check in at step ${this.snapshot.step}`);
    }
  }

  async checkIn(actor: Actor): Promise<CheckInResult> {
    this.validateCheckIn();
    this.snapshot.step = 'checked-in';
    this.snapshot.phase = 'visit';
    this.checkedIn = true;
    this.checkedInAt = Date.now();
    const a = this.snapshot.appointment!;
    const r = await act.checkIn({ journeyId: this.input.journeyId, slotId: a.slotId });
    a.queueNumber = r.queueNumber;
    await this.project([this.event('journey.checked-in', actorName(actor), { queueNumber: r.queueNumber, ahead: r.ahead })]);
    await this.maybeNearTurn(r.ahead);
    return r;
  }

  async maybeNearTurn(ahead?: number): Promise<void> {
    if (this.nearTurnSent || this.consultationStarted || this.snapshot.step !== 'checked-in') return;
    const n = ahead ?? (await act.queuePosition({ journeyId: this.input.journeyId })).ahead;
    if (n > this.template.nearTurnAhead || this.nearTurnSent || this.consultationStarted) return;
    this.nearTurnSent = true;
    await this.send(this.notification('queue.near-turn', 'near-turn', { ahead: n, queueNumber: this.snapshot.appointment!.queueNumber ?? 0 }));
    await this.project([this.event('queue.near-turn', SYSTEM, { ahead: n })]);
  }

  validateDoctor(doctorId: string, step: JourneySnapshot['step']): void {
    const a = this.snapshot.appointment;
    if (!a || a.doctorId !== doctorId) throw refused(FailureType.NotBookedDoctor, 'only the booked doctor may do this');
    if (this.snapshot.step !== step) {
      throw refused(FailureType.InvalidState, `journey is at step ${this.snapshot.step}, not ${step}`);
    }
  }

  async startConsultation(doctorId: string): Promise<JourneySnapshot> {
    this.validateDoctor(doctorId, 'checked-in');
    this.snapshot.step = 'in-consultation';
    const a = this.snapshot.appointment!;
    await act.startConsultationInQueue({ journeyId: this.input.journeyId, slotId: a.slotId });
    this.consultationStarted = true;
    const events = [this.event('consultation.started', `doctor:${doctorId}`, {})];
    await this.project(events, this.closeOpenTask(events));
    return this.view();
  }

  async recordOutcome(doctorId: string, diagnosis: { code?: string; text: string }, notes: string): Promise<JourneySnapshot> {
    this.validateDoctor(doctorId, 'in-consultation');
    this.outcomeRecorded = true;
    this.snapshot.outcome = { diagnosis, notes, recordedBy: doctorId, recordedAt: new Date().toISOString() };
    await act.finishConsultationInQueue({ journeyId: this.input.journeyId });
    this.close('completed');
    const events = [
      this.event('outcome.recorded', `doctor:${doctorId}`, { diagnosisCode: diagnosis.code ?? null }),
      this.event('journey.completed', SYSTEM, {}),
    ];
    await this.project(events, this.closeOpenTask(events));
    return this.view();
  }

  /**
   * Waits for `done` with the SLA as deadline; each time it passes, raises (or re-raises at the next
   * tier) one escalation task for coordinators. Returns the task still open, if any.
   */
  async awaitWithEscalation(done: () => boolean, firstDeadline: number, sla: number, what: string, subject: string): Promise<void> {
    let task: TaskChange | undefined;
    let deadline = firstDeadline;
    for (;;) {
      if (await condition(done, Math.max(deadline - Date.now(), 1))) return;
      if (!task || task.tier < MAX_ESCALATION_TIER) {
        const tier = (task?.tier ?? 0) + 1;
        task = {
          id: `${this.wfId}:${what}`,
          kind: 'escalation',
          role: 'coordinator',
          status: 'open',
          subject,
          dueAt: new Date(deadline).toISOString(),
          tier,
        };
        this.openTask = task;
        await this.project([this.event('task.escalated', SYSTEM, { taskId: task.id, kind: 'escalation', subject, tier }, `${what}:${tier}`)], [task]);
      }
      deadline = Date.now() + sla;
    }
  }

  /** Marks the open escalation task done (it is projected with the transition that resolved it). */
  private closeOpenTask(events: TimelineEvent[]): TaskChange[] {
    const task = this.openTask;
    if (!task) return [];
    this.openTask = undefined;
    events.push(this.event('task.closed', SYSTEM, { taskId: task.id }, `${task.id}:closed`));
    return [{ ...task, status: 'done' }];
  }

  async lapseUnbooked(): Promise<void> {
    this.claimEnd();
    this.close('cancelled');
    await this.project([this.event('journey.cancelled', SYSTEM, { reason: 'not-booked' })]);
    await this.send(this.notification('journey.cancelled', 'cancel', { reason: 'not-booked' }));
  }

  close(status: JourneySnapshot['status']): void {
    this.snapshot.status = status;
    this.snapshot.phase = 'closed';
    this.snapshot.step = 'done';
  }

  view(): JourneySnapshot {
    return JSON.parse(JSON.stringify(this.snapshot)) as JourneySnapshot;
  }
}

export async function patientJourney(input: JourneyInput): Promise<JourneySnapshot> {
  const j = new Journey(input);
  if (input.mode === 'online' && !input.followUpOf) {
    throw refused(FailureType.FirstVisitOnline, 'an online journey needs a prior offline diagnosis (follow-up visit)');
  }
  setHandler(snapshotQuery, () => j.view());
  setHandler(triagedUpdate, async () => {
    await condition(() => j.triageDone);
    return j.view();
  });
  setHandler(bookUpdate, (b) => j.book(b.slotId, b.actor), { validator: (_b: BookInput) => j.validateBook() });
  setHandler(cancelUpdate, (c) => j.cancel(c.reason, c.actor), { validator: (_c: CancelInput) => j.validateCancel() });
  setHandler(checkInUpdate, (a) => j.checkIn(a), { validator: (_a: Actor) => j.validateCheckIn() });
  setHandler(startConsultationUpdate, (d) => j.startConsultation(d.doctorId), {
    validator: (d) => j.validateDoctor(d.doctorId, 'checked-in'),
  });
  setHandler(recordOutcomeUpdate, (o) => j.recordOutcome(o.doctorId, o.diagnosis, o.notes), {
    validator: (o) => j.validateDoctor(o.doctorId, 'in-consultation'),
  });
  setHandler(paymentReceivedSignal, (p) => j.onPayment(p));
  setHandler(queueAdvancedSignal, () => j.maybeNearTurn());

  await j.start();
  if (j.isEnding) return finish(j);

  // Booking: bounded by the template's booking window; an unbooked journey then lapses.
  const t = j.template;
  const booked = await condition(
    () => j.snapshot.payment !== undefined || j.isEnding,
    durationMs(t.bookingWindow ?? DEFAULT_BOOKING_WINDOW),
  );
  if (!booked) {
    await j.bookingSettled(); // a booking may be completing as the window closes
    if (!j.snapshot.payment && !j.isEnding) await j.lapseUnbooked();
  }
  if (j.isEnding) return finish(j);

  // Payment window, from the request.
  const payDeadline = Date.parse(j.snapshot.payment!.dueBy);
  const paid = await condition(() => j.paid || j.isEnding, Math.max(payDeadline - Date.now(), 1));
  if (!paid && !j.paid && !j.isEnding) await j.expirePayment();
  if (j.isEnding) return finish(j);

  // Reminders before the start; offsets already past are skipped, never sent late.
  const start = Date.parse(j.snapshot.appointment!.start);
  const dues = t.appointmentReminders
    .map((offset) => ({ offset, due: start - durationMs(offset) }))
    .filter((r) => r.due >= Date.now())
    .sort((a, b) => a.due - b.due);
  for (const r of dues) {
    const interrupted = await condition(() => j.checkedIn || j.isEnding, Math.max(r.due - Date.now(), 1));
    if (interrupted) break;
    await j.sendReminder(r.offset);
  }

  // No-show after start + grace.
  const noShowAt = start + durationMs(t.noShowGrace);
  const came = await condition(() => j.checkedIn || j.isEnding, Math.max(noShowAt - Date.now(), 1));
  if (!came && !j.isEnding) await j.noShow();
  if (j.isEnding) return finish(j);

  // Consult-start SLA from max(start, check-in).
  const sla = durationMs(t.consultStartSla);
  await j.awaitWithEscalation(
    () => j.consultationStarted,
    Math.max(start, j.checkedInAt) + sla,
    sla,
    'consult-start-sla',
    'Consultation not started within the SLA after check-in',
  );

  // Outcome, with its own SLA.
  const outcomeSla = durationMs(t.outcomeSla ?? DEFAULT_OUTCOME_SLA);
  await j.awaitWithEscalation(
    () => j.outcomeRecorded,
    Date.now() + outcomeSla,
    outcomeSla,
    'outcome-sla',
    'Outcome not recorded after the consultation started',
  );
  return finish(j);
}

async function finish(j: Journey): Promise<JourneySnapshot> {
  // A payment may still arrive while the last deliveries go out: settle until nothing new came in,
  // so a late payment is always refunded by this workflow rather than lost when it completes.
  for (;;) {
    const before = j.workCount();
    await condition(allHandlersFinished);
    await j.paymentsSettled();
    await j.deliveriesSettled();
    if (j.workCount() === before) break;
  }
  log.info('journey finished', { journeyId: j.input.journeyId, status: j.snapshot.status, workflowId: workflowInfo().workflowId });
  return j.view();
}
