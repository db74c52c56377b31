// Production worker: runs journey workflows and activities against a configured Temporal cluster (or
// Temporal Cloud) and PostgreSQL. Stateless: start as many as the load needs on the same task queue.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSql } from '../activities/db.js';
import { loadConfigOrExit } from './config.js';
import { createLogger } from './logger.js';
import { prepareDatabase } from './services.js';
import { connectClient, connectWorker, createJourneyWorker, installRuntimeLogger } from './wiring.js';

const BUNDLE = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'workflow-bundle.js');

const config = loadConfigOrExit();
const log = createLogger(config.logLevel);
installRuntimeLogger(log);
if (!config.databaseUrl) {
  log.fatal('DATABASE_URL is required for a standalone worker (npm start runs an embedded database)');
  process.exit(1);
}
const address = config.temporal.address ?? 'localhost:7233';
const sql = createSql(config.databaseUrl);
await prepareDatabase(sql, log);
const { client, connection: clientConnection } = await connectClient(config.temporal, address);
const connection = await connectWorker(config.temporal, address);
const worker = await createJourneyWorker({
  connection,
  namespace: config.temporal.namespace,
  client,
  sql,
  log,
  facilityWebhookSecret: config.secrets.notifyWebhook,
  ...(config.notifyWebhookUrl ? { notifyWebhook: { url: config.notifyWebhookUrl, secret: config.secrets.notifyWebhook } } : {}),
  // `npm run build:workflows` prebuilds the bundle; without it the worker bundles at start.
  ...(existsSync(BUNDLE) ? { bundle: { code: readFileSync(BUNDLE, 'utf8') } } : {}),
});
log.info({ address, namespace: config.temporal.namespace }, 'worker running');
try {
  await worker.run(); // returns after SIGINT/SIGTERM, once in-flight tasks are drained
} finally {
  await connection.close();
  await clientConnection.close();
  await sql.end({ timeout: 5 });
}
