// /readyz's checks against servers that accept a connection and never answer (a hung database or
// Temporal frontend): each check gives up after its deadline, so the answer comes within about a
// second, not after the clients' own timeouts; the real PostgreSQL answers ready beside a hung Temporal.
import { silentServer } from './support/ports.js';
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSql } from '../activities/db.js';
import { readiness } from '../workers/services.js';
import { testDb, type TestDb } from './support/db.js';

let silent: { port: number; close(): void };
let port: number;
let db: TestDb;
beforeAll(async () => {
  silent = await silentServer(); // accepts, reads nothing, answers nothing
  port = silent.port;
  db = await testDb();
});
afterAll(async () => {
  silent.close();
  await db?.drop();
});

it('answers not ready within about a second when PostgreSQL and Temporal hang, and ready for what answers', async () => {
  const hungSql = createSql(`postgres://postgres@127.0.0.1:${port}/postgres`, { max: 1 });
  const hungTemporal = Connection.lazy({ address: `127.0.0.1:${port}`, connectTimeout: 60_000 });
  try {
    const started = Date.now();
    expect(await readiness(hungSql, hungTemporal, 1000)()).toEqual({ postgres: false, temporal: false });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(2000);
    expect(await readiness(db.sql, hungTemporal, 1000)()).toEqual({ postgres: true, temporal: false });
  } finally {
    await hungSql.end({ timeout: 0 }).catch(() => undefined);
    await hungTemporal.close().catch(() => undefined);
  }
});
