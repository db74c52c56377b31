// Creating a journey (POST /v1/journeys over HTTP, triage included) against the engine's ceiling: a
// no-op workflow started together with an update that returns at once, on its own worker. One at a
// time (latency, alternating the two) and CONCURRENCY at a time (throughput, one after the other).
//
// The API answers once the workflow is started and its start written, before the workflow's first task
// (workflows/journey-start.ts). So that this work is not hidden in another measure: one at a time, each
// journey's first task has run (a query answered) before the next measurement; after the concurrent
// run, the time until every journey's first task has run is measured, and throughput counted to then
// is printed beside the clients' figure.
import { journeyWorkflowId, snapshotQuery } from '../../workflows/definitions.js';
import type { Noop } from '../noop/worker.js';
import { row, type Row } from '../report.js';
import { alternate, closedLoop, pct } from '../stats.js';
import { createJourney, type Patient, type World } from '../world.js';

export async function creation(w: World, noop: Noop, patients: Patient[], o: { serial: number; concurrency: number; concurrent: number }): Promise<{ rows: Row[]; journeys: string[] }> {
  const journeys: string[] = [];
  const create = async (i: number) => journeys.push(await createJourney(w, patients[i % patients.length]!));
  /** Resolves once the journey's workflow has run its first task (it answers a query). */
  const firstTaskRun = (id: string) => w.t.client.workflow.getHandle(journeyWorkflowId(id)).query(snapshotQuery);
  const settled = async () => firstTaskRun(journeys.at(-1)!);
  // Warm-up: the worker's caches, the HTTP agent's and the clients' connections.
  for (let i = 0; i < 3; i++) {
    await noop.startWithUpdate();
    await create(i);
    await settled();
  }
  const [noopMs, journeyMs] = await alternate(o.serial, () => noop.startWithUpdate(), create, settled);
  const noopLoad = await closedLoop(o.concurrency, o.concurrent, () => noop.startWithUpdate());
  const before = journeys.length;
  const t0 = performance.now();
  const journeyLoad = await closedLoop(o.concurrency, o.concurrent, create);
  const answered = performance.now();
  await closedLoop(o.concurrency, o.concurrent, (i) => firstTaskRun(journeys[before + i]!));
  const drainedMs = performance.now() - answered;
  const withFirstTasks = o.concurrent / ((performance.now() - t0) / 1000);
  const c = o.concurrency;
  return {
    journeys,
    rows: [
      row({
        id: 'create-serial-p50',
        measure: 'create a journey, 1 at a time: p50',
        unit: 'ms',
        today: pct(journeyMs, 0.5),
        baseline: pct(noopMs, 0.5),
        baselineWhat: 'no-op start + update',
        goal: { of: 'ratio', op: '<=', value: 2 },
        detail: { n: o.serial, journeyP99: pct(journeyMs, 0.99), noopP99: pct(noopMs, 0.99) },
      }),
      row({
        id: 'create-serial-p99',
        measure: 'create a journey, 1 at a time: p99',
        unit: 'ms',
        today: pct(journeyMs, 0.99),
        baseline: pct(noopMs, 0.99),
        baselineWhat: 'no-op start + update',
        goal: null,
      }),
      row({
        id: 'create-concurrent',
        measure: `create journeys, ${c} at a time: throughput`,
        unit: '/s',
        today: journeyLoad.perSecond,
        baseline: noopLoad.perSecond,
        baselineWhat: `no-op start + update, ${c} at a time`,
        goal: { of: 'ratio', op: '>=', value: 0.8 },
        detail: {
          n: o.concurrent,
          drainedMs,
          withFirstTasks,
          journeyP50: pct(journeyLoad.latencies, 0.5),
          journeyP99: pct(journeyLoad.latencies, 0.99),
          noopP50: pct(noopLoad.latencies, 0.5),
          noopP99: pct(noopLoad.latencies, 0.99),
        },
      }),
      // Not a goal: counted until every journey's workflow had run its first task, the last answered.
      row({
        id: 'create-concurrent-first-tasks',
        measure: `create journeys, ${c} at a time: until every first task has run`,
        unit: '/s',
        today: withFirstTasks,
        baseline: noopLoad.perSecond,
        baselineWhat: `no-op start + update, ${c} at a time`,
        goal: null,
        detail: { drainedMs },
      }),
    ],
  };
}
