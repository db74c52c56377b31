// Builds the pieces every entry point shares: the Temporal connection and client, the SQL pool, and
// a worker with its activities. Entry points (worker.ts, api.ts, start.ts) and tests wire from here.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Client, Connection, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type ConnectionOptions } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel, type NativeConnectionOptions, type WorkflowBundleOption } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createActivities } from '../activities/index.js';
import type { Sql } from '../activities/db.js';
import type { NotifyWebhook } from '../activities/notifications.js';
import { ledgerPaymentProvider, type PaymentProvider } from '../activities/payments.js';
import { awaitingCourier, type Courier } from '../activities/prescriptions.js';
import { JOURNEY_TASK_QUEUE, PATIENT_JOURNEY_WORKFLOW, journeyWorkflowId, queueAdvancedSignal } from '../workflows/definitions.js';
import type { Config } from './config.js';
import { startOutboxDispatcher } from './outbox.js';

const require = createRequire(import.meta.url);
export const WORKFLOWS_PATH = require.resolve('../workflows/index.ts');

/**
 * What of the runtime's log metadata may reach the logs: errors shrink to name, code and (except for
 * database errors, whose details can quote the rows they refused) message.
 */
export function safeLogMeta(meta: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(meta ?? {})) {
    if (value instanceof Error) {
      const code = (value as { code?: unknown }).code;
      const database = value.name === 'PostgresError' || typeof (value as { severity?: unknown }).severity === 'string';
      out[key] = { name: value.name, ...(code === undefined ? {} : { code }), ...(database ? {} : { message: value.message }) };
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** Routes the Temporal runtime's own logs into pino (once per process). */
export function installRuntimeLogger(log: Logger): void {
  const levels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };
  try {
    Runtime.install({
      logger: new DefaultLogger('WARN', (entry) => log[levels[entry.level]]({ ...safeLogMeta(entry.meta), source: 'temporal' }, entry.message)),
      telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } },
    });
  } catch {
    // already installed in this process
  }
}

/** TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY hold either the PEM text or the path of a PEM file. */
export function pem(value: string): Buffer {
  return value.includes('-----BEGIN') ? Buffer.from(value) : readFileSync(value);
}

export function temporalConnectionOptions(cfg: Config['temporal'], address: string): ConnectionOptions & NativeConnectionOptions {
  return {
    address,
    ...(cfg.tlsCert && cfg.tlsKey
      ? { tls: { clientCertPair: { crt: pem(cfg.tlsCert), key: pem(cfg.tlsKey) } } }
      : cfg.apiKey
        ? { tls: true }
        : {}),
    ...(cfg.apiKey ? { apiKey: cfg.apiKey, metadata: { 'temporal-namespace': cfg.namespace } } : {}),
  };
}

export async function connectClient(cfg: Config['temporal'], address: string): Promise<{ client: Client; connection: Connection }> {
  const connection = await Connection.connect(temporalConnectionOptions(cfg, address));
  return { client: new Client({ connection, namespace: cfg.namespace }), connection };
}

export interface WorkerWiring {
  connection: NativeConnection;
  namespace: string;
  client: Client;
  sql: Sql;
  log: Logger;
  payments?: PaymentProvider;
  courier?: Courier;
  notifyWebhook?: NotifyWebhook;
  /** Signs referrals POSTed to facilities, like notifications (NOTIFY_WEBHOOK_SECRET). */
  facilityWebhookSecret: string;
  taskQueue?: string;
  /** A prebuilt bundle for production; otherwise workflows are bundled at start. */
  bundle?: WorkflowBundleOption;
}

function journeyActivities(w: Omit<WorkerWiring, 'connection' | 'namespace'>) {
  return createActivities({
    sql: w.sql,
    log: w.log,
    payments: w.payments ?? ledgerPaymentProvider(w.sql),
    courier: w.courier ?? awaitingCourier,
    ...(w.notifyWebhook ? { notifyWebhook: w.notifyWebhook } : {}),
    // Outbound webhooks share one key: without a notification webhook, still NOTIFY_WEBHOOK_SECRET (or its development default).
    facilityWebhookSecret: w.facilityWebhookSecret,
    async startJourney(input) {
      try {
        await w.client.workflow.start(PATIENT_JOURNEY_WORKFLOW, {
          taskQueue: w.taskQueue ?? JOURNEY_TASK_QUEUE,
          workflowId: journeyWorkflowId(input.journeyId),
          args: [input],
          workflowIdConflictPolicy: 'FAIL',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        });
      } catch (err) {
        // Started already (an activity retried after the start went through): nothing more to do.
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    },
    async signalQueueAdvanced(journeyIds) {
      await Promise.all(
        journeyIds.map(async (id) => {
          try {
            await w.client.workflow.getHandle(journeyWorkflowId(id)).signal(queueAdvancedSignal);
          } catch (err) {
            if (!(err instanceof WorkflowNotFoundError)) throw err;
          }
        }),
      );
    },
  });
}

/** The worker, and beside it (when a notification webhook is configured) the outbox dispatcher, which stops with it. */
export async function createJourneyWorker(w: WorkerWiring): Promise<Worker> {
  const worker = await Worker.create({
    connection: w.connection,
    namespace: w.namespace,
    taskQueue: w.taskQueue ?? JOURNEY_TASK_QUEUE,
    ...(w.bundle ? { workflowBundle: w.bundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: journeyActivities(w),
  });
  if (w.notifyWebhook) {
    startOutboxDispatcher({ sql: w.sql, webhook: w.notifyWebhook, log: w.log, alive: () => !['STOPPING', 'DRAINING', 'DRAINED', 'STOPPED', 'FAILED'].includes(worker.getState()) });
  }
  return worker;
}

export async function connectWorker(cfg: Config['temporal'], address: string): Promise<NativeConnection> {
  return NativeConnection.connect(temporalConnectionOptions(cfg, address));
}
