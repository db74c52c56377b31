// Production worker: runs journey workflows and activities against a configured Temporal cluster (or
// Temporal Cloud) and PostgreSQL. Stateless: start as many as the load needs on the same task queue.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSql } from '../activities/db.js';
import { loadConfigOrExit } from './config.js';
import { createLogger } from './logger.js';
import { isDatabaseUnavailable } from '../api/problems.js';
import { searchAttributesProblem } from './search-attributes.js';
import { databaseAddress, prepareDatabase, untilReachable } from './services.js';
import { startTracing } from './telemetry.js';
import { payloadDataConverter } from './codec.js';
import { configuredInsurance, configuredPartners, connectClient, connectWorker, createJourneyWorker, installRuntime, runtimeOptions } from './wiring.js';

const config = loadConfigOrExit();
const log = createLogger(config.logLevel);
// The Temporal runtime's Prometheus metrics on this worker's own port (WORKER_METRICS_PORT, 0: none).
installRuntime(log, runtimeOptions(config));
const tracing = startTracing(config.tracing, 'carepath-worker');
// `npm run build:workflows` writes both bundles: the traced one holds the tracing workflow interceptors.
const BUNDLE = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', tracing ? 'workflow-bundle.traced.js' : 'workflow-bundle.js');
if (!config.databaseUrl) {
  log.fatal('DATABASE_URL is required for a standalone worker (npm start runs an embedded database)');
  process.exit(1);
}
const address = config.temporal.address ?? 'localhost:7233';
// Every payload this worker and its client send to Temporal is sealed (workers/codec.ts).
const dataConverter = payloadDataConverter(config.payloadKeys);
const sql = createSql(config.databaseUrl);
// Started before PostgreSQL or Temporal is up (or while one is down), the worker waits for it, saying
// which address it tried, instead of exiting: any start order works.
await untilReachable(log, { name: 'PostgreSQL', address: databaseAddress(config.databaseUrl) }, () => prepareDatabase(sql, log), isDatabaseUnavailable);
const { client, connection: clientConnection } = await untilReachable(log, { name: 'Temporal', address }, () => connectClient(config.temporal, address, dataConverter, tracing));
const connection = await untilReachable(log, { name: 'Temporal', address }, () => connectWorker(config.temporal, address));
// Workflows set CarePath's search attributes: on a namespace without them every workflow task would fail.
const searchAttributes = await searchAttributesProblem(clientConnection, config.temporal.namespace, log);
if (searchAttributes) {
  log.fatal(searchAttributes);
  process.exit(1);
}
const insurance = configuredInsurance(config, sql);
const worker = await createJourneyWorker({
  dataConverter,
  connection,
  namespace: config.temporal.namespace,
  client,
  sql,
  log,
  facilityWebhookSecret: config.secrets.notifyWebhook,
  reconciliation: config.reconciliation,
  ...(insurance ? { insurance } : {}),
  // The real payment provider and courier (required in production); else the ledger and the awaiting courier.
  ...configuredPartners(config),
  ...(config.notifyWebhookUrl ? { notifyWebhook: { url: config.notifyWebhookUrl, secret: config.secrets.notifyWebhook } } : {}),
  // `npm run build:workflows` prebuilds the bundle; without it the worker bundles at start.
  ...(existsSync(BUNDLE) ? { bundle: { code: readFileSync(BUNDLE, 'utf8') } } : {}),
  ...(tracing ? { tracing } : {}),
});
log.info({ address, namespace: config.temporal.namespace }, 'worker running');
try {
  await worker.run(); // returns after SIGINT/SIGTERM, once in-flight tasks are drained
} finally {
  await connection.close();
  await clientConnection.close();
  await sql.end({ timeout: 5 });
  await tracing?.shutdown();
}
