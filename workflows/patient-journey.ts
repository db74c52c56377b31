// patientJourney: one episode of care, pre-visit and visit. Deterministic: time, ids and waits come
// from the workflow runtime; every side effect is an activity; every wait's deadline comes from the
// pathway template the journey copied at its start.
//
// Every change of state is a *transition*, and transitions run one at a time, in arrival order
// (`Journey.transition`). Handlers, signals and timers only queue them: a cancellation never
// interleaves with a payment, an expiry or a booking, and the timeline reads in the order things
// happened. Each transition re-checks the state it needs once it runs.
import { ParentClosePolicy, condition, log, patched, setHandler, sleep, startChild, uuid4, workflowInfo } from '@temporalio/workflow';
import {
  CARE_PROGRAM_WORKFLOW,
  EXAM_WORKFLOW,
  FailureType,
  PRESCRIPTION_WORKFLOW,
  REFERRAL_WORKFLOW,
  RuleFailureType,
  bookUpdate,
  cancelUpdate,
  checkInUpdate,
  examWorkflowId,
  guardianRefusal,
  itemSettledSignal,
  journeyWorkflowId,
  paymentReceivedSignal,
  paymentUpdate,
  prescriptionWorkflowId,
  programWorkflowId,
  queueAdvancedSignal,
  recordOutcomeUpdate,
  referralWorkflowId,
  snapshotQuery,
  startConsultationUpdate,
  triagedUpdate,
  type Actor,
  type BookInput,
  type CancelInput,
  type CheckInResult,
  type ItemSettled,
  type ItemTimings,
  type JourneyInput,
  type JourneySnapshot,
  type OutcomeInput,
  type PaymentReceived,
  type PaymentTaken,
  type PostVisitItems,
  type ProgramInput,
  type Step,
  type Recorded,
  type TaskChange,
  type TimelineEvent,
  type TransitionEffects,
  type VisitStandingInput,
  actorName,
} from './definitions.js';
import { durationMs } from './duration.js';
import { applyTriage, initialSnapshot, startedEvent } from './journey-start.js';
import { LOCAL_WORK_TASK_TIMEOUT } from './activity-options.js';
import { SYSTEM, WorkflowKernel, act, partner, refused } from './kernel.js';

/** Escalation tiers raised while the same thing stays late. */
const MAX_ESCALATION_TIER = 3;
const DEFAULT_OUTCOME_SLA = 'PT2H';
const DEFAULT_BOOKING_WINDOW = 'P7D';

/** An outcome may carry prescriptions, exams and a referral: each a child workflow; the journey waits for them. */
const POST_VISIT_PATCH = 'post-visit-children';
/** An outcome may enrol the patient in a care program: started as a child that outlives the journey. */
const PROGRAM_PATCH = 'post-visit-program';

/** A coordinator may end a checked-in journey whose consultation has not started (landed code refused it). */
const CANCEL_IN_VISIT_PATCH = 'cancel-in-visit';

/**
 * The rules of online care: before booking, starting the consultation and prescribing, the doctor's
 * licence must be verified (online: at least three years of practice) and, online, the patient
 * real-name verified. The landed code asked nobody.
 */
const STANDING_PATCH = 'online-care-standing';
/** An online visit may end as "needs in-person care": closed `referred-offline`, an offline journey started. */
const IN_PERSON_PATCH = 'needs-in-person';

/**
 * Decided at the start: the journey's short database work (projections, triage, seats, queue, standing,
 * storing notifications) runs as local activities, inside the workflow task that needs it (issue 11:
 * fewer history events and workflow tasks per transition). Partner calls and starting other workflows
 * stay activities. Journeys started before it keep activities to their end.
 */
const LOCAL_WORK_PATCH = 'journey-local-work';

/**
 * Decided at the start, and implies local work: each transition is one local activity where it can be
 * (issue 11). A journey starts with one projection (`journey.started` and `triage.completed`, triaged
 * by the API at the door); its notifications are stored in the projection's transaction and delivered
 * by the outbox dispatcher (a reminder is one local activity, no delivery activity); starting the
 * consultation checks the doctor's standing, moves the queue and projects in one transaction; recording
 * the outcome finishes the queue in its projection; a check-in near the front says so in its own.
 */
const ONE_TRANSACTION_PATCH = 'journey-one-transaction';

/**
 * Asked at booking by a journey of `journey-one-transaction`: the registration order is stored in the
 * seat's transaction (one local activity), and the payment provider, when one is configured, is told
 * by the worker's outbox dispatcher; the journey no longer runs the `requestPayment` activity (three
 * history events and a workflow task of its own, in the booking's answer).
 */
const ORDER_WITH_SEAT_PATCH = 'journey-order-with-seat';

/**
 * A booking or a cancellation that arrives with the journey's first task, before its start is projected
 * (possible since the API answers a start without waiting for that task): it waits for the start. The
 * landed code ran it first, against a journey still at step `triage`.
 */
const EARLY_STEP_PATCH = 'journey-step-before-start';

const isStaff = (a: Actor): boolean => a.role === 'coordinator' || a.role === 'admin';

/** The journey's state and every transition on it; the workflow function only sequences waits. */
class Journey extends WorkflowKernel {
  readonly snapshot: JourneySnapshot;
  paid = false;
  checkedIn = false;
  checkedInAt = 0;
  consultationStarted = false;
  outcomeRecorded = false;
  nearTurnSent = false;
  /** Set once triage is projected, so the API's answer reads a read model that already has it. */
  triageDone = false;

  constructor(readonly input: JourneyInput) {
    super(journeyWorkflowId(input.journeyId), input.patientId);
    this.snapshot = initialSnapshot(input);
  }

  get template() {
    return this.input.pathway;
  }

  get isEnding(): boolean {
    return this.snapshot.status !== 'active';
  }

  /** Set with `journey-one-transaction`: see `finish`. */
  get endsInOwnTask(): boolean {
    return this.notifiesInProjection;
  }

  /** `journey-one-transaction`: its projections carry notifications and effects. */
  useOneTransaction(): void {
    this.useLocalWork();
    this.notifiesInProjection = true;
  }

  protected async writeProjection(version: number, events: TimelineEvent[], tasks: TaskChange[] | undefined, effects?: TransitionEffects): Promise<Recorded | void> {
    if (!this.notifiesInProjection) return this.work.recordTransition({ version, snapshot: this.view(), events, ...(tasks ? { tasks } : {}) });
    const { transition, sent } = this.outgoingTransition(version, this.view(), events, tasks);
    const recorded = await this.work.recordTransition({ ...transition, ...effects });
    if (!recorded.refused) this.outreachStored(sent, recorded);
    return recorded;
  }

  protected refs(): Record<string, string> {
    return { journeyId: this.input.journeyId };
  }

  protected indexOf() {
    const s = this.snapshot;
    return { step: s.step, status: s.status, phase: s.phase, department: s.triage?.department, doctorId: s.appointment?.doctorId };
  }

  // ---- checks, used by update validators (fast refusal) and again inside the transition ----

  requireStep(step: Step): void {
    if (this.isEnding || this.snapshot.step !== step) {
      throw refused(FailureType.InvalidState, `journey is at step ${this.snapshot.step} (status ${this.snapshot.status}), not ${step}`);
    }
  }

  /** Before the visit: the patient or staff. In the visit, before the consultation starts: staff only. */
  requireCancellable(actor: Actor): void {
    if (this.isEnding) throw refused(FailureType.InvalidState, `the journey has ended (status ${this.snapshot.status})`);
    if (this.snapshot.phase === 'pre-visit') return;
    if (this.snapshot.step === 'checked-in' && isStaff(actor)) return;
    throw refused(
      FailureType.InvalidState,
      this.snapshot.step === 'checked-in'
        ? 'in the visit phase only a coordinator may end the journey'
        : `the journey can no longer be cancelled (phase ${this.snapshot.phase}, step ${this.snapshot.step})`,
    );
  }

  requireBookedDoctor(doctorId: string, step: Step): void {
    const a = this.snapshot.appointment;
    if (!a || a.doctorId !== doctorId) throw refused(FailureType.NotBookedDoctor, 'only the booked doctor may do this');
    this.requireStep(step);
  }

  /** The outcome's own rules: "needs in-person care" ends an online visit only, and with nothing in it. */
  requireOutcome(o: OutcomeInput): void {
    this.requireBookedDoctor(o.doctorId, 'in-consultation');
    if (o.kind !== 'needs-in-person') return;
    if (this.input.mode !== 'online') throw refused(RuleFailureType.InPersonOnly, 'only an online visit ends as needing in-person care');
    const items = o.items;
    if (items && (items.prescriptions.length || items.exams.length || items.referrals.length || items.program)) {
      throw refused(RuleFailureType.InPersonOnly, 'a visit that needs in-person care prescribes and orders nothing: the in-person visit does');
    }
  }

  /**
   * The doctor (named, or the slot's) verified and, online, experienced enough; online, the patient
   * real-name verified. Asked of the database each time: a licence verified meanwhile counts at once.
   */
  private async requireStanding(who: { doctorId: string } | { slotId: string }): Promise<void> {
    const standing = this.standingOf(who);
    if (!standing) return;
    const s = await this.work.visitStanding(standing);
    if (!s.ok) throw refused(s.type, s.detail);
  }

  /** What `requireStanding` asks, for a transition that asks it in its own projection; none before the rule. */
  private standingOf(who: { doctorId: string } | { slotId: string }): VisitStandingInput | undefined {
    if (!patched(STANDING_PATCH)) return undefined;
    return { ...who, mode: this.input.mode, patientId: this.input.patientId };
  }

  // ---- pre-visit --------------------------------------------------------------------------

  start(): Promise<void> {
    return this.transition(async () => {
      const i = this.input;
      const started = startedEvent(i, (type, actor, data) => this.event(type, actor, data));
      // One projection: the start and the triage land together (the API wrote the same one already: workflows/journey-start.ts).
      if (!this.notifiesInProjection) await this.project([started]);
      // Triaged at the door by the API, or, for a journey an online visit referred to in-person care, by that visit's department.
      const triage = i.triage ?? (await this.work.triage({ complaint: i.complaint }));
      const events = [...(this.notifiesInProjection ? [started] : []), ...applyTriage(this.snapshot, triage, (type, actor, data) => this.event(type, actor, data))];
      await this.project(events);
      this.triageDone = true;
    });
  }

  book(slotId: string, actor: Actor): Promise<JourneySnapshot> {
    return this.transition(async () => {
      this.requireStep('booking');
      // The standing is asked with the seat, in its transaction (journey-one-transaction), else before it.
      const standing = this.notifiesInProjection ? this.standingOf({ slotId }) : undefined;
      if (!this.notifiesInProjection) await this.requireStanding({ slotId });
      // The order is stored with the seat, its provider told by the outbox (journey-order-with-seat).
      const order = this.notifiesInProjection && patched(ORDER_WITH_SEAT_PATCH) ? this.registrationOrder() : undefined;
      const seat = await this.work.reserveSeat({
        journeyId: this.input.journeyId,
        slotId,
        mode: this.input.mode,
        department: this.snapshot.triage!.department,
        ...(standing ? { standing } : {}),
        ...(order ? { order } : {}),
      });
      if (!seat.ok && seat.reason === 'standing') throw refused(seat.type, seat.message);
      if (!seat.ok) {
        const type =
          seat.reason === 'not-found' ? FailureType.SlotNotFound : seat.reason === 'mismatch' ? FailureType.SlotMismatch : FailureType.SlotUnavailable;
        throw refused(type, seat.message);
      }
      const { orderId, amount, dueBy } = order ?? this.registrationOrder();
      if (!order) await partner.requestPayment({ orderId, journeyId: this.input.journeyId, amount, dueBy });
      this.snapshot.appointment = seat.appointment;
      this.snapshot.payment = { orderId, amount, currency: 'CNY', status: 'pending', dueBy };
      this.snapshot.step = 'awaiting-payment';
      await this.projectAndSend(
        [
          this.event('appointment.booked', actorName(actor), { slotId, doctorId: seat.appointment.doctorId, start: seat.appointment.start }),
          this.event('payment.requested', SYSTEM, { orderId, amount, currency: 'CNY', dueBy }),
        ],
        undefined,
        [this.notification('payment.due', orderId, { amount, dueBy })],
      );
      return this.view();
    });
  }

  /** The registration fee's order: due within the template's payment window from now. */
  private registrationOrder(): { orderId: string; amount: number; dueBy: string } {
    return {
      orderId: `${this.input.journeyId}-reg`,
      amount: this.template.fees.registration,
      dueBy: new Date(Date.now() + durationMs(this.template.paymentWindow)).toISOString(),
    };
  }

  /** The provider says an order was paid. Queued like any transition, so it never races another one. */
  onPayment(p: PaymentReceived): Promise<PaymentTaken> {
    return this.transition(() =>
      this.takePayment(this.snapshot.payment, p, !this.isEnding && this.snapshot.step === 'awaiting-payment', async () => {
        this.snapshot.payment!.status = 'paid';
        this.paid = true;
        this.snapshot.step = 'booked';
        const paid = { orderId: p.orderId, status: 'paid' as const, paidAt: p.paidAt, channel: p.channel };
        const received = this.event('payment.received', 'payment-provider', { orderId: p.orderId, amount: p.amount, channel: p.channel });
        // The order is marked in the projection's transaction (journey-one-transaction), else before it.
        if (this.notifiesInProjection) return void (await this.project([received], undefined, { payment: paid }));
        await this.work.markPayment(paid);
        await this.project([received]);
      }),
    );
  }

  /**
   * The seat given back and the order marked: in the projection's own transaction (the effects returned,
   * journey-one-transaction), else by activities now, in that order.
   */
  private async releaseSeatAndMark(seat: { noShow: boolean }, payment?: NonNullable<TransitionEffects['payment']>): Promise<TransitionEffects> {
    if (this.notifiesInProjection) return { releaseSeat: seat, ...(payment ? { payment } : {}) };
    await this.work.releaseSeat({ journeyId: this.input.journeyId, ...(seat.noShow ? { noShow: true } : {}) });
    if (payment) await this.work.markPayment(payment);
    return {};
  }

  /** The payment window passed. */
  expirePayment(): Promise<void> {
    return this.transition(async () => {
      const pay = this.snapshot.payment!;
      if (this.isEnding || pay.status !== 'pending') return; // paid or ended meanwhile
      const effects = await this.releaseSeatAndMark({ noShow: false }, { orderId: pay.orderId, status: 'expired' });
      pay.status = 'expired';
      this.close('cancelled');
      await this.projectAndSend(
        [this.event('payment.expired', SYSTEM, { orderId: pay.orderId }), this.event('journey.cancelled', SYSTEM, { reason: 'payment-expired' })],
        undefined,
        [this.notification('journey.cancelled', 'cancel', { reason: 'payment-expired' })],
        effects,
      );
    });
  }

  /** The booking window passed with nothing booked. */
  lapseUnbooked(): Promise<void> {
    return this.transition(async () => {
      if (this.isEnding || this.snapshot.step !== 'booking') return; // booked or ended meanwhile
      this.close('cancelled');
      await this.projectAndSend([this.event('journey.cancelled', SYSTEM, { reason: 'not-booked' })], undefined, [
        this.notification('journey.cancelled', 'cancel', { reason: 'not-booked' }),
      ]);
    });
  }

  cancel(note: string, actor: Actor): Promise<JourneySnapshot> {
    return this.transition(async () => {
      this.requireCancellable(actor);
      const reason = actor.role === 'patient' ? 'patient' : 'staff';
      const inVisit = this.snapshot.phase === 'visit';
      if (inVisit && !patched(CANCEL_IN_VISIT_PATCH)) throw refused(FailureType.InvalidState, 'the journey can no longer be cancelled');
      const events: TimelineEvent[] = [];
      const pay = this.snapshot.payment;
      const effects: TransitionEffects = {};
      if (this.notifiesInProjection) {
        // The queue left (those behind told once it commits), the seat given back and a pending order
        // expired, all in the cancellation's own projection.
        if (inVisit) effects.queue = { op: 'leave', slotId: this.snapshot.appointment!.slotId };
        if (this.snapshot.appointment) effects.releaseSeat = { noShow: false };
        if (pay?.status === 'pending') effects.payment = { orderId: pay.orderId, status: 'expired' };
      } else {
        // Leaving the queue lets the patients behind move up (they are told by the activity).
        if (inVisit) await this.work.leaveQueue({ journeyId: this.input.journeyId, slotId: this.snapshot.appointment!.slotId });
        if (this.snapshot.appointment) await this.work.releaseSeat({ journeyId: this.input.journeyId });
        if (pay?.status === 'pending') await this.work.markPayment({ orderId: pay.orderId, status: 'expired' });
      }
      if (pay?.status === 'pending') pay.status = 'expired';
      if (pay?.status === 'paid') events.push(await this.refundPayment(pay, 'cancelled'));
      this.close('cancelled');
      events.push(this.event('journey.cancelled', actorName(actor), { reason, note }));
      const tasks = this.closeEscalations(events, 'cancelled');
      // Refund, cancellation and closed tasks land together.
      await this.projectAndSend(events, tasks, [
        ...(pay?.status === 'refunded' ? [this.notification('payment.refunded', pay.orderId, { amount: pay.amount })] : []),
        this.notification('journey.cancelled', 'cancel', { reason }),
      ], effects);
      return this.view();
    });
  }

  sendReminder(offset: string): Promise<void> {
    return this.transition(async () => {
      if (this.isEnding || this.checkedIn) return;
      const a = this.snapshot.appointment!;
      const reminder = this.notification('appointment.reminder', offset, { start: a.start, offset });
      if (this.notifiesInProjection) {
        // One local activity: stored with its event, which is not appended if it was withheld.
        const told = this.event('reminder.sent', SYSTEM, { offset, start: a.start }, offset);
        this.sendWithProjection(reminder, told);
        await this.project([told]);
        return;
      }
      // Withheld (outreach consent withdrawn, workflows/kernel.ts): not told as sent.
      const sent = await this.send(reminder);
      await this.project(sent ? [this.event('reminder.sent', SYSTEM, { offset, start: a.start }, offset)] : []);
    });
  }

  noShow(): Promise<void> {
    return this.transition(async () => {
      if (this.isEnding || this.checkedIn) return;
      const start = this.snapshot.appointment!.start;
      const effects = await this.releaseSeatAndMark({ noShow: true });
      this.close('no-show');
      await this.projectAndSend([this.event('journey.no-show', SYSTEM, { start })], undefined, [this.notification('journey.no-show', 'no-show', { start })], effects);
    });
  }

  // ---- visit ------------------------------------------------------------------------------

  checkIn(actor: Actor): Promise<CheckInResult> {
    return this.transition(async () => {
      this.requireStep('booked');
      const a = this.snapshot.appointment!;
      const r = await this.work.checkIn({ journeyId: this.input.journeyId, slotId: a.slotId });
      a.queueNumber = r.queueNumber;
      this.snapshot.step = 'checked-in';
      this.snapshot.phase = 'visit';
      this.checkedIn = true;
      this.checkedInAt = Date.now();
      const checkedIn = this.event('journey.checked-in', actorName(actor), { queueNumber: r.queueNumber, ahead: r.ahead });
      if (this.notifiesInProjection) {
        // Near the front already: said in the check-in's own projection.
        await this.project([checkedIn, ...this.nearTurnNotice(r.ahead)]);
        return r;
      }
      await this.project([checkedIn]);
      await this.nearTurn(r.ahead);
      return r;
    });
  }

  /** Someone ahead in the queue went in: recompute `ahead`. */
  onQueueAdvanced(): Promise<void> {
    return this.transition(() => this.nearTurn());
  }

  /** Sends `queue.near-turn` once, as soon as `ahead` is at most the template's `nearTurnAhead`. */
  private async nearTurn(known?: number): Promise<void> {
    if (this.nearTurnSent || this.snapshot.step !== 'checked-in') return;
    const ahead = known ?? (await this.work.queuePosition({ journeyId: this.input.journeyId })).ahead;
    if (this.notifiesInProjection) {
      const said = this.nearTurnNotice(ahead);
      if (said.length > 0) await this.project(said);
      return;
    }
    if (ahead > this.template.nearTurnAhead) return;
    this.nearTurnSent = true;
    await this.send(this.notification('queue.near-turn', 'near-turn', { ahead, queueNumber: this.snapshot.appointment!.queueNumber! }));
    await this.project([this.event('queue.near-turn', SYSTEM, { ahead })]);
  }

  /** With `ahead` at most the template's `nearTurnAhead`, once: the notice goes with the next projection, and its event. */
  private nearTurnNotice(ahead: number): TimelineEvent[] {
    if (this.nearTurnSent || ahead > this.template.nearTurnAhead) return [];
    this.nearTurnSent = true;
    this.sendWithProjection(this.notification('queue.near-turn', 'near-turn', { ahead, queueNumber: this.snapshot.appointment!.queueNumber! }));
    return [this.event('queue.near-turn', SYSTEM, { ahead })];
  }

  startConsultation(doctorId: string): Promise<JourneySnapshot> {
    return this.transition(async () => {
      this.requireBookedDoctor(doctorId, 'checked-in');
      if (this.notifiesInProjection) return this.startConsultationInOne(doctorId);
      await this.requireStanding({ doctorId });
      const a = this.snapshot.appointment!;
      await this.work.startConsultationInQueue({ journeyId: this.input.journeyId, slotId: a.slotId });
      this.snapshot.step = 'in-consultation';
      this.consultationStarted = true;
      const events = [this.event('consultation.started', `doctor:${doctorId}`, {})];
      await this.project(events, this.closeEscalations(events));
      return this.view();
    });
  }

  /**
   * The doctor's standing, the queue and the projection in one transaction; a refusal changes nothing
   * (the step and the open escalations are as they were).
   */
  private async startConsultationInOne(doctorId: string): Promise<JourneySnapshot> {
    const standing = this.standingOf({ doctorId });
    const escalations = this.openEscalations;
    this.snapshot.step = 'in-consultation';
    const events = [this.event('consultation.started', `doctor:${doctorId}`, {})];
    const r = await this.project(events, this.closeEscalations(events), {
      ...(standing ? { standing } : {}),
      queue: { op: 'start-consultation', slotId: this.snapshot.appointment!.slotId },
    });
    if (r?.refused) {
      this.snapshot.step = 'checked-in';
      this.openEscalations = escalations;
      throw refused(r.refused.type, r.refused.detail);
    }
    this.consultationStarted = true;
    return this.view();
  }

  /** The queue is finished in the outcome's own projection (`journey-one-transaction`), else by an activity first. */
  private async finishInQueue(): Promise<TransitionEffects> {
    if (this.notifiesInProjection) return { queue: { op: 'finish-consultation' } };
    await this.work.finishConsultationInQueue({ journeyId: this.input.journeyId });
    return {};
  }

  recordOutcome(o: OutcomeInput): Promise<JourneySnapshot> {
    const { doctorId, diagnosis, notes, items } = o;
    return this.transition(async () => {
      this.requireOutcome(o);
      if (o.kind === 'needs-in-person' && patched(IN_PERSON_PATCH)) return this.referOffline(o);
      if (items?.prescriptions.length) await this.requireStanding({ doctorId });
      const finished = await this.finishInQueue();
      this.snapshot.outcome = { diagnosis, notes, recordedBy: doctorId, recordedAt: new Date().toISOString() };
      this.outcomeRecorded = true;
      if (items?.program && patched(PROGRAM_PATCH)) await this.enrolInProgram(items.program);
      const count = items ? items.prescriptions.length + items.exams.length + items.referrals.length : 0;
      if (items && count > 0 && patched(POST_VISIT_PATCH)) {
        this.snapshot.phase = 'post-visit';
        this.snapshot.step = 'follow-through';
        this.snapshot.children = {
          prescriptions: items.prescriptions.map((p) => p.prescriptionId),
          exams: items.exams.map((e) => e.examId),
          referrals: items.referrals.map((r) => r.referralId),
          ...(this.snapshot.children?.programs ? { programs: this.snapshot.children.programs } : {}),
        };
        const events = [
          this.event('outcome.recorded', `doctor:${doctorId}`, {
            diagnosisCode: diagnosis.code ?? null,
            prescriptions: items.prescriptions.length,
            exams: items.exams.length,
            referrals: items.referrals.length,
          }),
        ];
        await this.project(events, this.closeEscalations(events), finished);
        await this.startChildren(doctorId, items);
        return this.view();
      }
      this.close('completed');
      const events = [
        this.event('outcome.recorded', `doctor:${doctorId}`, { diagnosisCode: diagnosis.code ?? null }),
        this.event('journey.completed', SYSTEM, {}),
      ];
      await this.project(events, this.closeEscalations(events), finished);
      return this.view();
    });
  }

  /**
   * "Needs in-person care": the online visit ends with nothing prescribed or ordered, the journey closes
   * `referred-offline`, and an offline journey starts for the patient at the same department, triaged by
   * this visit (its id drawn here, so a retried start finds it started). The patient is told why.
   */
  private async referOffline(o: OutcomeInput): Promise<JourneySnapshot> {
    const reason = o.reason ?? 'physical-examination';
    const department = this.snapshot.triage!.department;
    const finished = await this.finishInQueue();
    const journeyId = uuid4();
    await act.startInPersonJourney({
      journeyId,
      patientId: this.input.patientId,
      complaint: this.input.complaint,
      department,
      reason,
      referredFrom: this.input.journeyId,
      startedBy: { role: 'doctor', id: o.doctorId },
      ...(this.input.patientBirthDate ? { patientBirthDate: this.input.patientBirthDate } : {}),
      ...(this.input.guardian ? { guardian: this.input.guardian } : {}),
    });
    this.snapshot.outcome = { diagnosis: o.diagnosis, notes: o.notes, kind: 'needs-in-person', reason, recordedBy: o.doctorId, recordedAt: new Date().toISOString() };
    this.snapshot.referredTo = journeyId;
    this.outcomeRecorded = true;
    this.close('referred-offline');
    const events = [
      this.event('outcome.recorded', `doctor:${o.doctorId}`, { diagnosisCode: o.diagnosis.code ?? null, kind: 'needs-in-person', reason }),
      this.event('journey.referred-offline', SYSTEM, { journeyId, department, reason }),
    ];
    await this.projectAndSend(events, this.closeEscalations(events), [this.notification('journey.referred-offline', 'in-person', { reason })], finished);
    return this.view();
  }

  /**
   * Starts the care program the outcome asked for, as a child that outlives the journey (ABANDON) and
   * that the journey does not wait for. A program already running for the patient and condition (the
   * API checks, but two outcomes may race) is left as it is: the start fails and nothing else does.
   */
  private async enrolInProgram(program: ProgramInput): Promise<void> {
    try {
      await startChild(CARE_PROGRAM_WORKFLOW, {
        workflowId: programWorkflowId(program.patientId, program.condition),
        args: [{ ...program, journeyId: this.input.journeyId }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowTaskTimeout: LOCAL_WORK_TASK_TIMEOUT,
      });
      this.snapshot.children = { ...(this.snapshot.children ?? { prescriptions: [], exams: [], referrals: [] }), programs: [program.programId] };
    } catch (err) {
      log.warn('care program not started: one is running for the patient and condition', { journeyId: this.input.journeyId, programId: program.programId, error: String(err) });
    }
  }

  /** The journey's copy of the template values its children run on. */
  private timings(): ItemTimings {
    const t = this.template;
    return {
      pharmacistReviewSla: t.pharmacistReviewSla,
      prescriptionValidity: t.prescriptionValidity,
      paymentWindow: t.paymentWindow,
      appointmentReminders: t.appointmentReminders,
      ...(t.deliverySla ? { deliverySla: t.deliverySla } : {}),
      ...(t.referralResponseSla ? { referralResponseSla: t.referralResponseSla } : {}),
      ...(t.examResultSla ? { examResultSla: t.examResultSla } : {}),
    };
  }

  /** One child per item; each outlives the journey if it must (a prescription's reminders run on). */
  private async startChildren(doctorId: string, items: PostVisitItems): Promise<void> {
    const base = { journeyId: this.input.journeyId, patientId: this.input.patientId, timings: this.timings() };
    const options = { parentClosePolicy: ParentClosePolicy.ABANDON };
    for (const p of items.prescriptions) {
      await startChild(PRESCRIPTION_WORKFLOW, { ...options, workflowId: prescriptionWorkflowId(p.prescriptionId), args: [{ ...p, ...base, prescriberId: doctorId }] });
    }
    for (const e of items.exams) {
      await startChild(EXAM_WORKFLOW, { ...options, workflowId: examWorkflowId(e.examId), args: [{ ...e, ...base, doctorId }] });
    }
    for (const r of items.referrals) {
      await startChild(REFERRAL_WORKFLOW, { ...options, workflowId: referralWorkflowId(r.referralId), args: [{ ...r, ...base }] });
    }
  }

  /** Children that have told the journey they settled. */
  readonly settledItems = new Set<string>();

  onItemSettled(s: ItemSettled): Promise<void> {
    return this.transition(async () => {
      const c = this.snapshot.children;
      const known = c && [...c.prescriptions, ...c.exams, ...c.referrals].includes(s.id);
      if (!known || this.settledItems.has(s.id)) return;
      this.settledItems.add(s.id);
      await this.project([this.event('item.settled', SYSTEM, { type: s.type, id: s.id, status: s.status }, s.id)]);
    });
  }

  allChildrenSettled(): boolean {
    const c = this.snapshot.children;
    return !c || [...c.prescriptions, ...c.exams, ...c.referrals].every((id) => this.settledItems.has(id));
  }

  /** Every child has settled: the journey completes. */
  completeAfterChildren(): Promise<void> {
    return this.transition(async () => {
      if (this.isEnding) return;
      this.close('completed');
      await this.project([this.event('journey.completed', SYSTEM, {})]);
    });
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
  if (input.mode === 'online' && !input.followUpOf) {
    throw refused(FailureType.FirstVisitOnline, 'an online journey needs a prior offline diagnosis (follow-up visit)');
  }
  // Only inputs that carry the birth date are checked: journeys started before the rule never had one.
  const noGuardian = guardianRefusal(input, Date.now());
  if (noGuardian) throw refused(RuleFailureType.GuardianRequired, noGuardian);
  const j = new Journey(input);
  if (patched(ONE_TRANSACTION_PATCH)) j.useOneTransaction();
  else if (patched(LOCAL_WORK_PATCH)) j.useLocalWork();

  setHandler(snapshotQuery, () => j.view());
  setHandler(triagedUpdate, async () => {
    await condition(() => j.triageDone);
    return j.view();
  });
  // Validators refuse at once what the current state cannot take; the transition checks again when it runs.
  // A booking or a cancellation may arrive with the journey's first task (the API answers once it has
  // written the start itself, workflows/journey-start.ts): it waits for the start's transition, then
  // checks the step as it runs.
  const afterStart = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (!j.triageDone && patched(EARLY_STEP_PATCH)) await condition(() => j.triageDone);
    return fn();
  };
  setHandler(bookUpdate, (b) => afterStart(() => j.book(b.slotId, b.actor)), { validator: (_b: BookInput) => (j.triageDone ? j.requireStep('booking') : undefined) });
  setHandler(cancelUpdate, (c) => afterStart(() => j.cancel(c.reason, c.actor)), { validator: (c: CancelInput) => j.requireCancellable(c.actor) });
  setHandler(checkInUpdate, (a) => j.checkIn(a), { validator: (_a: Actor) => j.requireStep('booked') });
  setHandler(startConsultationUpdate, (d) => j.startConsultation(d.doctorId), {
    validator: (d) => j.requireBookedDoctor(d.doctorId, 'checked-in'),
  });
  setHandler(recordOutcomeUpdate, (o) => j.recordOutcome(o), {
    validator: (o) => j.requireOutcome(o),
  });
  setHandler(paymentReceivedSignal, async (p) => {
    await j.onPayment(p);
  });
  setHandler(paymentUpdate, (p) => j.onPayment(p));
  setHandler(queueAdvancedSignal, () => j.onQueueAdvanced());
  setHandler(itemSettledSignal, (s) => j.onItemSettled(s));

  await j.start();
  if (j.isEnding) return finish(j);
  const t = j.template;

  // Booking, bounded by the template's booking window.
  const booked = await condition(() => j.snapshot.payment !== undefined || j.isEnding, durationMs(t.bookingWindow ?? DEFAULT_BOOKING_WINDOW));
  if (!booked) await j.lapseUnbooked();
  if (j.isEnding) return finish(j);

  // Payment window, from the request.
  const payDeadline = Date.parse(j.snapshot.payment!.dueBy);
  if (!(await condition(() => j.paid || j.isEnding, Math.max(payDeadline - Date.now(), 1)))) await j.expirePayment();
  if (j.isEnding) return finish(j);

  // Reminders before the start; offsets already past at payment are skipped, never sent late.
  const start = Date.parse(j.snapshot.appointment!.start);
  await j.remindBefore(start, t.appointmentReminders, () => j.checkedIn || j.isEnding, (offset) => j.sendReminder(offset));

  // No-show after start + grace.
  if (!(await condition(() => j.checkedIn || j.isEnding, Math.max(start + durationMs(t.noShowGrace) - Date.now(), 1)))) await j.noShow();
  if (j.isEnding) return finish(j);

  // Consult-start SLA from max(start, check-in), then the outcome's own SLA.
  // A coordinator may end the journey meanwhile: the waits stop then.
  const subject = { type: 'journey' as const, id: input.journeyId };
  const sla = durationMs(t.consultStartSla);
  await j.awaitWithEscalation({
    what: 'consult-start-sla',
    subject,
    action: 'Consultation not started within the SLA after check-in',
    maxTier: MAX_ESCALATION_TIER,
    firstDeadline: Math.max(start, j.checkedInAt) + sla,
    sla,
    done: () => j.consultationStarted || j.isEnding,
  });
  if (j.isEnding) return finish(j);
  const outcomeSla = durationMs(t.outcomeSla ?? DEFAULT_OUTCOME_SLA);
  await j.awaitWithEscalation({
    what: 'outcome-sla',
    subject,
    action: 'Outcome not recorded after the consultation started',
    maxTier: MAX_ESCALATION_TIER,
    firstDeadline: Date.now() + outcomeSla,
    sla: outcomeSla,
    done: () => j.outcomeRecorded || j.isEnding,
  });
  if (j.snapshot.phase === 'post-visit') {
    // The journey waits for every child to settle, without a timer of its own: each child escalates its
    // own late work to coordinators (an unreviewed prescription, a missing result), who resolve it.
    await condition(() => j.allChildrenSettled());
    await j.completeAfterChildren();
  }
  return finish(j);
}

/** Completes only when no handler, transition or delivery is left: a late payment is still refunded here. */
async function finish(j: Journey): Promise<JourneySnapshot> {
  // A journey whose work is local activities ends in a workflow task of its own. The server refuses to
  // complete a workflow in a task during which a signal arrived, and the task runs again from the last
  // one recorded: the local activities of the transition that ended the journey would run again, with
  // the signal now queued before it (a payment taken, then refunded, by a cancellation that had expired
  // it). A timer of 1 ms records that transition first; the late signal is then handled after it.
  if (j.endsInOwnTask) await sleep(1);
  await j.drain();
  log.info('journey finished', { journeyId: j.input.journeyId, status: j.snapshot.status, workflowId: workflowInfo().workflowId });
  return j.view();
}
