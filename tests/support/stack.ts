// The whole system for integration tests, on the real components: the Temporal CLI dev server, the
// machine's PostgreSQL (own schema), a worker, the HTTP API on a local port, and a local listener
// that receives the signed notifications.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Client, type WorkflowClientInterceptor } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import { sandboxCourier, sandboxPaymentProvider } from '../../activities/sandbox.js';
import { sign } from '../../activities/signature.js';
import { createApi, type ApiDeps } from '../../api/index.js';
import { signToken } from '../../api/auth.js';
import type { Role } from '../../workflows/definitions.js';
import { createLogger } from '../../workers/logger.js';
import { readiness } from '../../workers/services.js';
import { TRACING_WORKFLOW_MODULES, tracingClientInterceptors, type Tracing } from '../../workers/telemetry.js';
import { createJourneyWorker } from '../../workers/wiring.js';
import { sandboxInsuranceGateway } from '../../activities/insurance.js';
import { createSql } from '../../activities/db.js';
import { TEST_DATABASE_URL, testDb, type TestDb } from './db.js';
import { forward, freePort } from './ports.js';
import { DATA_CONVERTER, devServerEnv, workflowBundle } from './temporal.js';

export const SECRETS = {
  jwt: 'test-jwt-secret',
  paymentWebhook: 'test-payment-secret',
  courierWebhook: 'test-courier-secret',
  notifyWebhook: 'test-notify-secret',
  labWebhook: 'test-lab-secret',
  facilityWebhook: 'test-facility-secret',
  identityWebhook: 'test-identity-secret',
};

/** The Temporal UI origin the stack's codec server (/codec) answers browsers from. */
export const TEMPORAL_UI_ORIGIN = 'http://localhost:8233';

export interface Received {
  at: number;
  headers: IncomingHttpHeaders;
  raw: string;
  body: { id: string; patientId: string; kind: string; title: string; body: string; at: string; refs: Record<string, string> };
}

/** A local HTTP listener that records every notification POSTed to it. */
export async function notificationListener(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => {
      received.push({ at: Date.now(), headers: req.headers, raw, body: JSON.parse(raw) as Received['body'] });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/notify`, received, close: () => new Promise((r) => server.close(() => r())) };
}

export interface Stack {
  url: string;
  env: TestWorkflowEnvironment;
  db: TestDb;
  notifications: Received[];
  token(role: Role, id: string, ttlSeconds?: number): Promise<string>;
  /** fetch against the API with a JSON body and an optional bearer token. */
  call(method: string, path: string, opts?: { token?: string; body?: unknown; raw?: string | Uint8Array; headers?: Record<string, string> }): Promise<Response>;
  payWebhook(body: unknown, secret?: string): Promise<Response>;
  /** A second API on the same engine and database whose every call into the engine waits `latencyMs` first. */
  slowApi(latencyMs: number): Promise<{ call: Stack['call'] }>;
  /** Shuts the worker (and the outbox dispatcher beside it) down and waits until it has stopped. */
  stopWorker(): Promise<void>;
  /** Starts a new worker (after `stopWorker`, as a restarted process would). */
  startWorker(): Promise<void>;
  /** With `databaseOutages`: PostgreSQL stops for the API and the worker (connections reset, new ones refused), and comes back. */
  database?: { stop(): Promise<void>; start(): Promise<void> };
  stop(): Promise<void>;
}

type Call = Stack['call'];

/** A slow network (or a busy API process) between the API and the engine: each call waits before it is sent. */
function latency(ms: number): WorkflowClientInterceptor {
  const later = async <T>(send: () => Promise<T>): Promise<T> => {
    await new Promise((r) => setTimeout(r, ms));
    return send();
  };
  return {
    startWithDetails: (input, next) => later(() => next(input)),
    startUpdate: (input, next) => later(() => next(input)),
    startUpdateWithStart: (input, next) => later(() => next(input)),
    signal: (input, next) => later(() => next(input)),
  };
}

/** Serves `app` on a free local port; `call` is fetch against it with a JSON body and an optional bearer token. */
async function serveApp(app: { fetch: (req: Request) => Response | Promise<Response> }): Promise<{ server: ServerType; url: string; call: Call }> {
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return { server, url, call: apiCaller(url) };
}

/** fetch against an API at `url` with a JSON body (or raw bytes) and an optional bearer token. */
export function apiCaller(url: string): Call {
  return (method, path, opts = {}) =>
    fetch(url + path, {
      method,
      headers: {
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...(opts.body !== undefined || opts.raw !== undefined ? { 'content-type': 'application/json' } : {}),
        ...opts.headers,
      },
      ...(opts.raw !== undefined ? { body: opts.raw } : opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    });
}

/** A pool on the test database's schema through a TCP forwarder that can be stopped and started again. */
async function databaseOutages(db: TestDb) {
  const target = new URL(TEST_DATABASE_URL);
  const to = { host: target.hostname, port: Number(target.port || 5432) };
  const port = await freePort();
  let forwarder: { close(): Promise<void> } | undefined = await forward(port, to);
  const via = new URL(TEST_DATABASE_URL);
  via.hostname = '127.0.0.1';
  via.port = String(port);
  const sql = createSql(via.toString(), { max: 10, schema: db.schema });
  const stop = async () => {
    await forwarder?.close();
    forwarder = undefined;
  };
  return {
    sql,
    stop,
    async start() {
      forwarder ??= await forward(port, to);
    },
    async close() {
      await sql.end({ timeout: 1 });
      await stop();
    },
  };
}

export interface StackOptions {
  /** Run no worker: the engine then never answers (for the API's deadline behaviour). */
  worker?: boolean;
  engineTimeoutMs?: number;
  /** The sandbox payment provider and courier, calling the stack's own webhooks back. */
  sandbox?: { courierFail?: 'none' | 'first' | 'all'; paymentFail?: 'none' | 'all' };
  /** The dashboard's options (demo users on the sign-in page, the Temporal UI link). */
  web?: ApiDeps['web'];
  /** The bearer token GET /metrics then requires. */
  metricsToken?: string;
  /** OTLP tracing through the API, its Temporal client and the worker (which then bundles the tracing workflow interceptors). */
  tracing?: Tracing;
  /** The stack's logger (default: silent, or TEST_LOG_LEVEL). */
  log?: Logger;
  /** The API and the worker reach PostgreSQL through a forwarder that `stack.database` can cut and restore (an outage). */
  databaseOutages?: boolean;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const [env, db, listener] = await Promise.all([devServerEnv({ dataConverter: DATA_CONVERTER }), testDb(), notificationListener()]);
  // The system's own pool (API and worker), through a forwarder when a test stops PostgreSQL; `db.sql` stays direct for the test's checks.
  const outages = opts.databaseOutages ? await databaseOutages(db) : undefined;
  const sql = outages?.sql ?? db.sql;
  const log = opts.log ?? createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  const notifyWebhook = { url: listener.url, secret: SECRETS.notifyWebhook };
  let apiUrl = '';
  const sandbox = {
    apiUrl: () => apiUrl,
    secrets: SECRETS,
    courierFail: opts.sandbox?.courierFail ?? 'none',
    paymentFail: opts.sandbox?.paymentFail ?? 'none',
    stepMs: 100,
    log,
  };
  const partners = opts.sandbox ? { payments: sandboxPaymentProvider(db.sql, sandbox), courier: sandboxCourier(sandbox) } : {};
  // With tracing, the bundle holds the tracing workflow interceptors (as dist/workflow-bundle.traced.js does).
  const code = (await workflowBundle(opts.tracing ? { workflowInterceptorModules: TRACING_WORKFLOW_MODULES } : {})).code;
  const newWorker = () =>
    createJourneyWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      client: env.client,
      dataConverter: DATA_CONVERTER,
      sql,
      log,
      notifyWebhook,
      facilityWebhookSecret: SECRETS.notifyWebhook,
      insurance: sandboxInsuranceGateway(sql),
      ...partners,
      bundle: { code },
      ...(opts.tracing ? { tracing: opts.tracing } : {}),
    });
  let worker: Worker | undefined = opts.worker === false ? undefined : await newWorker();
  let running = worker ? worker.run() : Promise.resolve();
  const stopWorker = async () => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
  };
  const api = (temporal: Client) =>
    createApi({
      temporal,
      sql,
      log,
      secrets: SECRETS,
      insurance: sandboxInsuranceGateway(sql),
      ...(opts.engineTimeoutMs ? { engineTimeoutMs: opts.engineTimeoutMs } : {}),
      ...(opts.web ? { web: opts.web } : {}),
      ...(opts.metricsToken ? { metricsToken: opts.metricsToken } : {}),
      ...(opts.tracing ? { tracer: opts.tracing.tracer } : {}),
      codecServer: { codec: DATA_CONVERTER.payloadCodecs[0], uiOrigins: [TEMPORAL_UI_ORIGIN] },
      ready: readiness(sql, env.connection),
    });
  const client = opts.tracing
    ? new Client({ connection: env.connection, namespace: env.namespace ?? 'default', dataConverter: DATA_CONVERTER, interceptors: { workflow: tracingClientInterceptors(opts.tracing) } })
    : env.client;
  const { server, url, call } = await serveApp(api(client));
  apiUrl = url;
  const extra: ServerType[] = [];

  return {
    url,
    env,
    db,
    notifications: listener.received,
    token: (role, id, ttl) => signToken(SECRETS.jwt, { role, id }, ttl),
    call,
    payWebhook(body, secret = SECRETS.paymentWebhook) {
      const raw = JSON.stringify(body);
      return call('POST', '/v1/webhooks/payments', { raw, headers: { 'X-Signature': sign(secret, raw) } });
    },
    async slowApi(latencyMs) {
      const temporal = new Client({ connection: env.connection, namespace: env.namespace ?? 'default', dataConverter: DATA_CONVERTER, interceptors: { workflow: [latency(latencyMs)] } });
      const served = await serveApp(api(temporal));
      extra.push(served.server);
      return { call: served.call };
    },
    ...(outages ? { database: { stop: outages.stop, start: outages.start } } : {}),
    stopWorker,
    async startWorker() {
      await stopWorker();
      worker = await newWorker();
      running = worker.run();
    },
    async stop() {
      server.close();
      for (const s of extra) s.close();
      await stopWorker();
      await env.teardown();
      if (outages) await outages.close();
      await db.drop();
      await listener.close();
    },
  };
}
