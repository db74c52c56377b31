// Heartbeats for activities that wait on a partner: the server learns within the heartbeat timeout
// (workflows/activity-options.ts, PARTNER_CALL) that a worker died mid-call, and schedules the attempt
// again then, instead of after the whole start-to-close timeout.
import { Context } from '@temporalio/activity';

/** How often a waiting activity heartbeats (the SDK sends at most one per 80 % of the heartbeat timeout). */
const HEARTBEAT_EVERY_MS = 1_000;

/** Runs `work`, heartbeating every second while it runs when called inside an activity (outside one, just runs it). */
export async function whileHeartbeating<T>(work: () => Promise<T>): Promise<T> {
  let context: Context | undefined;
  try {
    context = Context.current();
  } catch {
    return work();
  }
  context.heartbeat();
  const timer = setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
