// The read model of post-visit items (prescriptions, exams, referrals): one row per item in its own
// table, and its own append-only timeline. Each transition is written in one transaction, like a
// journey's; a child never writes its journey's row.
import type { ExamSnapshot, ItemTransition, ItemType, PrescriptionSnapshot, ReferralSnapshot } from '../workflows/definitions.js';
import { iso, type Sql } from './db.js';
import { activityLog, type ActivityDeps } from './deps.js';
import type { TimelineRow } from './journeys.js';
import { openTasksOfItem, upsertTask, type TaskView } from './tasks.js';

/** Idempotent: events carry keys unique per item, tasks deterministic ids; an older snapshot never wins. */
export async function recordItemTransition(sql: Sql, t: ItemTransition): Promise<void> {
  await sql.begin(async (raw) => {
    const tx = raw as unknown as Sql;
    const s = t.snapshot;
    const json = tx.json(s as never);
    if (t.type === 'prescription') {
      const p = s as PrescriptionSnapshot;
      await tx`
        insert into prescriptions (id, journey_id, patient_id, prescriber_id, status, snapshot, version)
        values (${p.id}, ${p.journeyId}, ${p.patientId}, ${p.prescriberId}, ${p.status}, ${json}, ${t.version})
        on conflict (id) do update set status = excluded.status, snapshot = excluded.snapshot, version = excluded.version, updated_at = now()
        where prescriptions.version < excluded.version`;
    } else if (t.type === 'exam') {
      const e = s as ExamSnapshot;
      await tx`
        insert into exams (id, journey_id, patient_id, doctor_id, status, snapshot, version)
        values (${e.id}, ${e.journeyId}, ${e.patientId}, ${e.doctorId}, ${e.status}, ${json}, ${t.version})
        on conflict (id) do update set status = excluded.status, snapshot = excluded.snapshot, version = excluded.version, updated_at = now()
        where exams.version < excluded.version`;
    } else {
      const r = s as ReferralSnapshot;
      await tx`
        insert into referrals (id, journey_id, patient_id, facility_id, status, snapshot, version)
        values (${r.id}, ${r.journeyId}, ${r.patientId}, ${r.facilityId}, ${r.status}, ${json}, ${t.version})
        on conflict (id) do update set status = excluded.status, snapshot = excluded.snapshot, version = excluded.version, updated_at = now()
        where referrals.version < excluded.version`;
    }
    for (const e of t.events) await appendItemEvent(tx, s.id, e);
    for (const task of t.tasks ?? []) await upsertTask(tx, s.journeyId, task);
  });
}

/** Appends one event to an item's timeline once (by key); a `task.closed` for a task closed by hand is dropped. */
export async function appendItemEvent(
  tx: Sql,
  itemId: string,
  e: { key: string; at: string | Date; type: string; actor: string; data: Record<string, unknown> },
): Promise<void> {
  const closedAlready = e.type === 'task.closed' && typeof e.data.taskId === 'string'
    ? tx`exists (select 1 from tasks where id = ${e.data.taskId} and status <> 'open')`
    : tx`false`;
  await tx`
    insert into item_timeline (item_id, seq, key, at, type, actor, data)
    select ${itemId}, coalesce(max(seq), 0) + 1, ${e.key}, ${e.at}, ${e.type}, ${e.actor}, ${tx.json(e.data as never)}
    from item_timeline where item_id = ${itemId}
    having not ${closedAlready}
    on conflict (item_id, key) do nothing`;
}

export async function itemTimeline(sql: Sql, itemId: string): Promise<TimelineRow[]> {
  const rows = await sql<{ seq: number; at: Date; type: string; actor: string; data: Record<string, unknown> }[]>`
    select seq, at, type, actor, data from item_timeline where item_id = ${itemId} order by seq`;
  return rows.map((e) => ({ seq: e.seq, at: iso(e.at)!, type: e.type, actor: e.actor, data: e.data }));
}

export const ITEM_TABLE: Record<ItemType, string> = { prescription: 'prescriptions', exam: 'exams', referral: 'referrals' };

export type ItemView<S> = S & { timeline: TimelineRow[]; openTasks: TaskView[] };

/** One item with its timeline and open tasks, read in one snapshot-consistent transaction. */
export async function getItem<S>(sql: Sql, type: ItemType, id: string): Promise<ItemView<S> | undefined> {
  return sql.begin('isolation level repeatable read read only', async (raw): Promise<ItemView<S> | undefined> => {
    const tx = raw as unknown as Sql;
    const [row] = await tx<{ snapshot: S }[]>`select snapshot from ${tx(ITEM_TABLE[type])} where id = ${id}`;
    if (!row) return undefined;
    return { ...row.snapshot, timeline: await itemTimeline(tx, id), openTasks: await openTasksOfItem(tx, id) } as ItemView<S>;
  }) as Promise<ItemView<S> | undefined>;
}

/** The items' projection activity. */
export function itemActivities(deps: ActivityDeps) {
  return {
    async recordItemTransition(t: ItemTransition): Promise<void> {
      await recordItemTransition(deps.sql, t);
      activityLog(deps).debug({ itemId: t.snapshot.id, type: t.type, events: t.events.map((e) => e.type) }, 'item transition projected');
    },
  };
}
