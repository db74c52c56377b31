// Builds the pieces every entry point shares: the Temporal connection and client, the SQL pool, and
// a worker with its activities. Entry points (worker.ts, api.ts, start.ts) and tests wire from here.
import { sandboxInsuranceGateway, type InsuranceGateway } from '../activities/insurance.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { IllegalStateError, type DataConverter } from '@temporalio/common';
import { ensureReconciliationSchedule } from './reconciliation-schedule.js';
import { Client, Connection, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type ConnectionOptions } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogEntry, type LogLevel, type NativeConnectionOptions, type WorkflowBundleOption } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createActivities } from '../activities/index.js';
import type { Sql } from '../activities/db.js';
import type { NotifyWebhook } from '../activities/notifications.js';
import { httpCourier, httpPaymentProvider } from '../activities/partners.js';
import { ledgerPaymentProvider, type PaymentProvider } from '../activities/payments.js';
import { awaitingCourier, type Courier } from '../activities/prescriptions.js';
import { localSigner, type PrescriptionSigner } from '../activities/signing.js';
import { JOURNEY_TASK_QUEUE, PATIENT_JOURNEY_WORKFLOW, journeyWorkflowId, queueAdvancedSignal } from '../workflows/definitions.js';
import type { Config } from './config.js';
import { tokenKey } from '../api/auth.js';
import { isDatabaseError } from './logger.js';
import { startOutboxDispatcher } from './outbox.js';
import { tracingClientInterceptors, tracingWorkerOptions, type Tracing } from './telemetry.js';
import { LOCAL_WORK_TASK_TIMEOUT } from '../workflows/activity-options.js';

const require = createRequire(import.meta.url);
export const WORKFLOWS_PATH = require.resolve('../workflows/index.ts');

/**
 * What of the runtime's log metadata may reach the logs: errors shrink to their name (as `type`, since
 * the logger redacts every `*.name`, patients' names among them), code and (except for database errors,
 * whose details can quote the rows they refused) message.
 */
export function safeLogMeta(meta: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(meta ?? {})) {
    if (value instanceof Error) {
      const code = (value as { code?: unknown }).code;
      out[key] = { type: value.name, ...(code === undefined ? {} : { code }), ...(isDatabaseError(value) ? {} : { message: value.message }) };
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** Writes one of the Temporal runtime's log entries to pino, its metadata through `safeLogMeta`. */
export function runtimeLogSink(log: Logger): (entry: LogEntry) => void {
  const levels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };
  return (entry) => log[levels[entry.level]]({ ...safeLogMeta(entry.meta), source: 'temporal' }, entry.message);
}

/**
 * Installs the Temporal runtime (once per process): its own logs routed into pino, and with
 * `metricsAddress` (`host:port`) its Prometheus metrics (workflow and activity task latencies,
 * schedule-to-start, sticky cache, pollers...) served at `http://<metricsAddress>/metrics`.
 */
export function installRuntime(log: Logger, opts: { metricsAddress?: string } = {}): void {
  const install = (metricsAddress: string | undefined) =>
    Runtime.install({
      logger: new DefaultLogger('WARN', runtimeLogSink(log)),
      telemetryOptions: {
        logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} },
        // Seconds, like the API's http_request_duration_seconds.
        ...(metricsAddress ? { metrics: { prometheus: { bindAddress: metricsAddress, useSecondsForDurations: true } } } : {}),
      },
    });
  try {
    install(opts.metricsAddress);
  } catch (err) {
    if (err instanceof IllegalStateError) return; // already installed in this process
    if (!opts.metricsAddress) throw err;
    // The port is taken, say: the worker runs on without its metrics rather than not at all.
    log.warn({ err, metricsAddress: opts.metricsAddress }, 'Temporal runtime metrics not served');
    install(undefined);
  }
}

/** `installRuntime`'s options from the configuration: the worker's metrics port, when one is set. */
export function runtimeOptions(config: Pick<Config, 'metrics'>): { metricsAddress?: string } {
  return config.metrics.workerPort ? { metricsAddress: `0.0.0.0:${config.metrics.workerPort}` } : {};
}

/** The secrets an API is given: the token key strict in production (exp required, AUTH_TOKEN_MAX_TTL). */
export function apiSecrets(config: Pick<Config, 'secrets' | 'env' | 'auth'>) {
  return { ...config.secrets, jwt: tokenKey(config.secrets.jwt, { production: config.env === 'production', maxTtlSeconds: config.auth.maxTokenTtlSeconds }) };
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

/** `dataConverter`: the payload codec (workers/codec.ts) every client and worker of CarePath seals payloads with. */
export async function connectClient(cfg: Config['temporal'], address: string, dataConverter: DataConverter, tracing?: Tracing): Promise<{ client: Client; connection: Connection }> {
  const lazy = lazyClient(cfg, address, dataConverter, tracing);
  try {
    await lazy.connection.ensureConnected();
  } catch (err) {
    await lazy.connection.close();
    throw err;
  }
  return lazy;
}

/**
 * A client whose connection is made on first use: for a process that keeps running while Temporal is
 * out of reach (the API, which answers /readyz 503 meanwhile). Its calls wait for the server.
 */
export function lazyClient(cfg: Config['temporal'], address: string, dataConverter: DataConverter, tracing?: Tracing): { client: Client; connection: Connection } {
  const connection = Connection.lazy(temporalConnectionOptions(cfg, address));
  return { client: new Client({ connection, namespace: cfg.namespace, dataConverter, interceptors: { workflow: tracingClientInterceptors(tracing) } }), connection };
}

export interface WorkerWiring {
  connection: NativeConnection;
  namespace: string;
  client: Client;
  /** The payload codec (workers/codec.ts): the worker's payloads are sealed like its client's. */
  dataConverter: DataConverter;
  sql: Sql;
  log: Logger;
  payments?: PaymentProvider;
  courier?: Courier;
  notifyWebhook?: NotifyWebhook;
  /** Signs referrals POSTed to facilities, like notifications (NOTIFY_WEBHOOK_SECRET). */
  facilityWebhookSecret: string;
  /** Verifies prescriptions' signatures; default: CarePath's own keys, verifying only (a worker never signs). */
  signer?: PrescriptionSigner;
  taskQueue?: string;
  /** A prebuilt bundle for production; otherwise workflows are bundled at start. */
  bundle?: WorkflowBundleOption;
  /** OTLP tracing (workers/telemetry.ts); a prebuilt bundle must then hold the tracing workflow interceptors. */
  tracing?: Tracing;
  /** The hospital's time zone, and the daily reconciliation's local time (its Schedule is made at start when set). */
  reconciliation?: { at?: string; timezone: string };
  /** The medical-insurance gateway (`configuredInsurance`): reverses insured parts on refund and expiry. */
  insurance?: InsuranceGateway;
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
    ...(w.signer ? { signer: w.signer } : {}),
    ...(w.reconciliation ? { hospitalTimezone: w.reconciliation.timezone } : {}),
    ...(w.insurance ? { insurance: w.insurance } : {}),
    async startJourney(input) {
      try {
        await w.client.workflow.start(PATIENT_JOURNEY_WORKFLOW, {
          taskQueue: w.taskQueue ?? JOURNEY_TASK_QUEUE,
          workflowId: journeyWorkflowId(input.journeyId),
          args: [input],
          workflowIdConflictPolicy: 'FAIL',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          workflowTaskTimeout: LOCAL_WORK_TASK_TIMEOUT,
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

/** How long a task waits for the worker that has its workflow cached before any worker may take it. */
export const STICKY_QUEUE_TIMEOUT = '3 seconds';

/** The worker, and beside it (when a notification webhook is configured) the outbox dispatcher, which stops with it. */
export async function createJourneyWorker(w: WorkerWiring): Promise<Worker> {
  const worker = await Worker.create({
    connection: w.connection,
    namespace: w.namespace,
    taskQueue: w.taskQueue ?? JOURNEY_TASK_QUEUE,
    ...(w.bundle ? { workflowBundle: w.bundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: journeyActivities(w),
    dataConverter: w.dataConverter,
    // A workflow's next task goes to the worker that has it cached (its sticky queue). If that worker
    // was killed, the server hands the task to the shared queue only after this timeout (the SDK's
    // default is 10 s): kept short, so a timer that fires just after a kill waits at most this long.
    stickyQueueScheduleToStartTimeout: STICKY_QUEUE_TIMEOUT,
    ...tracingWorkerOptions(w.tracing, w.bundle !== undefined),
  });
  const r = w.reconciliation;
  if (r?.at) await ensureReconciliationSchedule(w.client, { at: r.at, timezone: r.timezone, ...(w.taskQueue ? { taskQueue: w.taskQueue } : {}) }, w.log);
  // Notifications to deliver, orders to tell a payment provider of, insured parts to reverse: the outbox dispatcher beside the worker.
  if (w.notifyWebhook || w.payments?.requested || w.insurance) {
    startOutboxDispatcher({
      sql: w.sql,
      ...(w.notifyWebhook ? { webhook: w.notifyWebhook } : {}),
      ...(w.payments ? { payments: w.payments } : {}),
      ...(w.insurance ? { insurance: w.insurance } : {}),
      log: w.log,
      alive: () => !['STOPPING', 'DRAINING', 'DRAINED', 'STOPPED', 'FAILED'].includes(worker.getState()),
    });
  }
  return worker;
}

export async function connectWorker(cfg: Config['temporal'], address: string): Promise<NativeConnection> {
  return NativeConnection.connect(temporalConnectionOptions(cfg, address));
}

/**
 * The signature adapter of the process that signs prescriptions (the API, in the prescribing doctor's
 * request): CarePath's own per-clinician Ed25519 keys, their private halves sealed with SIGNING_KEYS.
 * A CA-issued certificate service's client implements the same `PrescriptionSigner` and is chosen
 * here once one is configured.
 */
export function configuredSigner(cfg: Pick<Config, 'signingKeys'>, sql: Sql): PrescriptionSigner {
  return localSigner(sql, cfg.signingKeys);
}

/**
 * The real payment provider and courier where their URLs are configured (production requires both), each
 * signing its requests with the secret its webhooks use; otherwise none, and the worker falls back to the
 * development ledger and the courier that tells nobody.
 */
/**
 * The medical-insurance gateway: the sandbox (coverage by PUT /v1/sandbox/insurance-rules) outside
 * production; in production none yet (a provincial gateway's client implements `InsuranceGateway`),
 * and the insurance routes answer 503.
 */
export function configuredInsurance(cfg: Pick<Config, 'env'>, sql: Sql): InsuranceGateway | undefined {
  return cfg.env === 'production' ? undefined : sandboxInsuranceGateway(sql);
}

export function configuredPartners(cfg: Pick<Config, 'partners' | 'secrets'>): { payments?: PaymentProvider; courier?: Courier } {
  const { paymentProviderUrl, courierUrl } = cfg.partners;
  return {
    ...(paymentProviderUrl ? { payments: httpPaymentProvider({ url: paymentProviderUrl, secret: cfg.secrets.paymentWebhook }) } : {}),
    ...(courierUrl ? { courier: httpCourier({ url: courierUrl, secret: cfg.secrets.courierWebhook }) } : {}),
  };
}
