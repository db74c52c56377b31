// Activity timeouts, sized to the work, in one place for every workflow. A worker that dies holding an
// activity leaves it "running" on the server until a timeout says otherwise, so the timeout is also how
// long a killed worker's work waits before another worker takes it again: short for short work, and a
// heartbeat for calls that wait on a partner. Timeouts are not part of what replay compares, so
// changing them here changes no running workflow's history (tests/replay.test.ts).
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';

/**
 * Short database work (a projection, a seat, an order's status), each one or a few SQL round trips:
 * an attempt that has not finished in 5 s (its worker died, or its connection hung) is tried again.
 * Retried until done.
 */
export const SHORT_WORK = {
  startToCloseTimeout: '5 seconds',
  retry: { initialInterval: '500 ms', backoffCoefficient: 2, maximumInterval: '30 seconds' },
} as const satisfies ActivityOptions & LocalActivityOptions;

/**
 * How long a partner call (the notification gateway, a facility, the courier, the payment provider)
 * may take, HTTP request included: each adapter gives up on its request after PARTNER_REQUEST_MS, and
 * the attempt after 15 s. While it waits it heartbeats every second (`whileHeartbeating`), so a worker
 * killed mid-call is noticed after 3 s, not after the whole start-to-close.
 */
export const PARTNER_CALL = {
  startToCloseTimeout: '15 seconds',
  heartbeatTimeout: '3 seconds',
  retry: { initialInterval: '500 ms', backoffCoefficient: 2, maximumInterval: '30 seconds' },
} as const satisfies ActivityOptions;

/** Notification deliveries: a partner call that retries on its own, in the background, until the gateway takes it. */
export const DELIVERY = {
  ...PARTNER_CALL,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
} as const satisfies ActivityOptions;

/** An outbound partner request gives up after this long (shorter than PARTNER_CALL's start-to-close). */
export const PARTNER_REQUEST_MS = 10_000;

/**
 * The workflow task timeout of workflows whose short work runs as local activities, inside their
 * workflow tasks (care programs, journeys; the server's default is 10 s), set where each starts and
 * kept by a program's continue-as-new runs. A worker killed while it held such a task (a timer's
 * wake-up, an update, with their local activities) leaves the task to another worker after this long.
 * A task that runs longer, a long local activity, is kept alive by the SDK's workflow task heartbeat.
 */
export const LOCAL_WORK_TASK_TIMEOUT = '4 seconds';
