// The stored first answers of requests sent with an Idempotency-Key (db/migrations/008): claimed
// before the request runs, answered after, forgotten when the answer must not be replayed (a 5xx).
import type { Sql } from './db.js';

export type Claim =
  | { kind: 'claimed' }
  | { kind: 'in-flight' }
  | { kind: 'other-request' }
  | { kind: 'answered'; status: number; response: string };

/**
 * Claims (caller, key) for a request, or says what the first request under it did. Keys live a day; a
 * claim still without an answer after `abandonedAfterMs` was abandoned (its request can no longer be
 * running) and is claimed again, so a retry is never refused for a day after an outage.
 */
export async function claimIdempotencyKey(sql: Sql, r: { caller: string; key: string; requestHash: string; abandonedAfterMs: number }): Promise<Claim> {
  const inserted = await sql`
    insert into idempotency_keys (caller, key, request_hash) values (${r.caller}, ${r.key}, ${r.requestHash})
    on conflict (caller, key) do update set request_hash = excluded.request_hash, status = null, response = null, created_at = now()
      where idempotency_keys.created_at < now() - interval '1 day'
         or (idempotency_keys.status is null and idempotency_keys.created_at < now() - make_interval(secs => ${r.abandonedAfterMs / 1000}))
    returning caller`;
  if (inserted.length) return { kind: 'claimed' };
  const [row] = await sql<{ request_hash: string; status: number | null; response: string | null }[]>`
    select request_hash, status, response from idempotency_keys where caller = ${r.caller} and key = ${r.key}`;
  if (!row) return claimIdempotencyKey(sql, r); // forgotten meanwhile: claim it again
  if (row.request_hash !== r.requestHash) return { kind: 'other-request' };
  if (row.status === null || row.response === null) return { kind: 'in-flight' };
  return { kind: 'answered', status: row.status, response: row.response };
}

export async function answerIdempotencyKey(sql: Sql, r: { caller: string; key: string; status: number; response: string }): Promise<void> {
  await sql`update idempotency_keys set status = ${r.status}, response = ${r.response} where caller = ${r.caller} and key = ${r.key}`;
}

/** The request failed in a way a retry should run again (5xx, or it threw): the key is free. */
export async function releaseIdempotencyKey(sql: Sql, r: { caller: string; key: string }): Promise<void> {
  await sql`delete from idempotency_keys where caller = ${r.caller} and key = ${r.key} and status is null`;
}
