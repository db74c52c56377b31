// The audit log (db/migrations/010): one event appended for every request to a route that serves
// patient data (api/audit.ts appends; GET /v1/audit and GET /v1/patients/:id/access-log read). The
// table refuses UPDATE, DELETE and TRUNCATE; nothing here would try.
import { iso, type Sql } from './db.js';

/** The kinds of resource whose patient the audit resolves from the database (`<kind>:<id>`). */
export const OWNED_KINDS = ['patient', 'journey', 'prescription', 'exam', 'referral', 'program', 'consultation', 'mdt', 'remote', 'task', 'order', 'delivery'] as const;
export type OwnedKind = (typeof OWNED_KINDS)[number];

export interface AuditEventInput {
  actor: string | null;
  role: string;
  action: string;
  /** `<kind>:<id>`, a list's name (`journeys`), or null (no route matched). */
  resource: string | null;
  /** The resource whose patient is the event's patient when no patient is named (a kind of OWNED_KINDS). */
  owner?: { kind: OwnedKind; id: string };
  /** A patient named by the handler: kept if the patient exists (else the owner's). */
  patientId?: string;
  /** The query's `patientId` (a list's filter): the patient when neither a named patient nor an owner is. */
  queriedPatientId?: string;
  /** A list: the patients it showed (named), and resources whose patients it showed (resolved). */
  list?: { patientIds: string[]; shows: { kind: OwnedKind; id: string }[] };
  outcome: 'allowed' | 'refused';
  status: number;
  requestId: string;
}

export interface AuditEvent {
  id: string;
  at: string;
  actor: string | null;
  role: string;
  action: string;
  patientId: string | null;
  patientIds?: string[];
  resource: string | null;
  outcome: 'allowed' | 'refused';
  status: number;
  requestId: string;
}

/**
 * The patient of the resource `x.kind`, `x.id` (columns of the statement around it), or null when the
 * id names nothing. A task is its journey's patient's, or its program's.
 */
const ownerOf = (sql: Sql) => sql`
  case x.kind
    when 'patient' then (select p.id from patients p where p.id = x.id)
    when 'journey' then (select j.patient_id from journeys j where j.id = x.id)
    when 'prescription' then (select p.patient_id from prescriptions p where p.id = x.id)
    when 'exam' then (select e.patient_id from exams e where e.id = x.id)
    when 'referral' then (select r.patient_id from referrals r where r.id = x.id)
    when 'program' then (select g.patient_id from programs g where g.id = x.id)
    when 'consultation' then (select c.patient_id from consultations c where c.id = x.id)
    when 'mdt' then (select m.patient_id from mdts m where m.id = x.id)
    when 'remote' then (select rc.patient_id from remote_consultations rc where rc.id = x.id)
    when 'order' then (
      select coalesce(
        (select j.patient_id from journeys j where j.id = o.journey_id),
        (select c.patient_id from consultations c where o.subject_type = 'consultation' and c.id = o.subject_id))
      from payments o where o.order_id = x.id)
    when 'delivery' then (select p.patient_id from deliveries d join prescriptions p on p.id = d.prescription_id where d.delivery_id = x.id)
    when 'task' then (
      select coalesce(
        (select j.patient_id from journeys j where j.id = t.journey_id),
        (select g.patient_id from programs g where t.subject_type = 'program' and g.id = t.subject_id),
        (select c.patient_id from consultations c where t.subject_type = 'consultation' and c.id = t.subject_id),
        (select m.patient_id from mdts m where t.subject_type = 'mdt' and m.id = t.subject_id),
        (select rc.patient_id from remote_consultations rc where t.subject_type = 'remote' and rc.id = t.subject_id))
      from tasks t where t.id = x.id)
  end`;

/**
 * Appends one event, its patients resolved in the same statement: the named patient if it exists,
 * else the owner's, else the queried one if it exists; a list's patients are the named ones and the
 * owners of what it showed.
 */
export async function appendAuditEvent(sql: Sql, e: AuditEventInput): Promise<void> {
  // The owner first (when there is one), then what the list showed.
  const resolve = [...(e.owner ? [e.owner] : []), ...(e.list?.shows ?? [])];
  await sql`
    with x as (
      select x.kind, x.id, x.ord = ${e.owner ? 1 : 0} as main
      from unnest(${resolve.map((r) => r.kind)}::text[], ${resolve.map((r) => r.id)}::text[]) with ordinality as x(kind, id, ord)
    ), owners as (
      select x.main, ${ownerOf(sql)} as patient_id from x
    )
    insert into audit_events (actor, role, action, patient_id, patient_ids, resource, outcome, status, request_id)
    select ${e.actor}, ${e.role}, ${e.action},
      coalesce(
        (select p.id from patients p where p.id = ${e.patientId ?? null}::text),
        (select patient_id from owners where main),
        (select p.id from patients p where p.id = ${e.queriedPatientId ?? null}::text)),
      ${
        e.list
          ? sql`array(select distinct v from (select unnest(${e.list.patientIds}::text[]) as v union select patient_id from owners where not main) u where v is not null order by v)`
          : sql`null`
      },
      ${e.resource}, ${e.outcome}, ${e.status}, ${e.requestId}`;
}

export interface AuditFilter {
  /** Events whose patient is this one, or lists that showed them. */
  patientId?: string;
  actor?: string;
  /** At or after. */
  from?: string;
  /** Before. */
  to?: string;
  /** Events appended before this one (its id): the next page. */
  before?: string;
  limit: number;
}

/** A stored event as PostgreSQL gives it (tests read the table with it too). */
export interface AuditRow {
  id: bigint;
  at: Date;
  actor: string | null;
  role: string;
  action: string;
  patient_id: string | null;
  patient_ids: string[] | null;
  resource: string | null;
  outcome: 'allowed' | 'refused';
  status: number;
  request_id: string;
}

/** A page of events, newest (last appended) first; `next` is the id to page on from, when there is more. */
export async function listAuditEvents(sql: Sql, f: AuditFilter): Promise<{ items: AuditEvent[]; next?: string }> {
  const rows = await sql<AuditRow[]>`
    select id, at, actor, role, action, patient_id, patient_ids, resource, outcome, status, request_id
    from audit_events
    where true
      ${f.patientId ? sql`and (patient_id = ${f.patientId} or patient_ids @> array[${f.patientId}::text])` : sql``}
      ${f.actor ? sql`and actor = ${f.actor}` : sql``}
      ${f.from ? sql`and at >= ${f.from}::timestamptz` : sql``}
      ${f.to ? sql`and at < ${f.to}::timestamptz` : sql``}
      ${f.before ? sql`and id < ${f.before}::bigint` : sql``}
    order by id desc
    limit ${f.limit + 1}`;
  const page = rows.slice(0, f.limit);
  const items = page.map((r) => ({
    id: String(r.id),
    at: iso(r.at)!,
    actor: r.actor,
    role: r.role,
    action: r.action,
    patientId: r.patient_id,
    ...(r.patient_ids ? { patientIds: r.patient_ids } : {}),
    resource: r.resource,
    outcome: r.outcome,
    status: r.status,
    requestId: r.request_id,
  }));
  return { items, ...(rows.length > f.limit ? { next: items.at(-1)!.id } : {}) };
}
