// The outbox dispatcher: delivers notifications queued with `via = 'dispatcher'` (the care programs':
// their reminders are stored in the program's projection transaction, so a reminder costs the workflow
// no delivery activity). Runs beside every worker that has a notification webhook. Several workers
// share the work: each claims a batch with a lease (`next_attempt_at` moved 30 s ahead, rows locked
// with SKIP LOCKED), so a row is worked on by one dispatcher at a time, and a dispatcher that dies
// mid-delivery leaves its rows to the next after the lease. Delivery is at least once, with the
// notification id as Idempotency-Key, like the workflows' own delivery activity.
import type { Logger } from 'pino';
import type { Sql } from '../activities/db.js';
import { deliverNotification, type NotifyWebhook } from '../activities/notifications.js';

export interface OutboxOptions {
  sql: Sql;
  webhook: NotifyWebhook;
  log: Logger;
  /** Stops the dispatcher when it answers false (the worker has stopped). */
  alive: () => boolean;
  intervalMs?: number;
  batch?: number;
}

/** Seconds before the next attempt after `attempts` failed ones: 2, 4, 8 … up to 5 minutes. */
export const retryDelaySeconds = (attempts: number): number => Math.min(2 ** Math.max(attempts, 1), 300);

/** Claims up to `batch` due rows and delivers them; returns how many it claimed. */
export async function dispatchOnce(o: Pick<OutboxOptions, 'sql' | 'webhook' | 'log' | 'batch'>): Promise<number> {
  const claimed = await o.sql<{ id: string; attempts: number }[]>`
    update outbox set next_attempt_at = now() + interval '30 seconds'
    where id in (
      select id from outbox
      where via = 'dispatcher' and delivered_at is null and next_attempt_at <= now()
      order by next_attempt_at limit ${o.batch ?? 20}
      for update skip locked)
    returning id, attempts`;
  for (const row of claimed) {
    try {
      const outcome = await deliverNotification(o.sql, o.webhook, row.id);
      o.log.debug({ notificationId: row.id, outcome }, 'outbox delivery');
    } catch (err) {
      const delay = retryDelaySeconds(row.attempts + 1);
      await o.sql`update outbox set next_attempt_at = now() + make_interval(secs => ${delay}) where id = ${row.id}`;
      o.log.warn({ notificationId: row.id, attempts: row.attempts + 1, retryInSeconds: delay, error: String(err) }, 'outbox delivery failed');
    }
  }
  return claimed.length;
}

/** Runs `dispatchOnce` every `intervalMs` (at once again after a full batch) until `alive()` is false. */
export function startOutboxDispatcher(o: OutboxOptions): { stopped: Promise<void> } {
  const interval = o.intervalMs ?? 500;
  const batch = o.batch ?? 20;
  const stopped = (async () => {
    while (o.alive()) {
      let claimed = 0;
      try {
        claimed = await dispatchOnce({ ...o, batch });
      } catch (err) {
        o.log.warn({ error: String(err) }, 'outbox dispatcher: database unavailable, trying again');
      }
      if (claimed < batch) await new Promise((r) => setTimeout(r, interval));
    }
  })();
  return { stopped };
}
