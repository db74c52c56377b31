// The baseline's workflow bundle (bench/noop/worker.ts): a workflow that does nothing but answer an
// update at once, so that what the engine costs for a start, an update and a task is measured on
// its own, beside CarePath's journeys on the same server.
import { condition, defineUpdate, proxyLocalActivities, setHandler } from '@temporalio/workflow';

/** Returns at once: no activity, no timer, no command. */
export const pingUpdate = defineUpdate<number>('ping');

/** Returns once one local activity that does nothing has: the engine's own cost of a step that stores something. */
export const pingLocalUpdate = defineUpdate<number>('ping-local');

export interface NoopActivities {
  nothing(n: number): Promise<number>;
}

const local = proxyLocalActivities<NoopActivities>({ startToCloseTimeout: '5 seconds' });

/** Waits for updates until the server ends it (the bench starts it with an execution timeout). */
export async function noop(): Promise<void> {
  let pings = 0;
  setHandler(pingUpdate, () => ++pings);
  setHandler(pingLocalUpdate, () => local.nothing(++pings));
  await condition(() => false);
}
