// POST /v1/journeys answers once the workflow is started and the API has written its start, without
// waiting for the workflow's first task (workflows/journey-start.ts). Here no worker runs until the
// test starts one: the answer is the triaged journey; a booking sent before the first task waits for
// it and is then taken; the workflow's own write of the same start changes nothing; a red flag is
// redirected at once.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { journeyWorkflowId } from '../workflows/definitions.js';
import { JOURNEY_START_VERSION } from '../workflows/journey-start.js';
import { startStack, type Stack } from './support/stack.js';
import { json, waitFor } from './support/http.js';
import { verifyClinicianId, verifyPatientId } from './support/people.js';

type Json = Record<string, any>;
let stack: Stack;
let admin: string;

beforeAll(async () => {
  stack = await startStack({ worker: false, engineTimeoutMs: 20_000 });
  admin = await stack.token('admin', 'admin-1');
});
afterAll(async () => {
  await stack?.stop();
});

async function newPatient(): Promise<{ id: string; token: string }> {
  const p = await json(await stack.call('POST', '/v1/patients', { token: admin, body: { name: '早到患者', phone: '+8613800000071', birthDate: '1975-05-05', sex: 'F' } }), 201);
  await verifyPatientId(stack, admin, p.id);
  return { id: p.id, token: await stack.token('patient', p.id) };
}

const timelineOf = async (journeyId: string) =>
  (await stack.db.sql`select seq, key, type, actor from timeline where journey_id = ${journeyId} order by seq`).map((r) => ({ ...r }));

it('answers the triaged journey before any worker runs; a booking then waits for the first task and is taken once', async () => {
  const p = await newPatient();
  const created = await json(await stack.call('POST', '/v1/journeys', { token: p.token, body: { patientId: p.id, mode: 'offline', complaint: '高血压，最近头晕' } }), 201);
  expect(created).toMatchObject({ patientId: p.id, status: 'active', phase: 'pre-visit', step: 'booking', triage: { department: 'cardiology', urgency: 'routine' } });
  expect(created.timeline.map((e: Json) => [e.seq, e.type, e.actor])).toEqual([
    [1, 'journey.started', `patient:${p.id}`],
    [2, 'triage.completed', 'system'],
  ]);
  expect(created.timeline[0].data).toEqual({ mode: 'offline', pathway: { id: 'standard-outpatient', version: 1 }, followUp: false });
  const [row] = await stack.db.sql`select version, step from journeys where id = ${created.id}`;
  expect(row).toEqual({ version: JOURNEY_START_VERSION, step: 'booking' });

  const doctor = await json(await stack.call('POST', '/v1/clinicians', { token: admin, body: { name: '早医生', role: 'doctor', department: 'cardiology' } }), 201);
  await verifyClinicianId(stack, admin, doctor.id);
  const start = new Date(Date.now() + 3_600_000);
  const slot = await json(
    await stack.call('POST', '/v1/slots', {
      token: admin,
      body: { doctorId: doctor.id, department: 'cardiology', start: start.toISOString(), end: new Date(start.getTime() + 1_800_000).toISOString(), capacity: 2, mode: 'offline' },
    }),
    201,
  );
  // No worker: the booking's update waits for the workflow's first task.
  const booking = stack.call('POST', `/v1/journeys/${created.id}/appointment`, { token: p.token, body: { slotId: slot.id } });
  await new Promise((r) => setTimeout(r, 500));
  await stack.startWorker();
  const booked = await json(await booking, 200);
  expect(booked).toMatchObject({ step: 'awaiting-payment', appointment: { slotId: slot.id }, payment: { status: 'pending', amount: 1500, currency: 'CNY' } });
  // The workflow wrote the same start again: nothing is repeated, and the booking follows it.
  const types = (await timelineOf(created.id)).map((e) => e.type);
  expect(types.slice(0, 3)).toEqual(['journey.started', 'triage.completed', 'appointment.booked']);
  expect(types.filter((t) => t === 'journey.started')).toHaveLength(1);
  expect(types.filter((t) => t === 'triage.completed')).toHaveLength(1);
  const [after] = await stack.db.sql`select remaining from slots where id = ${slot.id}`;
  expect(after!.remaining).toBe(1);
}, 60_000);

it('answers a red-flag journey redirected, and its workflow closes it the same way', async () => {
  const p = await newPatient();
  const created = await json(await stack.call('POST', '/v1/journeys', { token: p.token, body: { patientId: p.id, mode: 'offline', complaint: '突然胸痛，喘不上气，出冷汗' } }), 201);
  expect(created).toMatchObject({ status: 'redirected', phase: 'closed', step: 'done', triage: { urgency: 'emergency' } });
  expect(created.timeline.map((e: Json) => e.type)).toEqual(['journey.started', 'triage.completed', 'journey.redirected']);
  await stack.startWorker();
  const result = await waitFor(async () => {
    const d = await stack.env.client.workflow.getHandle(journeyWorkflowId(created.id)).describe();
    return d.status.name === 'COMPLETED' ? d : undefined;
  });
  expect(result.status.name).toBe('COMPLETED');
  expect((await timelineOf(created.id)).map((e) => e.type)).toEqual(['journey.started', 'triage.completed', 'journey.redirected']);
}, 60_000);

it('takes a cancellation sent before the first task after the start, and ends the journey cancelled', async () => {
  await stack.stopWorker();
  const p = await newPatient();
  const created = await json(await stack.call('POST', '/v1/journeys', { token: p.token, body: { patientId: p.id, mode: 'offline', complaint: '咳嗽三天' } }), 201);
  const cancelling = stack.call('POST', `/v1/journeys/${created.id}/cancel`, { token: p.token, body: { reason: '不去了' } });
  await new Promise((r) => setTimeout(r, 500));
  await stack.startWorker();
  expect(await json(await cancelling, 200)).toMatchObject({ status: 'cancelled', phase: 'closed' });
  expect((await timelineOf(created.id)).map((e) => e.type)).toEqual(['journey.started', 'triage.completed', 'journey.cancelled']);
}, 60_000);
