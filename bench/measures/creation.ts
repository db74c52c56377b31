// Creating a journey (POST /v1/journeys over HTTP, triage included) against the engine's ceiling: a
// no-op workflow started together with an update that returns at once, on its own worker. One at a
// time (latency, alternating the two) and CONCURRENCY at a time (throughput, one after the other).
import type { Noop } from '../noop/worker.js';
import { row, type Row } from '../report.js';
import { alternate, closedLoop, pct } from '../stats.js';
import { createJourney, type Patient, type World } from '../world.js';

export async function creation(w: World, noop: Noop, patients: Patient[], o: { serial: number; concurrency: number; concurrent: number }): Promise<{ rows: Row[]; journeys: string[] }> {
  const journeys: string[] = [];
  const create = async (i: number) => journeys.push(await createJourney(w, patients[i % patients.length]!));
  // Warm-up: the worker's caches, the HTTP agent's and the clients' connections.
  for (let i = 0; i < 3; i++) {
    await noop.startWithUpdate();
    await create(i);
  }
  const [noopMs, journeyMs] = await alternate(o.serial, () => noop.startWithUpdate(), create);
  const noopLoad = await closedLoop(o.concurrency, o.concurrent, () => noop.startWithUpdate());
  const journeyLoad = await closedLoop(o.concurrency, o.concurrent, create);
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
          journeyP50: pct(journeyLoad.latencies, 0.5),
          journeyP99: pct(journeyLoad.latencies, 0.99),
          noopP50: pct(noopLoad.latencies, 0.5),
          noopP99: pct(noopLoad.latencies, 0.99),
        },
      }),
    ],
  };
}
