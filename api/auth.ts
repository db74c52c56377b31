// Bearer JWT (HS256, AUTH_JWT_SECRET) authentication and role checks.
import type { Context, MiddlewareHandler } from 'hono';
import { sign, verify } from 'hono/jwt';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import type { Role } from '../workflows/definitions.js';
import { ApiProblem, forbidden, problemResponse } from './problems.js';
import type { AppEnv } from './types.js';

export interface User {
  id: string;
  role: Role;
}

const Claims = z.object({
  sub: z.string().min(1).max(200),
  role: z.enum(['patient', 'doctor', 'pharmacist', 'coordinator', 'admin']),
});

export const unauthorized = (detail: string) => new ApiProblem(401, 'unauthorized', 'Unauthorized', detail);

/** The token of `Authorization: Bearer <token>`, if the request carries one. */
export const bearerToken = (c: Context): string | undefined => c.req.header('authorization')?.match(/^Bearer\s+(\S+)$/i)?.[1];

/**
 * What tokens are checked with: the HS256 secret alone (development and tests), or, in production, the
 * secret and the longest life a token may have: such a token must carry `exp`, and `exp` may lie at most
 * `maxTtlSeconds` after its `iat` (after now, without `iat`).
 */
export type TokenKey = string | { secret: string; maxTtlSeconds: number };

/** The key entry points hand the API: strict in production (AUTH_TOKEN_MAX_TTL), the bare secret otherwise. */
export function tokenKey(secret: string, opts: { production: boolean; maxTtlSeconds: number }): TokenKey {
  return opts.production ? { secret, maxTtlSeconds: opts.maxTtlSeconds } : secret;
}

export function authenticate(key: TokenKey): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearerToken(c);
    if (!token) {
      c.header('WWW-Authenticate', 'Bearer');
      return problemResponse(c, unauthorized('a Bearer token is required'));
    }
    const checked = await verifyToken(key, token);
    if (checked === 'invalid' || checked === 'no-expiry' || checked === 'too-long') {
      c.header('WWW-Authenticate', 'Bearer error="invalid_token"');
      const detail = {
        invalid: 'the token is invalid or expired',
        'no-expiry': 'the token has no expiry (exp)',
        'too-long': `the token lives longer than the ${typeof key === 'string' ? 0 : key.maxTtlSeconds} s allowed`,
      }[checked];
      return problemResponse(c, unauthorized(detail));
    }
    if (checked === 'no-claims') return problemResponse(c, unauthorized('the token lacks a valid sub or role'));
    c.set('user', checked);
    await next();
  };
}

/**
 * The user a token names: its signature and expiry checked, in production its lifetime too, then its
 * claims (the API's and the dashboard's one check).
 */
export async function verifyToken(key: TokenKey, token: string): Promise<User | 'invalid' | 'no-expiry' | 'too-long' | 'no-claims'> {
  const cache = acceptedBy(key);
  const known = cache.get(token);
  if (known) return known;
  const checked = await checkToken(key, token);
  if (typeof checked !== 'string') cache.set(token, checked.user, checked.exp === undefined ? {} : { ttl: Math.max(checked.exp * 1000 - Date.now(), 1) });
  return typeof checked === 'string' ? checked : checked.user;
}

/**
 * Tokens a key has accepted, until their `exp` (a token's claims and signature cannot change under
 * the same string, and what made it valid, nbf and iat, only stays true): a request with a token seen
 * before skips the HMAC (its WebCrypto key import costs 0.3 ms a request, issue 11). Bounded; a token
 * that failed is never kept, so each attempt with it is checked again.
 */
const accepted = new Map<string, LRUCache<string, User>>();
function acceptedBy(key: TokenKey): LRUCache<string, User> {
  const id = typeof key === 'string' ? `dev\u0000${key}` : `strict\u0000${key.maxTtlSeconds}\u0000${key.secret}`;
  let cache = accepted.get(id);
  if (!cache) accepted.set(id, (cache = new LRUCache<string, User>({ max: 10_000 })));
  return cache;
}

async function checkToken(key: TokenKey, token: string): Promise<{ user: User; exp: number | undefined } | 'invalid' | 'no-expiry' | 'too-long' | 'no-claims'> {
  const secret = typeof key === 'string' ? key : key.secret;
  let payload: Record<string, unknown>;
  try {
    payload = await verify(token, secret, 'HS256');
  } catch {
    return 'invalid';
  }
  if (typeof key !== 'string') {
    if (typeof payload.exp !== 'number') return 'no-expiry';
    const from = typeof payload.iat === 'number' ? payload.iat : Math.floor(Date.now() / 1000);
    if (payload.exp - from > key.maxTtlSeconds) return 'too-long';
  }
  const claims = Claims.safeParse(payload);
  if (!claims.success) return 'no-claims';
  return { user: Object.freeze({ id: claims.data.sub, role: claims.data.role }), exp: typeof payload.exp === 'number' ? payload.exp : undefined };
}

/** Refuses (403) callers whose role is not listed. */
export function requireRole(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!roles.includes(c.get('user').role)) throw forbidden(`this needs one of the roles: ${roles.join(', ')}`);
    await next();
  };
}

export const isStaff = (u: User): boolean => u.role === 'coordinator' || u.role === 'admin';

/**
 * Who may see a patient's item that has one responsible doctor (a journey's booked doctor, an exam's
 * ordering doctor, a program's or a consultation's doctor): its patient, that doctor, coordinators and
 * admins. Anyone else is told it does not exist.
 */
export const ownerMaySee = (user: User, o: { patientId: string; doctorId?: string | null | undefined }): boolean =>
  isStaff(user) || (user.role === 'patient' && user.id === o.patientId) || (user.role === 'doctor' && o.doctorId != null && user.id === o.doctorId);

/** Signs a token (development tooling and tests); with a strict key, never for longer than it accepts. */
export function signToken(key: TokenKey, user: User, ttlSeconds = 12 * 3600): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const ttl = typeof key === 'string' ? ttlSeconds : Math.min(ttlSeconds, key.maxTtlSeconds);
  return sign({ sub: user.id, role: user.role, iat: now, exp: now + ttl }, typeof key === 'string' ? key : key.secret, 'HS256');
}
