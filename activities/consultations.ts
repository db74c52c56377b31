// Online consultations (issue 12): templates (data, versioned like pathways), the consultation's
// projection (its row, its timeline in item_timeline, its tasks, its notifications, its fee's order and
// the message it counts, in one transaction), messages (stored by the API, accepted by the projection)
// and the reads the API needs.
import type { AnyConsultationTemplate, ConsultationSnapshot, ConsultationTransition, MdtSnapshot, MdtTemplate, MdtTransition, Recorded, RemoteTemplate } from '../workflows/definitions.js';
import { iso, type Sql } from './db.js';
import { activityLog, type ActivityDeps } from './deps.js';
import { appendItemEvent, itemTimeline } from './items.js';
import type { TimelineRow } from './journeys.js';
import { announcedEvents, storeTransitionNotifications } from './notifications.js';
import { markPayment, storeOrder } from './payments.js';
import { openTasksOfItem, upsertTask, type TaskView } from './tasks.js';

// ---- templates ---------------------------------------------------------------------------------

/** Inserts a template version; an existing (id, version) is left as it is (versions are immutable). */
export async function insertConsultationTemplate(sql: Sql, t: AnyConsultationTemplate): Promise<boolean> {
  const rows = await sql`
    insert into consultation_templates (id, version, body) values (${t.id}, ${t.version}, ${sql.json(t as never)})
    on conflict (id, version) do nothing returning id`;
  return rows.length > 0;
}

/** The newest version of a template (a text consultation's, or an MDT's: `kind`). */
export async function getConsultationTemplate(sql: Sql, id: string): Promise<AnyConsultationTemplate | undefined> {
  const [row] = await sql<{ body: AnyConsultationTemplate }[]>`select body from consultation_templates where id = ${id} order by version desc limit 1`;
  return row?.body;
}

export async function listConsultationTemplates(sql: Sql): Promise<AnyConsultationTemplate[]> {
  const rows = await sql<{ body: AnyConsultationTemplate }[]>`select distinct on (id) body from consultation_templates order by id, version desc`;
  return rows.map((r) => r.body);
}

export const isMdtTemplate = (t: AnyConsultationTemplate): t is MdtTemplate => t.kind === 'mdt';
export const isRemoteTemplate = (t: AnyConsultationTemplate): t is RemoteTemplate => t.kind === 'remote';

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
    return writeConversationTransition(tx, s.id, t, o.queue);
  })) as Recorded;
}

/**
 * One transition of an MDT in one transaction: its row (a newer version only), its invitations (once),
 * the text it accepts, its timeline, its tasks and its notifications.
 */
export async function recordMdtTransition(sql: Sql, t: MdtTransition, o: { queue: boolean }): Promise<Recorded> {
  const s = t.snapshot;
  return (await sql.begin(async (raw) => {
    const tx = raw as unknown as Sql;
    await tx`
      insert into mdts (id, patient_id, convener_id, status, snapshot, version)
      values (${s.id}, ${s.patientId}, ${s.convenerId}, ${s.status}, ${tx.json(s as never)}, ${t.version})
      on conflict (id) do update set status = excluded.status, snapshot = excluded.snapshot, version = excluded.version, updated_at = now()
      where mdts.version < excluded.version`;
    await tx`
      insert into mdt_invitations (mdt_id, doctor_id) select ${s.id}, unnest(${s.specialists.map((x) => x.doctorId)}::text[])
      on conflict do nothing`;
    return writeConversationTransition(tx, s.id, t, o.queue);
  })) as Recorded;
}

/**
 * What a consultation's and an MDT's transitions write alike, inside the caller's transaction: the text
 * the transition counts (accepted: readable from now on), the notifications (stored once by id, queued
 * for the outbox dispatcher when `queue`), the timeline (each event once, by key, but those announcing
 * a withheld notification) and the tasks.
 */
export async function writeConversationTransition(
  tx: Sql,
  id: string,
  t: Pick<ConsultationTransition, 'events' | 'tasks' | 'notifications' | 'announces' | 'acceptMessage'>,
  queue: boolean,
): Promise<Recorded> {
  if (t.acceptMessage) {
    await tx`
      update consultation_messages set accepted_at = coalesce(accepted_at, now())
      where id = ${t.acceptMessage} and consultation_id = ${id}`;
  }
  const recorded = await storeTransitionNotifications(tx, t.notifications, queue);
  for (const e of announcedEvents(t.events, t.announces, recorded)) await appendItemEvent(tx, id, e);
  for (const task of t.tasks ?? []) await upsertTask(tx, null, task);
  return recorded;
}

export function consultationActivities(deps: ActivityDeps) {
  return {
    async recordConsultationTransition(t: ConsultationTransition): Promise<Recorded> {
      const recorded = await recordConsultationTransition(deps.sql, t, { queue: deps.notifyWebhook !== undefined, tellProvider: deps.payments.requested !== undefined });
      activityLog(deps).debug({ consultationId: t.snapshot.id, events: t.events.map((e) => e.type) }, 'consultation transition projected');
      return recorded;
    },
    async recordMdtTransition(t: MdtTransition): Promise<Recorded> {
      const recorded = await recordMdtTransition(deps.sql, t, { queue: deps.notifyWebhook !== undefined });
      activityLog(deps).debug({ mdtId: t.snapshot.id, events: t.events.map((e) => e.type) }, 'MDT transition projected');
      return recorded;
    },
  };
}

// ---- messages ------------------------------------------------------------------------------------

export type MessageKind = 'message' | 'case' | 'opinion' | 'conclusion';

export interface ConsultationMessage {
  id: string;
  kind: MessageKind;
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
  m: { id: string; consultationId: string; kind?: MessageKind; from: 'patient' | 'doctor'; authorId: string; body: string; attachments: string[] },
): Promise<void> {
  await sql`
    insert into consultation_messages (id, consultation_id, kind, author_role, author_id, body, attachments)
    values (${m.id}, ${m.consultationId}, ${m.kind ?? 'message'}, ${m.from}, ${m.authorId}, ${m.body}, ${sql.json(m.attachments)})
    on conflict (id) do nothing`;
}

/** A message the workflow refused is removed (never accepted, never read). */
export async function dropConsultationMessage(sql: Sql, id: string): Promise<void> {
  await sql`delete from consultation_messages where id = ${id} and accepted_at is null`;
}

export async function consultationMessages(sql: Sql, consultationId: string): Promise<ConsultationMessage[]> {
  const rows = await sql<{ id: string; kind: MessageKind; author_role: 'patient' | 'doctor'; author_id: string; body: string; attachments: string[]; at: Date }[]>`
    select id, kind, author_role, author_id, body, attachments, at from consultation_messages
    where consultation_id = ${consultationId} and accepted_at is not null order by at, id`;
  return rows.map((r) => ({ id: r.id, kind: r.kind, from: r.author_role, authorId: r.author_id, body: r.body, attachments: r.attachments, at: iso(r.at)! }));
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

// ---- MDT reads ---------------------------------------------------------------------------------

export type MdtView = MdtSnapshot & { timeline: TimelineRow[]; openTasks: TaskView[] };

/** Who an MDT concerns: for the API's object checks (its patient, its convener, the specialists invited). */
export async function mdtOwner(sql: Sql, id: string): Promise<{ patientId: string; convenerId: string; specialists: string[] } | undefined> {
  const [row] = await sql<{ patient_id: string; convener_id: string; specialists: string[] }[]>`
    select patient_id, convener_id, array(select doctor_id from mdt_invitations i where i.mdt_id = m.id order by doctor_id) as specialists
    from mdts m where id = ${id}`;
  return row ? { patientId: row.patient_id, convenerId: row.convener_id, specialists: row.specialists } : undefined;
}

export async function getMdt(sql: Sql, id: string): Promise<MdtView | undefined> {
  return sql.begin('isolation level repeatable read read only', async (raw): Promise<MdtView | undefined> => {
    const tx = raw as unknown as Sql;
    const [row] = await tx<{ snapshot: MdtSnapshot }[]>`select snapshot from mdts where id = ${id}`;
    if (!row) return undefined;
    return { ...row.snapshot, timeline: await itemTimeline(tx, id), openTasks: await openTasksOfItem(tx, id) };
  }) as Promise<MdtView | undefined>;
}

export interface MdtFilter {
  patientId?: string;
  /** Those this doctor convened or is invited to. */
  doctorId?: string;
  status?: MdtSnapshot['status'];
  limit: number;
}

/** MDTs, the conclusion due soonest first. */
export async function listMdts(sql: Sql, f: MdtFilter): Promise<MdtSnapshot[]> {
  const rows = await sql<{ snapshot: MdtSnapshot }[]>`
    select snapshot from mdts m
    where true
      ${f.patientId ? sql`and patient_id = ${f.patientId}` : sql``}
      ${f.doctorId ? sql`and (convener_id = ${f.doctorId} or exists (select 1 from mdt_invitations i where i.mdt_id = m.id and i.doctor_id = ${f.doctorId}))` : sql``}
      ${f.status ? sql`and status = ${f.status}` : sql``}
    order by snapshot->>'conclusionDueBy', id
    limit ${f.limit}`;
  return rows.map((r) => r.snapshot);
}

/** Has this doctor cared for this patient (a visit booked with them, a program, an online consultation)? */
export async function caresFor(sql: Sql, doctorId: string, patientId: string): Promise<boolean> {
  const [row] = await sql<{ ok: boolean }[]>`
    select exists (select 1 from journeys where patient_id = ${patientId} and doctor_id = ${doctorId})
        or exists (select 1 from programs where patient_id = ${patientId} and doctor_id = ${doctorId})
        or exists (select 1 from consultations where patient_id = ${patientId} and doctor_id = ${doctorId}) as ok`;
  return row?.ok === true;
}
