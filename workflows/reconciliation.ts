// dailyReconciliation: one run of a day's reconciliation (对账). The Schedule starts one every day at
// the configured local time, for the day before; an admin may run a day again after a correction. Each
// channel's statement is fetched through its adapter (a partner call, retried), then matched and
// recorded (database work); the run then becomes the day's result. Every step is an idempotent
// activity keyed by the run id, and a day has one scheduled run however often the Schedule fires for it.
import { workflowInfo } from '@temporalio/workflow';
import type { ReconciliationInput, ReconciliationResult } from './definitions.js';
import { act, partner } from './kernel.js';

/** When the Schedule meant this run to start (a catch-up after an outage starts later than that). */
function scheduledAt(): string {
  const info = workflowInfo();
  const at = (info.searchAttributes?.TemporalScheduledStartTime as unknown[] | undefined)?.[0];
  return at ? new Date(at as string).toISOString() : info.startTime.toISOString();
}

export async function dailyReconciliation(input: ReconciliationInput): Promise<ReconciliationResult> {
  const runId = input.runId ?? workflowInfo().workflowId;
  const run = await act.beginReconciliation({
    runId,
    trigger: input.trigger,
    ...(input.day ? { day: input.day } : { scheduledAt: scheduledAt() }),
    ...(input.requestedBy ? { requestedBy: input.requestedBy } : {}),
  });
  if (run.skipped) return { runId, day: run.day, skipped: true, mismatched: 0 };
  let mismatched = 0;
  for (const channel of run.channels) {
    await partner.fetchStatement({ runId, channel });
    mismatched += (await act.reconcileChannel({ runId, channel })).mismatched;
  }
  await act.finishReconciliation({ runId });
  return { runId, day: run.day, skipped: false, mismatched };
}
