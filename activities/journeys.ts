// The journeys read model: one row per journey, its append-only timeline and its tasks. Each
// transition is written in one transaction, so one read never shows half of it.
import { DEFAULT_PATHWAY, type InPersonJourneyInput, type JourneySnapshot, type Recorded, type Transition } from '../workflows/definitions.js';
import { announcedEvents, storeTransitionNotifications } from './notifications.js';
import { markPayment } from './payments.js';
import { finishConsultationInQueue, leaveQueue, releaseSeatIn, startConsultationInQueue } from './slots.js';
import { visitStanding } from './verification.js';
import { getPathway } from './reference.js';
import { iso, type Sql } from './db.js';
import { activityLog, type ActivityDeps } from './deps.js';
import { taskColumns, taskView, upsertTask, type TaskView } from './tasks.js';

/** One timeline event as read: a journey's and every item's timeline have this shape. */
export interface TimelineRow {
  seq: number;
  at: string;
  type: string;
  actor: string;
  data: Record<string, unknown>;
}

export interface ChildStatus {
  id: string;
  status: string;
}

export interface JourneyView extends Omit<JourneySnapshot, 'children'> {
  timeline: TimelineRow[];
  openTasks: TaskView[];
  /** The post-visit items the outcome started, each with its status from its own table. */
  children?: { prescriptions: ChildStatus[]; exams: ChildStatus[]; referrals: ChildStatus[] };
}

/** Before a child's first projection lands, it is where every child starts. */
const INITIAL_STATUS = { prescriptions: 'pending-review', exams: 'awaiting-payment', referrals: 'sending' } as const;

/**
 * One transition in one transaction. Idempotent: events carry keys unique per journey, tasks
 * deterministic ids, notifications their own. With effects (`journey-one-transaction`): the standing
 * the step needs is checked first (a refusal writes nothing and is answered), then the slot's queue,
 * the seat and the payment order change, the snapshot, tasks and notifications are written (queued for the outbox dispatcher when
 * `queue`), and the events but those announcing a withheld notification. Answers who is now waiting
 * behind a consultation that started or a patient who left, for the caller to tell once the transaction
 * has committed.
 */
export async function recordTransition(sql: Sql, t: Transition, queue = false): Promise<Recorded & { behind: string[] }> {
  return (await sql.begin(async (raw) => {
    const tx = raw as unknown as Sql;
    if (t.standing) {
      const s = await visitStanding(tx, t.standing);
      if (!s.ok) return { withheld: [], refused: { type: s.type, detail: s.detail }, behind: [] };
    }
    let behind: string[] = [];
    if (t.queue?.op === 'start-consultation') behind = await startConsultationInQueue(tx, { journeyId: t.snapshot.id, slotId: t.queue.slotId });
    if (t.queue?.op === 'leave') behind = await leaveQueue(tx, { journeyId: t.snapshot.id, slotId: t.queue.slotId });
    if (t.queue?.op === 'finish-consultation') await finishConsultationInQueue(tx, { journeyId: t.snapshot.id });
    if (t.releaseSeat) await releaseSeatIn(tx, { journeyId: t.snapshot.id, noShow: t.releaseSeat.noShow });
    if (t.payment) await markPayment(tx, t.payment);
    // The snapshot first: a notification's text reads the appointment this transition may have set.
    await writeSnapshot(tx, t);
    const recorded = await storeTransitionNotifications(tx, t.notifications, queue);
    await writeEventsAndTasks(tx, t.snapshot.id, announcedEvents(t.events, t.announces, recorded), t.tasks);
    return { ...recorded, behind };
  })) as Recorded & { behind: string[] };
}

/** The writes of one transition, inside the caller's transaction. */
export async function writeTransition(tx: Sql, t: Transition): Promise<void> {
  await writeSnapshot(tx, t);
  await writeEventsAndTasks(tx, t.snapshot.id, t.events, t.tasks);
}

/** The journey's row, unless a newer version is stored. */
async function writeSnapshot(tx: Sql, t: Pick<Transition, 'snapshot' | 'version'>): Promise<void> {
  const s = t.snapshot;
  await tx`
    insert into journeys (id, patient_id, mode, pathway_id, pathway_version, phase, status, step,
                          department, doctor_id, slot_id, snapshot, version)
    values (${s.id}, ${s.patientId}, ${s.mode}, ${s.pathway.id}, ${s.pathway.version}, ${s.phase}, ${s.status},
            ${s.step}, ${s.triage?.department ?? null}, ${s.appointment?.doctorId ?? null},
            ${s.appointment?.slotId ?? null}, ${tx.json(s as never)}, ${t.version})
    on conflict (id) do update set
      phase = excluded.phase, status = excluded.status, step = excluded.step,
      department = excluded.department, doctor_id = excluded.doctor_id, slot_id = excluded.slot_id,
      snapshot = excluded.snapshot, version = excluded.version, updated_at = now()
    -- the row lock this takes orders concurrent transitions of one journey; an older one keeps its events only
    where journeys.version < excluded.version`;
}

/** Appends the events (each once, by key), then writes the tasks: a task closed here is still open when its `task.closed` is appended. */
async function writeEventsAndTasks(tx: Sql, journeyId: string, events: Transition['events'], tasks: Transition['tasks']): Promise<void> {
  for (const e of events) {
    // A task closed by hand already (an acknowledged escalation) has its `task.completed`: the
    // workflow's later `task.closed` for it would say it closed twice, so it is not appended.
    const closedAlready = e.type === 'task.closed' && typeof e.data.taskId === 'string'
      ? tx`exists (select 1 from tasks where id = ${e.data.taskId} and status <> 'open')`
      : tx`false`;
    await tx`
      insert into timeline (journey_id, seq, key, at, type, actor, data)
      select ${journeyId}, coalesce(max(seq), 0) + 1, ${e.key}, ${e.at}, ${e.type}, ${e.actor}, ${tx.json(e.data as never)}
      from timeline where journey_id = ${journeyId}
      having not ${closedAlready}
      on conflict (journey_id, key) do nothing`;
  }
  for (const task of tasks ?? []) await upsertTask(tx, journeyId, task);
}

/**
 * The journey with its timeline, its children's statuses and its open tasks, in one statement: one
 * snapshot of the database (consistent without a transaction of its own) and one round trip, so a
 * read costs the API a fraction of a workflow query (issue 11).
 */
export async function getJourney(sql: Sql, id: string): Promise<JourneyView | undefined> {
  const [row] = await sql<{ snapshot: JourneySnapshot; timeline: TimelineJson[]; children: ChildStatus[]; tasks: TaskJson[] }[]>`
    select j.snapshot,
      (select coalesce(json_agg(json_build_object('seq', t.seq, 'at', t.at, 'type', t.type, 'actor', t.actor, 'data', t.data) order by t.seq), '[]')
         from timeline t where t.journey_id = j.id) as timeline,
      (select coalesce(json_agg(json_build_object('id', c.id, 'status', c.status)), '[]') from (
         select id, status from prescriptions where journey_id = j.id
         union all select id, status from exams where journey_id = j.id
         union all select id, status from referrals where journey_id = j.id) c) as children,
      (select coalesce(json_agg(x order by x.created_at, x.id), '[]')
         from (select ${taskColumns(sql)} from tasks where journey_id = j.id and status = 'open') x) as tasks
    from journeys j where j.id = ${id}`;
  if (!row) return undefined;
  const { children, ...snapshot } = row.snapshot;
  let statuses: JourneyView['children'];
  if (children) {
    const byId = new Map(row.children.map((k) => [k.id, k.status]));
    const of = (kind: keyof typeof INITIAL_STATUS) => children[kind].map((cid) => ({ id: cid, status: byId.get(cid) ?? INITIAL_STATUS[kind] }));
    statuses = { prescriptions: of('prescriptions'), exams: of('exams'), referrals: of('referrals') };
  }
  return {
    ...snapshot,
    ...(statuses ? { children: statuses } : {}),
    timeline: row.timeline.map((e) => ({ seq: e.seq, at: iso(e.at)!, type: e.type, actor: e.actor, data: e.data })),
    openTasks: row.tasks.map(taskView),
  };
}

/** A timeline row and a task row as json_build_object / row_to_json give them: timestamps as text. */
type TimelineJson = Omit<TimelineRow, 'at'> & { at: string };
type TaskJson = Parameters<typeof taskView>[0];

/** Who a journey belongs to, for object-level access checks. */
export async function journeyOwner(sql: Sql, id: string): Promise<{ patientId: string; doctorId: string | null } | undefined> {
  const [row] = await sql<{ patient_id: string; doctor_id: string | null }[]>`
    select patient_id, doctor_id from journeys where id = ${id}`;
  return row ? { patientId: row.patient_id, doctorId: row.doctor_id } : undefined;
}

export interface JourneyFilter {
  status?: string;
  phase?: string;
  step?: string;
  department?: string;
  patientId?: string;
  doctorId?: string;
  overdue?: boolean;
  limit: number;
  cursor?: { createdAt: string; id: string };
}

export interface JourneySummary extends Omit<JourneySnapshot, 'children'> {
  createdAt: string;
  updatedAt: string;
  overdue: boolean;
}

/** Keyset-paginated list, newest first; `overdue` means an open task past its due time. */
export async function listJourneys(sql: Sql, f: JourneyFilter): Promise<{ items: JourneySummary[]; next?: { createdAt: string; id: string } }> {
  const rows = await sql<{ snapshot: JourneySnapshot; created_at: Date; updated_at: Date; id: string; overdue: boolean }[]>`
    select j.id, j.snapshot, j.created_at, j.updated_at,
           exists (select 1 from tasks t where t.journey_id = j.id and t.status = 'open' and t.due_at <= now()) as overdue
    from journeys j
    where true
      ${f.status ? sql`and j.status = ${f.status}` : sql``}
      ${f.phase ? sql`and j.phase = ${f.phase}` : sql``}
      ${f.step ? sql`and j.step = ${f.step}` : sql``}
      ${f.department ? sql`and j.department = ${f.department}` : sql``}
      ${f.patientId ? sql`and j.patient_id = ${f.patientId}` : sql``}
      ${f.doctorId ? sql`and j.doctor_id = ${f.doctorId}` : sql``}
      ${
        f.overdue === undefined
          ? sql``
          : sql`and ${f.overdue} = exists (select 1 from tasks t where t.journey_id = j.id and t.status = 'open' and t.due_at <= now())`
      }
      ${f.cursor ? sql`and (j.created_at, j.id) < (${f.cursor.createdAt}::timestamptz, ${f.cursor.id})` : sql``}
    order by j.created_at desc, j.id desc
    limit ${f.limit + 1}`;
  const page = rows.slice(0, f.limit);
  const last = page.at(-1);
  return {
    items: page.map(({ snapshot: { children: _children, ...snapshot }, ...r }) => ({ ...snapshot, createdAt: iso(r.created_at)!, updatedAt: iso(r.updated_at)!, overdue: r.overdue })),
    ...(rows.length > f.limit && last ? { next: { createdAt: iso(last.created_at)!, id: last.id } } : {}),
  };
}

/** The journey's activities: its read-model projection. */
export function journeyActivities(deps: ActivityDeps) {
  const { sql } = deps;
  return {
    async recordTransition(t: Transition): Promise<Recorded> {
      const { behind, ...recorded } = await recordTransition(sql, t, deps.notifyWebhook !== undefined);
      // Those behind a consultation that started may be near their turn now.
      if (behind.length > 0) await deps.signalQueueAdvanced(behind);
      activityLog(deps).debug({ journeyId: t.snapshot.id, events: t.events.map((e) => e.type), refused: recorded.refused?.type }, 'transition projected');
      return recorded;
    },
    /**
     * The offline journey an online visit referred to in-person care: on the offline default pathway
     * as it is now, triaged by the online visit's department (routine), started once (a retry finds it).
     */
    async startInPersonJourney(r: InPersonJourneyInput): Promise<void> {
      const pathway = await getPathway(sql, DEFAULT_PATHWAY.offline);
      if (!pathway) throw new Error(`pathway ${DEFAULT_PATHWAY.offline} is not seeded`);
      await deps.startJourney({
        journeyId: r.journeyId,
        patientId: r.patientId,
        mode: 'offline',
        complaint: r.complaint,
        pathway,
        startedBy: r.startedBy,
        referredFrom: r.referredFrom,
        triage: { department: r.department, urgency: 'routine', advice: 'In-person visit: the online consultation found that the patient needs to be seen in person.', rule: `in-person:${r.reason}` },
        ...(r.patientBirthDate ? { patientBirthDate: r.patientBirthDate } : {}),
        ...(r.guardian ? { guardian: r.guardian } : {}),
      });
      activityLog(deps).info({ journeyId: r.journeyId, referredFrom: r.referredFrom }, 'in-person journey started');
    },
  };
}
