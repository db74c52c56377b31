// History events of whole happy-path journeys (triage → booking → payment through the signed webhook
// → check-in → consultation → outcome without items), counted from each finished workflow's history:
// on pathways of this run that differ only in their appointment reminders (0, 2 and 4, a second
// apart, all before the start). The one with two reminders is the project's happy path
// (tests/support/expectations.ts HAPPY_PATH_TIMELINE, checked here); (events₄ − events₀) / 4 is the
// cost of one reminder. The counts vary by a few workflow tasks from run to run (an activity's result
// that arrives while a task is running joins the next one), so each figure is the median of
// `perPathway` journeys, run at the same time.
import proto from '@temporalio/proto';
import { journeyWorkflowId } from '../../workflows/definitions.js';
import { json } from '../../tests/support/http.js';
import { HAPPY_PATH_TIMELINE } from '../../tests/support/expectations.js';
import { row, type Row } from '../report.js';
import { pct, sleep } from '../stats.js';
import { bookAndPay, checkIn, createJourney, recordOutcome, startConsultation, type Patient, type World } from '../world.js';

/**
 * The happy path's history events on the landed code (before issue 11's optimizations), recorded by
 * the suite's first run (docs/performance.md): the baseline the goal (≤ 60 %) is judged against.
 */
export const LANDED_HAPPY_PATH_EVENTS = 222; // 2026-11-30: 222, 222, 222 (216 and 222 in single runs before)

const EventType = proto.temporal.api.enums.v1.EventType;

/** Time to book and pay before the first reminder (4 s before the start) is due. */
const LEAD_MS = 7000;

async function wholeJourney(w: World, p: Patient, reminders: 0 | 2 | 4): Promise<{ events: number; byType: Record<string, number>; timeline: string[] }> {
  const journeyId = await createJourney(w, p, w.pathway(reminders));
  const slot = await w.slot(LEAD_MS, 1);
  await bookAndPay(w, p, journeyId, slot.id);
  const start = Date.parse(slot.start);
  await sleep(start - Date.now() + 300);
  // Every reminder sent (projected) before the check-in, which would stop the rest.
  for (const until = Date.now() + 10_000; ; await sleep(100)) {
    const j = await json(await w.t.call('GET', `/v1/journeys/${journeyId}`, { token: w.admin }), 200);
    const sent = (j.timeline as { type: string }[]).filter((e) => e.type === 'reminder.sent').length;
    if (sent === reminders) break;
    if (Date.now() > until) throw new Error(`journey ${journeyId}: ${sent} of ${reminders} reminders sent`);
  }
  await checkIn(w, p, journeyId);
  await startConsultation(w, journeyId);
  await recordOutcome(w, journeyId);
  const handle = w.t.client.workflow.getHandle(journeyWorkflowId(journeyId));
  await handle.result();
  const history = await handle.fetchHistory();
  const j = await json(await w.t.call('GET', `/v1/journeys/${journeyId}`, { token: w.admin }), 200);
  const byType: Record<string, number> = {};
  for (const e of history.events ?? []) {
    const type = String(EventType[e.eventType ?? 0]).replace(/^EVENT_TYPE_/, '');
    byType[type] = (byType[type] ?? 0) + 1;
  }
  return { events: history.events?.length ?? 0, byType, timeline: (j.timeline as { type: string }[]).map((e) => e.type) };
}

export async function historyEvents(w: World, patients: Patient[], perPathway: number): Promise<Row[]> {
  const ks = [0, 2, 4] as const;
  const runs = await Promise.all(ks.flatMap((k, i) => Array.from({ length: perPathway }, (_, n) => wholeJourney(w, patients[i * perPathway + n]!, k).then((r) => ({ k, ...r })))));
  for (const r of runs.filter((x) => x.k === 2)) {
    if (r.timeline.join() !== HAPPY_PATH_TIMELINE.join()) throw new Error(`the happy path's timeline changed: ${r.timeline.join(', ')}`);
  }
  const events = (k: number) => runs.filter((r) => r.k === k).map((r) => r.events);
  const median = (k: number) => pct(events(k), 0.5);
  const happy = median(2);
  const perReminder = (median(4) - median(0)) / 4;
  const counts = { r0: events(0), r2: events(2), r4: events(4) };
  return [
    row({
      id: 'happy-path-events',
      measure: 'history events of one happy-path journey (2 reminders)',
      unit: 'events',
      today: happy,
      baseline: LANDED_HAPPY_PATH_EVENTS,
      baselineWhat: 'landed code',
      goal: { of: 'ratio', op: '<=', value: 0.6 },
      // Which events a happy path is made of: where the optimizations are to be found.
      detail: { ...counts, happyPathByType: runs.find((r) => r.k === 2)!.byType },
    }),
    row({
      id: 'events-per-reminder',
      measure: 'history events per appointment reminder',
      unit: 'events',
      today: perReminder,
      baseline: null,
      baselineWhat: '(journey with 4 − with 0) / 4',
      goal: { of: 'today', op: '<=', value: 6 },
      detail: counts,
    }),
  ];
}
