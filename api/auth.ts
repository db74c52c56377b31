// Bearer JWT (HS256, AUTH_JWT_SECRET) authentication and role checks.
import type { MiddlewareHandler } from 'hono';
import { sign, verify } from 'hono/jwt';
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

const unauthorized = (detail: string) => new ApiProblem(401, 'unauthorized', 'Unauthorized', detail);

export function authenticate(secret: string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization');
    const token = header?.match(/^Bearer\s+(\S+)$/i)?.[1];
    if (!token) {
      c.header('WWW-Authenticate', 'Bearer');
      return problemResponse(c, unauthorized('a Bearer token is required'));
    }
    const checked = await verifyToken(secret, token);
    if (checked === 'invalid') {
      c.header('WWW-Authenticate', 'Bearer error="invalid_token"');
      return problemResponse(c, unauthorized('the token is invalid or expired'));
    }
    if (checked === 'no-claims') return problemResponse(c, unauthorized('the token lacks a valid sub or role'));
    c.set('user', checked);
    await next();
  };
}

/** The user a token names: its signature and expiry checked, then its claims (the API's and the dashboard's one check). */
export async function verifyToken(secret: string, token: string): Promise<User | 'invalid' | 'no-claims'> {
  let payload: unknown;
  try {
    payload = await verify(token, secret, 'HS256');
  } catch {
    return 'invalid';
  }
  const claims = Claims.safeParse(payload);
  return claims.success ? { id: claims.data.sub, role: claims.data.role } : 'no-claims';
}

/** Refuses (403) callers whose role is not listed. */
export function requireRole(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!roles.includes(c.get('user').role)) throw forbidden(`this needs one of the roles: ${roles.join(', ')}`);
    await next();
  };
}

export const isStaff = (u: User): boolean => u.role === 'coordinator' || u.role === 'admin';

/** Signs a token (development tooling and tests). */
export function signToken(secret: string, user: User, ttlSeconds = 12 * 3600): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return sign({ sub: user.id, role: user.role, iat: now, exp: now + ttlSeconds }, secret, 'HS256');
}
