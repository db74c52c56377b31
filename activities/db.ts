// One pool factory and the migration runner. Repositories take `sql` as their first argument.
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';

export type Sql = postgres.Sql;

export interface SqlOptions {
  /** Connections in the pool; PGlite serves one. */
  max?: number;
  /** Schema to work in (tests get one each). */
  schema?: string;
  /** A Unix socket to connect through instead of the URL's host (the embedded PGlite). */
  socketPath?: string;
}

export function createSql(url: string, opts: SqlOptions = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    ...(opts.socketPath ? { path: opts.socketPath } : {}),
    onnotice: () => {},
    // A database that does not answer is reported within seconds (the API answers 503), not after 30.
    connect_timeout: 3,
    // The wait before a connection that failed tries again, shared by the whole pool. postgres.js's
    // default grows to 20 s after a few failures, so during an outage a request queued behind it waited
    // that long before failing, and after the outage that long before the database was used again.
    // Capped at 0.5 s (seconds, grows 0.1 s a failure): a refused connect is cheap, and a request
    // queued behind two waits of 1 s answered its 503 only after about 2 s.
    backoff: (retries: number) => Math.min(0.1 * retries, 0.5),
    // Timestamps come back as ISO strings; the API and workflows speak ISO 8601 with offset.
    types: { bigint: postgres.BigInt },
    transform: { undefined: null },
    connection: opts.schema ? { search_path: opts.schema } : {},
  });
}

const MIGRATIONS = join(dirname(fileURLToPath(import.meta.url)), '..', 'db', 'migrations');

/** Applies db/migrations/*.sql in name order, each once, under an advisory lock. */
export async function migrate(sql: Sql): Promise<string[]> {
  const files = (await readdir(MIGRATIONS)).filter((f) => f.endsWith('.sql')).sort();
  const applied: string[] = [];
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext(current_schema() || ':carepath-migrations'))`;
    await tx`create table if not exists schema_migrations (name text primary key, applied_at timestamptz not null default now())`;
    const done = new Set((await tx<{ name: string }[]>`select name from schema_migrations`).map((r) => r.name));
    for (const file of files) {
      if (done.has(file)) continue;
      await tx.unsafe(await readFile(join(MIGRATIONS, file), 'utf8'));
      await tx`insert into schema_migrations (name) values (${file})`;
      applied.push(file);
    }
  });
  return applied;
}

export const iso = (d: Date | string | null | undefined): string | undefined =>
  d === null || d === undefined ? undefined : new Date(d).toISOString();
