// careProgram: one patient's chronic-care program for one condition (`program:<patientId>:<condition>`),
// alive for years. It reminds the patient of every dose and measurement at its time in the patient's
// timezone, once; counts adherence and raises a coordinator task after a run of missed doses; creates
// each follow-up journey ahead of time and records a missed one; tracks each medication's supply and
// starts a renewal journey at the refill lead; takes readings and raises one alert task for the
// doctor while readings go wrong. Plan changes apply from the next occurrence not yet due; a paused
// program sends nothing; a discharged one ends.
//
// Built to last: occurrences are planned a week at a time by an activity (timezones and DST are its
// business, not the workflow's); each run continues as new after 30 days, when the server suggests it
// or before its history grows long, carrying its state. A reminder costs one timer and one local
// activity that projects the program and stores the notification in one transaction (the outbox
// dispatcher delivers it): 6 history events. Its notification id comes from the program id +
// occurrence, so a retry or a worker killed mid-send never sends it twice. After downtime, an occurrence more than
// the template's `lateGrace` late is recorded as missed, never sent. While the patient has withdrawn
// outreach consent the projection withholds reminders and education (activities/consent.ts): the
// timeline says why once, and a dose not reminded is neither waited for nor counted missed.
import {
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import {
  FailureType,
  ItemFailureType,
  ProgramFailureType,
  programDoseUpdate,
  programPlanUpdate,
  programQuery,
  programStatusUpdate,
  readingUpdate,
  supplyAddedSignal,
  type Actor,
  type JourneyInput,
  type NotificationRequest,
  type Occurrence,
  type ProgramCarry,
  type ProgramDoseInput,
  type ProgramInput,
  type ProgramPlanInput,
  type ProgramSnapshot,
  type ProgramStatusInput,
  type Reading,
  type ReadingInput,
  type ReadingResult,
  type SupplyAdded,
  type TaskChange,
  type TimelineEvent,
  actorName,
} from './definitions.js';
import { durationMs } from './duration.js';
import { SHORT_WORK } from './activity-options.js';
import { SYSTEM, WorkflowKernel, localWork, refused } from './kernel.js';

/** Short database work, and starting the follow-up and renewal journeys. */
const local = proxyActivities<Activities>(SHORT_WORK);
/**
 * Projections and planning as local activities (the kernel's `localWork`): a reminder costs 6 events,
 * not 11. Both are idempotent (the projection is versioned with keyed timeline events and
 * notifications; planning is a pure function).
 */
const lean = localWork;
/**
 * A run decides once, when it starts: projections and planning as local activities, and the whole
 * run planned at its start (no planning in a reminder's workflow task). Runs started before it keep
 * regular activities and a weekly plan until they continue as new.
 */
export const LEAN_REMINDERS_PATCH = 'program-lean-reminders';

const DAY = 86_400_000;
/** A run continues as new after this long, whatever else. */
export const RUN_LENGTH = 30 * DAY;
/**
 * Occurrences are planned this far ahead, and planned again when less than two days are left: a week
 * at a time before `program-lean-reminders`, after it past the end of the run (planned once a run).
 */
const WINDOW = 7 * DAY;
const LEAN_WINDOW = RUN_LENGTH + 3 * DAY;
/** ... or once its history reaches this many events (the ceiling is 1,000 a run). */
export const RUN_EVENTS = 700;
const KEEP_READINGS = 20;
/** Answered doses kept to refuse a second answer (older answers are past any reminder). */
const KEEP_ANSWERED = 64;

const occurrenceKey = (o: { drugCode?: string | undefined; type?: string | undefined; at: string }): string => `${o.drugCode ?? o.type}@${o.at}`;

/** Which threshold a reading is beyond (thresholds are inclusive), if any. */
export function beyondThreshold(r: Reading, t: ProgramInput['template']['thresholds']): string | undefined {
  if (r.type === 'bp' && t.bp) {
    if (r.systolic >= t.bp.systolicHigh) return 'systolic-high';
    if (r.diastolic >= t.bp.diastolicHigh) return 'diastolic-high';
    if (r.systolic <= t.bp.systolicLow) return 'systolic-low';
  }
  if (r.type === 'glucose' && t.glucose) {
    if (r.context === 'fasting' && r.mmol >= t.glucose.fastingHigh) return 'fasting-glucose-high';
    if (r.context === 'postprandial' && r.mmol >= t.glucose.postprandialHigh) return 'postprandial-glucose-high';
    if (r.mmol <= t.glucose.fastingLow) return 'glucose-low';
  }
  return undefined;
}

type Due =
  | { kind: 'occurrences'; at: number }
  | { kind: 'followup'; at: number; k: number }
  | { kind: 'followup-check'; at: number; journeyId: string }
  | { kind: 'refill'; at: number; drugCode: string; until: string }
  | { kind: 'education'; at: number; topic: string }
  | { kind: 'plan'; at: number }
  | { kind: 'continue'; at: number };

class Program extends WorkflowKernel {
  readonly snapshot: ProgramSnapshot;
  c: Omit<ProgramCarry, 'snapshot' | 'projectionVersion'>;
  /** Planned occurrences not yet handled, in time order; planned up to `plannedUntil`. */
  occurrences: Occurrence[] = [];
  plannedUntil = 0;
  /** Bumped by every change of plan or status: the main loop plans again and picks its next wait. */
  changes = 0;
  /** `program-lean-reminders`, decided when the run starts. */
  lean = false;

  constructor(readonly input: ProgramInput) {
    super(`program:${input.programId}`, input.patientId);
    const carried = input.carried;
    if (carried) {
      this.snapshot = { ...carried.snapshot, runs: carried.snapshot.runs + 1 };
      this.resumeProjectionVersion(carried.projectionVersion);
      const { snapshot: _s, projectionVersion: _v, outreachStopped, ...rest } = carried;
      this.c = rest;
      this.outreachStopped = outreachStopped;
    } else {
      this.snapshot = {
        id: input.programId,
        patientId: input.patientId,
        condition: input.condition,
        doctorId: input.doctorId,
        status: 'active',
        template: { id: input.template.id, version: input.template.version },
        plan: input.plan,
        timezone: input.timezone,
        enrolledAt: input.enrolledAt,
        next: [],
        adherence: { taken: 0, skipped: 0, missed: 0 },
        readings: [],
        openAlerts: [],
        supply: input.plan.medications.map((m) => ({ drugCode: m.drugCode, until: new Date(Date.parse(input.enrolledAt) + m.supplyDays * DAY).toISOString() })),
        runs: 1,
        ...(input.journeyId ? { journeyId: input.journeyId } : {}),
      };
      this.c = {
        cursor: input.enrolledAt,
        pendingDoses: [],
        answered: [],
        missedStreak: 0,
        adherenceTaskOpen: false,
        nextFollowUp: 1,
        followUps: [],
        refills: [],
        educationSent: [],
        overRun: {},
        supplySetAt: Object.fromEntries(input.plan.medications.map((m) => [m.drugCode, input.enrolledAt])),
      };
    }
  }

  get status() {
    return this.snapshot.status;
  }

  get isEnding(): boolean {
    return this.status === 'discharged';
  }

  protected refs(): Record<string, string> {
    return { programId: this.input.programId };
  }

  protected indexOf() {
    return { status: this.snapshot.status, doctorId: this.snapshot.doctorId };
  }

  protected async writeProjection(version: number, events: TimelineEvent[], tasks: TaskChange[] | undefined): Promise<void> {
    this.snapshot.next = this.nextOf();
    const { transition, sent } = this.outgoingTransition(version, this.view(), events, tasks);
    const recorded = await (this.lean ? lean : local).recordProgramTransition(transition);
    // A dose whose reminder was withheld is not waited for, so it is not counted missed: like a pause,
    // the patient is not held to a reminder they never got.
    for (const n of this.outreachStored(sent, recorded)) {
      if (n.kind === 'medication.reminder') this.c.pendingDoses = this.c.pendingDoses.filter((d) => !(d.drugCode === n.refs.drugCode && d.at === n.refs.scheduledAt));
    }
  }

  view(): ProgramSnapshot {
    return JSON.parse(JSON.stringify(this.snapshot)) as ProgramSnapshot;
  }

  carry(): ProgramCarry {
    return {
      snapshot: this.view(),
      projectionVersion: this.projectionVersion,
      ...JSON.parse(JSON.stringify(this.c)),
      ...(this.outreachStopped !== undefined ? { outreachStopped: this.outreachStopped } : {}),
    };
  }

  /** A program notification: its id from the program id + kind + occurrence, its refs name what it is about. */
  private notice(kind: NotificationRequest['kind'], occurrence: string, refs: Record<string, string>, params: NotificationRequest['params'] = {}, announcedBy?: TimelineEvent): string {
    const n = { id: `${this.wfId}:${kind}:${occurrence}`, patientId: this.input.patientId, kind, refs: { programId: this.input.programId, ...refs }, params };
    return this.sendWithProjection(n, announcedBy);
  }

  // ---- schedules -------------------------------------------------------------------------

  private followUpEvery(): number {
    return durationMs(this.snapshot.plan.followUpEvery ?? this.input.template.followUpEvery);
  }

  private followUpDue(k: number): number {
    return Date.parse(this.snapshot.enrolledAt) + k * this.followUpEvery();
  }

  /** Everything the program waits for next, soonest first. */
  dues(runStart: number): Due[] {
    const t = this.input.template;
    const out: Due[] = [{ kind: 'continue', at: runStart + RUN_LENGTH }];
    if (this.occurrences[0]) out.push({ kind: 'occurrences', at: Date.parse(this.occurrences[0].at) });
    out.push({ kind: 'plan', at: this.plannedUntil - DAY });
    const k = this.c.nextFollowUp;
    out.push({ kind: 'followup', at: this.followUpDue(k) - durationMs(t.followUpLead), k });
    for (const f of this.c.followUps) if (!f.checked) out.push({ kind: 'followup-check', at: Date.parse(f.dueAt) + durationMs(t.lateGrace), journeyId: f.journeyId });
    for (const s of this.snapshot.supply) {
      if (!this.snapshot.plan.medications.some((m) => m.drugCode === s.drugCode)) continue;
      if (this.c.refills.some((r) => r.drugCode === s.drugCode && r.until === s.until)) continue;
      out.push({ kind: 'refill', at: this.refillAt(s), drugCode: s.drugCode, until: s.until });
    }
    for (const e of t.education) {
      if (!this.c.educationSent.includes(e.topic)) out.push({ kind: 'education', at: Date.parse(this.snapshot.enrolledAt) + durationMs(e.after), topic: e.topic });
    }
    return out.sort((a, b) => a.at - b.at);
  }

  /** `refillLead` before the supply runs out, but never before the supply was set (then it is due at once). */
  private refillAt(s: { drugCode: string; until: string }): number {
    const set = this.c.supplySetAt?.[s.drugCode] ?? this.snapshot.enrolledAt;
    return Math.max(Date.parse(s.until) - durationMs(this.input.template.refillLead), Date.parse(set));
  }

  private supplySet(drugCode: string): void {
    this.c.supplySetAt = { ...(this.c.supplySetAt ?? {}), [drugCode]: new Date().toISOString() };
  }

  /** Follow-ups whose creation time has passed are not created late: the next one is the first still ahead. */
  private skipPastFollowUps(): void {
    const lead = durationMs(this.input.template.followUpLead);
    while (this.followUpDue(this.c.nextFollowUp) - lead < Date.now()) this.c.nextFollowUp += 1;
  }

  /** The soonest occurrence of each schedule, for the read model. */
  private nextOf(): ProgramSnapshot['next'] {
    if (this.status !== 'active') return [];
    const next: ProgramSnapshot['next'] = [];
    const med = this.occurrences.find((o) => o.kind === 'medication');
    if (med) next.push({ at: med.at, kind: 'medication' });
    const measurement = this.occurrences.find((o) => o.kind === 'measurement');
    if (measurement) next.push({ at: measurement.at, kind: 'measurement' });
    next.push({ at: new Date(this.followUpDue(this.c.nextFollowUp)).toISOString(), kind: 'followup' });
    const refill = this.snapshot.supply
      .filter((s) => this.snapshot.plan.medications.some((m) => m.drugCode === s.drugCode) && !this.c.refills.some((r) => r.drugCode === s.drugCode && r.until === s.until))
      .map((s) => this.refillAt(s))
      .sort((a, b) => a - b)[0];
    if (refill !== undefined) next.push({ at: new Date(refill).toISOString(), kind: 'refill' });
    return next.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  }

  /** Plans occurrences from the cursor (or now, if later) to a week ahead of now. */
  async plan(): Promise<void> {
    const from = Math.max(Date.parse(this.c.cursor), this.plannedUntil && this.occurrences.length ? Date.parse(this.occurrences.at(-1)!.at) + 1 : 0);
    const to = Date.now() + (this.lean ? LEAN_WINDOW : WINDOW);
    const planned = await (this.lean ? lean : local).planProgramOccurrences({
      timezone: this.snapshot.timezone,
      enrolledAt: this.snapshot.enrolledAt,
      medications: this.snapshot.plan.medications.map((m) => ({ drugCode: m.drugCode, times: m.times })),
      measurements: this.input.template.measurements,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
    });
    const known = new Set(this.occurrences.map(occurrenceKey));
    this.occurrences = [...this.occurrences, ...planned.filter((o) => !known.has(occurrenceKey(o)))].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    this.plannedUntil = to;
  }

  /** Drops what was planned: the next plan starts from now (a plan change, a resume). */
  replanFromNow(): void {
    this.occurrences = [];
    this.plannedUntil = 0;
    this.c.cursor = new Date(Math.max(Date.parse(this.c.cursor), Date.now())).toISOString();
    this.changes += 1;
  }

  private late(at: number): boolean {
    return Date.now() - at > durationMs(this.input.template.lateGrace);
  }

  // ---- firing ------------------------------------------------------------------------------

  /** Every occurrence due now (two drugs at 08:00 are one transition, one projection). */
  fireOccurrences(): Promise<void> {
    return this.transition(async () => {
      if (this.status !== 'active') return;
      const now = Date.now();
      const due: Occurrence[] = [];
      while (this.occurrences[0] && Date.parse(this.occurrences[0].at) <= now) due.push(this.occurrences.shift()!);
      if (due.length === 0) return;
      const events: TimelineEvent[] = [];
      const tasks: TaskChange[] = [];
      for (const o of due) {
        const at = Date.parse(o.at);
        const late = this.late(at);
        if (o.kind === 'medication') {
          const drugCode = o.drugCode!;
          this.settlePreviousDose(drugCode, events, tasks);
          if (this.c.answered.some((a) => a.drugCode === drugCode && a.at === o.at)) continue; // answered ahead of its time
          if (late) {
            this.missDose(drugCode, o.at, 'late', events, tasks);
            continue;
          }
          this.c.pendingDoses.push({ drugCode, at: o.at });
          this.notice('medication.reminder', `${drugCode}@${o.at}`, { drugCode, scheduledAt: o.at }, { at: o.at, count: 1 });
        } else if (late) {
          events.push(this.event('measurement.missed', SYSTEM, { type: o.type, scheduledAt: o.at, reason: 'late' }, occurrenceKey(o)));
        } else {
          this.notice('measurement.reminder', `${o.type}@${o.at}`, { measurement: o.type!, scheduledAt: o.at }, { at: o.at, type: o.type! });
        }
      }
      this.c.cursor = new Date(Date.parse(due.at(-1)!.at) + 1).toISOString();
      await this.project(events, tasks.length ? tasks : undefined);
    });
  }

  /** The dose before this one of the same drug, if nobody answered it, is missed now. */
  private settlePreviousDose(drugCode: string, events: TimelineEvent[], tasks: TaskChange[]): void {
    const previous = this.c.pendingDoses.filter((d) => d.drugCode === drugCode);
    this.c.pendingDoses = this.c.pendingDoses.filter((d) => d.drugCode !== drugCode);
    for (const d of previous) this.missDose(drugCode, d.at, 'not-confirmed', events, tasks);
  }

  private missDose(drugCode: string, at: string, reason: 'late' | 'not-confirmed', events: TimelineEvent[], tasks: TaskChange[]): void {
    this.c.answered = [...this.c.answered, { drugCode, at }].slice(-KEEP_ANSWERED);
    this.snapshot.adherence.missed += 1;
    this.c.missedStreak += 1;
    events.push(this.event('dose.missed', SYSTEM, { drugCode, scheduledAt: at, reason }, `${drugCode}@${at}`));
    if (this.c.missedStreak >= this.input.template.missedDoseStreak && !this.c.adherenceTaskOpen) {
      this.c.adherenceTaskOpen = true;
      const task: TaskChange = {
        id: `${this.wfId}:adherence:${at}`,
        kind: 'adherence',
        role: 'coordinator',
        status: 'open',
        subject: { type: 'program', id: this.input.programId },
        action: `${this.c.missedStreak} doses missed in a row: contact the patient about their medication`,
        dueAt: new Date().toISOString(),
        tier: 0,
      };
      tasks.push(task);
      events.push(this.event('task.created', SYSTEM, { taskId: task.id, kind: 'adherence' }, `adherence:${at}`));
    }
  }

  /** The follow-up journey `k`, created `followUpLead` before it is due, with `followup.due`. */
  createFollowUp(k: number, at: number): Promise<void> {
    return this.transition(async () => {
      if (this.status !== 'active' || this.c.nextFollowUp !== k) return;
      this.c.nextFollowUp = k + 1;
      const dueAt = new Date(this.followUpDue(k)).toISOString();
      if (this.late(at)) {
        const task = this.followUpMissedTask(`${k}`, dueAt);
        await this.project(
          [this.event('followup.missed', SYSTEM, { number: k, dueAt, reason: 'late' }, `${k}`), this.event('task.created', SYSTEM, { taskId: task.id, kind: task.kind }, `followup-missed:${k}`)],
          [task],
        );
        return;
      }
      const journeyId = await this.startJourney(`${this.input.template.name ?? this.input.condition}复诊`);
      this.c.followUps.push({ k, journeyId, dueAt, checked: false });
      this.notice('followup.due', `${k}`, { journeyId, scheduledAt: dueAt }, { at: dueAt });
      await this.project([this.event('followup.created', SYSTEM, { number: k, journeyId, dueAt }, `${k}`)]);
    });
  }

  private followUpMissedTask(occurrence: string, dueAt: string): TaskChange {
    return {
      id: `${this.wfId}:followup-missed:${occurrence}`,
      kind: 'followup-missed',
      role: 'coordinator',
      status: 'open',
      subject: { type: 'program', id: this.input.programId },
      action: `The follow-up due ${dueAt.slice(0, 10)} did not take place: contact the patient to book it`,
      dueAt,
      tier: 0,
    };
  }

  /** At the follow-up's due time + `lateGrace`: a journey that never reached the visit is a missed follow-up. */
  checkFollowUp(journeyId: string): Promise<void> {
    return this.transition(async () => {
      const f = this.c.followUps.find((x) => x.journeyId === journeyId);
      if (!f || f.checked) return;
      f.checked = true;
      this.c.followUps = this.c.followUps.filter((x) => !x.checked);
      if (this.status === 'discharged') return;
      const attended = await local.journeyReachedVisit({ journeyId });
      if (attended) return;
      const task = this.followUpMissedTask(`${f.k}`, f.dueAt);
      await this.project(
        [this.event('followup.missed', SYSTEM, { number: f.k, journeyId, dueAt: f.dueAt }, `${f.k}`), this.event('task.created', SYSTEM, { taskId: task.id, kind: task.kind }, `followup-missed:${f.k}`)],
        [task],
      );
    });
  }

  /** At the refill lead: `refill.due` and a renewal journey (online follow-up), once per supply end. */
  startRefill(drugCode: string, until: string, at: number): Promise<void> {
    return this.transition(async () => {
      if (this.status !== 'active' || this.c.refills.some((r) => r.drugCode === drugCode && r.until === until)) return;
      const journeyId = await this.startJourney(`${this.input.template.name ?? this.input.condition}续方`);
      this.c.refills = [...this.c.refills, { drugCode, until, journeyId }].slice(-this.snapshot.plan.medications.length * 4 - 4);
      const events = [this.event('refill.started', SYSTEM, { drugCode, until, journeyId }, `${drugCode}@${until}`)];
      // After downtime, a refill more than lateGrace late still starts its renewal (the medicine is
      // needed all the same) but is not announced late.
      if (this.late(at)) events.push(this.event('reminder.missed', SYSTEM, { kind: 'refill', drugCode, until }, `refill:${drugCode}@${until}`));
      else this.notice('refill.due', `${drugCode}@${until}`, { drugCode, journeyId, scheduledAt: until }, { at: until });
      await this.project(events);
    });
  }

  sendEducation(topic: string, at: number): Promise<void> {
    return this.transition(async () => {
      if (this.status !== 'active' || this.c.educationSent.includes(topic)) return;
      this.c.educationSent.push(topic);
      if (this.late(at)) {
        await this.project([this.event('reminder.missed', SYSTEM, { kind: 'education', topic }, `education:${topic}`)]);
        return;
      }
      const sent = this.event('education.sent', SYSTEM, { topic }, topic);
      // Withheld for consent, it is not told as sent; the topic is not sent later either.
      this.notice('education', topic, { scheduledAt: new Date(at).toISOString() }, { topic }, sent);
      await this.project([sent]);
    });
  }

  /**
   * An online follow-up journey for the patient, started by an activity rather than as a child: it is
   * the patient's, not the program's, and outlives any run of it. Its id is drawn here (uuid4 is
   * deterministic in workflow code), so a retried start finds it started.
   */
  private async startJourney(complaint: string): Promise<string> {
    const journeyId = uuid4();
    const input: JourneyInput = {
      journeyId,
      patientId: this.input.patientId,
      mode: 'online',
      complaint,
      pathway: this.input.followUpPathway,
      followUpOf: { diagnosis: this.input.template.name ?? this.input.condition, visitDate: this.snapshot.enrolledAt.slice(0, 10), facility: 'CarePath' },
      startedBy: { role: 'coordinator', id: SYSTEM },
    };
    await local.startProgramJourney(input);
    return journeyId;
  }

  // ---- the patient, the doctor, coordinators ------------------------------------------------

  requireOpen(): void {
    if (this.status === 'discharged') throw refused(ProgramFailureType.Discharged, 'the program is discharged');
  }

  requireResponsible(actor: Actor): void {
    const staff = actor.role === 'coordinator' || actor.role === 'admin';
    if (!staff && !(actor.role === 'doctor' && actor.id === this.snapshot.doctorId)) {
      throw refused(ProgramFailureType.NotResponsible, 'only the responsible doctor or a coordinator may change the program');
    }
  }

  requireDose(d: ProgramDoseInput): void {
    this.requireOpen();
    if (this.c.answered.some((a) => a.drugCode === d.drugCode && a.at === d.scheduledAt)) {
      throw refused(ItemFailureType.DoseAnswered, 'this dose was answered already (or recorded missed): the first answer stands');
    }
    const pending = this.c.pendingDoses.some((p) => p.drugCode === d.drugCode && p.at === d.scheduledAt);
    const upcoming = this.occurrences.find((o) => o.kind === 'medication' && o.drugCode === d.drugCode);
    if (!pending && upcoming?.at !== d.scheduledAt) throw refused(ItemFailureType.UnknownDose, 'scheduledAt names no dose of this medication that is due or next');
  }

  answerDose(d: ProgramDoseInput): Promise<{ status: 'confirmed' | 'skipped' }> {
    return this.transition(async () => {
      this.requireDose(d);
      this.c.pendingDoses = this.c.pendingDoses.filter((p) => !(p.drugCode === d.drugCode && p.at === d.scheduledAt));
      this.c.answered = [...this.c.answered, { drugCode: d.drugCode, at: d.scheduledAt }].slice(-KEEP_ANSWERED);
      if (d.taken) {
        this.snapshot.adherence.taken += 1;
        this.c.missedStreak = 0;
      } else {
        this.snapshot.adherence.skipped += 1;
      }
      await this.project([this.event(d.taken ? 'dose.confirmed' : 'dose.skipped', actorName(d.actor), { drugCode: d.drugCode, scheduledAt: d.scheduledAt }, `${d.drugCode}@${d.scheduledAt}`)]);
      return { status: d.taken ? ('confirmed' as const) : ('skipped' as const) };
    });
  }

  /** A reading; beyond a threshold it raises the program's one open `vital-alert` task for the doctor. */
  record(r: ReadingInput): Promise<ReadingResult> {
    return this.transition(async () => {
      this.requireOpen();
      const reading = r.reading;
      // The same reading again (a client's retry: same type, time and values) is not a second reading.
      const same = JSON.stringify(reading);
      if (this.snapshot.readings.some((x) => JSON.stringify(x) === same)) {
        const open = this.snapshot.openAlerts[0];
        return open && beyondThreshold(reading, this.input.template.thresholds) ? { alert: { id: open.id, reason: open.reason } } : {};
      }
      this.snapshot.readings = [reading, ...this.snapshot.readings].slice(0, KEEP_READINGS);
      const beyond = beyondThreshold(reading, this.input.template.thresholds);
      // A trend: readings beyond a threshold in a row, in one direction (high or low), of one type.
      const direction = beyond?.endsWith('-low') ? 'low' : 'high';
      const runKey = `${reading.type}:${direction}`;
      const run = beyond ? (this.c.overRun[runKey] ?? 0) + 1 : 0;
      this.c.overRun = { ...this.c.overRun, [`${reading.type}:high`]: 0, [`${reading.type}:low`]: 0, [runKey]: run };
      const seq = this.snapshot.adherence.taken + this.snapshot.adherence.skipped + this.snapshot.adherence.missed;
      const key = `${reading.type}@${reading.at}:${this.snapshot.readings.length}:${seq}:${this.projectionVersion}`;
      const events: TimelineEvent[] = [this.event('reading.recorded', actorName(r.actor), { ...reading }, key)];
      if (!beyond) {
        await this.project(events);
        return {};
      }
      const open = this.snapshot.openAlerts[0];
      if (open) {
        // One open alert at a time: a doctor who has closed it since gets a new one.
        if (await local.taskIsOpen({ taskId: open.id })) {
          await this.project(events);
          return { alert: { id: open.id, reason: open.reason } };
        }
        this.snapshot.openAlerts = [];
      }
      const reason = run >= this.input.template.trendReadings ? `trend:${beyond}` : beyond;
      const task: TaskChange = {
        id: `${this.wfId}:vital-alert:${key}`,
        kind: 'vital-alert',
        role: 'doctor',
        assigneeId: this.snapshot.doctorId,
        status: 'open',
        subject: { type: 'program', id: this.input.programId },
        action: `Review the patient's ${reading.type} readings: ${reason}`,
        dueAt: new Date().toISOString(),
        tier: 0,
      };
      this.snapshot.openAlerts = [{ id: task.id, reason, at: reading.at }];
      events.push(this.event('alert.raised', SYSTEM, { taskId: task.id, reason, type: reading.type }, task.id));
      await this.project(events, [task]);
      return { alert: { id: task.id, reason } };
    });
  }

  changePlan(u: ProgramPlanInput): Promise<ProgramSnapshot> {
    return this.transition(async () => {
      this.requireOpen();
      this.requireResponsible(u.actor);
      const before = new Set(this.snapshot.plan.medications.map((m) => m.drugCode));
      this.snapshot.plan = u.plan;
      // A medication new to the plan starts with its supply; one taken off keeps no pending dose.
      for (const m of u.plan.medications) {
        if (!before.has(m.drugCode) && !this.snapshot.supply.some((s) => s.drugCode === m.drugCode)) {
          this.snapshot.supply.push({ drugCode: m.drugCode, until: new Date(Date.now() + m.supplyDays * DAY).toISOString() });
          this.supplySet(m.drugCode);
        }
      }
      // A new follow-up interval counts from enrolment as before; follow-ups it puts in the past are skipped.
      this.skipPastFollowUps();
      const kept = new Set(u.plan.medications.map((m) => m.drugCode));
      this.c.pendingDoses = this.c.pendingDoses.filter((d) => kept.has(d.drugCode));
      this.replanFromNow();
      await this.project([this.event('program.plan-changed', actorName(u.actor), { medications: u.plan.medications.map((m) => ({ drugCode: m.drugCode, times: m.times })), ...(u.plan.followUpEvery ? { followUpEvery: u.plan.followUpEvery } : {}) }, `plan:${this.projectionVersion + 1}`)]);
      return this.view();
    });
  }

  changeStatus(u: ProgramStatusInput): Promise<ProgramSnapshot> {
    return this.transition(async () => {
      this.requireStatusChange(u);
      const events: TimelineEvent[] = [];
      const tasks: TaskChange[] = [];
      if (u.action === 'pause') {
        this.snapshot.status = 'paused';
        // Doses reminded before the pause are not held against the patient.
        this.c.pendingDoses = [];
        events.push(this.event('program.paused', actorName(u.actor), { reason: u.reason }, `paused:${this.projectionVersion + 1}`));
      } else if (u.action === 'resume') {
        this.snapshot.status = 'active';
        // Follow-ups that would have been created during the pause are not created late.
        this.skipPastFollowUps();
        events.push(this.event('program.resumed', actorName(u.actor), { reason: u.reason }, `resumed:${this.projectionVersion + 1}`));
      } else {
        this.snapshot.status = 'discharged';
        this.snapshot.dischargedReason = u.reason;
        this.c.pendingDoses = [];
        events.push(this.event('program.discharged', actorName(u.actor), { reason: u.reason }));
      }
      this.replanFromNow();
      await this.project(events, tasks.length ? tasks : undefined);
      return this.view();
    });
  }

  requireStatusChange(u: ProgramStatusInput): void {
    this.requireOpen();
    this.requireResponsible(u.actor);
    if (u.action === 'pause' && this.status !== 'active') throw refused(FailureType.InvalidState, `the program is ${this.status}, not active`);
    if (u.action === 'resume' && this.status !== 'paused') throw refused(FailureType.InvalidState, `the program is ${this.status}, not paused`);
  }

  /** A delivered prescription of a planned drug: its days are added to the supply. */
  addSupply(s: SupplyAdded): Promise<void> {
    return this.transition(async () => {
      if (this.status === 'discharged') return;
      const key = `${s.prescriptionId}:${s.drugCode}`;
      const current = this.snapshot.supply.find((x) => x.drugCode === s.drugCode);
      const from = Math.max(current ? Date.parse(current.until) : 0, Date.now());
      const until = new Date(from + s.days * DAY).toISOString();
      if (current) current.until = until;
      else this.snapshot.supply.push({ drugCode: s.drugCode, until });
      this.supplySet(s.drugCode);
      this.changes += 1;
      await this.project([this.event('supply.added', SYSTEM, { prescriptionId: s.prescriptionId, drugCode: s.drugCode, days: s.days, until }, key)]);
    });
  }

  enrol(): Promise<void> {
    return this.transition(async () => {
      await this.project([
        this.event('program.enrolled', actorName(this.input.enrolledBy), {
          condition: this.input.condition,
          template: this.snapshot.template,
          doctorId: this.snapshot.doctorId,
          medications: this.snapshot.plan.medications.map((m) => ({ drugCode: m.drugCode, times: m.times, supplyDays: m.supplyDays })),
        }),
      ]);
    });
  }
}

export async function careProgram(input: ProgramInput): Promise<ProgramSnapshot> {
  const p = new Program(input);
  p.lean = patched(LEAN_REMINDERS_PATCH);
  setHandler(programQuery, () => p.view());
  setHandler(readingUpdate, (r) => p.record(r), { validator: (_r) => p.requireOpen() });
  setHandler(programDoseUpdate, (d) => p.answerDose(d), { validator: (d) => p.requireDose(d) });
  setHandler(programPlanUpdate, (u) => p.changePlan(u), {
    validator: (u) => {
      p.requireOpen();
      p.requireResponsible(u.actor);
    },
  });
  setHandler(programStatusUpdate, (u) => p.changeStatus(u), { validator: (u) => p.requireStatusChange(u) });
  setHandler(supplyAddedSignal, (s) => void p.addSupply(s));

  if (!input.carried) await p.enrol();
  const runStart = Date.now();

  while (p.status !== 'discharged') {
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength >= RUN_EVENTS || Date.now() - runStart >= RUN_LENGTH) {
      await p.drain();
      if (p.isEnding) break;
      return continueAsNew<typeof careProgram>({ ...input, carried: p.carry() });
    }
    if (p.status === 'paused') {
      const changes = p.changes;
      await condition(() => p.changes !== changes, Math.max(runStart + RUN_LENGTH - Date.now(), 1));
      continue;
    }
    if (p.plannedUntil - Date.now() < 2 * DAY) {
      // Local activities never run side by side: the plan waits its turn behind the projections. Two at
      // once resolve in one activation on replay but in two when run, so the commands after them (an
      // update's completion, the next timer) would come in another order and the replay would fail.
      if (p.lean) await p.transition(() => p.plan());
      else await p.plan();
    }
    const next = p.dues(runStart)[0]!;
    const changes = p.changes;
    if (await condition(() => p.changes !== changes || p.status !== 'active', Math.max(next.at - Date.now(), 1))) continue;
    if (next.kind === 'occurrences') await p.fireOccurrences();
    else if (next.kind === 'followup') await p.createFollowUp(next.k, next.at);
    else if (next.kind === 'followup-check') await p.checkFollowUp(next.journeyId);
    else if (next.kind === 'refill') await p.startRefill(next.drugCode, next.until, next.at);
    else if (next.kind === 'education') await p.sendEducation(next.topic, next.at);
    // 'plan' and 'continue': the top of the loop does it.
  }
  await p.drain();
  return p.view();
}
