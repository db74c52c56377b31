// The daily reconciliation's Temporal Schedule: created (or brought to the configured time) when a
// worker starts. The Schedule starts `dailyReconciliation` every day at the local time; a run missed
// while the system was down is started once when it is back, within the catch-up window, and a day
// is reconciled by the Schedule once however often it fires for it (reconciliation_runs).
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { JOURNEY_TASK_QUEUE, RECONCILIATION_SCHEDULE_ID, RECONCILIATION_WORKFLOW, SCHEDULED_RECONCILIATION_ID, type ReconciliationInput } from '../workflows/definitions.js';

/** How long after its time a missed run is still started when the system comes back. */
export const RECONCILIATION_CATCHUP_WINDOW = '1 day';

export interface ReconciliationScheduleOptions {
  /** HH:MM, local. */
  at: string;
  timezone: string;
  taskQueue?: string;
}

function scheduleOptions(o: ReconciliationScheduleOptions) {
  const [hour, minute] = o.at.split(':').map(Number) as [number, number];
  const args: [ReconciliationInput] = [{ trigger: 'schedule' }];
  return {
    spec: { calendars: [{ hour, minute }], timezone: o.timezone },
    action: { type: 'startWorkflow' as const, workflowType: RECONCILIATION_WORKFLOW, workflowId: SCHEDULED_RECONCILIATION_ID, taskQueue: o.taskQueue ?? JOURNEY_TASK_QUEUE, args },
    // Each run is a day of its own: catch-ups of several missed days may run side by side.
    policies: { catchupWindow: RECONCILIATION_CATCHUP_WINDOW, overlap: ScheduleOverlapPolicy.ALLOW_ALL },
  };
}

/** Creates the Schedule, or updates an existing one to this time and zone. */
export async function ensureReconciliationSchedule(client: Client, o: ReconciliationScheduleOptions, log: Logger): Promise<void> {
  const opts = scheduleOptions(o);
  try {
    await client.schedule.create({ scheduleId: RECONCILIATION_SCHEDULE_ID, ...opts });
    log.info({ at: o.at, timezone: o.timezone }, 'reconciliation schedule created');
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(RECONCILIATION_SCHEDULE_ID).update((prev) => ({ ...prev, spec: opts.spec, action: opts.action, policies: { ...prev.policies, ...opts.policies } }));
  }
}
