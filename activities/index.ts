// Every side effect of the workflows, built from injected dependencies. Each activity is idempotent:
// its writes are keyed by workflow id + occurrence, so a retry or a replayed worker changes nothing twice.
import { Context } from '@temporalio/activity';
import type { Logger } from 'pino';
import type { NotificationRequest, Transition, Triage } from '../workflows/definitions.js';
import type { Sql } from './db.js';
import { recordTransition } from './journeys.js';
import { deliverNotification, storeNotification, type NotifyWebhook } from './notifications.js';
import { markPayment, refundClosedJourneyPayment, refundPayment, requestPayment, type PaymentProvider } from './payments.js';
import * as slots from './slots.js';
import { classify, loadRules } from './triage.js';
import triageSeed from '../db/seed/triage-rules.json' with { type: 'json' };

export interface ActivityDeps {
  sql: Sql;
  log: Logger;
  payments: PaymentProvider;
  /** Where notifications are POSTed; unset: inbox only. */
  notifyWebhook?: NotifyWebhook;
  /** Tells the journeys still waiting in a slot's queue that someone ahead went in. */
  signalQueueAdvanced(journeyIds: string[]): Promise<void>;
}

export function createActivities(deps: ActivityDeps) {
  const { sql } = deps;
  const log = (): Logger => {
    try {
      const info = Context.current().info;
      return deps.log.child({ workflowId: info.workflowExecution?.workflowId, activity: info.activityType, attempt: info.attempt });
    } catch {
      return deps.log;
    }
  };
  return {
    async recordTransition(t: Transition): Promise<void> {
      await recordTransition(sql, t);
      log().debug({ journeyId: t.snapshot.id, events: t.events.map((e) => e.type) }, 'transition projected');
    },
    async triage(r: { complaint: string }): Promise<Triage> {
      const rules = await loadRules(sql, triageSeed.emergencyAdvice, triageSeed.fallback as { department: string; urgency: 'routine' });
      return classify(r.complaint, rules);
    },
    reserveSeat: (r: Parameters<typeof slots.reserveSeat>[1]) => slots.reserveSeat(sql, r),
    releaseSeat: (r: Parameters<typeof slots.releaseSeat>[1]) => slots.releaseSeat(sql, r),
    checkIn: (r: Parameters<typeof slots.checkIn>[1]) => slots.checkIn(sql, r),
    queuePosition: (r: Parameters<typeof slots.queuePosition>[1]) => slots.queuePosition(sql, r),
    async startConsultationInQueue(r: Parameters<typeof slots.startConsultationInQueue>[1]): Promise<void> {
      const waiting = await slots.startConsultationInQueue(sql, r);
      await deps.signalQueueAdvanced(waiting);
    },
    finishConsultationInQueue: (r: Parameters<typeof slots.finishConsultationInQueue>[1]) => slots.finishConsultationInQueue(sql, r),
    requestPayment: (r: Parameters<typeof requestPayment>[1]) => requestPayment(sql, r),
    markPayment: (r: Parameters<typeof markPayment>[1]) => markPayment(sql, r),
    refundPayment: (r: { orderId: string; amount: number; reason: string }) => refundPayment(sql, deps.payments, r),
    refundClosedJourneyPayment: (r: { orderId: string }) => refundClosedJourneyPayment(sql, deps.payments, r.orderId),
    async notify(req: NotificationRequest): Promise<void> {
      await storeNotification(sql, req, deps.notifyWebhook !== undefined);
      log().info({ notificationId: req.id, kind: req.kind }, 'notification stored');
    },
    /** Delivers a stored notification to the webhook, if one is configured; retried until it lands. */
    async deliverNotification(r: { id: string }): Promise<void> {
      if (!deps.notifyWebhook) return;
      const outcome = await deliverNotification(sql, deps.notifyWebhook, r.id);
      log().info({ notificationId: r.id, outcome }, 'notification delivery');
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
