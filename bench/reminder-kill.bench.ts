// Reminder lateness across worker kills: N care programs on the local Temporal dev server, each with a
// dose at MARKS consecutive minute marks, one journey worker at a time in a child process of its own
// (bench/kill-worker.ts, wired as production wires it, the outbox dispatcher beside it), and a local
// gateway that takes GATEWAY_MS to answer. Around each minute mark the worker is killed with SIGKILL
// (no graceful shutdown: what it held stays "running" on the server) at a different moment (before
// the mark, in the middle of the burst, while deliveries are in flight), and a new worker process is
// started at once (or after a pause). Prints, over every reminder, its lateness (first arrival at the
// gateway − scheduled time) and its lateness beyond the restart (first arrival − the later of the
// scheduled time and the moment the new worker was polling), p50/p90/p99/max, and the ids that
// arrived more than once (at-least-once delivery, same Idempotency-Key).
//
//   npm run bench:kill                          # 100 programs, 4 marks, about 6 minutes
//   PROGRAMS=20 MARKS=2 npm run bench:kill
//
// Knobs: PROGRAMS (100), MARKS (4, at most the kill plans below), GATEWAY_MS (1000). Needs PostgreSQL
// (DATABASE_URL or the machine's) and .tools/bin. docs/performance.md has the runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DateTime } from 'luxon';
import pathways from '../db/seed/pathways.json' with { type: 'json' };
import templates from '../db/seed/program-templates.json' with { type: 'json' };
import { createSql } from '../activities/db.js';
import { CARE_PROGRAM_WORKFLOW, JOURNEY_TASK_QUEUE, programWorkflowId, type PathwayTemplate, type ProgramInput, type ProgramTemplate } from '../workflows/definitions.js';
import { LOCAL_WORK_TASK_TIMEOUT } from '../workflows/activity-options.js';
import type { careProgram } from '../workflows/care-program.js';
import { testDb } from '../tests/support/db.js';
import { devServerEnv, workflowBundle } from '../tests/support/temporal.js';
import { pct, sleep } from './stats.js';

const MIN = 60_000;
const TZ = 'Asia/Shanghai';
const CONDITION = 'hypertension';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const int = (name: string, fallback: number): number => (process.env[name] ? Number(process.env[name]) : fallback);
const PROGRAMS = int('PROGRAMS', 100);
const GATEWAY_MS = int('GATEWAY_MS', 1000);
/** When the worker is killed, relative to each minute mark, and how long no worker runs after it. */
const KILLS = [
  { offsetMs: -1500, downMs: 0, what: 'killed 1.5 s before the mark (its programs sticky to it), restarted at once' },
  { offsetMs: 300, downMs: 0, what: 'killed 0.3 s after the mark (reminder tasks in flight), restarted at once' },
  { offsetMs: -500, downMs: 5000, what: 'killed 0.5 s before the mark, restarted 5 s later' },
  { offsetMs: 1000, downMs: 0, what: 'killed 1 s after the mark (deliveries in flight), restarted at once' },
];
const MARKS = Math.min(int('MARKS', KILLS.length), KILLS.length);

const hhmm = (at: number): string => DateTime.fromMillis(at, { zone: TZ }).toFormat('HH:mm');
const s = (x: number) => `${(x / 1000).toFixed(1)} s`;

const hypertension = templates.find((t) => t.id === CONDITION) as ProgramTemplate;
const template: ProgramTemplate = { ...hypertension, measurements: [], education: [] };
const followUpPathway = pathways.find((p) => p.id === 'online-follow-up') as PathwayTemplate;

/** The gateway: notes the first arrival of every id and how many times it came, answers after GATEWAY_MS. */
async function gateway(): Promise<{ url: string; first: Map<string, number>; count: Map<string, number>; close(): Promise<void> }> {
  const first = new Map<string, number>();
  const count = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const id = (JSON.parse(raw) as { id: string }).id;
      if (!first.has(id)) first.set(id, Date.now());
      count.set(id, (count.get(id) ?? 0) + 1);
      setTimeout(() => res.writeHead(204).end(), GATEWAY_MS);
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/notify`, first, count, close: () => new Promise((r) => server.close(() => r())) };
}

// The tests' dev server (search attributes registered), with payloads in clear: the bench measures timeouts, not the codec.
const [env, db, hook] = await Promise.all([devServerEnv(), testDb(), gateway()]);
const bundlePath = join(tmpdir(), `carepath-kill-bundle-${process.pid}.js`);
writeFileSync(bundlePath, (await workflowBundle()).code);
const logPath = join(tmpdir(), `carepath-kill-workers-${process.pid}.log`);
const logFd = openSync(logPath, 'a');

/** Starts a worker process; resolves once it polls, with the moment it did. */
async function startWorker(): Promise<{ child: ChildProcess; at: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'kill-worker.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', logFd],
    env: {
      ...process.env,
      KILL_WORKER_ADDRESS: env.address,
      KILL_WORKER_NAMESPACE: env.namespace ?? 'default',
      KILL_WORKER_DATABASE_URL: db.url,
      KILL_WORKER_SCHEMA: db.schema,
      KILL_WORKER_WEBHOOK: hook.url,
      KILL_WORKER_BUNDLE: bundlePath,
    },
  });
  const at = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('running') && resolve(Date.now()));
    child.on('exit', (code) => reject(new Error(`worker exited (${code}) before running; see ${logPath}`)));
  });
  return { child, at };
}

const kill = (c: ChildProcess) => new Promise<void>((r) => (c.once('exit', () => r()), c.kill('SIGKILL')));

const bench = createSql(db.url, { max: 2, schema: db.schema });
let current = await startWorker();
try {
  const patients = Array.from({ length: PROGRAMS }, (_, i) => `kill-${String(i).padStart(4, '0')}`);
  await bench`insert into patients ${bench(patients.map((id) => ({ id, name: 'Bench', phone: '13800000000', birth_date: '1960-01-01', sex: 'F', timezone: TZ })))}`;
  const first = Math.ceil((Date.now() + 45_000 + PROGRAMS * 150) / MIN) * MIN;
  const marks = Array.from({ length: MARKS }, (_, k) => first + k * MIN);
  const input = (patientId: string): ProgramInput => ({
    programId: `prog-${patientId}`,
    patientId,
    condition: CONDITION,
    doctorId: 'bench-doctor',
    enrolledBy: { role: 'doctor', id: 'bench-doctor' },
    template,
    plan: { medications: [{ drugCode: 'amlodipine-5mg', dose: '5 mg', times: marks.map(hhmm), supplyDays: 400 }] },
    timezone: TZ,
    enrolledAt: new Date().toISOString(),
    followUpPathway,
  });
  for (let i = 0; i < patients.length; i += 16) {
    await Promise.all(
      patients.slice(i, i + 16).map((p) =>
        env.client.workflow.start<typeof careProgram>(CARE_PROGRAM_WORKFLOW, {
          taskQueue: JOURNEY_TASK_QUEUE,
          workflowId: programWorkflowId(p, CONDITION),
          args: [input(p)],
          workflowTaskTimeout: LOCAL_WORK_TASK_TIMEOUT, // as the API starts them
        }),
      ),
    );
  }
  if (Date.now() > marks[0]! - 10_000) throw new Error('setup ran too close to the first mark');
  console.log(`${PROGRAMS} programs, doses at ${marks.map(hhmm).join(', ')} (${TZ}); gateway answers after ${GATEWAY_MS} ms`);

  const restarts: number[] = [];
  for (const [k, mark] of marks.entries()) {
    const plan = KILLS[k]!;
    await sleep(mark + plan.offsetMs - Date.now());
    const killedAt = Date.now();
    await kill(current.child);
    await sleep(plan.downMs);
    current = await startWorker();
    restarts.push(current.at);
    console.log(`mark ${k + 1}: ${plan.what}; killed at ${s(killedAt - mark)}, polling again at ${s(current.at - mark)} from the mark`);
  }

  const expected = PROGRAMS * MARKS;
  const deadline = marks.at(-1)! + 2 * MIN;
  const reminders = async () =>
    bench<{ id: string; scheduled: number; stored: number }[]>`
      select id, (extract(epoch from (refs->>'scheduledAt')::timestamptz) * 1000)::float8 as scheduled,
             (extract(epoch from at) * 1000)::float8 as stored
      from notifications where kind = 'medication.reminder'`;
  let rows = await reminders();
  while ((rows.length < expected || rows.some((r) => !hook.first.has(r.id))) && Date.now() < deadline) {
    await sleep(500);
    rows = await reminders();
  }
  const late: number[] = [];
  const beyond: number[] = [];
  const perMark = marks.map(() => [] as number[]);
  const storedBeyond = rows.map((r) => Math.max(0, r.stored - Math.max(r.scheduled, restarts[marks.indexOf(r.scheduled)] ?? r.scheduled))).sort((a, b) => a - b);
  let undelivered = 0;
  for (const r of rows) {
    const at = hook.first.get(r.id);
    if (at === undefined) {
      undelivered += 1;
      continue;
    }
    const k = marks.findIndex((m) => m === r.scheduled);
    late.push(at - r.scheduled);
    beyond.push(Math.max(0, at - Math.max(r.scheduled, restarts[k] ?? r.scheduled)));
    perMark[k]?.push(Math.max(0, at - Math.max(r.scheduled, restarts[k] ?? r.scheduled)));
  }
  for (const [k, xs] of perMark.entries()) {
    xs.sort((a, b) => a - b);
    console.log(`mark ${k + 1}: ${xs.length} delivered; beyond the restart p50 ${s(pct(xs, 0.5))}  p99 ${s(pct(xs, 0.99))}  max ${s(xs.at(-1) ?? NaN)}`);
  }
  late.sort((a, b) => a - b);
  beyond.sort((a, b) => a - b);
  const twice = [...hook.count.values()].filter((n) => n > 1).length;
  console.log(`reminders: ${expected} due, ${rows.length} stored, ${late.length} delivered, ${undelivered} stored and not delivered`);
  console.log(`lateness (first arrival − scheduled):         p50 ${s(pct(late, 0.5))}  p90 ${s(pct(late, 0.9))}  p99 ${s(pct(late, 0.99))}  max ${s(late.at(-1) ?? NaN)}`);
  console.log(`lateness beyond the restart:                   p50 ${s(pct(beyond, 0.5))}  p90 ${s(pct(beyond, 0.9))}  p99 ${s(pct(beyond, 0.99))}  max ${s(beyond.at(-1) ?? NaN)}`);
  console.log(`stored (the workflow's part) beyond the restart: p50 ${s(pct(storedBeyond, 0.5))}  p90 ${s(pct(storedBeyond, 0.9))}  p99 ${s(pct(storedBeyond, 0.99))}  max ${s(storedBeyond.at(-1) ?? NaN)}`);
  console.log(`delivered more than once (same id and Idempotency-Key): ${twice} of ${hook.first.size}`);
} finally {
  await kill(current.child).catch(() => {});
  await bench.end({ timeout: 5 });
  await env.teardown();
  await db.drop();
  await hook.close();
  rmSync(bundlePath, { force: true });
}
