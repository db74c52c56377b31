// What activities are built from: injected once by the worker (createActivities) and shared by every area.
import { Context } from '@temporalio/activity';
import type { Logger } from 'pino';
import type { Sql } from './db.js';
import type { InsuranceGateway } from './insurance.js';
import type { NotifyWebhook } from './notifications.js';
import type { PaymentProvider } from './payments.js';
import type { Courier } from './prescriptions.js';
import type { SettlementChannel } from './reconciliation.js';
import type { PrescriptionSigner } from './signing.js';
import type { JourneyInput } from '../workflows/definitions.js';

export interface ActivityDeps {
  sql: Sql;
  log: Logger;
  payments: PaymentProvider;
  courier: Courier;
  /** Where notifications are POSTed; unset: inbox only. */
  notifyWebhook?: NotifyWebhook;
  /** Signs referrals POSTed to facilities' webhooks (the facility adapter), like notifications. */
  facilityWebhookSecret: string;
  /** Verifies prescriptions' signatures (activities/signing.ts); default: CarePath's own keys, verifying only. */
  signer?: PrescriptionSigner;
  /** Tells the journeys still waiting in a slot's queue that someone ahead went in (or left). */
  signalQueueAdvanced(journeyIds: string[]): Promise<void>;
  /** The payment channels' settlement statements (reconciliation); the sandbox's when unset. */
  settlement?: SettlementChannel;
  /** The medical-insurance gateway (activities/insurance.ts): reverses insured parts on refund. */
  insurance?: InsuranceGateway;
  /** The hospital's time zone: the days reconciliation counts in. Default Asia/Shanghai. */
  hospitalTimezone?: string;
  /** Starts a journey workflow for `input.journeyId`, once: a second call for the same id does nothing. */
  startJourney(input: JourneyInput): Promise<void>;
}

/** The logger, with the workflow id, activity and attempt when called inside an activity. */
export function activityLog(deps: Pick<ActivityDeps, 'log'>): Logger {
  try {
    const info = Context.current().info;
    return deps.log.child({ workflowId: info.workflowExecution?.workflowId, activity: info.activityType, attempt: info.attempt });
  } catch {
    return deps.log;
  }
}
