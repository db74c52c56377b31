// The change feed (db/migrations/007_changes.sql): every event appended to a journey's or an item's
// timeline, in the order transactions finished, for GET /v1/stream. Read by position (xid, id) and only
// below the oldest transaction still running, so a row whose transaction commits late is never skipped.
import { iso, type Sql } from './db.js';

export type ChangeKind = 'journey' | 'prescription' | 'exam' | 'referral' | 'program' | 'consultation' | 'mdt' | 'remote';

export interface Change {
  /** The feed position, `<xid>-<id>`: the SSE event id a client resumes from (Last-Event-ID). */
  position: string;
  kind: ChangeKind;
  id: string;
  journeyId: string | null;
  patientId: string | null;
  doctorId: string | null;
  seq: number;
  type: string;
  at: string;
}

/** A position in the feed: every change at or before it has been read. */
export interface Position {
  xid: string;
  id: string;
}

export const POSITION = /^(\d{1,20})-(\d{1,20})$/;

export function parsePosition(s: string): Position | undefined {
  const m = POSITION.exec(s);
  return m ? { xid: m[1]!, id: m[2]! } : undefined;
}

export const positionOf = (p: Position): string => `${p.xid}-${p.id}`;

/**
 * The feed's present: every change of a transaction still running (or not begun) comes after it. A few
 * of transactions that finished just now may too; a change is a hint to read again, so twice is harmless.
 */
export async function presentPosition(sql: Sql): Promise<Position> {
  const [row] = await sql<{ xid: string }[]>`select pg_snapshot_xmin(pg_current_snapshot())::text as xid`;
  return { xid: row!.xid, id: '0' };
}

/**
 * Changes after `after` whose transactions have finished, oldest first, at most `limit`; with `upTo`,
 * none after it. A transaction still running holds back every change at or after its xid.
 */
export async function readChanges(sql: Sql, after: Position, opts: { limit: number; upTo?: Position }): Promise<Change[]> {
  const rows = await sql<
    { xid: string; id: string; kind: ChangeKind; subject_id: string; journey_id: string | null; patient_id: string | null; doctor_id: string | null; seq: number; type: string; at: Date }[]
  >`
    select xid::text as xid, id::text as id, kind, subject_id, journey_id, patient_id, doctor_id, seq, type, at
    from changes
    where (xid, id) > (${after.xid}::xid8, ${after.id}::bigint)
      and xid < pg_snapshot_xmin(pg_current_snapshot())
      ${opts.upTo ? sql`and (xid, id) <= (${opts.upTo.xid}::xid8, ${opts.upTo.id}::bigint)` : sql``}
    order by xid, id
    limit ${opts.limit}`;
  return rows.map((r) => ({
    position: `${r.xid}-${r.id}`,
    kind: r.kind,
    id: r.subject_id,
    journeyId: r.journey_id,
    patientId: r.patient_id,
    doctorId: r.doctor_id,
    seq: r.seq,
    type: r.type,
    at: iso(r.at)!,
  }));
}

/** Deletes changes older than `olderThanMs` (a client away longer resumes from the present). */
export async function pruneChanges(sql: Sql, olderThanMs: number): Promise<number> {
  const rows = await sql`delete from changes where at < now() - ${`${Math.floor(olderThanMs / 1000)} seconds`}::interval`;
  return rows.count;
}
