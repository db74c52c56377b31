// Idempotency-Key over HTTP on the real stack: a retried journey start (same key, same body) answers
// the first answer again and creates one journey; the same key with another body is 422; keys are per
// caller; two at once create one; a start that answered 503 (started, but written by nobody yet) and is
// retried once the worker is there answers that same journey; a bad key is 400; other creating POSTs keep their
// first answer too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './support/stack.js';
import { json } from './support/http.js';

type Json = Record<string, any>;
let stack: Stack;
let admin: string;

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'admin-1');
});
afterAll(async () => {
  await stack?.stop();
});

async function patient(s: Stack = stack, token = admin): Promise<{ id: string; token: string }> {
  const p = await json(await s.call('POST', '/v1/patients', { token, body: { name: '重试患者', phone: '+8613800000061', birthDate: '1970-07-07', sex: 'M' } }), 201);
  return { id: p.id, token: await s.token('patient', p.id) };
}
const start = (s: Stack, p: { id: string; token: string }, key: string | undefined, complaint = '咳嗽三天') =>
  s.call('POST', '/v1/journeys', { token: p.token, body: { patientId: p.id, mode: 'offline', complaint }, ...(key ? { headers: { 'Idempotency-Key': key } } : {}) });
const journeysOf = async (s: Stack, patientId: string) => (await json(await s.call('GET', `/v1/journeys?patientId=${patientId}`, { token: admin }), 200)).items as Json[];

describe('Idempotency-Key', () => {
  it('answers a retried journey start with the first answer and starts one journey; another body under the key is 422', async () => {
    const p = await patient();
    const first = await start(stack, p, 'tap-1');
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const firstBody = await first.json() as Json;
    const again = await start(stack, p, 'tap-1');
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(firstBody);
    expect((await journeysOf(stack, p.id)).map((j) => j.id)).toEqual([firstBody.id]);

    const other = await start(stack, p, 'tap-1', '头痛');
    expect(other.status).toBe(422);
    expect(((await other.json()) as Json).type).toMatch(/idempotency-key-reused$/);
    // Without a key each POST is its own.
    expect((await start(stack, p, undefined)).status).toBe(201);
    expect(await journeysOf(stack, p.id)).toHaveLength(2);
  });

  it('keeps keys per caller, creates one journey for two requests at once, and refuses a malformed key', async () => {
    const [a, b] = [await patient(), await patient()];
    const [ra, rb] = await Promise.all([start(stack, a, 'same-key'), start(stack, b, 'same-key')]);
    expect([ra.status, rb.status]).toEqual([201, 201]);
    expect(((await ra.json()) as Json).id).not.toBe(((await rb.json()) as Json).id);

    const c = await patient();
    const both = await Promise.all([start(stack, c, 'double-tap'), start(stack, c, 'double-tap')]);
    const statuses = both.map((r) => r.status).sort();
    // The second is the first answer again, or told to retry while the first runs.
    expect(statuses[0]).toBe(201);
    expect([201, 409]).toContain(statuses[1]);
    expect(await journeysOf(stack, c.id)).toHaveLength(1);

    for (const bad of ['has space', 'x'.repeat(201), 'tab\there']) {
      const res = await stack.call('POST', '/v1/journeys', { token: c.token, body: { patientId: c.id, mode: 'offline', complaint: 'x' }, headers: { 'Idempotency-Key': bad } });
      expect(res.status, bad).toBe(400);
    }
    expect(await journeysOf(stack, c.id)).toHaveLength(1);
  });

  it('keeps the first answer of other creating POSTs (a patient), and a refusal too', async () => {
    const body = { name: '幂等患者', phone: '+8613800000062', birthDate: '1981-01-01', sex: 'F' };
    const [x, y] = [
      await stack.call('POST', '/v1/patients', { token: admin, body, headers: { 'Idempotency-Key': 'new-patient' } }),
      await stack.call('POST', '/v1/patients', { token: admin, body, headers: { 'Idempotency-Key': 'new-patient' } }),
    ];
    expect([x.status, y.status]).toEqual([201, 201]);
    expect(((await y.json()) as Json).id).toBe(((await x.json()) as Json).id);
    const p = await patient();
    const online = { patientId: p.id, mode: 'online', complaint: 'x' };
    const r1 = await stack.call('POST', '/v1/journeys', { token: p.token, body: online, headers: { 'Idempotency-Key': 'online' } });
    const r2 = await stack.call('POST', '/v1/journeys', { token: p.token, body: online, headers: { 'Idempotency-Key': 'online' } });
    expect([r1.status, r2.status, r2.headers.get('idempotent-replayed')]).toEqual([422, 422, 'true']);
  });
});

it('answers a start retried after a 503 with the journey the first attempt started', async () => {
  // The first attempt starts the workflow, but its write of the start fails (a trigger refuses the row)
  // and no worker runs to write it instead: 503. Retried under the key once the worker is back, it
  // answers that journey, written by the workflow's first task, and no second one exists.
  const slow = await startStack({ worker: false, engineTimeoutMs: 1500 });
  try {
    const p = await patient(slow, await slow.token('admin', 'admin-1'));
    await slow.db.sql.unsafe(`
      create function refuse_journey() returns trigger language plpgsql as $$ begin raise exception 'refused in the test'; end $$;
      create trigger refuse_journey before insert on journeys for each row execute function refuse_journey()`);
    const first = await start(slow, p, 'retry-after-503');
    expect(first.status).toBe(503);
    expect(await journeysOf(slow, p.id)).toEqual([]);
    await slow.db.sql.unsafe('drop trigger refuse_journey on journeys');
    await slow.startWorker();
    const retried = await start(slow, p, 'retry-after-503');
    expect(retried.status).toBe(201);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    const j = (await retried.json()) as Json;
    expect(j.triage.department).toBe('respiratory');
    expect(j.timeline.map((e: Json) => e.type)).toEqual(['journey.started', 'triage.completed']);
    expect((await journeysOf(slow, p.id)).map((x) => x.id)).toEqual([j.id]);
  } finally {
    await slow.stop();
  }
}, 120_000);
