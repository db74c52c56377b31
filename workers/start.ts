// The local stack runner (`npm start`): a Temporal dev server persisting to .data/, PostgreSQL from
// DATABASE_URL or an embedded PGlite, migrations and seed data, a worker and the API, in one process
// tree that shuts down cleanly on Ctrl-C. `npm start -- --demo` also seeds demo clinicians,
// patients and slots.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { NativeConnection } from '@temporalio/worker';
import { sandboxCourier, sandboxPaymentProvider } from '../activities/sandbox.js';
import { demoUsers, seedDemoData, DEMO } from '../activities/seed.js';
import { createApi } from '../api/index.js';
import { loadConfigOrExit } from './config.js';
import { createLogger } from './logger.js';
import { openDatabase, prepareDatabase, readiness } from './services.js';
import { connectWorker, createJourneyWorker, installRuntimeLogger, temporalConnectionOptions } from './wiring.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = join(ROOT, '.data');
const TEMPORAL_BIN = join(ROOT, '.tools', 'bin', 'temporal');
const TEMPORAL_PORT = 7233;
const TEMPORAL_UI_PORT = 8233;

const demo = process.argv.includes('--demo');
// The demo's payment provider and courier answer on their own, like the real partners.
if (demo && !process.env.SANDBOX_PARTNERS) process.env.SANDBOX_PARTNERS = 'auto';
const config = loadConfigOrExit();
const log = createLogger(config.logLevel);
installRuntimeLogger(log);
mkdirSync(DATA, { recursive: true });

const closers: (() => Promise<unknown>)[] = [];
let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down');
  for (const close of closers.reverse()) {
    try {
      await close();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'error while shutting down');
    }
  }
  log.info('stopped');
}
process.once('SIGINT', () => void shutdown('SIGINT').then(() => process.exit(0)));
process.once('SIGTERM', () => void shutdown('SIGTERM').then(() => process.exit(0)));

try {
  // PostgreSQL
  const db = await openDatabase(config.databaseUrl, DATA, log);
  closers.push(() => db.close());
  await prepareDatabase(db.sql, log);
  if (demo) await seedDemoData(db.sql);

  // Temporal: the configured cluster, or our own dev server persisting to .data/temporal.db.
  let connection: Connection;
  let workerConnection: NativeConnection;
  let uiUrl: string | undefined;
  if (config.temporal.address) {
    connection = await Connection.connect(temporalConnectionOptions(config.temporal, config.temporal.address));
    closers.push(() => connection.close());
    workerConnection = await connectWorker(config.temporal, config.temporal.address);
    closers.push(() => workerConnection.close());
  } else {
    const env = await TestWorkflowEnvironment.createLocal({
      server: {
        // The pinned binary from .tools/bin; where it is absent the SDK downloads its own (online only).
        ...(existsSync(TEMPORAL_BIN) ? { executable: { type: 'existing-path' as const, path: TEMPORAL_BIN } } : {}),
        dbFilename: join(DATA, 'temporal.db'),
        ip: '127.0.0.1',
        port: TEMPORAL_PORT,
        ui: true,
        uiPort: TEMPORAL_UI_PORT,
        namespace: config.temporal.namespace,
        log: { format: 'pretty', level: 'warn' },
      },
    });
    closers.push(() => env.teardown());
    connection = env.connection;
    workerConnection = env.nativeConnection;
    uiUrl = `http://localhost:${TEMPORAL_UI_PORT}`;
  }
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const notifyWebhook = config.notifyWebhookUrl ? { url: config.notifyWebhookUrl, secret: config.secrets.notifyWebhook } : undefined;

  const sandbox = {
    apiUrl: () => `http://127.0.0.1:${config.port}`,
    secrets: config.secrets,
    courierFail: config.sandbox.courierFail,
    paymentFail: config.sandbox.paymentFail,
    log,
  };
  const partners = config.sandbox.partners === 'auto' ? { payments: sandboxPaymentProvider(db.sql, sandbox), courier: sandboxCourier(sandbox) } : {};
  const worker = await createJourneyWorker({
    connection: workerConnection,
    namespace: config.temporal.namespace,
    client,
    sql: db.sql,
    log,
    ...partners,
    facilityWebhookSecret: config.secrets.notifyWebhook,
    ...(notifyWebhook ? { notifyWebhook } : {}),
  });
  const running = worker.run();
  closers.push(async () => {
    // The worker also reacts to SIGINT/SIGTERM itself; shut it down only if it has not begun to.
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
  });

  const app = createApi({
    temporal: client,
    sql: db.sql,
    log,
    secrets: config.secrets,
    web: {
      // One-click sign-in as the demo users: only with the demo seed, never in production.
      ...(demo && config.env !== 'production' ? { demoUsers: demoUsers() } : {}),
      ...(uiUrl ?? config.temporalUiUrl ? { temporalUi: { url: (uiUrl ?? config.temporalUiUrl)!, namespace: config.temporal.namespace } } : {}),
    },
    ready: readiness(db.sql, connection),
  });
  const server = serve({ fetch: app.fetch, port: config.port, hostname: '0.0.0.0' });
  closers.push(() => new Promise((r) => server.close(r)));

  const api = `http://localhost:${config.port}`;
  console.log(
    [
      '',
      'CarePath is running',
      `  API            ${api}   (ready: ${api}/readyz)`,
      `  Dashboard      ${api}/app${demo ? '   (sign in as a demo user)' : '   (sign in with a token: npm run token -- coordinator coord-1)'}`,
      `  API docs       ${api}/docs   (OpenAPI: ${api}/openapi.json)`,
      uiUrl ? `  Temporal UI    ${uiUrl}` : `  Temporal       ${config.temporal.address} (${config.temporal.namespace})`,
      `  PostgreSQL     ${db.embedded ? 'embedded PGlite in .data/pglite' : 'DATABASE_URL'}`,
      `  Partners       ${config.sandbox.partners === 'auto' ? 'sandbox payment provider and courier call back on their own' : 'waiting for the real partners\' webhooks'}`,
      demo
        ? `  Demo data      doctors ${DEMO.doctors.map((d) => d.id).join(', ')}; patients ${DEMO.patients.map((p) => p.id).join(', ')}; coordinator ${DEMO.coordinator.id}`
        : '  Demo data      none (npm start -- --demo seeds clinicians, patients and slots)',
      `  A token        npm run token -- coordinator ${DEMO.coordinator.id}`,
      '  Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
  await running.catch((err: unknown) => {
    if (stopping) return;
    log.error({ err: (err as Error).message }, 'worker stopped with an error');
    void shutdown('worker-error').then(() => process.exit(1));
  });
} catch (err) {
  log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'start-up failed');
  await shutdown('start-up-failure');
  process.exit(1);
}
