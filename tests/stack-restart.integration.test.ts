// The local stack (`npm start`, workers/start.ts) as a user runs it, on a data directory and ports of
// its own: a second copy beside a running one says so and exits 1 without disturbing the first; after
// a `kill -9` of the runner (which leaves its stale PGlite socket, its pid file and its Temporal dev
// server behind) it starts again on the same directory with no manual step, its data and journeys intact.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signToken } from '../api/auth.js';
import { freePort } from './support/ports.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SECRET = 'stack-restart-test-secret';


interface Run {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

let dataDir: string;
let env: NodeJS.ProcessEnv;
let api: string;
const runs: Run[] = [];

/** `npm start` without npm: node with tsx's loader on workers/start.ts, in a process group of its own. */
function startStack(overrides: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/start.ts'], { cwd: ROOT, env: { ...env, ...overrides }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const run = { child, output: () => out, exited };
  runs.push(run);
  return run;
}

async function ready(run: Run, ms = 90_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (run.child.exitCode !== null) throw new Error(`the stack exited (${run.child.exitCode}):\n${run.output()}`);
    try {
      if ((await fetch(`${api}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the stack was not ready within ${ms} ms:\n${run.output()}`);
}

async function call(method: string, path: string, token: string, body?: unknown): Promise<Response> {
  return fetch(api + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** The pids of live Temporal dev servers persisting to this test's data directory. */
function devServers(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').includes(`--db-filename ${join(dataDir, 'temporal.db')}`);
      } catch {
        return false;
      }
    })
    .map(Number);
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'carepath-stack-'));
  const [port, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
  api = `http://127.0.0.1:${port}`;
  env = {
    ...process.env,
    NODE_ENV: 'development',
    CAREPATH_DATA_DIR: dataDir,
    PORT: String(port),
    TEMPORAL_DEV_PORT: String(temporalPort),
    TEMPORAL_UI_PORT: String(uiPort),
    WORKER_METRICS_PORT: '0',
    // The embedded services, whatever the machine's environment says.
    DATABASE_URL: '',
    TEMPORAL_ADDRESS: '',
    SANDBOX_PARTNERS: 'off',
    AUTH_JWT_SECRET: SECRET,
    LOG_LEVEL: 'warn',
  };
});

afterAll(async () => {
  for (const run of runs) {
    try {
      process.kill(-run.child.pid!, 'SIGKILL'); // its process group: the runner and its dev server
    } catch {
      // gone already
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
});

it('refuses a second copy, and starts again on the same data after kill -9', { timeout: 240_000 }, async () => {
  const first = startStack();
  await ready(first);
  const admin = await signToken(SECRET, { role: 'admin', id: 'admin-1' });
  const patientRes = await call('POST', '/v1/patients', admin, { name: '测试患者', phone: '+8613800000000', birthDate: '1970-01-01', sex: 'M' });
  expect(patientRes.status).toBe(201);
  const patient = (await patientRes.json()) as { id: string };
  const journeyRes = await call('POST', '/v1/journeys', admin, { patientId: patient.id, mode: 'offline', complaint: '高血压，最近头晕' });
  expect(journeyRes.status, `${await journeyRes.clone().text()}\n${first.output()}`).toBe(201);
  const journey = (await journeyRes.json()) as { id: string; step: string; status: string };
  expect(journey.status).toBe('active');

  // A second copy on the same data directory: one line, exit 1, and the first serves on untouched.
  const second = startStack({ PORT: String(await freePort()) });
  expect(await second.exited).toBe(1);
  expect(second.output()).toContain(`CarePath is already running (pid ${first.child.pid})`);
  expect((await fetch(`${api}/readyz`)).status).toBe(200);
  expect((await call('GET', `/v1/journeys/${journey.id}`, admin)).status).toBe(200);
  expect(readFileSync(join(dataDir, 'carepath.pid'), 'utf8').trim()).toBe(String(first.child.pid));
  // A copy on a data directory of its own but the first one's ports: refused, naming the port, before it starts anything.
  const otherDir = mkdtempSync(join(tmpdir(), 'carepath-stack-'));
  try {
    const third = startStack({ CAREPATH_DATA_DIR: otherDir, PORT: String(await freePort()) });
    expect(await third.exited).toBe(1);
    expect(third.output()).toContain(`Port ${env.TEMPORAL_DEV_PORT} (TEMPORAL_DEV_PORT) is in use by another program`);
    expect(existsSync(join(otherDir, 'temporal.db'))).toBe(false);
    expect((await fetch(`${api}/readyz`)).status).toBe(200);
  } finally {
    rmSync(otherDir, { recursive: true, force: true });
  }

  // kill -9 of the runner alone: its pid file and PGlite socket stay behind, its dev server runs on, orphaned.
  first.child.kill('SIGKILL');
  await first.exited;
  expect(existsSync(join(dataDir, 'carepath.pid'))).toBe(true);
  expect(existsSync(join(dataDir, '.s.PGSQL.5432'))).toBe(true);
  const orphans = devServers();
  expect(orphans).toHaveLength(1);

  const again = startStack();
  await ready(again);
  expect(devServers()).not.toContain(orphans[0]);
  expect(readFileSync(join(dataDir, 'carepath.pid'), 'utf8').trim()).toBe(String(again.child.pid));
  // The read model and the workflow both survived: the journey reads as before, and its workflow takes an update.
  const read = await call('GET', `/v1/journeys/${journey.id}`, admin);
  expect(read.status).toBe(200);
  expect(((await read.json()) as { step: string }).step).toBe(journey.step);
  const cancelled = await call('POST', `/v1/journeys/${journey.id}/cancel`, admin, { reason: 'restart test' });
  expect(cancelled.status).toBe(200);
  expect(((await cancelled.json()) as { status: string }).status).toBe('cancelled');

  // Ctrl-C stops everything and leaves nothing behind for the next start to clean up.
  again.child.kill('SIGINT');
  expect(await again.exited).toBe(0);
  expect(existsSync(join(dataDir, 'carepath.pid'))).toBe(false);
  expect(existsSync(join(dataDir, '.s.PGSQL.5432'))).toBe(false);
  expect(devServers()).toEqual([]);
});

it('runs the daily reconciliation it missed while stopped once it is back, and once only', { timeout: 300_000 }, async () => {
  // The Schedule's time: the next whole minute at least 40 s away (UTC, the hospital's time zone here).
  const due = Math.ceil((Date.now() + 40_000) / 60_000) * 60_000;
  const schedule = { RECONCILIATION_AT: new Date(due).toISOString().slice(11, 16), HOSPITAL_TIMEZONE: 'UTC' };
  const day = new Date(due - 86_400_000).toISOString().slice(0, 10);
  const admin = await signToken(SECRET, { role: 'admin', id: 'finance-1' });
  const runsOfDay = async (): Promise<{ trigger: string; status: string }[]> => {
    const res = await call('GET', `/v1/reconciliations/${day}`, admin);
    if (res.status === 404) return [];
    expect(res.status).toBe(200);
    return ((await res.json()) as { runs: { trigger: string; status: string }[] }).runs.map((r) => ({ trigger: r.trigger, status: r.status }));
  };

  // Started (the Schedule is made), then stopped across its time.
  const first = startStack(schedule);
  await ready(first);
  expect(await runsOfDay()).toEqual([]);
  first.child.kill('SIGINT');
  expect(await first.exited).toBe(0);
  await new Promise((r) => setTimeout(r, due + 3_000 - Date.now()));

  // Back: the missed run is started once, within the catch-up window.
  const back = startStack(schedule);
  await ready(back);
  const until = Date.now() + 60_000;
  let runs = await runsOfDay();
  while (!runs.some((r) => r.status === 'done') && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 500));
    runs = await runsOfDay();
  }
  expect(runs, back.output()).toEqual([{ trigger: 'schedule', status: 'done' }]);

  // Started again: nothing runs the day a second time.
  back.child.kill('SIGINT');
  expect(await back.exited).toBe(0);
  const third = startStack(schedule);
  await ready(third);
  await new Promise((r) => setTimeout(r, 5_000));
  expect(await runsOfDay()).toEqual([{ trigger: 'schedule', status: 'done' }]);
  third.child.kill('SIGINT');
  expect(await third.exited).toBe(0);
});
