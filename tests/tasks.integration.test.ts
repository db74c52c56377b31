// Work queues and the way out of a stuck visit, over HTTP on the real components: escalation tasks in
// the coordinator's queue, acknowledged by hand while the next tier still comes, and a coordinator
// ending a checked-in journey before the consultation (fee refunded, tasks cancelled).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './support/stack.js';
import { json, waitFor } from './support/http.js';
import { checkedIn as checkIn } from './support/visits.js';
import { pharmacistToken, verifyClinicianId } from './support/people.js';

let stack: Stack;
let admin: string;
let coordinator: string;
let pharmacist: string;
let doctorId: string;
let doctor: string;

const pathway = {
  id: 'tasks-test', version: 1, name: 'Tasks test', modes: ['offline'], fees: { registration: 1200 },
  paymentWindow: 'PT1M', appointmentReminders: [], nearTurnAhead: 1, noShowGrace: 'PT1M',
  consultStartSla: 'PT2S', pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D',
};

interface Task {
  id: string; kind: string; role: string; status: string; subject: { type: string; id: string }; action: string;
  journeyId?: string; dueAt: string; overdue: boolean; tier: number; closedBy?: string; note?: string;
}

const tasks = async (token: string, query = ''): Promise<Task[]> => (await json<{ items: Task[] }>(await stack.call('GET', `/v1/tasks${query}`, { token }), 200)).items;

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'admin-1');
  coordinator = await stack.token('coordinator', 'coord-1');
  pharmacist = await pharmacistToken(stack, admin);
  await json(await stack.call('POST', '/v1/pathways', { token: admin, body: pathway }), 201);
  doctorId = (await json(await stack.call('POST', '/v1/clinicians', { token: admin, body: { name: 'Dr. Queue', role: 'doctor', department: 'respiratory' } }), 201)).id;
  await verifyClinicianId(stack, admin, doctorId);
  doctor = await stack.token('doctor', doctorId);
});
afterAll(async () => {
  await stack?.stop();
});

/** A patient checked in to a slot that has started; the doctor does not come. */
const checkedIn = () => checkIn(stack, { admin, doctorId, pathwayId: pathway.id, fee: 1200 });

describe('work queues and ending a stuck visit', () => {
  it('lists an escalation for coordinators, lets them acknowledge it, raises the next tier, and lets a coordinator end the visit', async () => {
    const { journeyId, patient, patientId, orderId } = await checkedIn();
    const mine = (list: Task[]) => list.filter((t) => t.journeyId === journeyId);

    // Tier 1 after the consult-start SLA: in the coordinators' queue only.
    const [tier1] = await waitFor(async () => {
      const l = mine(await tasks(coordinator));
      return l.length ? l : undefined;
    });
    expect(tier1).toMatchObject({
      id: `journey:${journeyId}:consult-start-sla:1`, kind: 'escalation', role: 'coordinator', status: 'open',
      subject: { type: 'journey', id: journeyId }, tier: 1, overdue: true,
    });
    expect(tier1!.action).toMatch(/not started/);
    expect(mine(await tasks(pharmacist))).toEqual([]);
    expect(mine(await tasks(doctor))).toEqual([]);
    expect(mine(await tasks(admin))).toHaveLength(1);
    expect((await stack.call('GET', '/v1/tasks', { token: patient })).status).toBe(403);
    expect((await stack.call('GET', '/v1/tasks?kind=nonsense', { token: coordinator })).status).toBe(400);

    // Acknowledged: done, by whom, on the timeline; a second completion is 409; a pharmacist cannot see it.
    expect((await stack.call('POST', `/v1/tasks/${tier1!.id}/complete`, { token: pharmacist, body: { note: 'x' } })).status).toBe(404);
    const done = await json<Task>(await stack.call('POST', `/v1/tasks/${tier1!.id}/complete`, { token: coordinator, body: { note: 'called the doctor' } }), 200);
    expect(done).toMatchObject({ id: tier1!.id, status: 'done', closedBy: 'coordinator:coord-1', note: 'called the doctor', tier: 1 });
    expect((await stack.call('POST', `/v1/tasks/${tier1!.id}/complete`, { token: coordinator, body: { note: 'again' } })).status).toBe(409);
    const journey = await json(await stack.call('GET', `/v1/journeys/${journeyId}`, { token: admin }), 200);
    expect(journey.timeline.filter((e: any) => e.type === 'task.completed').map((e: any) => [e.actor, e.data])).toEqual([
      ['coordinator:coord-1', { taskId: tier1!.id, kind: 'escalation', tier: 1 }],
    ]);
    expect(journey.openTasks.map((t: Task) => t.id)).not.toContain(tier1!.id);

    // The work stays late: tier 2 still comes, as a task of its own.
    const tier2 = await waitFor(async () => mine(await tasks(coordinator)).find((t) => t.tier === 2));
    expect(tier2).toMatchObject({ id: `journey:${journeyId}:consult-start-sla:2`, status: 'open', subject: { type: 'journey', id: journeyId } });
    expect((await tasks(coordinator, '?status=done')).map((t) => t.id)).toContain(tier1!.id);

    // The patient may not end a visit; a coordinator may, before the consultation starts.
    const refused = await stack.call('POST', `/v1/journeys/${journeyId}/cancel`, { token: patient, body: { reason: 'waited too long' } });
    expect(refused.status).toBe(409);
    const ended = await json(await stack.call('POST', `/v1/journeys/${journeyId}/cancel`, { token: coordinator, body: { reason: 'doctor unavailable today' } }), 200);
    expect(ended).toMatchObject({ status: 'cancelled', phase: 'closed', step: 'done', payment: { orderId, amount: 1200, status: 'refunded' }, openTasks: [] });
    const types = ended.timeline.map((e: any) => e.type);
    expect(types.slice(-3)).toEqual(['payment.refunded', 'journey.cancelled', 'task.closed']);
    expect(ended.timeline.find((e: any) => e.type === 'payment.refunded').data).toEqual({ orderId, amount: 1200, reason: 'cancelled' });
    expect(ended.timeline.find((e: any) => e.type === 'journey.cancelled')).toMatchObject({ actor: 'coordinator:coord-1', data: { reason: 'staff', note: 'doctor unavailable today' } });
    expect(mine(await tasks(coordinator))).toEqual([]);
    expect(mine(await tasks(coordinator, '?status=cancelled')).map((t) => t.id)).toEqual([tier2!.id]);
    const [refund] = await stack.db.sql<{ amount: number; reason: string }[]>`select amount, reason from refunds where order_id = ${orderId}`;
    expect(refund).toEqual({ amount: 1200, reason: 'cancelled' });

    // The patient is told, once each, with the amount.
    const inbox = await waitFor(async () => {
      const l = (await json<{ items: { kind: string; body: string; refs: Record<string, string> }[] }>(await stack.call('GET', `/v1/patients/${patientId}/notifications`, { token: patient }), 200)).items;
      return l.some((n) => n.kind === 'journey.cancelled') ? l : undefined;
    });
    expect(inbox.filter((n) => n.kind === 'journey.cancelled')).toHaveLength(1);
    // In Chinese (the patient set no language), naming the fee and the appointment's department.
    const refunds = inbox.filter((n) => n.kind === 'payment.refunded').map((n) => n.body);
    expect(refunds).toHaveLength(1);
    expect(refunds[0]).toContain('挂号费¥12.00已退款');
    expect(refunds[0]).toContain('呼吸内科');
    // A closed journey cannot be ended twice.
    expect((await stack.call('POST', `/v1/journeys/${journeyId}/cancel`, { token: coordinator, body: { reason: 'again' } })).status).toBe(409);
  });

  it('refuses a completion with no note, an unknown task, and a task of another queue', async () => {
    expect((await stack.call('POST', '/v1/tasks/nope/complete', { token: coordinator, body: { note: 'x' } })).status).toBe(404);
    expect((await stack.call('POST', '/v1/tasks/nope/complete', { token: coordinator, body: {} })).status).toBe(400);
    const unauth = await stack.call('GET', '/v1/tasks');
    expect(unauth.status).toBe(401);
  });
});
