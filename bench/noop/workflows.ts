// The baseline's workflow bundle (bench/noop/worker.ts): a workflow that does nothing but answer an
// update at once, so that what the engine costs for a start, an update and a task is measured on
// its own, beside CarePath's journeys on the same server.
import { condition, defineUpdate, setHandler } from '@temporalio/workflow';

/** Returns at once: no activity, no timer, no command. */
export const pingUpdate = defineUpdate<number>('ping');

/** Waits for updates until the server ends it (the bench starts it with an execution timeout). */
export async function noop(): Promise<void> {
  let pings = 0;
  setHandler(pingUpdate, () => ++pings);
  await condition(() => false);
}
