// referral: one referral from the doctor's outcome to the patient's attendance at the other facility.
// It is sent through the facility adapter (a signed webhook, retried until the facility takes it); the
// facility accepts with an appointment time or declines, within the pathway's response SLA or it
// escalates, and at twice the SLA it expires with a coordinator task to find another facility.
// Accepted, the patient is reminded before the appointment; attendance (with a summary) closes it,
// escalated and then expired in the same way when it is never reported.
// A patient who withdraws consent to share their record before the facility has it stops it: the
// adapter checks at every attempt, and the referral ends `cancelled` (consent-withdrawn), never sent.
//
// On the shared kernel, like prescriptionFulfillment. The patient's name never enters this workflow:
// the adapter reads it from the database when it sends.
import { CancellationScope, condition, isCancellation, patched, setHandler } from '@temporalio/workflow';
import {
  FailureType,
  ItemFailureType,
  REFERRAL_SETTLED,
  RuleFailureType,
  referralAttendedUpdate,
  referralQuery,
  referralResponseUpdate,
  referralWorkflowId,
  type ReferralAttendedInput,
  type ReferralInput,
  type ReferralResponseInput,
  type ReferralSnapshot,
  type ReferralStatus,
  type TaskChange,
  type TimelineEvent,
} from './definitions.js';
import { durationMs } from './duration.js';
import { ItemKernel, SYSTEM, partner, refused } from './kernel.js';

const DEFAULT_RESPONSE_SLA = 'P2D';
/** The facility adapter may answer `withheld` (record-sharing consent withdrawn): the referral is cancelled. */
export const CONSENT_PATCH = 'referral-consent';
/** How long coordinators have to act on a declined referral. */
const DECLINED_TASK_MS = 24 * 60 * 60 * 1000;

/** One wait of the referral: tier 1 at the deadline, expired (with a tier-2 task) one SLA later. */
interface Wait {
  what: 'response-sla' | 'attendance-sla';
  reason: 'unanswered' | 'not-attended';
  /** The statuses that mean the referral is still waiting for this. */
  waiting: ReferralStatus[];
  firstDeadline: number;
  sla: number;
  late: string;
  lapsed: string;
}

class Referral extends ItemKernel<ReferralSnapshot> {
  readonly snapshot: ReferralSnapshot;

  constructor(readonly input: ReferralInput) {
    super('referral', input.referralId, input.journeyId, referralWorkflowId(input.referralId), input.patientId);
    this.snapshot = {
      id: input.referralId,
      journeyId: input.journeyId,
      patientId: input.patientId,
      facilityId: input.facilityId,
      department: input.department,
      reason: input.reason,
      urgency: input.urgency,
      status: 'sending',
    };
  }

  get status(): ReferralStatus {
    return this.snapshot.status;
  }

  /** The department is the one referred to, at the receiving facility. */
  protected indexOf() {
    return { status: this.snapshot.status, department: this.snapshot.department };
  }

  get isEnding(): boolean {
    return REFERRAL_SETTLED.includes(this.status);
  }

  // ---- checks, used by update validators and again inside the transition -----------------

  /** A facility may answer as soon as it has the referral, even before our send has been recorded. */
  requireAnswerable(r: ReferralResponseInput): void {
    if (this.status !== 'sending' && this.status !== 'sent') throw refused(FailureType.InvalidState, `the referral is ${this.status}, not waiting for an answer`);
    if (r.decision === 'accepted' && !(Date.parse(r.appointmentAt ?? '') > Date.now())) {
      throw refused(ItemFailureType.InvalidAppointment, 'an accepted referral needs an appointment time in the future');
    }
  }

  requireAccepted(): void {
    if (this.status !== 'accepted') throw refused(FailureType.InvalidState, `the referral is ${this.status}, not accepted`);
  }

  // ---- sending ---------------------------------------------------------------------------

  /** The row the facility adapter reads (and its outbox row refers to) exists before anything is sent. */
  record(): Promise<unknown> {
    return this.transition(() => this.project([]));
  }

  /**
   * The adapter sent nothing: the patient withdrew consent to share their record before it went. A
   * referral still being sent ends `cancelled`; one the facility has answered meanwhile (it had it,
   * then) goes on as it is.
   */
  cancelWithoutConsent(): Promise<void> {
    return this.transition(async () => {
      if (this.status !== 'sending') return;
      this.snapshot.status = 'cancelled';
      const events: TimelineEvent[] = [this.event('referral.cancelled', SYSTEM, { reason: RuleFailureType.ConsentWithdrawn, scope: 'record-sharing' })];
      await this.project(events, this.closeEscalations(events, 'cancelled'));
    });
  }

  /** The facility has taken it (or it was recorded for a facility without a webhook). */
  markSent(via: 'webhook' | 'none'): Promise<void> {
    return this.transition(async () => {
      if (this.status === 'sending') this.snapshot.status = 'sent';
      await this.project([this.event('referral.sent', SYSTEM, { facilityId: this.input.facilityId, via })]);
    });
  }

  // ---- the facility's answer and the attendance ---------------------------------------------

  respond(r: ReferralResponseInput): Promise<ReferralSnapshot> {
    return this.transition(async () => {
      this.requireAnswerable(r);
      const events: TimelineEvent[] = [];
      const tasks = this.closeEscalations(events);
      // The note is the facility's free text: kept on the referral, never in events.
      if (r.note) this.snapshot.note = r.note;
      if (r.decision === 'accepted') {
        const appointmentAt = r.appointmentAt!;
        this.snapshot.status = 'accepted';
        this.snapshot.appointmentAt = appointmentAt;
        events.unshift(this.event('referral.accepted', r.actor, { appointmentAt, by: r.actor }));
        await this.project(events, tasks);
        await this.send(this.notification('referral.accepted', 'accepted', { appointmentAt }));
        return this.view();
      }
      this.snapshot.status = 'declined';
      const task: TaskChange = {
        id: `${this.wfId}:declined`,
        kind: 'referral-declined',
        role: 'coordinator',
        status: 'open',
        subject: this.subject,
        action: 'The facility declined the referral: find another facility',
        dueAt: new Date(Date.now() + DECLINED_TASK_MS).toISOString(),
        tier: 0,
      };
      events.unshift(this.event('referral.declined', r.actor, { by: r.actor }));
      events.push(this.event('task.created', SYSTEM, { taskId: task.id, kind: task.kind }, 'declined'));
      await this.project(events, [...tasks, task]);
      await this.send(this.notification('referral.declined', 'declined'));
      return this.view();
    });
  }

  /** Attended: the summary is kept on the referral, never in events. */
  attend(r: ReferralAttendedInput): Promise<ReferralSnapshot> {
    return this.transition(async () => {
      this.requireAccepted();
      this.snapshot.status = 'attended';
      this.snapshot.summary = r.summary;
      const events: TimelineEvent[] = [this.event('referral.attended', r.actor, { by: r.actor })];
      await this.project(events, this.closeEscalations(events));
      return this.view();
    });
  }

  sendReminder(offset: string): Promise<void> {
    return this.transition(async () => {
      if (this.status !== 'accepted') return;
      const start = this.snapshot.appointmentAt!;
      // Withheld (outreach consent withdrawn, workflows/kernel.ts): not told as sent.
      const sent = await this.send(this.notification('appointment.reminder', offset, { start, offset }));
      await this.project(sent ? [this.event('reminder.sent', SYSTEM, { offset, start }, offset)] : []);
    });
  }

  /**
   * Waits for the referral to leave `w.waiting`: tier-1 escalation at the first deadline; still
   * waiting one SLA later, it expires and a tier-2 task asks coordinators to act.
   */
  async awaitOrExpire(w: Wait): Promise<void> {
    let lapsed = false;
    const waiting = () => w.waiting.includes(this.current());
    const ladder = this.awaitWithEscalation({
      what: w.what,
      subject: this.subject,
      action: w.late,
      maxTier: 1,
      firstDeadline: w.firstDeadline,
      sla: w.sla,
      done: () => lapsed || !waiting(),
    });
    const deadline = w.firstDeadline + w.sla;
    if (!(await condition(() => !waiting(), Math.max(deadline - Date.now(), 1)))) {
      lapsed = true;
      await this.expire(w, deadline);
    }
    await ladder;
  }

  private expire(w: Wait, deadline: number): Promise<void> {
    return this.transition(async () => {
      if (!w.waiting.includes(this.status)) return; // answered meanwhile
      const events: TimelineEvent[] = [this.event('referral.expired', SYSTEM, { reason: w.reason })];
      const closed = this.closeEscalations(events, 'cancelled');
      this.snapshot.status = 'expired';
      // Nothing this workflow does closes this one: a coordinator completes it by hand.
      const task: TaskChange = {
        id: `${this.wfId}:${w.what}:2`,
        kind: 'escalation',
        role: 'coordinator',
        status: 'open',
        subject: this.subject,
        action: w.lapsed,
        dueAt: new Date(deadline).toISOString(),
        tier: 2,
      };
      events.push(this.event('task.escalated', SYSTEM, { taskId: task.id, kind: 'escalation', subject: this.subject, tier: 2 }, `${w.what}:2`));
      await this.project(events, [...closed, task]);
    });
  }

}

export async function referral(input: ReferralInput): Promise<ReferralSnapshot> {
  const r = new Referral(input);
  const t = input.timings;
  setHandler(referralQuery, () => r.view());
  setHandler(referralResponseUpdate, (x) => r.respond(x), { validator: (x) => r.requireAnswerable(x) });
  setHandler(referralAttendedUpdate, (x) => r.attend(x), { validator: (_x: ReferralAttendedInput) => r.requireAccepted() });

  await r.record();
  const sla = durationMs(t.referralResponseSla ?? DEFAULT_RESPONSE_SLA);
  const from = Date.now();

  // The send runs beside the response wait, so a facility whose webhook never takes it still
  // escalates and expires; the send is given up then.
  const sending = new CancellationScope();
  let sendDone = false;
  const sent = sending.run(() => partner.sendReferral({ referralId: input.referralId })).then(
    (res) => {
      sendDone = true;
      if (res.withheld && patched(CONSENT_PATCH)) return r.cancelWithoutConsent();
      return r.markSent(res.via);
    },
    (err: unknown) => {
      sendDone = true;
      if (!isCancellation(err)) throw err;
    },
  );

  await r.awaitOrExpire({
    what: 'response-sla',
    reason: 'unanswered',
    waiting: ['sending', 'sent'],
    firstDeadline: from + sla,
    sla,
    late: 'The facility has not answered the referral within the SLA',
    lapsed: 'The facility never answered the referral: find another facility',
  });

  if (r.current() === 'accepted') {
    // Reminders before the appointment; offsets already past when it was accepted are skipped.
    const at = Date.parse(r.snapshot.appointmentAt!);
    await r.remindBefore(at, t.appointmentReminders, () => r.current() !== 'accepted', (offset) => r.sendReminder(offset));
    await r.awaitOrExpire({
      what: 'attendance-sla',
      reason: 'not-attended',
      waiting: ['accepted'],
      firstDeadline: at + sla,
      sla,
      late: 'Attendance at the referred facility has not been reported after the appointment',
      lapsed: 'Attendance at the referred facility was never reported: check with the facility and the patient',
    });
  }

  await r.announceSettled();
  if (!sendDone) sending.cancel();
  await sent;
  await r.drain();
  return r.view();
}
