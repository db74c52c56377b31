// A patient's consents (issue 10, rule 6): `record-sharing` (their record may be sent to another
// facility) and `outreach` (reminders and education). The history is append-only
// (db/migrations/012_consent.sql); the newest change of a scope is its state, and a scope never
// changed is granted: consent is given at registration.
//
// The rules are enforced where the side effect happens, in the same transaction or attempt, so
// every workflow (and every run of it already in flight) gets them from one place:
// - outreach: `insertNotification` (activities/notifications.ts) withholds a notification of an
//   OUTREACH_KINDS kind, for the journeys' and items' `notify` and the programs' projection alike;
// - record-sharing: the facility adapter (`sendReferral`, activities/referrals.ts) checks at every
//   attempt, before it POSTs;
// - the API refuses a new referral in an outcome (422 `consent-withdrawn`).
// The workflows learn from those answers and say on their timelines why (workflows/kernel.ts).
import { OUTREACH_KINDS, type ConsentFound, type ConsentScope, type NotificationKind } from '../workflows/definitions.js';
import { iso, type Sql } from './db.js';

/** Outreach kinds (workflows/definitions.ts) are withheld while outreach consent is withdrawn. */
export const isOutreach = (kind: NotificationKind): boolean => OUTREACH_KINDS.includes(kind);

/** Who changes a consent at registration: nobody, it is given then. */
export const AT_REGISTRATION = 'registration';

/** A scope's current state, as the API shows it. */
export interface Consent {
  scope: ConsentScope;
  granted: boolean;
  changedAt: string;
  /** `<role>:<id>` of who changed it, or `registration`. */
  changedBy: string;
  reason?: string;
}

interface ConsentRow {
  seq: number;
  scope: ConsentScope;
  granted: boolean;
  changed_at: Date;
  changed_by: string;
  reason: string | null;
}

const latest = (sql: Sql, patientId: string, scope: ConsentScope) => sql<ConsentRow[]>`
  select seq, scope, granted, changed_at, changed_by, reason from patient_consents
  where patient_id = ${patientId} and scope = ${scope} order by seq desc limit 1`;

/**
 * The scope's consent now, for the activities that act on it (`sql` may be a transaction's). Never
 * changed: granted, as at registration (`seq` null).
 */
export async function consentOf(sql: Sql, patientId: string, scope: ConsentScope): Promise<ConsentFound> {
  const [row] = await latest(sql, patientId, scope);
  if (row) return { granted: row.granted, seq: row.seq, changedAt: iso(row.changed_at)! };
  return { granted: true, seq: null, changedAt: await registeredAt(sql, patientId) };
}

async function registeredAt(sql: Sql, patientId: string): Promise<string> {
  const [p] = await sql<{ created_at: Date }[]>`select created_at from patients where id = ${patientId}`;
  return iso(p?.created_at ?? new Date(0))!;
}

const view = (scope: ConsentScope, row: ConsentRow | undefined, registered: string): Consent =>
  row
    ? { scope, granted: row.granted, changedAt: iso(row.changed_at)!, changedBy: row.changed_by, ...(row.reason ? { reason: row.reason } : {}) }
    : { scope, granted: true, changedAt: registered, changedBy: AT_REGISTRATION };

/** Both scopes' current state (record-sharing, then outreach); undefined for an unknown patient. */
export async function currentConsents(sql: Sql, patientId: string): Promise<Consent[] | undefined> {
  const [p] = await sql<{ created_at: Date }[]>`select created_at from patients where id = ${patientId}`;
  if (!p) return undefined;
  const rows = await sql<ConsentRow[]>`
    select distinct on (scope) seq, scope, granted, changed_at, changed_by, reason from patient_consents
    where patient_id = ${patientId} order by scope, seq desc`;
  const registered = iso(p.created_at)!;
  return (['record-sharing', 'outreach'] as const).map((scope) => view(scope, rows.find((r) => r.scope === scope), registered));
}

/**
 * Sets a scope's consent. A change is appended; the same state again appends nothing (a repeated PUT
 * is no second change) and answers the state as it stands, with its own time, author and reason.
 * Changes of one patient are serialized (a lock on the patient's row that does not block the rows
 * that refer to it), so the newest row is always the last one decided. Undefined: no such patient.
 */
export async function changeConsent(
  sql: Sql,
  c: { patientId: string; scope: ConsentScope; granted: boolean; changedBy: string; reason?: string },
): Promise<{ consent: Consent; changed: boolean } | undefined> {
  return sql.begin(async (raw) => {
    const tx = raw as unknown as Sql;
    const [p] = await tx<{ created_at: Date }[]>`select created_at from patients where id = ${c.patientId} for no key update`;
    if (!p) return undefined;
    const [current] = await latest(tx, c.patientId, c.scope);
    if ((current?.granted ?? true) === c.granted) return { consent: view(c.scope, current, iso(p.created_at)!), changed: false };
    const [row] = await tx<ConsentRow[]>`
      insert into patient_consents (patient_id, scope, granted, changed_by, reason)
      values (${c.patientId}, ${c.scope}, ${c.granted}, ${c.changedBy}, ${c.reason ?? null})
      returning seq, scope, granted, changed_at, changed_by, reason`;
    return { consent: view(c.scope, row, iso(p.created_at)!), changed: true };
  }) as Promise<{ consent: Consent; changed: boolean } | undefined>;
}
