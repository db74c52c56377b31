// What the suite measures, always from outside the system, over HTTP and the Temporal client, as a
// client nobody on the team wrote would:
//
// - by default, CarePath as `npm start` runs it (workers/start.ts: the Temporal CLI dev server, the
//   journey worker with its outbox dispatcher, the API), started here in a process of its own on free
//   ports, a fresh PostgreSQL database at DATABASE_URL's server (or the machine's) and a temporary data
//   directory, delivering notifications to a listener in this process; stopped and dropped at the end;
// - with CP_BASE and TEMPORAL_ADDRESS, a running CarePath whose secrets and payload keys are in this
//   process's environment (AUTH_JWT_SECRET, PAYMENT_WEBHOOK_SECRET, PAYLOAD_KEYS…, as workers/config.ts
//   reads them).
//
// - with BENCH_STACK=in-process, the integration tests' stack in this process (the dev server in
//   memory): the figures of the runs before 2026-11-30 12:30 (docs/performance.md).
//
// Either way the no-op baseline's worker runs in this process, polling the same Temporal server.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { signToken } from '../api/auth.js';
import { createSql } from '../activities/db.js';
import { sign } from '../activities/signature.js';
import type { Role } from '../workflows/definitions.js';
import { payloadDataConverter } from '../workers/codec.js';
import { parseConfig } from '../workers/config.js';
import { TEST_DATABASE_URL } from '../tests/support/db.js';
import { freePort } from '../tests/support/ports.js';
import { SECRETS, apiCaller, notificationListener, startStack, type Stack } from '../tests/support/stack.js';
import { DATA_CONVERTER } from '../tests/support/temporal.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface Target {
  what: string;
  call: Stack['call'];
  token(role: Role, id: string): Promise<string>;
  payWebhook(body: unknown): Promise<Response>;
  /** The system's Temporal client (its payload codec). */
  client: Client;
  connection: NativeConnection;
  namespace: string;
  dataConverter: ReturnType<typeof payloadDataConverter>;
  stop(): Promise<void>;
}

export async function target(): Promise<Target> {
  const base = process.env.CP_BASE;
  const address = process.env.TEMPORAL_ADDRESS;
  if (base || address) {
    if (!base || !address) throw new Error('CP_BASE and TEMPORAL_ADDRESS go together');
    return connect(base, address, process.env, `${base.replace(/\/$/, '')} on ${address}`, async () => undefined);
  }
  return process.env.BENCH_STACK === 'in-process' ? inProcess() : spawned();
}

/**
 * BENCH_STACK=in-process: the integration tests' stack (tests/support/stack.ts) in this process: the
 * dev server in memory, the worker and the API beside the bench's own clients.
 */
async function inProcess(): Promise<Target> {
  const stack = await startStack();
  return {
    what: 'the integration tests\' stack in this process (Temporal CLI dev server in memory, a PostgreSQL schema, worker and API)',
    call: stack.call,
    token: (role, id) => stack.token(role, id),
    payWebhook: (body) => stack.payWebhook(body),
    client: stack.env.client,
    connection: stack.env.nativeConnection,
    namespace: stack.env.namespace ?? 'default',
    dataConverter: DATA_CONVERTER,
    stop: () => stack.stop(),
  };
}

/** CarePath as `npm start` runs it, in a process of its own, on a fresh database and free ports. */
async function spawned(): Promise<Target> {
  const database = `carepath_bench_${randomBytes(4).toString('hex')}`;
  const admin = createSql(TEST_DATABASE_URL, { max: 1 });
  // What has been made so far, undone in reverse order on the way out (or on a failure on the way in).
  const undo: (() => Promise<unknown> | void)[] = [() => admin.end({ timeout: 1 })];
  const cleanUp = async () => {
    for (const step of undo.reverse()) await Promise.resolve(step()).catch(() => undefined);
  };
  try {
    await admin.unsafe(`create database ${database}`);
    undo.push(() => admin.unsafe(`drop database if exists ${database} with (force)`));
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = `/${database}`;
    const dataDir = mkdtempSync(join(tmpdir(), 'carepath-bench-'));
    undo.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const listener = await notificationListener();
    undo.push(() => listener.close());
    const [port, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: url.toString(),
      CAREPATH_DATA_DIR: dataDir,
      PORT: String(port),
      TEMPORAL_DEV_PORT: String(temporalPort),
      TEMPORAL_UI_PORT: String(uiPort),
      WORKER_METRICS_PORT: '0',
      LOG_LEVEL: 'warn',
      AUTH_JWT_SECRET: SECRETS.jwt,
      PAYMENT_WEBHOOK_SECRET: SECRETS.paymentWebhook,
      NOTIFY_WEBHOOK_URL: listener.url,
      NOTIFY_WEBHOOK_SECRET: SECRETS.notifyWebhook,
    };
    delete env.TEMPORAL_ADDRESS;
    delete env.CP_BASE;
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'workers', 'start.ts')], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
    // A process that could not be started (no tsx) ends the wait for it too.
    const exited = new Promise<number | null>((r) => {
      child.once('exit', (code) => r(code));
      child.once('error', () => r(null));
    });
    undo.push(() => stopChild(child, exited));
    const base = `http://127.0.0.1:${port}`;
    await ready(base, exited);
    return await connect(base, `127.0.0.1:${temporalPort}`, env, `CarePath as npm start runs it, in a process of its own (${base}; Temporal CLI dev server on its data directory; PostgreSQL database ${database})`, cleanUp);
  } catch (err) {
    await cleanUp();
    throw err;
  }
}

async function ready(base: string, exited: Promise<number | null>): Promise<void> {
  const until = Date.now() + 180_000;
  let gone = false;
  void exited.then(() => (gone = true));
  for (;;) {
    if (gone) throw new Error('CarePath exited before it was ready');
    const ok = await fetch(`${base}/readyz`).then((r) => r.ok).catch(() => false);
    if (ok) return;
    if (Date.now() > until) throw new Error(`CarePath at ${base} not ready within 3 minutes`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Ctrl-C, as an operator stops `npm start`; killed if it has not stopped within 30 s. */
async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

async function connect(base: string, address: string, env: NodeJS.ProcessEnv, what: string, cleanUp: () => Promise<unknown>): Promise<Target> {
  const cfg = parseConfig(env);
  const dataConverter = payloadDataConverter(cfg.payloadKeys);
  const connection = await Connection.connect({ address });
  const native = await NativeConnection.connect({ address }).catch(async (err: unknown) => {
    await connection.close();
    throw err;
  });
  const client = new Client({ connection, namespace: cfg.temporal.namespace, dataConverter });
  const url = base.replace(/\/$/, '');
  const call = apiCaller(url);
  return {
    what,
    call,
    token: (role, id) => signToken(cfg.secrets.jwt, { role, id }, 3600),
    payWebhook(body) {
      const raw = JSON.stringify(body);
      return call('POST', '/v1/webhooks/payments', { raw, headers: { 'X-Signature': sign(cfg.secrets.paymentWebhook, raw) } });
    },
    client,
    connection: native,
    namespace: cfg.temporal.namespace,
    dataConverter,
    async stop() {
      await connection.close();
      await native.close();
      await cleanUp();
    },
  };
}
