// Bearer tokens in production: a token without `exp`, or one living longer than AUTH_TOKEN_MAX_TTL,
// is refused with the contract's 401 problem, by the API (here GET /v1/slots on a real database) and
// by the dashboard's check alike; development keeps taking them. Each refusal is named.
import { Client, Connection } from '@temporalio/client';
import { sign } from 'hono/jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../api/index.js';
import { signToken, tokenKey, verifyToken, type TokenKey } from '../api/auth.js';
import { createLogger } from '../workers/logger.js';
import { readiness } from '../workers/services.js';
import { testDb, type TestDb } from './support/db.js';

const SECRET = 'token-test-secret-of-at-least-32-bytes!';
const HOUR = 3600;
const strict = tokenKey(SECRET, { production: true, maxTtlSeconds: HOUR });
const now = () => Math.floor(Date.now() / 1000);
const claims = { sub: 'coord-1', role: 'coordinator' };

let db: TestDb;
let connection: Connection;
beforeAll(async () => {
  db = await testDb();
  connection = Connection.lazy({ address: '127.0.0.1:1' }); // no route here reaches Temporal
});
afterAll(async () => {
  await connection?.close();
  await db?.drop();
});

function api(key: TokenKey) {
  const secrets = { jwt: key, paymentWebhook: 'p', courierWebhook: 'c', labWebhook: 'l', facilityWebhook: 'f', identityWebhook: 'i' };
  return createApi({ temporal: new Client({ connection }), sql: db.sql, log: createLogger('silent'), secrets, ready: readiness(db.sql, connection) });
}

const slots = (key: TokenKey, token: string) => api(key).request('/v1/slots', { headers: { authorization: `Bearer ${token}` } });

describe('production (AUTH_TOKEN_MAX_TTL = 1 h)', () => {
  it.each([
    ['a token without exp', () => sign({ ...claims, iat: now() }, SECRET, 'HS256'), 'the token has no expiry (exp)'],
    ['a token living one second longer than allowed', () => sign({ ...claims, iat: now(), exp: now() + HOUR + 1 }, SECRET, 'HS256'), 'the token lives longer than the 3600 s allowed'],
    ['a token without iat that expires too far ahead', () => sign({ ...claims, exp: now() + HOUR + 60 }, SECRET, 'HS256'), 'the token lives longer than the 3600 s allowed'],
    ['a token issued long ago for a long life, though near its end', () => sign({ ...claims, iat: now() - 30 * 86400, exp: now() + 60 }, SECRET, 'HS256'), 'the token lives longer than the 3600 s allowed'],
    ['an expired token', () => sign({ ...claims, iat: now() - 120, exp: now() - 60 }, SECRET, 'HS256'), 'the token is invalid or expired'],
  ])('refuses %s: 401 unauthorized', async (_name, token, detail) => {
    const res = await slots(strict, await token());
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(await res.json()).toEqual({ type: 'https://carepath.dev/problems/unauthorized', title: 'Unauthorized', status: 401, detail });
  });

  it('takes a token that lives exactly the maximum', async () => {
    const res = await slots(strict, await sign({ ...claims, iat: now(), exp: now() + HOUR }, SECRET, 'HS256'));
    expect(res.status).toBe(200);
  });

  it('the dashboard refuses the same tokens (one check for both)', async () => {
    expect(await verifyToken(strict, await sign({ ...claims, iat: now() }, SECRET, 'HS256'))).toBe('no-expiry');
    expect(await verifyToken(strict, await sign({ ...claims, iat: now(), exp: now() + 2 * HOUR }, SECRET, 'HS256'))).toBe('too-long');
    expect(await verifyToken(strict, await sign({ ...claims, iat: now(), exp: now() + HOUR }, SECRET, 'HS256'))).toEqual({ id: 'coord-1', role: 'coordinator' });
  });

  it('signs no token longer than the maximum', async () => {
    const token = await signToken(strict, { id: 'coord-1', role: 'coordinator' }, 12 * HOUR);
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iat: number; exp: number };
    expect(payload.exp - payload.iat).toBe(HOUR);
    expect((await slots(strict, token)).status).toBe(200);
  });
});

describe('development', () => {
  const dev = tokenKey(SECRET, { production: false, maxTtlSeconds: HOUR });

  it('takes tokens without exp, or living long, and still refuses expired ones', async () => {
    expect(dev).toBe(SECRET);
    expect((await slots(dev, await sign({ ...claims, iat: now() }, SECRET, 'HS256'))).status).toBe(200);
    expect((await slots(dev, await sign({ ...claims, iat: now(), exp: now() + 30 * 86400 }, SECRET, 'HS256'))).status).toBe(200);
    expect((await slots(dev, await sign({ ...claims, exp: now() - 60 }, SECRET, 'HS256'))).status).toBe(401);
  });
});

describe('a token seen before (verifyToken keeps what each key accepted, issue 11)', () => {
  const dev = tokenKey(SECRET, { production: false, maxTtlSeconds: HOUR });

  it('is refused once its exp has passed, as a token never seen is', async () => {
    const exp = now() + 2;
    const token = await sign({ ...claims, iat: now(), exp }, SECRET, 'HS256');
    expect(await verifyToken(strict, token)).toEqual({ id: 'coord-1', role: 'coordinator' });
    expect(await verifyToken(strict, token)).toEqual({ id: 'coord-1', role: 'coordinator' });
    await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 20));
    expect(await verifyToken(strict, token)).toBe('invalid');
    expect((await slots(strict, token)).status).toBe(401);
  });

  it('is taken only by the key that accepted it', async () => {
    const token = await sign({ ...claims, iat: now() }, SECRET, 'HS256');
    expect(await verifyToken(dev, token)).toEqual({ id: 'coord-1', role: 'coordinator' });
    // The same secret in production still wants an exp; another secret never took it.
    expect(await verifyToken(strict, token)).toBe('no-expiry');
    expect(await verifyToken('another-secret-of-at-least-32-bytes!!', token)).toBe('invalid');
    expect(await verifyToken(tokenKey(SECRET, { production: true, maxTtlSeconds: 60 }), await sign({ ...claims, iat: now(), exp: now() + HOUR }, SECRET, 'HS256'))).toBe('too-long');
  });

  it('a refused token is checked again each time, and one altered by a byte is not the accepted one', async () => {
    const token = await sign({ ...claims, iat: now(), exp: now() + 60 }, SECRET, 'HS256');
    expect(await verifyToken(strict, token)).toEqual({ id: 'coord-1', role: 'coordinator' });
    const [h, p, sig] = token.split('.') as [string, string, string];
    const admin = Buffer.from(JSON.stringify({ ...claims, role: 'admin', iat: now(), exp: now() + 60 })).toString('base64url');
    expect(await verifyToken(strict, `${h}.${admin}.${sig}`)).toBe('invalid');
    expect(await verifyToken(strict, `${h}.${p}.${sig.slice(0, -2)}AA`)).toBe('invalid');
    expect(await verifyToken(strict, `${h}.${admin}.${sig}`)).toBe('invalid');
  });
});
