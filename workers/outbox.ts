// The outbox dispatcher: delivers notifications queued with `via = 'dispatcher'` (the care programs'
// and, since `journey-one-transaction`, the journeys': stored in their projection's transaction, so a
// notification costs the workflow no delivery activity), and tells the payment provider of the orders
// a journey stored with its seat (`payment-request` rows, `journey-order-with-seat`). Runs beside every worker that has a notification webhook. Several workers
// share the work: each claims a batch with a lease (`next_attempt_at` moved LEASE_MS ahead, rows locked
// with SKIP LOCKED) and renews it every second while the batch is in hand, so a row is worked on by one
// dispatcher at a time however long the gateway takes (up to its request timeout), and a dispatcher
// that dies mid-delivery leaves its rows to the next within LEASE_MS. Delivery is at least once, with
// the notification id as Idempotency-Key, like the workflows' own delivery activity.
import type { Logger } from 'pino';
import type { Sql } from '../activities/db.js';
import { deliverNotification, type NotifyWebhook } from '../activities/notifications.js';
import { dispatchReversal, type InsuranceGateway } from '../activities/insurance.js';
import { tellPaymentProvider, type PaymentProvider } from '../activities/payments.js';

export interface OutboxOptions {
  sql: Sql;
  /** Where notifications go (none: notification rows are never queued for the dispatcher). */
  webhook?: NotifyWebhook;
  /** The payment provider told of `payment-request` rows (queued only when it wants telling). */
  payments?: PaymentProvider;
  /** The insurance gateway that reverses `insurance-reversal` rows (an expired order's insured part). */
  insurance?: InsuranceGateway;
  log: Logger;
  /** Stops the dispatcher when it answers false (the worker has stopped). */
  alive: () => boolean;
  intervalMs?: number;
  batch?: number;
  /** Batches in hand at once (each its own claim loop): a slow gateway holds one lane, not the dispatcher. */
  lanes?: number;
}

/**
 * How long a claim holds without renewal: a dispatcher that died (its process killed) leaves its rows to
 * the next dispatcher after this long. Renewed every RENEW_EVERY_MS while the batch is in hand.
 */
export const LEASE_MS = 3_000;
const RENEW_EVERY_MS = 1_000;

/** Seconds before the next attempt after `attempts` failed ones: 2, 4, 8 … up to 5 minutes. */
export const retryDelaySeconds = (attempts: number): number => Math.min(2 ** Math.max(attempts, 1), 300);

/** Claims up to `batch` due rows and delivers them, all at once; returns how many it claimed. */
export async function dispatchOnce(o: Pick<OutboxOptions, 'sql' | 'webhook' | 'payments' | 'insurance' | 'log' | 'batch'>): Promise<number> {
  const lease = LEASE_MS / 1000;
  const claimed = await o.sql<{ id: string; attempts: number; kind: 'notification' | 'payment-request' | 'insurance-reversal'; order_id: string | null }[]>`
    update outbox set next_attempt_at = now() + make_interval(secs => ${lease})
    where id in (
      select id from outbox
      where via = 'dispatcher' and delivered_at is null and next_attempt_at <= now()
      order by next_attempt_at limit ${o.batch ?? 20}
      for update skip locked)
    returning id, attempts, kind, order_id`;
  if (claimed.length === 0) return 0;
  // The rows still in hand keep their lease; a failed row's retry time, written after the renewal in
  // flight has finished, is not overwritten.
  const inHand = new Set(claimed.map((r) => r.id));
  let renewal: Promise<unknown> = Promise.resolve();
  const renew = setInterval(() => {
    const ids = [...inHand];
    if (ids.length === 0) return;
    renewal = renewal
      .then(() => o.sql`update outbox set next_attempt_at = now() + make_interval(secs => ${lease}) where id in ${o.sql(ids)} and delivered_at is null`)
      .catch((err: unknown) => o.log.warn({ err }, 'outbox lease not renewed'));
  }, RENEW_EVERY_MS);
  try {
    // The batch's POSTs go out together: a gateway that takes a second to answer costs a batch a
    // second, not a second a notification.
    await Promise.all(
      claimed.map(async (row) => {
        try {
          const outcome =
            row.kind === 'payment-request'
              ? await tellPaymentProvider(o.sql, o.payments, row.id, row.order_id!)
              : row.kind === 'insurance-reversal'
                ? await dispatchReversal(o.sql, o.insurance, row.id, row.order_id!)
                : await deliverNotification(o.sql, required(o.webhook, 'a notification webhook'), row.id);
          inHand.delete(row.id);
          o.log.debug({ outboxId: row.id, kind: row.kind, outcome }, 'outbox delivery');
        } catch (err) {
          inHand.delete(row.id);
          await renewal;
          const delay = retryDelaySeconds(row.attempts + 1);
          await o.sql`update outbox set next_attempt_at = now() + make_interval(secs => ${delay}) where id = ${row.id}`;
          o.log.warn({ outboxId: row.id, kind: row.kind, attempts: row.attempts + 1, retryInSeconds: delay, err }, 'outbox delivery failed');
        }
      }),
    );
  } finally {
    clearInterval(renew);
    await renewal;
  }
  return claimed.length;
}

function required<T>(x: T | undefined, what: string): T {
  if (x === undefined) throw new Error(`outbox: no ${what} configured for a queued row`);
  return x;
}

/** Runs `dispatchOnce` in `lanes` loops, each every `intervalMs` (at once again after a full batch), until `alive()` is false. */
export function startOutboxDispatcher(o: OutboxOptions): { stopped: Promise<void> } {
  const interval = o.intervalMs ?? 500;
  const batch = o.batch ?? 20;
  const lane = async () => {
    while (o.alive()) {
      let claimed = 0;
      try {
        claimed = await dispatchOnce({ ...o, batch });
      } catch (err) {
        o.log.warn({ err }, 'outbox dispatcher: database unavailable, trying again');
      }
      if (claimed < batch) await new Promise((r) => setTimeout(r, interval));
    }
  };
  const stopped = Promise.all(Array.from({ length: o.lanes ?? 8 }, lane)).then(() => undefined);
  return { stopped };
}
