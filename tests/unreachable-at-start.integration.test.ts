// The production processes started while neither Temporal nor PostgreSQL can be reached. The API
// (`npm run start:api`) serves /healthz at once, answers /readyz 503 within its deadline, says in its
// log which addresses it tried (never DATABASE_URL's password), and turns ready once both appear. The
// worker (`npm run start:worker`) waits for each, naming the address it tried, and runs once they are
// there. The services "appear" as TCP forwarders to the dev server and the test PostgreSQL, opened on
// the ports the processes were given.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSql } from '../activities/db.js';
import { TEST_DATABASE_URL } from './support/db.js';
import { devServerEnv } from './support/temporal.js';
import { forward, freePort } from './support/ports.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PASSWORD = 'pw-that-never-reaches-a-log';

let env: TestWorkflowEnvironment;
const children: ChildProcess[] = [];
const forwards: { close(): Promise<void> }[] = [];
beforeAll(async () => {
  env = await devServerEnv();
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const f of forwards) await f.close();
  await env?.teardown();
});

/** Runs an entry point (`workers/<name>.ts`) as its npm script would; `output()` is all it printed. */
function run(entry: string, extraEnv: Record<string, string>): { child: ChildProcess; output(): string } {
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'development', LOG_LEVEL: 'info', WORKER_METRICS_PORT: '0', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  children.push(child);
  return { child, output: () => out };
}

async function until(condition: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

/** A DATABASE_URL for 127.0.0.1:`port` (a forwarder to the test PostgreSQL), with a password that must never be logged. */
function databaseUrl(port: number, database?: string): { url: string; password: string; path: string } {
  const u = new URL(TEST_DATABASE_URL);
  u.host = `127.0.0.1:${port}`;
  if (database) u.pathname = `/${database}`;
  if (!u.password) u.password = PASSWORD; // ignored by a trusting server, and must not be logged either way
  return { url: u.toString(), password: decodeURIComponent(u.password), path: u.pathname };
}

const pgTarget = () => {
  const db = new URL(TEST_DATABASE_URL);
  return { host: db.hostname, port: Number(db.port || 5432) };
};
const temporalTarget = () => {
  const [host, port] = env.address.split(':');
  return { host: host!, port: Number(port) };
};

it('the API serves /healthz, answers /readyz 503 naming the addresses it tried, and turns ready when both services appear', { timeout: 90_000 }, async () => {
  const [port, temporalPort, pgPort] = [await freePort(), await freePort(), await freePort()];
  const db = databaseUrl(pgPort);
  const started = Date.now();
  const api = run('workers/api.ts', { PORT: String(port), DATABASE_URL: db.url, TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}` });
  const out = api.output;
  const url = `http://127.0.0.1:${port}`;

  // /healthz as soon as the process is up, though nothing it needs is there.
  let health: Response | undefined;
  while (!health && Date.now() - started < 30_000) {
    expect(api.child.exitCode, out()).toBeNull();
    health = await fetch(`${url}/healthz`).catch(() => undefined);
    if (!health) await new Promise((r) => setTimeout(r, 100));
  }
  expect(health?.status, out()).toBe(200);

  const probe = Date.now();
  const notReady = await fetch(`${url}/readyz`);
  expect(Date.now() - probe).toBeLessThan(2500);
  expect(notReady.status).toBe(503);
  expect(((await notReady.json()) as { checks: unknown }).checks).toEqual({ postgres: false, temporal: false });

  // The log names each address it could not reach, and no password.
  await until(() => out().includes('cannot reach Temporal') && out().includes('cannot reach PostgreSQL'), 10_000);
  expect(out()).toContain(`cannot reach Temporal at 127.0.0.1:${temporalPort}; /readyz answers 503 until it can`);
  expect(out()).toContain(`cannot reach PostgreSQL at 127.0.0.1:${pgPort}${db.path}; /readyz answers 503 until it can`);
  expect(api.child.exitCode).toBeNull();

  // Both appear: ready, and the log says so.
  forwards.push(await forward(temporalPort, temporalTarget()));
  forwards.push(await forward(pgPort, pgTarget()));
  let ready = 0;
  const deadline = Date.now() + 45_000;
  while (ready !== 200 && Date.now() < deadline) {
    ready = (await fetch(`${url}/readyz`)).status;
    if (ready !== 200) await new Promise((r) => setTimeout(r, 250));
  }
  expect(ready, out()).toBe(200);
  await until(() => out().includes('Temporal reached') && out().includes('PostgreSQL reached'), 5000);
  expect(out()).toContain(`Temporal reached at 127.0.0.1:${temporalPort}`);
  expect(out()).toContain(`PostgreSQL reached at 127.0.0.1:${pgPort}${db.path}`);
  expect(out()).not.toContain(db.password);
});

it('the worker waits for PostgreSQL, then for Temporal, naming each address, and runs once both are there', { timeout: 120_000 }, async () => {
  // A database of its own: the worker migrates and seeds what DATABASE_URL names.
  const database = `carepath_worker_${randomBytes(4).toString('hex')}`;
  const admin = createSql(TEST_DATABASE_URL, { max: 1 });
  await admin.unsafe(`create database ${database}`);
  try {
    const [temporalPort, pgPort] = [await freePort(), await freePort()];
    const db = databaseUrl(pgPort, database);
    const worker = run('workers/worker.ts', { DATABASE_URL: db.url, TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}` });

    await until(() => worker.output().includes('cannot reach PostgreSQL'), 20_000);
    expect(worker.output()).toContain(`cannot reach PostgreSQL at 127.0.0.1:${pgPort}/${database}; trying again`);
    expect(worker.child.exitCode).toBeNull();
    forwards.push(await forward(pgPort, pgTarget()));

    // Migrated, it goes on to Temporal, which is not there yet (each try waits for the connect timeout, 10 s).
    await until(() => worker.output().includes('cannot reach Temporal'), 40_000);
    expect(worker.output()).toContain(`cannot reach Temporal at 127.0.0.1:${temporalPort}; trying again`);
    expect(worker.child.exitCode).toBeNull();
    forwards.push(await forward(temporalPort, temporalTarget()));

    await until(() => worker.output().includes('worker running'), 60_000);
    expect(worker.output()).toContain('"msg":"worker running"');
    // It migrated and seeded its database once PostgreSQL was there.
    const own = new URL(TEST_DATABASE_URL);
    own.pathname = `/${database}`;
    const check = createSql(own.toString(), { max: 1 });
    try {
      const [row] = await check<{ n: number }[]>`select count(*)::int as n from exam_catalogue`;
      expect(row!.n).toBeGreaterThan(0);
    } finally {
      await check.end();
    }
    expect(worker.output()).not.toContain(db.password);
    worker.child.kill('SIGTERM');
    await new Promise((r) => worker.child.once('exit', r));
  } finally {
    await admin.unsafe(`drop database if exists ${database} with (force)`).catch(() => undefined);
    await admin.end();
  }
});
