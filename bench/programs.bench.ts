// Care programs at scale: N careProgram workflows open at once on the local Temporal dev server, one
// journey worker in this process (createJourneyWorker, as production wires it, with the outbox
// dispatcher and a local webhook), and every program's dose reminder due in a short window. Prints
// the reminder firing lag against the scheduled time (p50/p99/max), beside the lag of an idle probe
// program measured in the same run and their ratio; the worker's RSS per 1,000 open programs; and
// history events per program-month, extrapolated from the costs measured in the programs' histories.
//
//   npm run bench:programs                      # 10,000 programs
//   PROGRAMS=200 npm run bench:programs         # a quick run (about two minutes)
//
// Knobs: PROGRAMS (10000); WINDOW_MINUTES (1): the reminders are spread over this many minute marks
// (a plan's times are HH:MM, so a minute is the finest spread; 1 puts every reminder at the same
// instant, like everyone's 08:00 dose); LEAD_SECONDS: time allowed to start the programs and let them
// go idle before the probe's minute (default from PROGRAMS); START_CONCURRENCY (64); SAMPLES (20):
// programs whose histories are read. Needs PostgreSQL (DATABASE_URL or the machine's) and .tools/bin.
//
// The probe: one more program on the same worker, started once the N are open and idle, its dose the
// minute mark before the window (after the load, if the setup ran past that minute): the lag of a
// reminder with nothing else due. docs/performance.md has what each figure means and the runs.
//
// The lag of a reminder is notifications.at − refs.scheduledAt: `at` defaults to now() in the
// projection's transaction (recordProgramTransition), the moment the reminder is stored and queued
// for delivery, which is what "fired" means for a program (the dispatcher delivers it after).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DateTime } from 'luxon';
import type { Worker } from '@temporalio/worker';
import pathways from '../db/seed/pathways.json' with { type: 'json' };
import templates from '../db/seed/program-templates.json' with { type: 'json' };
import { createSql, type Sql } from '../activities/db.js';
import { planOccurrences } from '../activities/programs.js';
import { RUN_EVENTS } from '../workflows/care-program.js';
import {
  CARE_PROGRAM_WORKFLOW,
  JOURNEY_TASK_QUEUE,
  programWorkflowId,
  type PathwayTemplate,
  type ProgramInput,
  type ProgramTemplate,
} from '../workflows/definitions.js';
import type { careProgram } from '../workflows/care-program.js';
import { createLogger } from '../workers/logger.js';
import { createJourneyWorker } from '../workers/wiring.js';
import { testDb } from '../tests/support/db.js';
import { DATA_CONVERTER, devServerEnv, workflowBundle } from '../tests/support/temporal.js';
import { knob, pct, sleep } from './stats.js';

const MIN = 60_000;
const TZ = 'Asia/Shanghai';
const CONDITION = 'hypertension';
const DRUG = 'amlodipine-5mg';

const PROGRAMS = knob('PROGRAMS', 10_000);
const WINDOW_MINUTES = knob('WINDOW_MINUTES', 1);
// Starting a program and letting it go idle (enrol projection, plan) costs ~3 workflow tasks and 2
// activities; on 2 cores shared with other work that was 26 to 36 programs a second (2,000 idle after
// 56 s, 10,000 after 383 s), so 40 ms each. Running past the probe's minute moves the probe after
// the load; running into the window stops the bench.
const LEAD_SECONDS = knob('LEAD_SECONDS', Math.ceil(15 + PROGRAMS * 0.04));
const START_CONCURRENCY = knob('START_CONCURRENCY', 64);
const SAMPLES = Math.min(knob('SAMPLES', 20), PROGRAMS);

// The seeded hypertension template without measurements and education: the dose is the only reminder.
const hypertension = templates.find((t) => t.id === CONDITION) as ProgramTemplate;
const template: ProgramTemplate = { ...hypertension, measurements: [], education: [] };
const followUpPathway = pathways.find((p) => p.id === 'online-follow-up') as PathwayTemplate;
const doctor = { role: 'doctor' as const, id: 'bench-doctor' };

const hhmm = (at: number): string => DateTime.fromMillis(at, { zone: TZ }).toFormat('HH:mm');
const nextMinute = (at: number): number => Math.ceil(at / MIN) * MIN;
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);
const ms = (x: number): string => (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${x.toFixed(0)} ms`);
const clock = (at: number): string => DateTime.fromMillis(at, { zone: TZ }).toFormat('HH:mm:ss');

const median = (xs: number[]): number => pct(xs, 0.5);

// A full collection before each memory reading (of this isolate; the workflow thread has its own).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function settledRss(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(500);
  }
  return process.memoryUsage().rss;
}

/** The Temporal dev server's process (a child of this one), if it can be found in /proc. */
function devServerPid(): string | undefined {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      if (Number(/^PPid:\s+(\d+)$/m.exec(status)?.[1]) === process.pid && /^Name:\s+temporal/m.test(status)) return pid;
    } catch {
      // gone in between
    }
  }
  return undefined;
}

function devServerRss(pid: string | undefined): number | undefined {
  if (!pid) return undefined;
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}

const cpus = availableParallelism();

/** CPU seconds so far: this process, the dev server, and the whole machine (busy and total, all cores). */
interface Cpu {
  at: number;
  self: number;
  server: number;
  busy: number;
  total: number;
}
function cpu(serverPid: string | undefined): Cpu {
  const u = process.cpuUsage();
  let server = 0;
  if (serverPid) {
    // utime and stime, fields 14 and 15, after the parenthesised name; in clock ticks (100 a second).
    const f = readFileSync(`/proc/${serverPid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    server = (Number(f[11]) + Number(f[12])) / 100;
  }
  const all = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = all[3]! + all[4]!;
  const total = all.slice(0, 8).reduce((a, b) => a + b, 0);
  return { at: Date.now(), self: (u.user + u.system) / 1e6, server, busy: (total - idle) / 100, total: total / 100 };
}

/** Average use between two readings: of the machine (all cores), of this process and the dev server (in cores). */
function cpuBetween(a: Cpu, b: Cpu): string {
  const wall = (b.at - a.at) / 1000;
  const cores = (x: number) => (x / wall).toFixed(2);
  const busy = (b.busy - a.busy) / (b.total - a.total);
  const rest = busy * cpus - (b.self - a.self + b.server - a.server) / wall;
  return `machine ${(100 * busy).toFixed(0)} % busy of ${cpus} cores: worker process ${cores(b.self - a.self)}, dev server ${cores(b.server - a.server)}, the rest (PostgreSQL, anything else) ${rest.toFixed(2)}`;
}

/** A local webhook that notes when each notification arrived (the outbox dispatcher POSTs to it). */
async function webhook(): Promise<{ url: string; received: Map<string, number>; close(): Promise<void> }> {
  const received = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const at = Date.now();
      try {
        received.set((JSON.parse(raw) as { id: string }).id, at);
      } catch {
        // not ours
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/notify`, received, close: () => new Promise((r) => server.close(() => r())) };
}

/** Runs `fn` over 0..n-1 with at most `limit` at a time. */
async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** Waits until the worker has had nothing in flight for `quietMs` (polled every 100 ms). */
async function workerIdle(worker: Worker, quietMs = 1500, timeoutMs = 30 * MIN): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    const s = worker.getStatus();
    if (s.numInFlightWorkflowActivations > 0 || s.numInFlightActivities > 0) quietSince = Date.now();
    else if (Date.now() - quietSince >= quietMs) return;
    await sleep(100);
  }
  throw new Error('the worker never went idle');
}

/** Waits until `count()` reaches `n` or the deadline passes; returns the last count. */
async function until(count: () => Promise<number>, n: number, deadline: number): Promise<number> {
  for (;;) {
    const c = await count();
    if (c >= n || Date.now() > deadline) return c;
    await sleep(250);
  }
}

function input(patientId: string, times: string[]): ProgramInput {
  return {
    programId: `prog-${patientId}`,
    patientId,
    condition: CONDITION,
    doctorId: doctor.id,
    enrolledBy: doctor,
    template,
    plan: { medications: [{ drugCode: DRUG, dose: '5 mg', times, supplyDays: 400 }] },
    timezone: TZ,
    enrolledAt: new Date().toISOString(),
    followUpPathway,
  };
}

interface Segment {
  events: number;
  /** Activities the wake-up ran: regular ones (ActivityTaskScheduled) and local ones (their markers). */
  activities: string[];
  locals: string[];
  /** Workflow tasks that timed out or failed (and were scheduled again): what an overloaded worker adds. */
  retried: number;
}

interface HistoryCost {
  /** Events of the first run up to its first timer: started, enrolment projection, plan. */
  start: Segment;
  /** Each wake-up by a timer, up to the next timer (complete ones only). */
  wakeUps: Segment[];
  total: number;
}

type HistoryEvent = {
  timerStartedEventAttributes?: unknown;
  workflowTaskTimedOutEventAttributes?: unknown;
  workflowTaskFailedEventAttributes?: unknown;
  activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null;
  markerRecordedEventAttributes?: { markerName?: string | null; details?: Record<string, { payloads?: { data?: Uint8Array | null }[] | null }> | null } | null;
};

/** The activity a local activity's marker records (the SDK core writes its type into the marker's `data`). */
function localActivity(e: HistoryEvent): string | undefined {
  const m = e.markerRecordedEventAttributes;
  if (m?.markerName !== 'core_local_activity') return undefined;
  const data = m.details?.data?.payloads?.[0]?.data;
  if (!data) return 'unknown';
  return (JSON.parse(new TextDecoder().decode(data)) as { activity_type?: string }).activity_type ?? 'unknown';
}

/** Splits a history at its TimerStarted events: the start, then one segment per wake-up. */
function historyCost(events: HistoryEvent[]): HistoryCost {
  const segments: Segment[] = [];
  const fresh = (): Segment => ({ events: 0, activities: [], locals: [], retried: 0 });
  let current = fresh();
  for (const e of events) {
    current.events += 1;
    const activity = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (activity) current.activities.push(activity);
    const local = localActivity(e);
    if (local) current.locals.push(local);
    if (e.workflowTaskTimedOutEventAttributes || e.workflowTaskFailedEventAttributes) current.retried += 1;
    if (e.timerStartedEventAttributes) {
      segments.push(current);
      current = fresh();
    }
  }
  // A trailing segment without its timer is a wake-up still in progress: not counted.
  return { start: segments[0] ?? current, wakeUps: segments.slice(1), total: events.length };
}

/** A reminder's wake-up: the projection (a local activity since `program-lean-reminders`) and nothing else. */
const isReminder = (s: Segment) => s.activities.length === 0 && s.locals.length === 1 && s.locals[0] === 'recordProgramTransition';

/** Distinct reminder times (one wake-up each: doses and measurements at the same time are one) in 30 days. */
function wakeUpsPerMonth(measurements: ProgramTemplate['measurements'], times: string[]): number {
  const from = DateTime.fromISO('2026-11-02T00:00:00', { zone: TZ });
  const occurrences = planOccurrences({
    timezone: TZ,
    enrolledAt: from.toISO()!,
    medications: [{ drugCode: DRUG, times }],
    measurements,
    from: from.toISO()!,
    to: from.plus({ days: 30 }).toISO()!,
  });
  return new Set(occurrences.map((o) => o.at)).size;
}

/** A regular activity in a wake-up: scheduled, started, completed, and the workflow task that follows it. */
const REGULAR_ACTIVITY = 6;

/**
 * Events in 30 days of one program, from the costs measured: `perReminder` for each reminder time;
 * `start` for each run (started, its workflow task, the patch marker, the plan; the first run's
 * enrolment projection too); one wake-up for the follow-up journey (a reminder's cost and a regular
 * activity that starts the journey) and one for its check (a reminder's cost and a regular activity
 * that asks whether the patient attended); each run ends with a continue-as-new (1 event; when it is
 * the 30 days, in a wake-up of its own: a reminder's cost less its marker). Not counted: readings,
 * dose answers, plan or status changes, refills, education (first month only).
 */
function monthOfEvents(reminders: number, perReminder: number, start: number): { events: number; runs: number } {
  const base = reminders * perReminder + 2 * (perReminder + REGULAR_ACTIVITY);
  const perRun = start + 1 + (perReminder - 1);
  let runs = 1;
  while ((base + runs * perRun) / runs > RUN_EVENTS) runs += 1;
  return { events: base + runs * perRun, runs };
}

const t0 = performance.now();
const loadBefore = loadavg()[0]!;
const [env, db, hook] = await Promise.all([devServerEnv({ dataConverter: DATA_CONVERTER }), testDb(), webhook()]);
// The bench's own queries on a pool of their own: the worker keeps its 10 connections, as in production.
const bench: Sql = createSql(db.url, { max: 2, schema: db.schema });
let worker: Worker | undefined;
let running: Promise<void> = Promise.resolve();
try {
  worker = await createJourneyWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    client: env.client,
    // Payloads sealed, as in production.
    dataConverter: DATA_CONVERTER,
    sql: db.sql,
    log: createLogger('silent'),
    notifyWebhook: { url: hook.url, secret: 'bench-notify-secret' },
    facilityWebhookSecret: 'bench-notify-secret',
    bundle: { code: (await workflowBundle()).code },
  });
  running = worker.run();
  const w = worker;

  const patients = Array.from({ length: PROGRAMS + 2 }, (_, i) => `bench-${String(i).padStart(6, '0')}`);
  const [warmId, probeId, ...loadIds] = patients as [string, string, ...string[]];
  for (let i = 0; i < patients.length; i += 1000) {
    const rows = patients.slice(i, i + 1000).map((id) => ({ id, name: 'Bench', phone: '13800000000', birth_date: '1960-01-01', sex: 'F', timezone: TZ }));
    await bench`insert into patients ${bench(rows)}`;
  }
  const start = (patientId: string, times: string[]) =>
    env.client.workflow.start<typeof careProgram>(CARE_PROGRAM_WORKFLOW, {
      taskQueue: JOURNEY_TASK_QUEUE,
      workflowId: programWorkflowId(patientId, CONDITION),
      args: [input(patientId, times)],
    });
  // Reminders stored: the probe's, or everyone else's (the warm-up program's dose is hours away).
  const reminders = (of: 'probe' | 'load') => async () => {
    const [row] = await bench<{ n: number }[]>`
      select count(*)::int as n from notifications
      where kind = 'medication.reminder' and ${of === 'probe' ? bench`patient_id = ${probeId}` : bench`patient_id <> ${probeId}`}`;
    return row!.n;
  };

  // Warm-up: one program (its dose 12 hours away) loads the workflow code, the activities and the pools.
  await start(warmId, [hhmm(Date.now() + 12 * 60 * MIN)]);
  await workerIdle(w);
  const rssBefore = await settledRss();
  const serverPid = devServerPid();
  const serverBefore = devServerRss(serverPid);
  const cachedBefore = w.getStatus().numCachedWorkflows;
  const bootSeconds = (performance.now() - t0) / 1000;

  // The probe's minute: the first minute mark after the lead; the load's window starts a minute later.
  const setupFrom = Date.now();
  const cpuSetup = cpu(serverPid);
  const probeAt = nextMinute(setupFrom + LEAD_SECONDS * 1000);
  const windowAt = probeAt + MIN;
  const loadAt = (i: number) => windowAt + (i % WINDOW_MINUTES) * MIN;
  await pool(loadIds.length, START_CONCURRENCY, async (i) => {
    await start(loadIds[i]!, [hhmm(loadAt(i))]);
  });
  const startedIn = (Date.now() - setupFrom) / 1000;
  await workerIdle(w);
  const setupSeconds = (Date.now() - setupFrom) / 1000;
  const setupCpu = cpuBetween(cpuSetup, cpu(serverPid));
  const rssOpen = await settledRss();
  const serverOpen = devServerRss(serverPid);
  const cached = w.getStatus().numCachedWorkflows - cachedBefore;

  // The probe: alone on the same worker, the N programs open and idle, its dose the minute before the
  // window. If the setup ran past that minute, the probe's dose goes to the first minute mark after the
  // load has been stored and delivered instead (said in the output).
  let probeWhen: 'before' | 'after' = 'before';
  let probeDue = probeAt;
  if (Date.now() > probeAt - 5_000) {
    probeWhen = 'after';
    probeDue = 0;
  } else {
    await start(probeId, [hhmm(probeDue)]);
  }
  if (Date.now() > windowAt - 1_000) throw new Error(`setup took ${setupSeconds.toFixed(0)} s and ran into the window: raise LEAD_SECONDS (${LEAD_SECONDS})`);

  await sleep(windowAt - Date.now());
  const cpuWindow = cpu(serverPid);
  const lastDue = windowAt + (WINDOW_MINUTES - 1) * MIN;
  const drainDeadline = lastDue + Math.max(5 * MIN, PROGRAMS * 100);
  const stored = await until(reminders('load'), loadIds.length, drainDeadline);
  const loadDrainedAt = Date.now();
  const burstCpu = cpuBetween(cpuWindow, cpu(serverPid));
  const delivered = await until(async () => hook.received.size, stored + (probeWhen === 'before' ? 1 : 0), drainDeadline);
  if (probeWhen === 'after') {
    await workerIdle(w);
    probeDue = nextMinute(Date.now() + 10_000);
    await start(probeId, [hhmm(probeDue)]);
  }
  await until(reminders('probe'), 1, Math.max(probeDue + 2 * MIN, Date.now() + 10_000));
  await until(async () => hook.received.size, delivered + (probeWhen === 'after' ? 1 : 0), Date.now() + 10_000);

  const lags = await bench<{ patient_id: string; id: string; scheduled: number; lag: number }[]>`
    select patient_id, id, (extract(epoch from (refs->>'scheduledAt')::timestamptz) * 1000)::float8 as scheduled,
           (extract(epoch from at - (refs->>'scheduledAt')::timestamptz) * 1000)::float8 as lag
    from notifications where kind = 'medication.reminder'`;
  const load = lags.filter((l) => l.patient_id !== probeId && l.patient_id !== warmId);
  const probe = lags.find((l) => l.patient_id === probeId);
  const fire = load.map((l) => l.lag).sort((a, b) => a - b);
  const deliveries = load.flatMap((l) => (hook.received.has(l.id) ? [hook.received.get(l.id)! - l.scheduled] : [])).sort((a, b) => a - b);
  const probeDelivered = probe && hook.received.has(probe.id) ? hook.received.get(probe.id)! - probe.scheduled : undefined;

  // Histories of a few load programs spread over the start order, and of the probe. The probe's,
  // fired idle, gives the events a reminder costs by design; the load's show what overload adds.
  await workerIdle(w);
  const history = async (patientId: string) =>
    historyCost(((await env.client.workflow.getHandle(programWorkflowId(patientId, CONDITION)).fetchHistory()).events ?? []) as HistoryEvent[]);
  const sampled = Array.from({ length: SAMPLES }, (_, k) => loadIds[Math.floor((k * loadIds.length) / SAMPLES)]!);
  const costs = await Promise.all(sampled.map(history));
  const probeCost = probe ? await history(probeId) : undefined;
  const loadReminders = costs.flatMap((c) => c.wakeUps.filter(isReminder));
  const clean = [...(probeCost ? [probeCost] : []), ...costs].filter((c) => c.start.retried === 0 && c.wakeUps.some((s) => isReminder(s) && s.retried === 0));
  const startEvents = median(clean.map((c) => c.start.events));
  const perReminder = median(clean.flatMap((c) => c.wakeUps.filter((s) => isReminder(s) && s.retried === 0).map((s) => s.events)));
  const benchMonth = monthOfEvents(wakeUpsPerMonth([], ['08:00']), perReminder, startEvents);
  const seededReminders = wakeUpsPerMonth(hypertension.measurements, ['08:00']);
  const seededMonth = monthOfEvents(seededReminders, perReminder, startEvents);
  const retriedReminders = loadReminders.filter((s) => s.retried > 0);

  const p99 = pct(fire, 0.99);
  const perThousand = ((rssOpen - rssBefore) / PROGRAMS) * 1000;
  const perThousandCached = ((rssOpen - rssBefore) / Math.max(cached, 1)) * 1000;
  console.log(
    `care programs at scale: ${PROGRAMS} programs open, reminders due at ${WINDOW_MINUTES === 1 ? `one minute mark (${clock(windowAt)} ${TZ})` : `${WINDOW_MINUTES} minute marks from ${clock(windowAt)} ${TZ}`}; one journey worker in this process, Temporal dev server, PostgreSQL`,
  );
  console.log(`  machine: ${cpus} cores, load average ${loadBefore.toFixed(1)} at the start (1 min), ${loadavg()[0]!.toFixed(1)} at the end`);
  console.log(`  setup: boot ${bootSeconds.toFixed(0)} s; ${loadIds.length} programs started in ${startedIn.toFixed(1)} s (${(loadIds.length / startedIn).toFixed(0)}/s), all idle after ${setupSeconds.toFixed(1)} s (lead ${LEAD_SECONDS} s); CPU meanwhile: ${setupCpu}`);
  if (fire.length < loadIds.length) console.log(`  NOT ALL FIRED: ${fire.length} of ${loadIds.length} reminders stored by the deadline`);
  console.log(`  reminder firing lag (stored by the projection − scheduled), n = ${fire.length}: p50 ${ms(pct(fire, 0.5))}, p99 ${ms(p99)}, max ${ms(fire.at(-1) ?? NaN)}`);
  console.log(`  all ${fire.length} stored ${((loadDrainedAt - windowAt) / 1000).toFixed(1)} s after the first mark (${(fire.length / Math.max((loadDrainedAt - windowAt) / 1000, 0.001)).toFixed(0)} reminders/s); CPU meanwhile: ${burstCpu}`);
  console.log(
    `  idle probe (${probeWhen === 'before' ? 'its dose the minute before the window, the load open and idle' : 'its dose the first minute after the load was delivered'}): ${probe ? ms(probe.lag) : 'did not fire'}`,
  );
  if (probe) console.log(`  ratio load p99 / probe: ${(p99 / probe.lag).toFixed(1)}x`);
  console.log(
    `  delivered to the webhook by the outbox dispatcher, lag from scheduled, n = ${deliveries.length}${delivered < stored ? ` (of ${stored})` : ''}: p50 ${ms(pct(deliveries, 0.5))}, p99 ${ms(pct(deliveries, 0.99))}, max ${ms(deliveries.at(-1) ?? NaN)}; probe ${probeDelivered === undefined ? '-' : ms(probeDelivered)}`,
  );
  console.log(
    `  worker RSS: ${mib(rssBefore)} MiB with 1 program, ${mib(rssOpen)} MiB with ${PROGRAMS} more open and idle: ${mib(perThousand)} MiB per 1,000 open programs` +
      ` (${cached} of them in the workflow cache, SDK default maximum ${w.options.maxCachedWorkflows} for this heap${cached < PROGRAMS ? `: ${mib(perThousandCached)} MiB per 1,000 cached; the rest are evicted and replayed at their next wake-up` : ''})`,
  );
  if (serverBefore !== undefined && serverOpen !== undefined) console.log(`  dev server RSS: ${mib(serverBefore)} MiB, then ${mib(serverOpen)} MiB`);
  console.log(
    `  history events of a program: ${startEvents} to enrol and plan, ${perReminder} a reminder (the timer, its workflow task, the projection's marker), idle;` +
      ` under the burst ${retriedReminders.length} of ${loadReminders.length} sampled reminders had workflow tasks time out and scheduled again` +
      `${retriedReminders.length ? ` (median ${median(loadReminders.map((s) => s.events))}, max ${Math.max(...loadReminders.map((s) => s.events))} events a reminder)` : ''}`,
  );
  console.log(
    `  history events per program-month (extrapolated from those): ${benchMonth.events} for this plan (1 dose a day, ${benchMonth.runs} run${benchMonth.runs > 1 ? 's' : ''}); ` +
      `${seededMonth.events} for the seeded hypertension template with a daily drug (${seededReminders / 30} reminders a day, ${seededMonth.runs} run${seededMonth.runs > 1 ? 's' : ''}; a run continues as new at ${RUN_EVENTS} events or after 30 days)`,
  );
} finally {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await running.catch((err: unknown) => console.error('worker:', err));
  await bench.end({ timeout: 5 });
  await env.teardown();
  await db.drop();
  await hook.close();
}
