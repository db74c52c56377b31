// Opening and closing what a process needs: PostgreSQL (configured, or an embedded PGlite served on
// a local socket) and the readiness check the API's /readyz answers with.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { createSql, migrate, type Sql } from '../activities/db.js';
import { seedReferenceData } from '../activities/seed.js';

export interface Database {
  sql: Sql;
  embedded: boolean;
  close(): Promise<void>;
}

/** `DATABASE_URL`, or else an embedded PGlite persisted in `dataDir` and served on a Unix socket. */
export async function openDatabase(databaseUrl: string | undefined, dataDir: string, log: Logger): Promise<Database> {
  if (databaseUrl) {
    const sql = createSql(databaseUrl);
    return { sql, embedded: false, close: () => sql.end({ timeout: 5 }) };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(join(dataDir, 'pglite'));
  const socketPath = join(dataDir, '.s.PGSQL.5432');
  const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: 1 });
  await server.start();
  log.info({ socketPath }, 'embedded PGlite serving on a local socket');
  // PGlite serves one connection: postgres.js then uses exactly one.
  const sql = createSql('postgres://postgres@localhost/postgres', { max: 1, socketPath });
  return {
    sql,
    embedded: true,
    async close() {
      await sql.end({ timeout: 5 });
      await server.stop();
      await db.close();
    },
  };
}

export async function prepareDatabase(sql: Sql, log: Logger): Promise<void> {
  const applied = await migrate(sql);
  if (applied.length) log.info({ applied }, 'migrations applied');
  await seedReferenceData(sql);
}

/** How long /readyz waits for each check: longer than any load balancer should have to wait is down. */
export const READY_CHECK_MS = 1000;

/**
 * Resolves to what `check` answers, or false when it fails or has not answered within `ms`; then the
 * check is told to stop (its signal aborts), so probes during an outage do not pile up calls.
 */
export async function within(check: (signal: AbortSignal) => Promise<boolean>, ms: number): Promise<boolean> {
  const stop = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([check(stop.signal).catch(() => false), late]);
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
}

export function readiness(sql: Pick<Sql, 'unsafe'>, connection: Pick<Connection, 'healthService' | 'withAbortSignal'>, ms = READY_CHECK_MS) {
  return async (): Promise<{ temporal: boolean; postgres: boolean }> => {
    const [postgres, temporal] = await Promise.all([
      within(async (signal) => {
        const query = sql.unsafe('select 1');
        signal.addEventListener('abort', () => void query.cancel());
        await query;
        return true;
      }, ms),
      within(async (signal) => (await connection.withAbortSignal(signal, () => connection.healthService.check({}))).status === 1, ms),
    ]);
    return { postgres, temporal };
  };
}
