// What the suite measures: a stack of its own (tests/support/stack.ts: the Temporal CLI dev server,
// PostgreSQL, the worker and the API in this process, as the integration tests run), or, with
// CP_BASE and TEMPORAL_ADDRESS, a running CarePath whose secrets and payload keys are in this
// process's environment (AUTH_JWT_SECRET, PAYMENT_WEBHOOK_SECRET, PAYLOAD_KEYS…, as workers/config.ts
// reads them). Either way the no-op baseline's worker polls the same Temporal server.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { signToken } from '../api/auth.js';
import { sign } from '../activities/signature.js';
import type { Role } from '../workflows/definitions.js';
import { payloadDataConverter } from '../workers/codec.js';
import { parseConfig } from '../workers/config.js';
import { DATA_CONVERTER } from '../tests/support/temporal.js';
import { apiCaller, startStack, type Stack } from '../tests/support/stack.js';

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
  if (!base || !address) {
    if (base || address) throw new Error('CP_BASE and TEMPORAL_ADDRESS go together');
    const stack = await startStack();
    return {
      what: 'a stack of its own (Temporal CLI dev server, PostgreSQL schema, worker and API in this process)',
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
  const cfg = parseConfig(process.env);
  const dataConverter = payloadDataConverter(cfg.payloadKeys);
  const [connection, native] = await Promise.all([Connection.connect({ address }), NativeConnection.connect({ address })]);
  const client = new Client({ connection, namespace: cfg.temporal.namespace, dataConverter });
  const url = base.replace(/\/$/, '');
  const call = apiCaller(url);
  return {
    what: `${url} on ${address}`,
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
    },
  };
}
