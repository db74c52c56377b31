// `Idempotency-Key` on the POSTs that create something (journeys, patients, clinicians, slots,
// pathways, programs, templates, facilities). The first request under a key (per caller) runs; its
// answer, unless a 5xx, is kept a day and a retry with the same key and the same method, path and
// body gets it again (with `Idempotent-Replayed: true`), so a patient tapping twice or a client
// retrying after a timeout creates one thing. The same key with another request is 422; while the
// first is still running, 409 with Retry-After. A 5xx frees the key: the retry runs again (and a
// journey start, whose id comes from the key, finds the journey the first attempt may have made).
// A claim never answered nor freed (its process died, or the database went away before the key could
// be freed) is abandoned once it is older than any request can run: twice the engine's deadline.
import { createHash, randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { answerIdempotencyKey, claimIdempotencyKey, releaseIdempotencyKey } from '../activities/idempotency.js';
import type { Sql } from '../activities/db.js';
import { ApiProblem, conflict, problemResponse, unprocessable } from './problems.js';
import { IDEMPOTENCY_KEY } from './schemas.js';
import type { AppEnv } from './types.js';
import { actorName } from '../workflows/definitions.js';

/**
 * The id a POST under an Idempotency-Key creates (a UUID, version 8, name-based, from the caller and
 * the key): the same key, the same id, so a retry after an answer that never arrived finds what the
 * first attempt may have started. Without a key, a random one.
 */
export function idFor(c: { get(key: 'idempotency'): { caller: string; key: string } | undefined }, kind?: string): string {
  const idem = c.get('idempotency');
  if (!idem) return randomUUID();
  // A journey's name is the caller and the key alone (as it was first); every later kind adds itself, so
  // the same key on another route (after the key's day) never names the other route's object.
  return keyedUuid(kind ? `${idem.caller}\n${idem.key}\n${kind}` : `${idem.caller}\n${idem.key}`);
}

/** A UUID (version 8, name-based) from `name`: the same name, the same id. */
export function keyedUuid(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}


/** `engineTimeoutMs`: the API's deadline for the engine (default 30 s); a request runs at most about that long. */
export function idempotent(sql: Sql, engineTimeoutMs = 30_000): MiddlewareHandler<AppEnv> {
  const abandonedAfterMs = 2 * engineTimeoutMs;
  return async (c, next) => {
    const key = c.req.header('idempotency-key');
    if (key === undefined || c.req.method !== 'POST') return next();
    if (!IDEMPOTENCY_KEY.test(key)) {
      return problemResponse(c, new ApiProblem(400, 'invalid-idempotency-key', 'Invalid request', 'Idempotency-Key must be 1 to 200 visible ASCII characters'));
    }
    // The caller: the token's user, or the partner whose signature held (an institution's intake).
    const user = c.get('user') as AppEnv['Variables']['user'] | undefined;
    const partner = c.get('partner');
    const caller = user ? actorName(user) : partner ? `partner:${partner}` : undefined;
    if (caller === undefined) return next();
    // The body through Hono's cache: a middleware before this one (a partner's signature check) may have read it.
    const raw = await c.req.arrayBuffer();
    const requestHash = createHash('sha256').update(`${c.req.method} ${new URL(c.req.url).pathname}\n`).update(new Uint8Array(raw)).digest('hex');
    const claim = await claimIdempotencyKey(sql, { caller, key, requestHash, abandonedAfterMs });
    if (claim.kind === 'other-request') return problemResponse(c, unprocessable('idempotency-key-reused', 'this Idempotency-Key was used for another request'));
    if (claim.kind === 'in-flight') {
      c.header('Retry-After', '1');
      return problemResponse(c, conflict('idempotency-key-in-flight', 'a request with this Idempotency-Key is still being handled; retry shortly'));
    }
    if (claim.kind === 'answered') {
      const stored = JSON.parse(claim.response) as { contentType: string; body: string };
      return c.body(stored.body, claim.status as 200, { 'content-type': stored.contentType, 'idempotent-replayed': 'true' });
    }
    c.set('idempotency', { caller, key });
    try {
      await next();
    } catch (err) {
      await releaseIdempotencyKey(sql, { caller, key }).catch(() => undefined);
      throw err;
    }
    const res = c.res;
    if (res.status >= 500) {
      await releaseIdempotencyKey(sql, { caller, key });
      return;
    }
    const body = await res.clone().text();
    await answerIdempotencyKey(sql, { caller, key, status: res.status, response: JSON.stringify({ contentType: res.headers.get('content-type') ?? 'application/json', body }) });
  };
}
