// Opening and closing what a process needs: PostgreSQL (configured, or an embedded PGlite served on
// a local socket) and the readiness check the API's /readyz answers with.
import { existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
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
  if (await removeStaleSocket(socketPath)) log.info({ socketPath }, 'removed the socket a previous run left behind');
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

/**
 * A Unix socket left behind by a process that was killed (`kill -9`, a crash) blocks a new server from
 * listening on its path. Removes it when nobody answers on it (and says so); refuses when some process serves it.
 */
export async function removeStaleSocket(path: string): Promise<boolean> {
  if (!existsSync(path)) return false;
  const served = await new Promise<boolean>((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
  if (served) throw new Error(`${path} is served by another process (is another CarePath running on this data directory?)`);
  unlinkSync(path);
  return true;
}

export async function prepareDatabase(sql: Sql, log: Logger): Promise<void> {
  const applied = await migrate(sql);
  if (applied.length) log.info({ applied }, 'migrations applied');
  await seedReferenceData(sql);
}

/** Where DATABASE_URL points, for logs: host, port and database, never the user or password. */
export function databaseAddress(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
}

/**
 * Runs `attempt` until it succeeds, as long as `retryable` says a failure is only the service being out
 * of reach: 1 s, 2 s, 4 s … at most 30 s apart, each failure logged with the address tried.
 */
export async function untilReachable<T>(
  log: Logger,
  service: { name: 'Temporal' | 'PostgreSQL'; address: string },
  attempt: () => Promise<T>,
  retryable: (err: unknown) => boolean = () => true,
): Promise<T> {
  for (let waitMs = 1000; ; waitMs = Math.min(waitMs * 2, 30_000)) {
    try {
      return await attempt();
    } catch (err) {
      if (!retryable(err)) throw err;
      log.warn({ address: service.address, err, retryInMs: waitMs }, `cannot reach ${service.name} at ${service.address}; trying again`);
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }
}

/**
 * Logs, once each, which service the process cannot reach and at which address, and when it comes
 * within reach; checks every `everyMs` until both answer. The API serves meanwhile (/healthz 200,
 * /readyz 503).
 */
export async function reportReachability(
  ready: () => Promise<{ temporal: boolean; postgres: boolean }>,
  addresses: { temporal: string; postgres: string },
  log: Logger,
  everyMs = 2000,
): Promise<void> {
  const names = { temporal: 'Temporal', postgres: 'PostgreSQL' } as const;
  const down = new Set<keyof typeof names>();
  for (;;) {
    const now = await ready();
    for (const key of ['temporal', 'postgres'] as const) {
      if (!now[key] && !down.has(key)) {
        down.add(key);
        log.warn({ address: addresses[key] }, `cannot reach ${names[key]} at ${addresses[key]}; /readyz answers 503 until it can`);
      } else if (now[key] && down.delete(key)) {
        log.info({ address: addresses[key] }, `${names[key]} reached at ${addresses[key]}`);
      }
    }
    if (now.temporal && now.postgres) return;
    await new Promise((r) => setTimeout(r, everyMs).unref());
  }
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
