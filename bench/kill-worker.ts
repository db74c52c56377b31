// One journey worker in a process of its own, for bench/reminder-kill.bench.ts to SIGKILL: wired as
// production wires it (createJourneyWorker, the outbox dispatcher beside it; payloads in clear), on the
// bench's dev server, database schema, webhook and prebuilt workflow bundle. Prints `running` once it
// polls. Configured by the parent through KILL_WORKER_* variables.
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createSql } from '../activities/db.js';
import { createLogger } from '../workers/logger.js';
import { createJourneyWorker, installRuntime } from '../workers/wiring.js';

const env = (name: string): string => {
  const v = process.env[`KILL_WORKER_${name}`];
  if (!v) throw new Error(`KILL_WORKER_${name} is not set`);
  return v;
};

const log = createLogger(process.env.KILL_WORKER_LOG ?? 'silent');
installRuntime(log);
const address = env('ADDRESS');
const namespace = env('NAMESPACE');
const sql = createSql(env('DATABASE_URL'), { schema: env('SCHEMA') });
const connection = await NativeConnection.connect({ address });
const client = new Client({ connection: await Connection.connect({ address }), namespace });
const worker = await createJourneyWorker({
  connection,
  namespace,
  client,
  dataConverter: {},
  sql,
  log,
  notifyWebhook: { url: env('WEBHOOK'), secret: 'bench-notify-secret' },
  facilityWebhookSecret: 'bench-notify-secret',
  bundle: { code: readFileSync(env('BUNDLE'), 'utf8') },
});
const running = worker.run();
process.stdout.write('running\n');
await running;
