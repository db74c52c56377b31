// The benchmark suite of issue 11: every goal of the issue as a ratio against a baseline measured in
// the same run on the same Temporal server, printed as a table and written as JSON to
// bench/results/<ISO timestamp>.json (git-ignored). docs/performance.md explains each measure and
// records the runs.
//
//   npm run bench                                  # CarePath as `npm start` runs it, in a process of its own; about 2 minutes
//   LOAD_SECONDS=10 SERIAL=10 npm run bench        # a quick look
//   BENCH_STACK=in-process npm run bench           # the integration tests' stack in this process (dev server in memory)
//   CP_BASE=http://host:3000 TEMPORAL_ADDRESS=host:7233 AUTH_JWT_SECRET=… PAYMENT_WEBHOOK_SECRET=… npm run bench
//
// The suite is a client from outside (bench/target.ts): by default it starts CarePath as `npm start`
// runs it (workers/start.ts: the Temporal CLI dev server on a data directory, the worker, the API) in a
// process of its own, on free ports and a fresh PostgreSQL database at DATABASE_URL's server or the
// machine's, and drops it all at the end. With CP_BASE and TEMPORAL_ADDRESS it measures that CarePath,
// signing admin tokens with AUTH_JWT_SECRET and payment webhooks with PAYMENT_WEBHOOK_SECRET, sealing
// payloads with PAYLOAD_KEYS (workers/config.ts reads all three; development defaults otherwise); the
// booking measure still uses DATABASE_URL. Either way the no-op baseline's worker runs in this process,
// on the same Temporal server.
//
// Knobs (env, defaults in brackets): SERIAL [20] creations one at a time, of each kind; CONCURRENCY
// [16] and CONCURRENT [160]: creations at a time, and how many in all, of each kind; HISTORY_JOURNEYS
// [3] whole journeys per reminder count (0, 2, 4; medians); DOCTOR_ACTIONS [20]; READS [50]; LOAD_CLIENTS [50];
// LOAD_SECONDS [60]; LOAD_SLOTS [100] slots of LOAD_CAPACITY [20] seats (enough for the minute's bookings, so the mix stays mixed); ONLY: a
// comma-separated subset of creation, reads, doctor, history, booking, load.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { booking } from './measures/booking.js';
import { creation } from './measures/creation.js';
import { doctorActions } from './measures/doctor.js';
import { historyEvents } from './measures/history.js';
import { load } from './measures/load.js';
import { reads } from './measures/reads.js';
import { noopBaseline, type Noop } from './noop/worker.js';
import { table, type Row } from './report.js';
import { target } from './target.js';
import { createJourney, world } from './world.js';
import { knob } from './stats.js';

const knobs = {
  serial: knob('SERIAL', 20),
  concurrency: knob('CONCURRENCY', 16),
  concurrent: knob('CONCURRENT', 160),
  historyJourneys: knob('HISTORY_JOURNEYS', 3),
  doctorActions: knob('DOCTOR_ACTIONS', 20),
  reads: knob('READS', 50),
  loadClients: knob('LOAD_CLIENTS', 50),
  loadSeconds: knob('LOAD_SECONDS', 60),
  loadSlots: knob('LOAD_SLOTS', 100),
  loadCapacity: knob('LOAD_CAPACITY', 20),
};
const MEASURES = ['creation', 'reads', 'doctor', 'history', 'booking', 'load'] as const;
const only = process.env.ONLY ? new Set(process.env.ONLY.split(',').map((s) => s.trim())) : undefined;
for (const m of only ?? []) if (!(MEASURES as readonly string[]).includes(m)) throw new Error(`ONLY: unknown measure ${m} (${MEASURES.join(', ')})`);
const runs = (m: (typeof MEASURES)[number]) => !only || only.has(m);

const began = performance.now();
const at = new Date();
const elapsed = () => `${((performance.now() - began) / 1000).toFixed(0)} s`;
const step = (what: string) => console.error(`[${elapsed()}] ${what}`);

step('starting');
const t = await target();
let noop: Noop | undefined;
const rows: Row[] = [];
try {
  noop = await noopBaseline({ connection: t.connection, namespace: t.namespace, client: t.client, dataConverter: t.dataConverter });
  const w = await world(t);
  // Patients of each measure, made up front so that no measure pays for them.
  const patients = await w.patients(16 + 3 * knobs.historyJourneys + knobs.doctorActions + (runs('load') ? knobs.loadClients : 0));
  const take = (() => {
    let next = 0;
    return (n: number) => patients.slice(next, (next += n));
  })();
  const creators = take(16);
  const historyPatients = take(3 * knobs.historyJourneys);
  const doctorPatients = take(knobs.doctorActions);
  const loadPatients = take(runs('load') ? knobs.loadClients : 0);
  step(`ready: ${patients.length} verified patients, a verified doctor, this run's pathways`);

  let open: string | undefined;
  if (runs('creation')) {
    step('creation');
    const c = await creation(w, noop, creators, knobs);
    rows.push(...c.rows);
    open = c.journeys[0];
  }
  if (runs('reads')) {
    step('reads');
    // An open journey (waiting to be booked): its query is answered by the worker, not by replay.
    rows.push(...(await reads(w, open ?? (await createJourney(w, creators[0]!)), knobs.reads)));
  }
  if (runs('doctor')) {
    step('doctor');
    rows.push(...(await doctorActions(w, noop, doctorPatients, knobs.doctorActions)));
  }
  if (runs('history')) {
    step('history');
    rows.push(...(await historyEvents(w, historyPatients, knobs.historyJourneys)));
  }
  if (runs('booking')) {
    step('booking');
    rows.push((await booking()).row);
  }
  if (runs('load')) {
    step(`load: ${knobs.loadClients} clients for ${knobs.loadSeconds} s`);
    rows.push(...(await load(w, loadPatients, { seconds: knobs.loadSeconds, slots: knobs.loadSlots, capacity: knobs.loadCapacity })));
  }
} finally {
  // The target is stopped (its process, database and directory gone) whatever failed before.
  try {
    await noop?.stop();
  } finally {
    await t.stop();
  }
}

const machine = { cores: availableParallelism(), memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, target: t.what };
const wallSeconds = (performance.now() - began) / 1000;
console.log(`\nCarePath bench, ${at.toISOString()}: ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}; ${machine.target}`);
console.log(table(rows));
console.log(`\nwall time ${wallSeconds.toFixed(0)} s`);
const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `${at.toISOString().replace(/:/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ at: at.toISOString(), machine, knobs, only: only ? [...only] : null, wallSeconds, rows }, null, 2) + '\n');
console.log(`written to ${file}`);
