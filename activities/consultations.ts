// Online consultations (issue 12): templates (data, versioned like pathways), the consultation's
// projection (its row, its timeline in item_timeline, its tasks, its notifications, its fee's order and
// the message it counts, in one transaction), messages (stored by the API, accepted by the projection)
// and the reads the API needs.
import type { ConsultationSnapshot, ConsultationTemplate, ConsultationTransition, Recorded } from '../workflows/definitions.js';
import { iso, type Sql } from './db.js';
import { activityLog, type ActivityDeps } from './deps.js';
import { appendItemEvent, itemTimeline } from './items.js';
import type { TimelineRow } from './journeys.js';
import { announcedEvents, storeTransitionNotifications } from './notifications.js';
import { markPayment, storeOrder } from './payments.js';
import { openTasksOfItem, upsertTask, type TaskView } from './tasks.js';

// ---- templates ---------------------------------------------------------------------------------

/** Inserts a template version; an existing (id, version) is left as it is (versions are immutable). */
export async function insertConsultationTemplate(sql: Sql, t: ConsultationTemplate): Promise<boolean> {
  const rows = await sql`
    insert into consultation_templates (id, version, body) values (${t.id}, ${t.version}, ${sql.json(t as never)})
    on conflict (id, version) do nothing returning id`;
  return rows.length > 0;
}

/** The newest version of a template. */
export async function getConsultationTemplate(sql: Sql, id: string): Promise<ConsultationTemplate | undefined> {
  const [row] = await sql<{ body: ConsultationTemplate }[]>`select body from consultation_templates where id = ${id} order by version desc limit 1`;
  return row?.body;
}

export async function listConsultationTemplates(sql: Sql): Promise<ConsultationTemplate[]> {
  const rows = await sql<{ body: ConsultationTemplate }[]>`select distinct on (id) body from consultation_templates order by id, version desc`;
  return rows.map((r) => r.body);
}

// ---- the projection ----------------------------------------------------------------------------

/**
 * One transition of a consultation in one transaction: its row (a newer version only), the fee's order
 * (stored once; the provider told by the outbox when it wants telling) and its status, the message the
 * transition counts (accepted: readable from now on), its timeline (each event once, by key), its tasks
 * and the notifications it sends (stored once by id, queued for the outbox dispatcher when `queue`).
 */
export async function recordConsultationTransition(sql: Sql, t: ConsultationTransition, o: { queue: boolean; tellProvider: boolean }): Promise<Recorded> {
  const s = t.snapshot;
  return (await sql.begin(async (raw) => {
    const tx = raw as unknown as Sql;
    await tx`
      insert into consultations (id, patient_id, doctor_id, status, snapshot, version)
      values (${s.id}, ${s.patientId}, ${s.doctorId}, ${s.status}, ${tx.json(s as never)}, ${t.version})
      on conflict (id) do update set status = excluded.status, snapshot = excluded.snapshot, version = excluded.version, updated_at = now()
      where consultations.version < excluded.version`;
    if (t.order) await storeOrder(tx, { ...t.order, journeyId: null, subject: { type: 'consultation', id: s.id } }, o.tellProvider);
    if (t.payment) await markPayment(tx, t.payment);
    if (t.acceptMessage) {
      await tx`
        update consultation_messages set accepted_at = coalesce(accepted_at, now())
        where id = ${t.acceptMessage} and consultation_id = ${s.id}`;
    }
    const recorded = await storeTransitionNotifications(tx, t.notifications, o.queue);
    for (const e of announcedEvents(t.events, t.announces, recorded)) await appendItemEvent(tx, s.id, e);
    for (const task of t.tasks ?? []) await upsertTask(tx, null, task);
    return recorded;
  })) as Recorded;
}

export function consultationActivities(deps: ActivityDeps) {
  return {
    async recordConsultationTransition(t: ConsultationTransition): Promise<Recorded> {
      const recorded = await recordConsultationTransition(deps.sql, t, { queue: deps.notifyWebhook !== undefined, tellProvider: deps.payments.requested !== undefined });
      activityLog(deps).debug({ consultationId: t.snapshot.id, events: t.events.map((e) => e.type) }, 'consultation transition projected');
      return recorded;
    },
  };
}

// ---- messages ------------------------------------------------------------------------------------

export interface ConsultationMessage {
  id: string;
  from: 'patient' | 'doctor';
  authorId: string;
  body: string;
  attachments: string[];
  at: string;
}

/**
 * Stores a message before the workflow counts it; it is read back only once the workflow's projection
 * has accepted it. Idempotent by id (a retried request stores nothing twice).
 */
export async function storeConsultationMessage(
  sql: Sql,
  m: { id: string; consultationId: string; from: 'patient' | 'doctor'; authorId: string; body: string; attachments: string[] },
): Promise<void> {
  await sql`
    insert into consultation_messages (id, consultation_id, author_role, author_id, body, attachments)
    values (${m.id}, ${m.consultationId}, ${m.from}, ${m.authorId}, ${m.body}, ${sql.json(m.attachments)})
    on conflict (id) do nothing`;
}

/** A message the workflow refused is removed (never accepted, never read). */
export async function dropConsultationMessage(sql: Sql, id: string): Promise<void> {
  await sql`delete from consultation_messages where id = ${id} and accepted_at is null`;
}

export async function consultationMessages(sql: Sql, consultationId: string): Promise<ConsultationMessage[]> {
  const rows = await sql<{ id: string; author_role: 'patient' | 'doctor'; author_id: string; body: string; attachments: string[]; at: Date }[]>`
    select id, author_role, author_id, body, attachments, at from consultation_messages
    where consultation_id = ${consultationId} and accepted_at is not null order by at, id`;
  return rows.map((r) => ({ id: r.id, from: r.author_role, authorId: r.author_id, body: r.body, attachments: r.attachments, at: iso(r.at)! }));
}

// ---- reads ------------------------------------------------------------------------------------

export type ConsultationView = ConsultationSnapshot & { timeline: TimelineRow[]; openTasks: TaskView[] };

/** Who a consultation belongs to: for the API's object checks. */
export async function consultationOwner(sql: Sql, id: string): Promise<{ patientId: string; doctorId: string } | undefined> {
  const [row] = await sql<{ patient_id: string; doctor_id: string }[]>`select patient_id, doctor_id from consultations where id = ${id}`;
  return row ? { patientId: row.patient_id, doctorId: row.doctor_id } : undefined;
}

/** One consultation with its timeline and open tasks, read in one snapshot-consistent transaction. */
export async function getConsultation(sql: Sql, id: string): Promise<ConsultationView | undefined> {
  return sql.begin('isolation level repeatable read read only', async (raw): Promise<ConsultationView | undefined> => {
    const tx = raw as unknown as Sql;
    const [row] = await tx<{ snapshot: ConsultationSnapshot }[]>`select snapshot from consultations where id = ${id}`;
    if (!row) return undefined;
    return { ...row.snapshot, timeline: await itemTimeline(tx, id), openTasks: await openTasksOfItem(tx, id) };
  }) as Promise<ConsultationView | undefined>;
}

export interface ConsultationFilter {
  patientId?: string;
  doctorId?: string;
  /** `open`: every status but closed. */
  status?: 'open' | ConsultationSnapshot['status'];
  limit: number;
}

/** Consultations newest first (the doctor's queue puts the soonest answer due first). */
export async function listConsultations(sql: Sql, f: ConsultationFilter): Promise<ConsultationSnapshot[]> {
  const rows = await sql<{ snapshot: ConsultationSnapshot }[]>`
    select snapshot from consultations
    where true
      ${f.patientId ? sql`and patient_id = ${f.patientId}` : sql``}
      ${f.doctorId ? sql`and doctor_id = ${f.doctorId}` : sql``}
      ${f.status === 'open' ? sql`and status <> 'closed'` : f.status ? sql`and status = ${f.status}` : sql``}
    order by (snapshot->>'replyDueBy') nulls last, created_at desc, id
    limit ${f.limit}`;
  return rows.map((r) => r.snapshot);
}
