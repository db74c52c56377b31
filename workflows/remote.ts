// remoteConsultation (`remote:<id>`, 远程会诊, issue 12): a primary-care institution or a pharmacy asks
// for a specialist's opinion on one of its patients (a signed request). Coordinators schedule a
// specialist within the template's `assignWithin`; the specialist gives the opinion within the agreed
// `opinionWithin` from the request; each late step escalates to coordinators, tier after tier. Once
// given, the opinion goes back, signed with the institution's own secret, to the institution that asked
// and to no other (the activity reads where from the request's own row), retried until it is taken.
//
// On the shared core (workflows/kernel.ts): FIFO transitions, one projection per transition, the
// escalation ladder. The request's and the opinion's texts are in PostgreSQL: the workflow holds ids.
import { condition, patched, setHandler } from '@temporalio/workflow';
import {
  RemoteFailureType,
  remoteAssignUpdate,
  remoteOpinionUpdate,
  remoteQuery,
  type RemoteAssignInput,
  type RemoteInput,
  type RemoteOpinionInput,
  type RemoteSnapshot,
  type TaskChange,
  type TaskSubject,
  type TimelineEvent,
  actorName,
} from './definitions.js';
import { durationMs } from './duration.js';
import { SYSTEM, WorkflowKernel, localWork, partner, refused } from './kernel.js';

/** The patient is told that their institution's request was received, and when the opinion went back to it. */
export const PATIENT_NOTICES_PATCH = 'remote-patient-notices';

class Remote extends WorkflowKernel {
  /** `remote-patient-notices`, decided at the start. */
  private notices = false;

  readonly snapshot: RemoteSnapshot;
  private accept: string | undefined;

  constructor(readonly input: RemoteInput) {
    super(`remote:${input.remoteId}`, input.patientId);
    const t = input.template;
    const now = Date.now();
    this.snapshot = {
      id: input.remoteId,
      institutionId: input.institutionId,
      externalRef: input.externalRef,
      patientId: input.patientId,
      department: input.department,
      template: { id: t.id, version: t.version },
      status: 'received',
      receivedAt: new Date(now).toISOString(),
      assignDueBy: new Date(now + durationMs(t.assignWithin)).toISOString(),
      opinionDueBy: new Date(now + durationMs(t.opinionWithin)).toISOString(),
    };
    // A new workflow type: its short work runs as local activities from its first task.
    this.useLocalWork();
    this.notifiesInProjection = true;
  }

  get isEnding(): boolean {
    return this.snapshot.status === 'returned';
  }

  get answered(): boolean {
    return this.snapshot.status === 'answered' || this.snapshot.status === 'returned';
  }

  get subject(): TaskSubject {
    return { type: 'remote', id: this.input.remoteId };
  }

  protected refs(): Record<string, string> {
    return { remoteId: this.input.remoteId };
  }

  protected indexOf() {
    return { status: this.snapshot.status, department: this.snapshot.department, doctorId: this.snapshot.doctorId };
  }

  view(): RemoteSnapshot {
    return JSON.parse(JSON.stringify(this.snapshot)) as RemoteSnapshot;
  }

  protected async writeProjection(version: number, events: TimelineEvent[], tasks: TaskChange[] | undefined): Promise<void> {
    const acceptMessage = this.accept;
    this.accept = undefined;
    const { transition, sent } = this.outgoingTransition(version, this.view(), events, tasks);
    const recorded = await localWork.recordRemoteTransition({ ...transition, ...(acceptMessage ? { acceptMessage } : {}) });
    this.outreachStored(sent, recorded);
  }

  private assignTask(status: TaskChange['status']): TaskChange {
    return {
      id: `${this.wfId}:assign`,
      kind: 'remote-assign',
      role: 'coordinator',
      status,
      subject: this.subject,
      action: 'schedule a specialist for the remote consultation',
      dueAt: this.snapshot.assignDueBy,
      tier: 1,
    };
  }

  private opinionTask(doctorId: string, status: TaskChange['status']): TaskChange {
    return {
      id: `${this.wfId}:opinion:${doctorId}`,
      kind: 'remote-opinion',
      role: 'doctor',
      assigneeId: doctorId,
      status,
      subject: this.subject,
      action: 'give the remote consultation\'s opinion',
      dueAt: this.snapshot.opinionDueBy,
      tier: 1,
    };
  }

  // ---- checks ----

  requireAssignable(): void {
    if (this.answered) throw refused(RemoteFailureType.Answered, 'the opinion is given: the specialist can no longer change');
  }

  requireOpinion(o: RemoteOpinionInput): void {
    if (this.answered) throw refused(RemoteFailureType.Answered, 'the opinion is given already');
    if (this.snapshot.doctorId !== o.doctorId) throw refused(RemoteFailureType.NotAssigned, 'only the specialist scheduled for it gives the opinion');
  }

  // ---- transitions ----

  receive(): Promise<void> {
    return this.transition(async () => {
      this.accept = this.input.requestMessageId;
      this.notices = patched(PATIENT_NOTICES_PATCH);
      if (this.notices) this.sendWithProjection(this.notification('remote.received', 'received'));
      await this.project(
        [this.event('remote.received', `institution:${this.input.institutionId}`, { department: this.input.department, template: this.snapshot.template, opinionDueBy: this.snapshot.opinionDueBy, messageId: this.input.requestMessageId })],
        [this.assignTask('open')],
      );
    });
  }

  assign(a: RemoteAssignInput): Promise<RemoteSnapshot> {
    return this.transition(async () => {
      this.requireAssignable();
      const s = this.snapshot;
      if (s.doctorId === a.doctorId) return this.view();
      const tasks: TaskChange[] = [];
      const events = [this.event('remote.assigned', actorName(a.actor), { doctorId: a.doctorId, ...(s.doctorId ? { replaces: s.doctorId } : {}) }, a.doctorId)];
      if (s.doctorId) tasks.push(this.opinionTask(s.doctorId, 'cancelled'));
      else tasks.push(this.assignTask('done'), ...this.closeEscalations(events, 'done', (t) => t.id.startsWith(`${this.wfId}:assign:`)));
      s.doctorId = a.doctorId;
      s.status = 'assigned';
      s.assignedAt = new Date().toISOString();
      tasks.push(this.opinionTask(a.doctorId, 'open'));
      await this.project(events, tasks);
      return this.view();
    });
  }

  opinion(o: RemoteOpinionInput): Promise<RemoteSnapshot> {
    return this.transition(async () => {
      this.requireOpinion(o);
      const s = this.snapshot;
      s.status = 'answered';
      s.answeredAt = new Date().toISOString();
      const events = [this.event('remote.answered', `doctor:${o.doctorId}`, { messageId: o.messageId, late: Date.parse(s.answeredAt) > Date.parse(s.opinionDueBy) })];
      this.accept = o.messageId;
      await this.project(events, [this.opinionTask(o.doctorId, 'done'), ...this.closeEscalations(events)]);
      return this.view();
    });
  }

  /** The opinion goes back to the institution that asked, signed with its secret; retried until it is taken. */
  returnOpinion(): Promise<void> {
    return this.transition(async () => {
      const sent = await partner.sendRemoteOpinion({ remoteId: this.input.remoteId });
      this.snapshot.status = 'returned';
      this.snapshot.returnedAt = new Date().toISOString();
      if (this.notices) this.sendWithProjection(this.notification('remote.returned', 'returned'));
      await this.project([this.event('remote.returned', SYSTEM, { institutionId: this.input.institutionId, attempts: sent.attempts })]);
    });
  }

  /** One late step's ladder: coordinators every `escalateAfter` from its due time until it is done. */
  watch(what: 'assign' | 'opinion', due: string, done: () => boolean, action: string): Promise<void> {
    return this.awaitWithEscalation({
      what,
      subject: this.subject,
      action,
      maxTier: this.input.template.maxEscalationTier,
      firstDeadline: Date.parse(due),
      sla: durationMs(this.input.template.escalateAfter),
      done,
    });
  }
}

export async function remoteConsultation(input: RemoteInput): Promise<RemoteSnapshot> {
  const r = new Remote(input);
  setHandler(remoteQuery, () => r.view());
  setHandler(remoteAssignUpdate, (a) => r.assign(a), { validator: (_a: RemoteAssignInput) => r.requireAssignable() });
  setHandler(remoteOpinionUpdate, (o) => r.opinion(o), { validator: (o: RemoteOpinionInput) => r.requireOpinion(o) });

  await r.receive();
  const s = r.snapshot;
  // Both ladders end with the opinion: the wait for it is bounded by their deadlines, escalated until it comes.
  await Promise.all([
    r.watch('assign', s.assignDueBy, () => s.doctorId !== undefined || r.answered, 'no specialist is scheduled for the remote consultation in time'),
    r.watch('opinion', s.opinionDueBy, () => r.answered, 'the remote consultation\'s opinion is late for the agreed time'),
  ]);
  await condition(() => r.answered);
  await r.returnOpinion();
  await r.drain();
  return r.view();
}
