// multidisciplinaryConsultation (`mdt:<id>`, 多学科会诊, issue 12): a doctor (the convener) convenes
// specialists on one patient's case. Each specialist is invited with a deadline (`opinionWithin`) and
// gives one opinion; one late is reminded at the deadline, then coordinators are asked every
// `escalateAfter`, tier after tier. The convener records one conclusion, refused before the quorum the
// request set; a conclusion late past `concludeWithin` escalates the same way, and an MDT not
// concluded within `expireAfter` expires. The patient is told once it is concluded.
//
// On the shared core (workflows/kernel.ts): FIFO transitions, one projection per transition (its row,
// its timeline, its tasks, the notification, the text it accepts), one escalation ladder per late
// specialist and one for the conclusion. The case, the opinions and the conclusion are texts the API
// stores in PostgreSQL: the workflow holds their ids and counts only.
import { condition, patched, setHandler } from '@temporalio/workflow';
import {
  MdtFailureType,
  mdtConclusionUpdate,
  mdtOpinionUpdate,
  mdtQuery,
  type MdtConclusionInput,
  type MdtInput,
  type MdtOpinionInput,
  type MdtSnapshot,
  type TaskChange,
  type TaskSubject,
  type TimelineEvent,
} from './definitions.js';
import { durationMs } from './duration.js';
import { SYSTEM, WorkflowKernel, localWork, refused } from './kernel.js';

/** The patient is told when the MDT is convened too (with the specialists' number), not only when it concludes. */
export const CONVENED_NOTICE_PATCH = 'mdt-convened-notice';

class Mdt extends WorkflowKernel {
  readonly snapshot: MdtSnapshot;
  /** The text the next projection accepts. */
  private accept: string | undefined;

  constructor(readonly input: MdtInput) {
    super(`mdt:${input.mdtId}`, input.patientId);
    const t = input.template;
    const now = Date.now();
    const due = new Date(now + durationMs(t.opinionWithin)).toISOString();
    this.snapshot = {
      id: input.mdtId,
      patientId: input.patientId,
      convenerId: input.convenerId,
      ...(input.journeyId ? { journeyId: input.journeyId } : {}),
      template: { id: t.id, version: t.version },
      status: 'open',
      quorum: input.quorum,
      specialists: input.specialists.map((doctorId) => ({ doctorId, status: 'invited', dueBy: due })),
      opinions: 0,
      convenedAt: new Date(now).toISOString(),
      conclusionDueBy: new Date(now + durationMs(t.concludeWithin)).toISOString(),
      expiresAt: new Date(now + durationMs(t.expireAfter)).toISOString(),
    };
    // A new workflow type: its short work runs as local activities from its first task.
    this.useLocalWork();
    this.notifiesInProjection = true;
  }

  get isEnding(): boolean {
    return this.snapshot.status !== 'open';
  }

  get subject(): TaskSubject {
    return { type: 'mdt', id: this.input.mdtId };
  }

  protected refs(): Record<string, string> {
    return { mdtId: this.input.mdtId };
  }

  protected indexOf() {
    return { status: this.snapshot.status, doctorId: this.snapshot.convenerId };
  }

  view(): MdtSnapshot {
    return JSON.parse(JSON.stringify(this.snapshot)) as MdtSnapshot;
  }

  protected async writeProjection(version: number, events: TimelineEvent[], tasks: TaskChange[] | undefined): Promise<void> {
    const acceptMessage = this.accept;
    this.accept = undefined;
    const { transition, sent } = this.outgoingTransition(version, this.view(), events, tasks);
    const recorded = await localWork.recordMdtTransition({ ...transition, ...(acceptMessage ? { acceptMessage } : {}) });
    this.outreachStored(sent, recorded);
  }

  private specialist(doctorId: string) {
    return this.snapshot.specialists.find((s) => s.doctorId === doctorId);
  }

  private opinionTask(doctorId: string, status: TaskChange['status'], tier = 1): TaskChange {
    return {
      id: `${this.wfId}:opinion:${doctorId}`,
      kind: 'mdt-opinion',
      role: 'doctor',
      assigneeId: doctorId,
      status,
      subject: this.subject,
      action: 'give your opinion on the multidisciplinary consultation',
      dueAt: this.specialist(doctorId)!.dueBy,
      tier,
    };
  }

  private conclusionTask(status: TaskChange['status']): TaskChange {
    return {
      id: `${this.wfId}:conclusion`,
      kind: 'mdt-conclusion',
      role: 'doctor',
      assigneeId: this.input.convenerId,
      status,
      subject: this.subject,
      action: 'record the multidisciplinary consultation\'s conclusion',
      dueAt: this.snapshot.conclusionDueBy,
      tier: 1,
    };
  }

  /** The escalations of one ladder (a specialist's, or the conclusion's). */
  private ladderOf(what: string): (t: TaskChange) => boolean {
    return (t) => t.id.startsWith(`${this.wfId}:${what}:`);
  }

  // ---- checks (update validators, and again inside the transition) ----

  requireOpinion(o: MdtOpinionInput): void {
    if (this.isEnding) throw refused(MdtFailureType.Closed, `the MDT is ${this.snapshot.status}`);
    const s = this.specialist(o.doctorId);
    if (!s) throw refused(MdtFailureType.NotInvited, 'only an invited specialist gives an opinion');
    if (s.status === 'submitted') throw refused(MdtFailureType.OpinionGiven, 'this specialist has given their opinion');
  }

  requireConclusion(c: MdtConclusionInput): void {
    if (this.isEnding) throw refused(MdtFailureType.Closed, `the MDT is ${this.snapshot.status}`);
    if (c.doctorId !== this.input.convenerId) throw refused(MdtFailureType.NotConvener, 'only the convener records the conclusion');
    const { opinions, quorum } = this.snapshot;
    if (opinions < quorum) throw refused(MdtFailureType.QuorumNotMet, `${opinions} of the ${quorum} opinions the request asked for are in`);
  }

  // ---- transitions ----

  convene(): Promise<void> {
    return this.transition(async () => {
      this.accept = this.input.caseMessageId;
      if (patched(CONVENED_NOTICE_PATCH)) this.sendWithProjection(this.notification('mdt.convened', 'convened', { count: this.input.specialists.length }));
      await this.project(
        [this.event('mdt.convened', `doctor:${this.input.convenerId}`, { specialists: this.input.specialists, quorum: this.input.quorum, template: this.snapshot.template, caseMessageId: this.input.caseMessageId })],
        [...this.input.specialists.map((d) => this.opinionTask(d, 'open')), this.conclusionTask('open')],
      );
    });
  }

  opinion(o: MdtOpinionInput): Promise<MdtSnapshot> {
    return this.transition(async () => {
      this.requireOpinion(o);
      const s = this.specialist(o.doctorId)!;
      s.status = 'submitted';
      s.submittedAt = new Date().toISOString();
      this.snapshot.opinions += 1;
      const events = [this.event('mdt.opinion', `doctor:${o.doctorId}`, { messageId: o.messageId, opinions: this.snapshot.opinions }, o.doctorId)];
      const tasks = [this.opinionTask(o.doctorId, 'done'), ...this.closeEscalations(events, 'done', this.ladderOf(`opinion:${o.doctorId}`))];
      this.accept = o.messageId;
      await this.project(events, tasks);
      return this.view();
    });
  }

  conclude(c: MdtConclusionInput): Promise<MdtSnapshot> {
    return this.transition(async () => {
      this.requireConclusion(c);
      this.snapshot.status = 'concluded';
      this.snapshot.concludedAt = new Date().toISOString();
      const events = [this.event('mdt.concluded', `doctor:${c.doctorId}`, { messageId: c.messageId, opinions: this.snapshot.opinions })];
      const tasks = [
        this.conclusionTask('done'),
        ...this.closeEscalations(events, 'done', this.ladderOf('conclusion')),
        ...this.unfinished('cancelled'),
        ...this.closeEscalations(events, 'cancelled'),
      ];
      this.accept = c.messageId;
      this.sendWithProjection(this.notification('mdt.concluded', 'concluded', { count: this.snapshot.opinions }));
      await this.project(events, tasks);
      return this.view();
    });
  }

  /** The opinion tasks of specialists who never gave one. */
  private unfinished(status: 'cancelled'): TaskChange[] {
    return this.snapshot.specialists.filter((s) => s.status !== 'submitted').map((s) => this.opinionTask(s.doctorId, status));
  }

  /** A specialist past their deadline: reminded once (their task due again `escalateAfter` later). */
  private remind(doctorId: string): Promise<void> {
    return this.transition(async () => {
      const s = this.specialist(doctorId)!;
      if (this.isEnding || s.status !== 'invited') return;
      s.status = 'reminded';
      s.dueBy = new Date(Date.now() + durationMs(this.input.template.escalateAfter)).toISOString();
      await this.project([this.event('mdt.reminded', SYSTEM, { doctorId, dueBy: s.dueBy }, doctorId)], [this.opinionTask(doctorId, 'open', 2)]);
    });
  }

  /** Not concluded in time: the MDT expires, its open tasks and escalations cancelled. */
  expire(): Promise<void> {
    return this.transition(async () => {
      if (this.isEnding) return;
      this.snapshot.status = 'expired';
      const events = [this.event('mdt.expired', SYSTEM, { opinions: this.snapshot.opinions })];
      await this.project(events, [this.conclusionTask('cancelled'), ...this.unfinished('cancelled'), ...this.closeEscalations(events, 'cancelled')]);
    });
  }

  /** A specialist's deadline: reminded at it, then coordinators every `escalateAfter` until the opinion comes or the MDT ends. */
  async watchSpecialist(doctorId: string): Promise<void> {
    const done = () => this.isEnding || this.specialist(doctorId)!.status === 'submitted';
    if (await condition(done, Math.max(Date.parse(this.specialist(doctorId)!.dueBy) - Date.now(), 1))) return;
    await this.remind(doctorId);
    const every = durationMs(this.input.template.escalateAfter);
    await this.awaitWithEscalation({
      what: `opinion:${doctorId}`,
      subject: this.subject,
      action: 'a specialist has not given their MDT opinion in time',
      maxTier: this.input.template.maxEscalationTier,
      firstDeadline: Date.now() + every,
      sla: every,
      done,
    });
  }

  /** The conclusion's deadline: coordinators every `escalateAfter` past it until it is recorded or the MDT ends. */
  watchConclusion(): Promise<void> {
    return this.awaitWithEscalation({
      what: 'conclusion',
      subject: this.subject,
      action: 'the convener has not recorded the MDT conclusion in time',
      maxTier: this.input.template.maxEscalationTier,
      firstDeadline: Date.parse(this.snapshot.conclusionDueBy),
      sla: durationMs(this.input.template.escalateAfter),
      done: () => this.isEnding,
    });
  }
}

export async function multidisciplinaryConsultation(input: MdtInput): Promise<MdtSnapshot> {
  const m = new Mdt(input);
  setHandler(mdtQuery, () => m.view());
  setHandler(mdtOpinionUpdate, (o) => m.opinion(o), { validator: (o: MdtOpinionInput) => m.requireOpinion(o) });
  setHandler(mdtConclusionUpdate, (c) => m.conclude(c), { validator: (c: MdtConclusionInput) => m.requireConclusion(c) });

  await m.convene();
  const watchers = [...input.specialists.map((d) => m.watchSpecialist(d)), m.watchConclusion()];
  if (!(await condition(() => m.isEnding, Math.max(Date.parse(m.snapshot.expiresAt) - Date.now(), 1)))) await m.expire();
  await Promise.all(watchers);
  await m.drain();
  return m.view();
}
