// With no worker polling, the journey engine never answers: the API gives up at its deadline with a
// 503 problem instead of leaving the request hanging.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { recordTransition } from '../activities/journeys.js';
import { requestPayment } from '../activities/payments.js';
import { JOURNEY_TASK_QUEUE, PATIENT_JOURNEY_WORKFLOW, journeyWorkflowId, type JourneySnapshot, type Payment } from '../workflows/definitions.js';
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
  // A start needs the Temporal server, not a worker: the journey is started and its start written.
  const created = await stack.call('POST', '/v1/journeys', { token: admin, body: { patientId: patient.id, mode: 'offline', complaint: 'cough' } });
  expect(created.status).toBe(201);
  const journey = (await created.json()) as { id: string; step: string };
  expect(journey.step).toBe('booking');
  // A step needs the workflow to run: with no worker it is a 503 at the deadline.
  const started = Date.now();
  const r = await stack.call('POST', `/v1/journeys/${journey.id}/cancel`, { token: admin, body: { reason: 'test' } });
  expect(r.status).toBe(503);
  expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
  expect(((await r.json()) as { type: string }).type).toMatch(/engine-unavailable$/);
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
});

/** A journey waiting for its payment, written through the repositories (no worker runs to project one). */
async function pendingOrder(): Promise<{ journeyId: string; orderId: string }> {
  const admin = await stack.token('admin', 'admin');
  const res = await stack.call('POST', '/v1/patients', { token: admin, body: { name: 'P', phone: '+8613800000002', birthDate: '1980-01-01', sex: 'M' } });
  const patient = (await res.json()) as { id: string };
  const journeyId = randomUUID();
  const payment: Payment = { orderId: `${journeyId}-reg`, amount: 1500, currency: 'CNY', status: 'pending', dueBy: new Date(Date.now() + 900_000).toISOString() };
  const snapshot: JourneySnapshot = {
    id: journeyId,
    patientId: patient.id,
    mode: 'offline',
    pathway: { id: 'standard-outpatient', version: 1 },
    phase: 'pre-visit',
    status: 'active',
    step: 'awaiting-payment',
    payment,
  };
  await recordTransition(stack.db.sql, { version: 1, snapshot, events: [] });
  await requestPayment(stack.db.sql, { orderId: payment.orderId, journeyId, amount: payment.amount, dueBy: payment.dueBy });
  return { journeyId, orderId: payment.orderId };
}

it.each([
  ['the journey workflow runs but nothing takes the payment update', true],
  ['the journey workflow has closed and nothing runs the late-payment refund', false],
])('answers a payment webhook 503 at its deadline when %s; nothing changes', async (_label, running) => {
  const { journeyId, orderId } = await pendingOrder();
  if (running) {
    await stack.env.client.workflow.start(PATIENT_JOURNEY_WORKFLOW, { taskQueue: JOURNEY_TASK_QUEUE, workflowId: journeyWorkflowId(journeyId), args: [{ journeyId }] });
  }
  const started = Date.now();
  const r = await stack.payWebhook({ orderId, status: 'paid', amount: 1500, paidAt: new Date().toISOString(), channel: 'wechat' });
  expect(r.status).toBe(503);
  expect(((await r.json()) as { type: string }).type).toMatch(/engine-unavailable$/);
  expect(Date.now() - started).toBeLessThan(10_000);
  const [row] = await stack.db.sql<{ status: string }[]>`select status from payments where order_id = ${orderId}`;
  expect(row?.status).toBe('pending');
});

it('reports ready when Temporal and PostgreSQL answer, even with no worker polling', async () => {
  const res = await stack.call('GET', '/readyz');
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: 'ready', checks: { temporal: true, postgres: true } });
});
