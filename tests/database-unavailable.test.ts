// The API with its database down: a refused connection and one that never answers both come back as
// 503 `database-unavailable` with Retry-After (the contract's answer for an outage, not a 500), the
// refused one at once and the silent one within the 3 s connect timeout; /readyz says postgres false.
import { freePort, silentServer } from './support/ports.js';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSql } from '../activities/db.js';
import { createApi } from '../api/index.js';
import { signToken } from '../api/auth.js';
import { createLogger } from '../workers/logger.js';
import { readiness } from '../workers/services.js';

const secrets = { jwt: 'j', paymentWebhook: 'p', courierWebhook: 'c', labWebhook: 'l', facilityWebhook: 'f', identityWebhook: 'i' };
let silent: { port: number; close(): void };
let silentPort: number;
let closedPort: number;
beforeAll(async () => {
  silent = await silentServer();
  silentPort = silent.port;
  // A port nobody listens on.
  closedPort = await freePort();
});
afterAll(() => {
  silent.close();
});

it.each([
  ['refused', () => closedPort, 1000],
  ['silent', () => silentPort, 4500],
])('answers 503 database-unavailable when the database is %s', async (_name, port, within) => {
  const sql = createSql(`postgres://postgres@127.0.0.1:${port()}/postgres`, { max: 1 });
  const connection = Connection.lazy({ address: `127.0.0.1:${silentPort}` });
  try {
    const app = createApi({ temporal: new Client({ connection }), sql, log: createLogger('silent'), secrets, ready: readiness(sql, connection, 500) });
    const token = await signToken(secrets.jwt, { role: 'coordinator', id: 'c' });
    const started = Date.now();
    const res = await app.request('/v1/slots', { headers: { authorization: `Bearer ${token}` } });
    expect(Date.now() - started).toBeLessThan(within);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('2');
    expect(await res.json()).toMatchObject({ type: 'https://carepath.dev/problems/database-unavailable', status: 503 });
    const ready = await app.request('/readyz');
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: unknown }).checks).toEqual({ postgres: false, temporal: false });
  } finally {
    await sql.end({ timeout: 0 }).catch(() => undefined);
    await connection.close().catch(() => undefined);
  }
});
