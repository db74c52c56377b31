// The machinery every CarePath workflow shares: a FIFO transition queue, one-transaction projections,
// stored-then-delivered notifications whose ids come from workflow id + occurrence, and the tiered
// escalation ladder. A workflow's state class extends `WorkflowKernel` and supplies only what is its
// own: how one transition is projected (its tables, its timeline) and the refs its notifications carry.
//
// Deterministic like all workflow code: time, waits and ids come from the workflow runtime, and every
// side effect is an activity. Changes here change every workflow that runs on it: they go behind
// `patched()` with a replay test over the committed histories (tests/histories/).
import { ApplicationFailure, allHandlersFinished, condition, getExternalWorkflowHandle, log, patched, proxyActivities, proxyLocalActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { DELIVERY, PARTNER_CALL, SHORT_WORK } from './activity-options.js';
import { durationMs } from './duration.js';
import { indexChanges, type CarePathIndex } from './search-attributes.js';
import {
  OUTREACH_KINDS,
  RuleFailureType,
  itemSettledSignal,
  journeyWorkflowId,
  type ConsentFound,
  type ItemSnapshot,
  type ItemType,
  type NotificationRequest,
  type NotificationKind,
  type Payment,
  type PaymentReceived,
  type PaymentTaken,
  type Recorded,
  type TaskChange,
  type TaskSubject,
  type TimelineEvent,
  type TimelineType,
  type TransitionEffects,
  SYSTEM,
} from './definitions.js';

/** Short database work: retried until done (timeouts: workflows/activity-options.ts). */
export const act = proxyActivities<Activities>(SHORT_WORK);

/**
 * The same short database work as local activities: one history event (a marker) each instead of
 * three, run inside the workflow task rather than in one of its own. Each is idempotent (projections
 * are versioned with keyed events and tasks, seats and orders keyed by journey), so running one again
 * after a lost workflow task changes nothing. A workflow chooses them at its start, behind a patch of
 * its own, and is started with LOCAL_WORK_TASK_TIMEOUT.
 */
export const localWork = proxyLocalActivities<Activities>(SHORT_WORK);

/** Calls that wait on a partner (payment provider, courier, facility): heartbeated, retried until done. */
export const partner = proxyActivities<Activities>(PARTNER_CALL);

/** Webhook deliveries retry on their own, in the background, until the gateway takes them. */
export const delivery = proxyActivities<Activities>(DELIVERY);

export { SYSTEM };

/** Patches of the shared core, named once so every workflow asks the same question. */
export const Patch = {
  /** After the last tier, an escalation waits for the work without a timer (landed code re-armed one every SLA period). */
  IdleAfterLastTier: 'escalation-idle-after-last-tier',
  /** Each tier is a task of its own, so acknowledging one does not silence the next. */
  TaskPerTier: 'escalation-task-per-tier',
  /** Every projection also keeps the workflow's search attributes (workflows/search-attributes.ts) up to date. */
  SearchAttributes: 'search-attributes',
  /**
   * An outreach notification withheld for consent (activities/consent.ts) is not delivered nor told as
   * sent, and the timeline says why once (`outreach.stopped`, later `outreach.resumed`). Asked only
   * when one is withheld, so a workflow that never meets a withdrawal carries no marker.
   */
  OutreachConsent: 'outreach-consent',
} as const;

/** A refusal an update answers with: its `type` is one the API maps (FailureType, ItemFailureType). */
export function refused(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}

/** One escalation ladder: tier 1 at the first deadline, each further tier one SLA later, up to `maxTier`. */
export interface Ladder {
  /** The occurrence key of this ladder within the workflow (`consult-start-sla`, `review-sla`). */
  what: string;
  /** The late item, shown on the task. */
  subject: TaskSubject;
  /** What coordinators are asked to look at. */
  action: string;
  maxTier: number;
  firstDeadline: number;
  sla: number;
  /** The late work is done (or the workflow is ending): the ladder stops. */
  done(): boolean;
}

export abstract class WorkflowKernel {
  /** Escalation tasks raised and not yet closed by the transition that resolved their work. */
  protected openEscalations: TaskChange[] = [];
  private deliveries: Promise<unknown>[] = [];
  /** The tail of the transition queue, and how many transitions were ever queued. */
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;
  /** Increases with every projection, so a read model never takes an older snapshot over a newer one. */
  private version = 0;
  /** Short database work: activities, or local activities once the workflow chose them (`useLocalWork`). */
  protected work: typeof act | typeof localWork = act;
  /**
   * The workflow's notifications go into its projections' transactions, delivered by the outbox
   * dispatcher (`projectAndSend`), instead of being stored and delivered by activities after them.
   */
  protected notifiesInProjection = false;
  /**
   * Outreach has been withheld since this consent change (`ConsentFound.seq`, 0 for none) and the
   * timeline has said so; undefined while outreach goes out.
   */
  protected outreachStopped: number | undefined;
  /** Timeline events learnt from storing notifications (`outreach.stopped` / `.resumed`): the next projection appends them. */
  private learnt: TimelineEvent[] = [];
  /**
   * Notifications of the transition being projected, stored in the projection's own transaction and
   * delivered by the outbox dispatcher (a program's always; a journey's since `journey-one-transaction`).
   */
  private outgoing: NotificationRequest[] = [];
  /** Events of that transition that say one of them went out (event key: notification id). */
  private announces: Record<string, string> = {};

  constructor(
    readonly wfId: string,
    readonly patientId: string,
  ) {}

  /** From now on, short database work (projections, notifications' storing, …) runs as local activities. */
  useLocalWork(): void {
    this.work = localWork;
  }

  /**
   * Writes one transition (this workflow's snapshot, events and tasks, and what `outgoingTransition` gives) in
   * one transaction, with the effects a journey's transition carries. Answers what the projection
   * stored, or nothing (a projection that stores no notification).
   */
  protected abstract writeProjection(version: number, events: TimelineEvent[], tasks: TaskChange[] | undefined, effects?: TransitionEffects): Promise<Recorded | void>;

  /** The ids a notification of this workflow refers to (`{journeyId}`, `{journeyId, prescriptionId}`). */
  protected abstract refs(): Record<string, string>;

  /** What this workflow's state says in its search attributes besides the patient and `overdue` (ids and codes only). */
  protected abstract indexOf(): Omit<CarePathIndex, 'patientId' | 'overdue'>;

  /** The workflow has reached an end state: waits stop and nothing new starts. */
  abstract get isEnding(): boolean;

  /** Runs `fn` after every transition queued before it (FIFO), never alongside another one. */
  transition<T>(fn: () => Promise<T>): Promise<T> {
    this.queued += 1;
    const run = this.tail.then(fn);
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Resolves when every transition queued so far, and every delivery started, has finished. */
  async settled(): Promise<void> {
    let seen = -1;
    while (seen !== this.workCount()) {
      seen = this.workCount();
      await this.tail;
      await Promise.all(this.deliveries);
    }
  }

  workCount(): number {
    return this.queued + this.deliveries.length;
  }

  /** Waits until no handler, transition or delivery is left (a late message is still handled here). */
  async drain(): Promise<void> {
    for (;;) {
      const before = this.workCount();
      await condition(allHandlersFinished);
      await this.settled();
      if (this.workCount() === before) return;
    }
  }

  /** A timeline event; its key (type + occurrence) makes a retried projection append it once. */
  event(type: TimelineType, actor: string, data: Record<string, unknown> = {}, occurrence = ''): TimelineEvent {
    return { key: occurrence ? `${type}:${occurrence}` : type, at: new Date().toISOString(), type, actor, data };
  }

  /** The version of the last projection (a workflow that continues as new carries it on). */
  protected get projectionVersion(): number {
    return this.version;
  }

  /** A new run of a workflow that continued as new goes on from the version its last run projected. */
  protected resumeProjectionVersion(version: number): void {
    this.version = version;
  }

  /**
   * Projects the current state with the transition's events and tasks, in one transaction, and
   * indexes it. What was learnt from storing notifications goes first; a projection that itself stores
   * notifications (a program's) and learns something is followed by one that says it.
   */
  async project(events: TimelineEvent[], tasks?: TaskChange[], effects?: TransitionEffects): Promise<Recorded | void> {
    const learnt = this.learnt.splice(0);
    this.version += 1;
    // A transition with a check is indexed once it holds: a refused one changes nothing, not even these.
    const checked = effects?.standing !== undefined;
    if (!checked) this.index();
    const recorded = await this.writeProjection(this.version, [...learnt, ...events], tasks, effects);
    if (recorded?.refused) {
      this.learnt.unshift(...learnt);
      return recorded;
    }
    if (checked) this.index();
    if (this.learnt.length > 0) await this.project([]);
    return recorded;
  }

  /**
   * Projects the transition, then sends `notifications`: with the projection, in its transaction, when
   * the workflow `notifiesInProjection`; else stored and delivered one after another once it is written.
   */
  protected async projectAndSend(events: TimelineEvent[], tasks: TaskChange[] | undefined, notifications: NotificationRequest[], effects?: TransitionEffects): Promise<void> {
    if (!this.notifiesInProjection) {
      await this.project(events, tasks, effects);
      for (const n of notifications) await this.send(n);
      return;
    }
    for (const n of notifications) this.sendWithProjection(n);
    await this.project(events, tasks, effects);
  }

  /**
   * `n` goes with the next projection, stored in its transaction; `announcedBy`, an event of that
   * projection that says it went out, is appended only if it was not withheld. Returns its id.
   */
  protected sendWithProjection(n: NotificationRequest, announcedBy?: TimelineEvent): string {
    this.outgoing.push(n);
    if (announcedBy) this.announces[announcedBy.key] = n.id;
    return n.id;
  }

  /**
   * The transition a projection writes, with the notifications it sends and the events that announce
   * them (taken once); `sent` for `outreachStored` once it is written.
   */
  protected outgoingTransition<S>(version: number, snapshot: S, events: TimelineEvent[], tasks: TaskChange[] | undefined) {
    const notifications = this.outgoing;
    const announces = this.announces;
    this.outgoing = [];
    this.announces = {};
    const transition = {
      version,
      snapshot,
      events,
      ...(tasks ? { tasks } : {}),
      ...(notifications.length ? { notifications } : {}),
      ...(Object.keys(announces).length ? { announces } : {}),
    };
    return { transition, sent: notifications };
  }

  /**
   * Takes what a projection found of outreach consent (the landed activities answered nothing) for the
   * notifications it sent; returns those it withheld, once the timeline is to say so.
   */
  protected outreachStored(sent: NotificationRequest[], recorded: Recorded | void): NotificationRequest[] {
    if (!recorded?.outreach) return [];
    const withheld = sent.filter((n) => recorded.withheld.includes(n.id));
    const kind = (withheld[0] ?? sent.find((n) => OUTREACH_KINDS.includes(n.kind)))!.kind;
    return this.outreachOutcome(kind, withheld.length === 0, recorded.outreach) ? [] : withheld;
  }

  /**
   * Sets the search attributes that changed since the last projection, so the Temporal UI finds the
   * workflow by its state: the same transitions as the read model, so one mechanism. Overdue means an
   * escalation of this workflow is open (raised when a deadline passed, closed when the work is done).
   */
  private index(): void {
    const now: CarePathIndex = { ...this.indexOf(), patientId: this.patientId, overdue: this.openEscalations.length > 0 };
    const changes = indexChanges(workflowInfo().typedSearchAttributes, now);
    // Asked only when something changed: a projection that changes none (a program's reminder) costs no marker.
    if (changes.length > 0 && patched(Patch.SearchAttributes)) upsertSearchAttributes(changes);
  }

  /**
   * Stores the notification (awaited) and delivers it in the background: a down gateway never holds the
   * workflow. False when the store withheld it (an outreach kind whose patient has withdrawn consent):
   * nothing is delivered, and the caller tells nothing as sent; the next projection says why.
   */
  async send(req: NotificationRequest): Promise<boolean> {
    // Histories of the landed activity hold no answer: stored.
    const r = await this.work.notify(req);
    if (!this.outreachOutcome(req.kind, r?.stored !== false, r?.outreach)) return false;
    this.deliveries.push(
      delivery
        .deliverNotification({ id: req.id })
        .catch((err: unknown) => log.warn('notification delivery gave up', { notificationId: req.id, error: String(err) })),
    );
    return true;
  }

  /**
   * Takes what storing an outreach notification found (`consent` is undefined for other kinds);
   * false when it was withheld. The timeline says once that outreach stopped, and once that it resumed
   * when the patient gave consent again and the next one went out: the change's seq keys each.
   */
  protected outreachOutcome(kind: NotificationKind, stored: boolean, consent: ConsentFound | undefined): boolean {
    if (!consent) return true;
    if (!stored) {
      if (!patched(Patch.OutreachConsent)) return true;
      if (this.outreachStopped === undefined) {
        this.outreachStopped = consent.seq ?? 0;
        const data = { reason: RuleFailureType.ConsentWithdrawn, scope: 'outreach', kind, since: consent.changedAt };
        this.learnt.push(this.event('outreach.stopped', SYSTEM, data, `${this.outreachStopped}`));
      }
      return false;
    }
    if (this.outreachStopped !== undefined) {
      this.outreachStopped = undefined;
      const data = { reason: 'consent-given', scope: 'outreach', kind, since: consent.changedAt };
      this.learnt.push(this.event('outreach.resumed', SYSTEM, data, `${consent.seq ?? 0}`));
    }
    return true;
  }

  /** A notification whose id is this workflow's id + kind + occurrence: created once, whatever the retries. */
  notification(kind: NotificationRequest['kind'], occurrence: string, params: NotificationRequest['params'] = {}): NotificationRequest {
    return { id: `${this.wfId}:${kind}:${occurrence}`, patientId: this.patientId, kind, refs: this.refs(), params };
  }

  /**
   * Sends one reminder at each offset before `at` (ISO durations), in time order, until `stop()`.
   * Offsets already past when this starts are skipped, never sent late.
   */
  async remindBefore(at: number, offsets: string[], stop: () => boolean, send: (offset: string) => Promise<void>): Promise<void> {
    const dues = offsets
      .map((offset) => ({ offset, due: at - durationMs(offset) }))
      .filter((r) => r.due >= Date.now())
      .sort((a, b) => a.due - b.due);
    for (const r of dues) {
      if (await condition(stop, Math.max(r.due - Date.now(), 1))) return;
      await send(r.offset);
    }
  }

  /**
   * Waits for `done` with the SLA as deadline; each time it passes, raises the next tier's escalation
   * task for coordinators, up to `maxTier`. After the last tier it waits for the work with no timer.
   */
  async awaitWithEscalation(l: Ladder): Promise<void> {
    let deadline = l.firstDeadline;
    let tier = 0;
    for (;;) {
      if (tier >= l.maxTier && patched(Patch.IdleAfterLastTier)) {
        await condition(l.done);
        return;
      }
      if (await condition(l.done, Math.max(deadline - Date.now(), 1))) return;
      if (tier < l.maxTier) {
        tier += 1;
        await this.escalate(l, tier, new Date(deadline).toISOString());
      }
      deadline = Date.now() + l.sla;
    }
  }

  private escalate(l: Ladder, tier: number, dueAt: string): Promise<void> {
    return this.transition(async () => {
      if (l.done() || this.isEnding) return;
      const id = patched(Patch.TaskPerTier) ? `${this.wfId}:${l.what}:${tier}` : `${this.wfId}:${l.what}`;
      const task: TaskChange = { id, kind: 'escalation', role: 'coordinator', status: 'open', subject: l.subject, action: l.action, dueAt, tier };
      this.openEscalations = [...this.openEscalations.filter((t) => t.id !== id), task];
      await this.project(
        [this.event('task.escalated', SYSTEM, { taskId: id, kind: 'escalation', subject: l.subject, tier }, `${l.what}:${tier}`)],
        [task],
      );
    });
  }

  /**
   * Takes a reported payment for `pay`: another order or a repeat changes nothing; while the workflow
   * waits for it (`waiting`), `apply` marks it paid and moves on; otherwise nobody waits for it any more,
   * so it is paid back at once (`payment.refunded`, and the patient told) and the state stays as it is.
   * Call inside a transition.
   */
  protected async takePayment(pay: Payment | undefined, p: PaymentReceived, waiting: boolean, apply: () => Promise<void>): Promise<PaymentTaken> {
    if (!pay || pay.orderId !== p.orderId) return { outcome: 'unchanged' };
    if (pay.status === 'paid' || pay.status === 'refunded') return { outcome: 'unchanged' }; // a repeat
    if (pay.status === 'pending' && waiting) {
      await apply();
      return { outcome: 'paid' };
    }
    const refund = await this.refundPayment(pay, 'late-payment', p);
    await this.projectAndSend([refund], undefined, [this.notification('payment.refunded', pay.orderId, { amount: pay.amount })]);
    return { outcome: 'refunded' };
  }

  /**
   * Pays `pay` back through the payment adapter; returns the timeline event to project. A late
   * payment's report (`paid`) is kept on the refunded order: when and how it was paid.
   */
  protected async refundPayment(pay: Payment, reason: string, paid?: PaymentReceived): Promise<TimelineEvent> {
    await partner.refundPayment({ orderId: pay.orderId, amount: pay.amount, reason, ...(paid ? { paidAt: paid.paidAt, channel: paid.channel } : {}) });
    pay.status = 'refunded';
    return this.event('payment.refunded', SYSTEM, { orderId: pay.orderId, amount: pay.amount, reason });
  }

  /**
   * Closes every open escalation, or those `which` picks (one ladder's of several: an MDT's
   * specialists), `done` when the work was done, `cancelled` when it never will be; appends `task.closed`.
   */
  closeEscalations(events: TimelineEvent[], status: 'done' | 'cancelled' = 'done', which: (t: TaskChange) => boolean = () => true): TaskChange[] {
    const open = this.openEscalations.filter(which);
    this.openEscalations = this.openEscalations.filter((t) => !which(t));
    for (const task of open) events.push(this.event('task.closed', SYSTEM, { taskId: task.id, status }, `${task.id}:closed`));
    return open.map((task) => ({ ...task, status }));
  }
}

/**
 * A post-visit item (prescription, exam, referral): a child of its journey with its own table and
 * timeline. It tells the journey once when it has settled; the journey completes when all have.
 */
export abstract class ItemKernel<S extends ItemSnapshot> extends WorkflowKernel {
  abstract readonly snapshot: S;
  private settledSent = false;

  constructor(
    readonly itemType: ItemType,
    readonly itemId: string,
    readonly journeyId: string,
    wfId: string,
    patientId: string,
  ) {
    super(wfId, patientId);
  }

  protected writeProjection(version: number, events: TimelineEvent[], tasks: TaskChange[] | undefined): Promise<void> {
    return act.recordItemTransition({ type: this.itemType, version, snapshot: this.view(), events, ...(tasks ? { tasks } : {}) });
  }

  protected refs(): Record<string, string> {
    return { journeyId: this.journeyId, [`${this.itemType}Id`]: this.itemId };
  }

  get subject(): TaskSubject {
    return { type: this.itemType, id: this.itemId };
  }

  /** The status now (a call, so a check after an await is not narrowed away by the compiler). */
  current(): S['status'] {
    return this.snapshot.status;
  }

  view(): S {
    return JSON.parse(JSON.stringify(this.snapshot)) as S;
  }

  /** Tells the journey this item has settled, once; a journey that has closed meanwhile needs no word. */
  async announceSettled(): Promise<void> {
    if (this.settledSent) return;
    this.settledSent = true;
    try {
      await getExternalWorkflowHandle(journeyWorkflowId(this.journeyId)).signal(itemSettledSignal, {
        type: this.itemType,
        id: this.itemId,
        status: this.snapshot.status,
      });
    } catch (err) {
      log.info('journey not told of a settled item (closed)', { itemId: this.itemId, type: this.itemType, error: String(err) });
    }
  }
}
