// PostgreSQL stops under traffic and comes back, on the real stack (dev server, worker, API; the API and
// the worker reach PostgreSQL through a forwarder the test stops and starts). While it is down every
// answer is a success or a 503 (`database-unavailable`, or `engine-unavailable` for a journey whose
// workflow waits on the database), never a 500, and each comes within its deadline; /readyz says so
// within its own. Once it is back: ready again, every start that answered 503 retried with its
// Idempotency-Key answers 201, no journey is created twice, and every journey's read model agrees with
// its workflow.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { snapshotQuery, journeyWorkflowId } from '../workflows/definitions.js';
import { json, waitFor } from './support/http.js';
import { startStack, type Stack } from './support/stack.js';

type Json = Record<string, any>;
/** The API's deadline for the engine in this test: a journey whose workflow waits on the database answers 503 after it. */
const ENGINE_MS = 6_000;
const OUTAGE_MS = 8_000;

let stack: Stack;
let admin: string;
beforeAll(async () => {
  stack = await startStack({ databaseOutages: true, engineTimeoutMs: ENGINE_MS });
  admin = await stack.token('admin', 'admin-1');
});
afterAll(async () => {
  await stack?.stop();
});

interface Answer {
  key: string;
  status: number;
  type?: string;
  ms: number;
}

it('answers 503 (never 500) within its deadlines while PostgreSQL is down, and recovers every journey once it is back', { timeout: 180_000 }, async () => {
  const p = await json(await stack.call('POST', '/v1/patients', { token: admin, body: { name: '停库患者', phone: '+8613800000071', birthDate: '1968-08-08', sex: 'F' } }), 201);
  const patient = await stack.token('patient', p.id);
  let n = 0;
  const start = async (key: string): Promise<Answer> => {
    const t0 = Date.now();
    const res = await stack.call('POST', '/v1/journeys', { token: patient, body: { patientId: p.id, mode: 'offline', complaint: '咳嗽三天' }, headers: { 'Idempotency-Key': key } });
    const body = (await res.json()) as Json;
    return { key, status: res.status, ms: Date.now() - t0, ...(res.status >= 400 ? { type: String(body.type) } : {}) };
  };
  const read = async (): Promise<Answer> => {
    const t0 = Date.now();
    const res = await stack.call('GET', `/v1/journeys?patientId=${p.id}`, { token: admin });
    const body = (await res.json()) as Json;
    return { key: 'list', status: res.status, ms: Date.now() - t0, ...(res.status >= 400 ? { type: String(body.type) } : {}) };
  };

  // Traffic before, during and after the stop: two clients starting journeys, one reading.
  const answers: Answer[] = [];
  let traffic = true;
  const client = async (send: () => Promise<Answer>) => {
    while (traffic) answers.push(await send());
  };
  const clients = [client(() => start(`k-${n++}`)), client(() => start(`k-${n++}`)), client(read)];

  await new Promise((r) => setTimeout(r, 1_500));
  const before = answers.length;
  await stack.database!.stop();
  const stoppedAt = Date.now();

  // /readyz: not ready, within its 1 s deadline (a second of slack for a busy machine).
  const t0 = Date.now();
  const ready = await stack.call('GET', '/readyz');
  expect(Date.now() - t0).toBeLessThan(2_000);
  expect(ready.status).toBe(503);
  expect(((await ready.json()) as Json).checks).toMatchObject({ postgres: false, temporal: true });

  await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt))));
  await stack.database!.start();
  const restartedAt = Date.now();
  await waitFor(async () => ((await stack.call('GET', '/readyz')).status === 200 ? true : undefined), 20_000);
  await new Promise((r) => setTimeout(r, 1_000));
  traffic = false;
  await Promise.all(clients);

  // Traffic flowed before the stop, and the outage was seen.
  expect(before).toBeGreaterThan(0);
  const failed = answers.filter((a) => a.status >= 400);
  expect(failed.length).toBeGreaterThan(0);
  // Never a 500: a success or a 503 the client may retry, each named.
  for (const a of answers) expect([200, 201, 503], JSON.stringify(a)).toContain(a.status);
  for (const a of failed) expect(a.type, JSON.stringify(a)).toMatch(/\/(database-unavailable|engine-unavailable)$/);
  expect(failed.some((a) => a.type!.endsWith('/database-unavailable'))).toBe(true);
  // Each within its deadline, with slack for a busy machine: a request that waited on the engine (a
  // journey whose workflow waits on the database) within the engine's deadline plus one connect timeout
  // (3 s) for a database step before or after it; most fail at once (a refused connect), not after a timeout.
  for (const a of answers) expect(a.ms, JSON.stringify(a)).toBeLessThan(ENGINE_MS + 3_000 + 3_000);
  const quick = failed.filter((a) => a.ms < 2_000);
  expect(quick.length / failed.length, JSON.stringify(failed)).toBeGreaterThanOrEqual(0.8);
  expect(Date.now() - restartedAt).toBeLessThan(25_000);

  // Every start answered 503 is retried with its key: 201, the journey it may already have created.
  const keys = [...new Set(answers.filter((a) => a.key !== 'list').map((a) => a.key))];
  const ids = new Map<string, string>();
  for (const key of keys) {
    const id = await waitFor(async () => {
      const res = await stack.call('POST', '/v1/journeys', { token: patient, body: { patientId: p.id, mode: 'offline', complaint: '咳嗽三天' }, headers: { 'Idempotency-Key': key } });
      return res.status === 201 ? String(((await res.json()) as Json).id) : undefined;
    }, 30_000);
    ids.set(key, id);
  }
  // One journey per key: none created twice, none lost.
  const listed = (await json(await stack.call('GET', `/v1/journeys?patientId=${p.id}&limit=200`, { token: admin }), 200)).items as Json[];
  expect(listed.map((j) => j.id).sort()).toEqual([...new Set(ids.values())].sort());
  expect(listed).toHaveLength(keys.length);

  // Read model and workflows agree on every journey (the workflows' projections retried once the database was back).
  for (const j of listed) {
    await waitFor(async () => {
      const flow = await stack.env.client.workflow.getHandle(journeyWorkflowId(String(j.id))).query(snapshotQuery);
      const row = await json(await stack.call('GET', `/v1/journeys/${j.id}`, { token: admin }), 200);
      return row.step === flow.step && row.status === flow.status && row.step === 'booking' ? true : undefined;
    }, 30_000);
  }
});
