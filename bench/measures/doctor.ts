// The doctor's actions over HTTP (POST …/consultation, then POST …/outcome without items) against a
// no-op update on a running no-op workflow, one at a time, alternating. Each journey is checked in to
// a slot of its own, so the action is measured without the queue's fan-out to other waiting patients.
import { row, type Row } from '../report.js';
import type { Noop } from '../noop/worker.js';
import { alternate, pct } from '../stats.js';
import { bookAndPay, checkIn, createJourney, recordOutcome, startConsultation, type Patient, type World } from '../world.js';

export async function doctorActions(w: World, noop: Noop, patients: Patient[], n: number): Promise<Row[]> {
  const journeys: string[] = [];
  for (let i = 0; i < n; i += 8) {
    const batch = patients.slice(i, Math.min(i + 8, n)).map(async (p) => {
      const id = await createJourney(w, p, w.pathway(0));
      const slot = await w.slot(2 * 3_600_000, 1);
      await bookAndPay(w, p, id, slot.id);
      await checkIn(w, p, id);
      return id;
    });
    journeys.push(...(await Promise.all(batch)));
  }
  await noop.update(); // starts the running no-op workflow
  const [consult, noopA] = await alternate(n, (i) => startConsultation(w, journeys[i]!), () => noop.update());
  const [outcome, noopB] = await alternate(n, (i) => recordOutcome(w, journeys[i]!), () => noop.update());
  const noopAll = [...noopA, ...noopB];
  // Not a goal: what the engine itself adds for a step that stores something before it answers.
  const [withLocal, noopC] = await alternate(n, () => noop.updateWithLocalActivity(), () => noop.update());
  const action = (id: string, measure: string, xs: number[]) =>
    row({
      id,
      measure,
      unit: 'ms',
      today: pct(xs, 0.5),
      baseline: pct(noopAll, 0.5),
      baselineWhat: 'no-op update, p50',
      goal: { of: 'ratio', op: '<=', value: 2 },
      detail: { n, p99: pct(xs, 0.99), noopP99: pct(noopAll, 0.99) },
    });
  return [
    action('start-consultation', 'doctor starts the consultation: p50', consult),
    action('record-outcome', 'doctor records the outcome (no items): p50', outcome),
    row({
      id: 'noop-local-activity',
      measure: 'the engine alone: a no-op update that runs one local activity doing nothing: p50',
      unit: 'ms',
      today: pct(withLocal, 0.5),
      baseline: pct(noopC, 0.5),
      baselineWhat: 'no-op update, p50',
      goal: null,
      detail: { n, p99: pct(withLocal, 0.99), noopP99: pct(noopC, 0.99) },
    }),
  ];
}
