// The local stack runner (`npm start`): a Temporal dev server persisting to .data/, PostgreSQL from
// DATABASE_URL or an embedded PGlite, migrations and seed data, a worker and the API, in one process
// tree that shuts down cleanly on Ctrl-C. `npm start -- --demo` also seeds demo clinicians,
// patients and slots.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { NativeConnection } from '@temporalio/worker';
import { sandboxCourier, sandboxPaymentProvider } from '../activities/sandbox.js';
import { demoUsers, seedDemoData, DEMO } from '../activities/seed.js';
import { createApi } from '../api/index.js';
import { payloadDataConverter } from './codec.js';
import { DEV_PAYLOAD_KEYS, loadConfigOrExit } from './config.js';
import { createLogger } from './logger.js';
import { PID_FILE, claimDataDir, portInUse, stopOrphanedDevServer, watchLaunchers } from './local-stack.js';
import { registerSearchAttributes, searchAttributesProblem } from './search-attributes.js';
import { openDatabase, prepareDatabase, readiness } from './services.js';
import { startTracing, tracingClientInterceptors } from './telemetry.js';
import { apiSecrets, configuredInsurance, configuredPartners, configuredSigner, connectWorker, createJourneyWorker, installRuntime, runtimeOptions, temporalConnectionOptions } from './wiring.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/**
 * The dev server's SQLite file in write-ahead-log mode, synced at checkpoints: a commit survives the
 * process being killed (what `npm start` must survive), not a power loss of the machine. Throughput
 * under load (issue 11): 58 against 38 no-op workflows a second here, and a 50-client load's p99
 * 2.5 s against 7.2 s. Production runs on a Temporal cluster (TEMPORAL_ADDRESS), not on this.
 */
const DEV_SERVER_SQLITE = ['--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal'];
const TEMPORAL_BIN = join(ROOT, '.tools', 'bin', 'temporal');

const demo = process.argv.includes('--demo');
// The demo's payment provider and courier answer on their own, like the real partners.
if (demo && !process.env.SANDBOX_PARTNERS) process.env.SANDBOX_PARTNERS = 'auto';
const config = loadConfigOrExit();
const DATA = resolve(config.dataDir ?? join(ROOT, '.data'));
const TEMPORAL_PORT = config.devServer.port;
const TEMPORAL_UI_PORT = config.devServer.uiPort;
const log = createLogger(config.logLevel);
// One runner per data directory: a second copy says so and exits, touching nothing of the first's.
mkdirSync(DATA, { recursive: true });
const claim = claimDataDir(DATA);
if ('runningPid' in claim) {
  console.error(`CarePath is already running (pid ${claim.runningPid}) on ${DATA}`);
  process.exit(1);
}
process.once('exit', () => claim.release());
// The worker's Temporal runtime metrics on a port of their own (WORKER_METRICS_PORT, default 9464; 0: none).
installRuntime(log, runtimeOptions(config));
const tracing = startTracing(config.tracing, 'carepath');

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
      log.warn({ err }, 'error while shutting down');
    }
  }
  log.info('stopped');
}
process.once('SIGINT', () => void shutdown('SIGINT').then(() => process.exit(0)));
process.once('SIGTERM', () => void shutdown('SIGTERM').then(() => process.exit(0)));
// `kill -9` of npm or tsx orphans this process, which Ctrl-C then no longer reaches: stop with them.
watchLaunchers(() => void shutdown('parent-gone').then(() => process.exit(1)));

// A dev server that outlived a `kill -9` of the previous run holds the ports and temporal.db. Then
// every port must be free: the dev server's client would otherwise reach whatever answers there.
if (!config.temporal.address) await stopOrphanedDevServer(join(DATA, 'temporal.db'), log);
const ports = [
  { name: 'PORT', port: config.port, host: '0.0.0.0' },
  ...(config.temporal.address
    ? []
    : [
        { name: 'TEMPORAL_DEV_PORT', port: TEMPORAL_PORT, host: '127.0.0.1' },
        { name: 'TEMPORAL_UI_PORT', port: TEMPORAL_UI_PORT, host: '127.0.0.1' },
      ]),
];
for (const { name, port, host } of ports) {
  if (port !== 0 && (await portInUse(port, host))) {
    console.error(`Port ${port} (${name}) is in use by another program: stop it, or set ${name} to a free port.`);
    process.exit(1);
  }
}

try {
  // PostgreSQL
  const db = await openDatabase(config.databaseUrl, DATA, log);
  closers.push(() => db.close());
  if (tracing) closers.push(() => tracing.shutdown());
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
    const problem = await searchAttributesProblem(connection, config.temporal.namespace, log);
    if (problem) throw new Error(problem);
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
        // Errors only: at WARN the dev server reports its own UI's dial errors while it stops on Ctrl-C.
        log: { format: 'pretty', level: 'error' },
        // Its UI opens sealed payloads at our codec server (api/codec.ts).
        extraArgs: ['--ui-codec-endpoint', `http://localhost:${config.port}/codec`, ...DEV_SERVER_SQLITE],
      },
    });
    closers.push(() => env.teardown());
    connection = env.connection;
    workerConnection = env.nativeConnection;
    uiUrl = `http://localhost:${TEMPORAL_UI_PORT}`;
    // CarePath's search attributes, so the UI finds journeys by state (CarePathStatus = "no-show"). Added
    // here, not by the server's --search-attribute flag, which takes effect only on a new .data/temporal.db.
    const added = await registerSearchAttributes(connection, config.temporal.namespace);
    if (added.length > 0) log.info({ added }, 'search attributes registered');
  }
  // Every payload this process sends to Temporal is sealed (workers/codec.ts); the history holds ciphertext.
  const dataConverter = payloadDataConverter(config.payloadKeys);
  const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter, interceptors: { workflow: tracingClientInterceptors(tracing) } });
  const notifyWebhook = config.notifyWebhookUrl ? { url: config.notifyWebhookUrl, secret: config.secrets.notifyWebhook } : undefined;

  const sandbox = {
    apiUrl: () => `http://127.0.0.1:${config.port}`,
    secrets: config.secrets,
    courierFail: config.sandbox.courierFail,
    paymentFail: config.sandbox.paymentFail,
    log,
  };
  const partners = config.sandbox.partners === 'auto' ? { payments: sandboxPaymentProvider(db.sql, sandbox), courier: sandboxCourier(sandbox) } : configuredPartners(config);
  const insurance = configuredInsurance(config, db.sql);
  const worker = await createJourneyWorker({
    ...(tracing ? { tracing } : {}),
    dataConverter,
    connection: workerConnection,
    namespace: config.temporal.namespace,
    client,
    sql: db.sql,
    log,
    ...partners,
    facilityWebhookSecret: config.secrets.notifyWebhook,
    reconciliation: config.reconciliation,
    ...(insurance ? { insurance } : {}),
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
    hospitalTimezone: config.reconciliation.timezone,
    sandboxStatements: config.env !== 'production',
    ...(insurance ? { insurance } : {}),
    ...(config.metrics.token ? { metricsToken: config.metrics.token } : {}),
    ...(tracing ? { tracer: tracing.tracer } : {}),
    sql: db.sql,
    log,
    secrets: apiSecrets(config),
    signer: configuredSigner(config, db.sql),
    web: {
      // One-click sign-in as the demo users: only with the demo seed, never in production.
      ...(demo && config.env !== 'production' ? { demoUsers: demoUsers() } : {}),
      ...(uiUrl ?? config.temporalUiUrl ? { temporalUi: { url: (uiUrl ?? config.temporalUiUrl)!, namespace: config.temporal.namespace } } : {}),
    },
    codecServer: {
      codec: dataConverter.payloadCodecs[0],
      uiOrigins: uiUrl ? [uiUrl, `http://127.0.0.1:${TEMPORAL_UI_PORT}`] : config.temporalUiUrl ? [new URL(config.temporalUiUrl).origin] : [],
      // Our own dev server's UI on the public development key: nothing to protect, so it decodes with no setup.
      trustLocalUi: uiUrl !== undefined && config.env !== 'production' && config.payloadKeys === DEV_PAYLOAD_KEYS,
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
      `  Codec server   ${api}/codec   (payloads in Temporal are encrypted; the UI decodes here; the CLI: --codec-endpoint ${api}/codec --codec-auth "Bearer <coordinator token>")`,
      `  Metrics        ${api}/metrics (HTTP)${config.metrics.workerPort ? `, http://localhost:${config.metrics.workerPort}/metrics (Temporal worker)` : ''}`,
      `  Traces         ${tracing ? `OTLP to ${config.tracing.otlpEndpoint}` : 'off (set OTEL_EXPORTER_OTLP_ENDPOINT)'}`,
      `  PostgreSQL     ${db.embedded ? `embedded PGlite in ${join(DATA, 'pglite')}` : 'DATABASE_URL'}`,
      `  Partners       ${
        config.sandbox.partners === 'auto'
          ? 'sandbox payment provider and courier call back on their own'
          : `payment provider ${config.partners.paymentProviderUrl ?? '(ledger only)'}, courier ${config.partners.courierUrl ?? '(told nothing)'}; waiting for their webhooks`
      }`,
      demo
        ? `  Demo data      doctors ${DEMO.doctors.map((d) => d.id).join(', ')}; patients ${DEMO.patients.map((p) => p.id).join(', ')}; coordinator ${DEMO.coordinator.id}`
        : '  Demo data      none (npm start -- --demo seeds clinicians, patients and slots)',
      `  A token        npm run token -- coordinator ${DEMO.coordinator.id}`,
      `  Ctrl-C stops everything (pid ${process.pid}, in ${join(DATA, PID_FILE)}).`,
      '',
    ].join('\n'),
  );
  await running.catch((err: unknown) => {
    if (stopping) return;
    log.error({ err }, 'worker stopped with an error');
    void shutdown('worker-error').then(() => process.exit(1));
  });
} catch (err) {
  log.error({ err }, 'start-up failed');
  await shutdown('start-up-failure');
  process.exit(1);
}
