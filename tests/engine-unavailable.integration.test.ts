// With no worker polling, the journey engine never answers: the API gives up at its deadline with a
// 503 problem instead of leaving the request hanging.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStack, type Stack } from './support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ worker: false, engineTimeoutMs: 1500 });
});
afterAll(async () => {
  await stack?.stop();
});

it('answers 503 problem+json when the engine does not answer in time', async () => {
  const admin = await stack.token('admin', 'admin');
  const res = await stack.call('POST', '/v1/patients', { token: admin, body: { name: 'P', phone: '+8613800000001', birthDate: '1980-01-01', sex: 'F' } });
  const patient = (await res.json()) as { id: string };
  const started = Date.now();
  const r = await stack.call('POST', '/v1/journeys', { token: admin, body: { patientId: patient.id, mode: 'offline', complaint: 'cough' } });
  expect(r.status).toBe(503);
  expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
  expect(((await r.json()) as { type: string }).type).toMatch(/engine-unavailable$/);
  expect(Date.now() - started).toBeLessThan(10_000);
});

it('reports ready when Temporal and PostgreSQL answer, even with no worker polling', async () => {
  const res = await stack.call('GET', '/readyz');
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: 'ready', checks: { temporal: true, postgres: true } });
});
