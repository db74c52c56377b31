// Tasks: the human work items every workflow raises (pharmacist reviews, revisions, escalations,
// abnormal results, declined referrals). Workflows write them inside their projections; people list
// them by role and close the ones no workflow action completes.
import type { Role, TaskChange, TaskKind, TaskSubject } from '../workflows/definitions.js';
import { iso, type Sql } from './db.js';

export interface TaskView {
  id: string;
  kind: TaskKind;
  role: Role;
  status: 'open' | 'done' | 'cancelled';
  subject: TaskSubject;
  action: string;
  journeyId?: string;
  assigneeId?: string;
  dueAt: string;
  createdAt: string;
  overdue: boolean;
  tier: number;
  closedAt?: string;
  closedBy?: string;
  note?: string;
}

/** A task as projected by the landed journey code, whose subject was a sentence: still taken. */
type IncomingTask = Omit<TaskChange, 'subject' | 'action'> & { subject: TaskSubject | string; action?: string };

/**
 * Writes one task inside the caller's transaction. Idempotent by id; a closed task stays closed
 * whatever order projections arrive in; a higher tier moves the due time.
 */
export async function upsertTask(sql: Sql, journeyId: string | null, incoming: IncomingTask): Promise<void> {
  const legacy = typeof incoming.subject === 'string';
  const subject: TaskSubject = typeof incoming.subject === 'string' ? { type: 'journey', id: journeyId ?? '' } : incoming.subject;
  const t = { ...incoming, subject, action: legacy ? String(incoming.subject) : (incoming.action ?? '') };
  await sql`
    insert into tasks (id, kind, role, status, journey_id, subject_type, subject_id, action, assignee_id, due_at, tier, closed_at)
    values (${t.id}, ${t.kind}, ${t.role}, ${t.status}, ${journeyId}, ${t.subject.type}, ${t.subject.id}, ${t.action},
            ${t.assigneeId ?? null}, ${t.dueAt}, ${t.tier}, ${t.status === 'open' ? null : new Date()})
    on conflict (id) do update set
      status = case when tasks.status = 'open' then excluded.status else tasks.status end,
      closed_at = case when tasks.status = 'open' then excluded.closed_at else tasks.closed_at end,
      tier = greatest(tasks.tier, excluded.tier),
      due_at = case when excluded.tier > tasks.tier then excluded.due_at else tasks.due_at end,
      action = excluded.action`;
}

interface TaskRow {
  id: string;
  kind: TaskKind;
  role: Role;
  status: TaskView['status'];
  journey_id: string | null;
  subject_type: TaskSubject['type'];
  subject_id: string;
  action: string;
  assignee_id: string | null;
  due_at: Date | string;
  created_at: Date | string;
  tier: number;
  closed_at: Date | string | null;
  closed_by: string | null;
  note: string | null;
  overdue: boolean;
}

/** A task row as read (its timestamps as Date, or as text when it came through JSON). */
export const taskView = (r: TaskRow): TaskView => ({
  id: r.id,
  kind: r.kind,
  role: r.role,
  status: r.status,
  subject: { type: r.subject_type, id: r.subject_id },
  action: r.action,
  ...(r.journey_id ? { journeyId: r.journey_id } : {}),
  ...(r.assignee_id ? { assigneeId: r.assignee_id } : {}),
  dueAt: iso(r.due_at)!,
  createdAt: iso(r.created_at)!,
  overdue: r.overdue,
  tier: r.tier,
  ...(r.closed_at ? { closedAt: iso(r.closed_at)! } : {}),
  ...(r.closed_by ? { closedBy: r.closed_by } : {}),
  ...(r.note ? { note: r.note } : {}),
});

/** `overdue` is computed by the database clock at read time: dueAt < now. */
export const taskColumns = (sql: Sql) => sql`tasks.*, (status = 'open' and due_at < now()) as overdue`;

export async function openTasksOfItem(sql: Sql, itemId: string): Promise<TaskView[]> {
  const rows = await sql<TaskRow[]>`
    select ${taskColumns(sql)} from tasks where subject_id = ${itemId} and status = 'open' order by created_at, id`;
  return rows.map(taskView);
}

export interface TaskFilter {
  /** Whose queue: doctors see the tasks assigned to them, admins the coordinators' and their own (finance exceptions), other roles those of their role. */
  role: Role;
  userId: string;
  kind?: string;
  status?: TaskView['status'];
  overdue?: boolean;
  limit: number;
}

/** A work queue, oldest due first. */
export async function listTasks(sql: Sql, f: TaskFilter): Promise<TaskView[]> {
  const rows = await sql<TaskRow[]>`
    select ${taskColumns(sql)} from tasks
    where status = ${f.status ?? 'open'}
      ${f.role === 'doctor' ? sql`and assignee_id = ${f.userId}` : f.role === 'admin' ? sql`and role in ('coordinator', 'admin')` : sql`and role = ${f.role}`}
      ${f.kind ? sql`and kind = ${f.kind}` : sql``}
      ${f.overdue === undefined ? sql`` : sql`and (due_at < now()) = ${f.overdue}`}
    order by due_at, id
    limit ${f.limit}`;
  return rows.map(taskView);
}

export async function getTask(sql: Sql, id: string): Promise<TaskView | undefined> {
  const [row] = await sql<TaskRow[]>`select ${taskColumns(sql)} from tasks where id = ${id}`;
  return row ? taskView(row) : undefined;
}

/**
 * Closes an open task by hand (an escalation acknowledged, an abnormal result or a declined referral
 * dealt with), with who and why, and appends `task.completed` to its journey's timeline in the same
 * transaction. The journey row lock orders this with the workflow's own projections. Returns
 * undefined when the task is not open (any more).
 */
export async function completeTask(sql: Sql, r: { id: string; by: string; note: string }): Promise<TaskView | undefined> {
  return sql.begin(async (tx) => {
    // The row locks of the journey (or item) order this with the workflow's own projections.
    const [owner] = await tx<{ journey_id: string | null; subject_type: TaskSubject['type']; subject_id: string }[]>`
      select journey_id, subject_type, subject_id from tasks where id = ${r.id}`;
    if (owner?.subject_type === 'prescription') await tx`select id from prescriptions where id = ${owner.subject_id} for update`;
    else if (owner?.subject_type === 'exam') await tx`select id from exams where id = ${owner.subject_id} for update`;
    else if (owner?.subject_type === 'referral') await tx`select id from referrals where id = ${owner.subject_id} for update`;
    else if (owner?.journey_id) await tx`select id from journeys where id = ${owner.journey_id} for update`;
    const [row] = await tx<TaskRow[]>`
      update tasks set status = 'done', closed_at = now(), closed_by = ${r.by}, note = ${r.note}
      where id = ${r.id} and status = 'open'
      returning tasks.*, false as overdue`;
    if (!row) return undefined;
    const data = tx.json({ taskId: row.id, kind: row.kind, tier: row.tier });
    // A reconciliation's exception keeps who resolved it and why on the task itself (closed_by, note).
    if (row.subject_type === 'reconciliation') return taskView(row);
    if (row.subject_type !== 'journey') {
      // An item's task is recorded on the item's own timeline.
      await tx`
        insert into item_timeline (item_id, seq, key, at, type, actor, data)
        select ${row.subject_id}, coalesce(max(seq), 0) + 1, ${`task.completed:${row.id}`}, now(), 'task.completed', ${r.by}, ${data}
        from item_timeline where item_id = ${row.subject_id}
        on conflict (item_id, key) do nothing`;
    } else if (row.journey_id) {
      await tx`
        insert into timeline (journey_id, seq, key, at, type, actor, data)
        select ${row.journey_id}, coalesce(max(seq), 0) + 1, ${`task.completed:${row.id}`}, now(), 'task.completed', ${r.by}, ${data}
        from timeline where journey_id = ${row.journey_id}
        on conflict (journey_id, key) do nothing`;
    }
    return taskView(row);
  });
}
