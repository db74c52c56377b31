// Production API process: the HTTP API against a configured Temporal cluster and PostgreSQL.
// Stateless: run several behind a load balancer.
import { serve } from '@hono/node-server';
import { createSql } from '../activities/db.js';
import { createApi } from '../api/index.js';
import { loadConfigOrExit } from './config.js';
import { createLogger } from './logger.js';
import { readiness } from './services.js';
import { connectClient } from './wiring.js';

const config = loadConfigOrExit();
const log = createLogger(config.logLevel);
if (!config.databaseUrl) {
  log.fatal('DATABASE_URL is required for a standalone API (npm start runs an embedded database)');
  process.exit(1);
}
const sql = createSql(config.databaseUrl);
const { client, connection } = await connectClient(config.temporal, config.temporal.address ?? 'localhost:7233');
const app = createApi({
  temporal: client,
  sql,
  log,
  secrets: config.secrets,
  web: {
    secureCookies: config.env === 'production',
    ...(config.temporalUiUrl ? { temporalUi: { url: config.temporalUiUrl, namespace: config.temporal.namespace } } : {}),
  },
  ready: readiness(sql, connection),
});
const server = serve({ fetch: app.fetch, port: config.port, hostname: '0.0.0.0' }, (info) => log.info({ port: info.port }, 'API listening'));

async function stop(): Promise<void> {
  server.close();
  await connection.close();
  await sql.end({ timeout: 5 });
  process.exit(0);
}
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
