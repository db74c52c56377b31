// Production API process: the HTTP API against a configured Temporal cluster and PostgreSQL.
// Stateless: run several behind a load balancer.
import { serve } from '@hono/node-server';
import { createSql } from '../activities/db.js';
import { createApi } from '../api/index.js';
import { loadConfigOrExit } from './config.js';
import { createLogger } from './logger.js';
import { databaseAddress, readiness, reportReachability } from './services.js';
import { startTracing } from './telemetry.js';
import { payloadDataConverter } from './codec.js';
import { apiSecrets, configuredInsurance, configuredSigner, lazyClient } from './wiring.js';

const config = loadConfigOrExit();
const log = createLogger(config.logLevel);
if (!config.databaseUrl) {
  log.fatal('DATABASE_URL is required for a standalone API (npm start runs an embedded database)');
  process.exit(1);
}
const sql = createSql(config.databaseUrl);
// Payloads this API sends to Temporal are sealed (workers/codec.ts), and its codec server opens them for staff.
const dataConverter = payloadDataConverter(config.payloadKeys);
const tracing = startTracing(config.tracing, 'carepath-api');
// Neither Temporal nor PostgreSQL has to be reachable to start: /healthz answers at once, /readyz 503
// until both are (the log says which address could not be reached).
const addresses = { temporal: config.temporal.address ?? 'localhost:7233', postgres: databaseAddress(config.databaseUrl) };
const { client, connection } = lazyClient(config.temporal, addresses.temporal, dataConverter, tracing);
const ready = readiness(sql, connection);
const insurance = configuredInsurance(config, sql);
const app = createApi({
  temporal: client,
  hospitalTimezone: config.reconciliation.timezone,
  sandboxStatements: config.env !== 'production',
  ...(insurance ? { insurance } : {}),
  sql,
  log,
  secrets: apiSecrets(config),
  signer: configuredSigner(config, sql),
  ...(config.metrics.token ? { metricsToken: config.metrics.token } : {}),
  ...(tracing ? { tracer: tracing.tracer } : {}),
  web: {
    secureCookies: config.env === 'production',
    ...(config.temporalUiUrl ? { temporalUi: { url: config.temporalUiUrl, namespace: config.temporal.namespace } } : {}),
  },
  // The Temporal UI (TEMPORAL_UI_URL) and CLI open sealed payloads here, with a staff token.
  codecServer: { codec: dataConverter.payloadCodecs[0], uiOrigins: config.temporalUiUrl ? [new URL(config.temporalUiUrl).origin] : [] },
  ready,
});
const server = serve({ fetch: app.fetch, port: config.port, hostname: '0.0.0.0' }, (info) => log.info({ port: info.port, ...addresses }, 'API listening'));
void reportReachability(ready, addresses, log);

async function stop(): Promise<void> {
  server.close();
  await connection.close();
  await sql.end({ timeout: 5 });
  await tracing?.shutdown();
  process.exit(0);
}
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
