// The onlineConsultation workflow on the time-skipping server with fake activities: every deadline
// (payment window, reply, take, open time, rating window), the round limit, escalations, the refund,
// and the refusals its updates answer with.
import { randomUUID } from 'node:crypto';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import {
  CONSULTATION_WORKFLOW,
  ConsultationFailureType,
  consultationMessageUpdate,
  consultationQuery,
  consultationRatingUpdate,
  consultationWorkflowId,
  paymentUpdate,
  type ConsultationInput,
  type ConsultationTemplate,
} from '../workflows/definitions.js';
import type { onlineConsultation } from '../workflows/consultation.js';
import type { FakeWorld } from './support/fake-activities.js';
import { refusal, waitFor, workflowHarness } from './support/workflow-harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const h = workflowHarness();
const patient = { role: 'patient' as const, id: 'pat-1' };
const doctor = { role: 'doctor' as const, id: 'doc-1' };
const otherDoctor = { role: 'doctor' as const, id: 'doc-2' };

const TEMPLATE: ConsultationTemplate = {
  id: 'test-consultation',
  version: 1,
  name: 'Test',
  fee: 3000,
  paymentWindow: 'PT15M',
  replyWithin: 'PT1H',
  maxEscalationTier: 2,
  takeWithin: 'PT4H',
  maxRounds: 2,
  openFor: 'P1D',
  ratingWindow: 'P2D',
};

type Handle = WorkflowHandleWithFirstExecutionRunId<typeof onlineConsultation>;

async function request(taskQueue: string, template = TEMPLATE): Promise<{ handle: Handle; input: ConsultationInput; orderId: string }> {
  const consultationId = randomUUID();
  const input: ConsultationInput = { consultationId, patientId: patient.id, doctorId: doctor.id, template, firstMessageId: `m-${consultationId}-1`, requestedBy: patient };
  const handle = await h.env().client.workflow.start<typeof onlineConsultation>(CONSULTATION_WORKFLOW, { taskQueue, workflowId: consultationWorkflowId(consultationId), args: [input] });
  h.started.push(handle);
  await waitFor(async () => (await handle.query(consultationQuery)).status === 'awaiting-payment');
  return { handle, input, orderId: `consult-${consultationId}` };
}

const pay = (handle: Handle, orderId: string) =>
  handle.executeUpdate(paymentUpdate, { args: [{ orderId, amount: TEMPLATE.fee, paidAt: new Date().toISOString(), channel: 'wechat' }] });

let n = 0;
const say = (handle: Handle, author: { role: 'patient' | 'doctor'; id: string }) => handle.executeUpdate(consultationMessageUpdate, { args: [{ messageId: `m-${++n}`, author }] });

const tasksOf = (world: FakeWorld, id: string) => [...world.tasks.values()].filter((t) => t.subject.type === 'consultation' && t.subject.id === id);
const types = (world: FakeWorld, id: string) => (world.timeline.get(id) ?? []).map((e) => e.type);

describe('onlineConsultation', () => {
  it('lapses when its fee is not paid in the payment window: the order expires, nothing is refunded', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, input, orderId } = await request(taskQueue);
      const due = world.notificationsOf('payment.due');
      expect(due).toHaveLength(1);
      expect(due[0]).toMatchObject({ patientId: patient.id, refs: { consultationId: input.consultationId }, params: { amount: 3000 } });
      expect(world.orders.get(orderId)).toMatchObject({ amount: 3000, subject: { type: 'consultation', id: input.consultationId } });
      expect(world.acceptedMessages).toEqual([input.firstMessageId]);
      // A message before the fee is paid is refused.
      expect(refusal(await say(handle, patient).catch((e: unknown) => e))).toBe(ConsultationFailureType.Unpaid);

      const result = await handle.result();
      expect(result).toMatchObject({ status: 'closed', end: 'lapsed', payment: { status: 'expired' } });
      expect(world.marks).toEqual([{ orderId, status: 'expired' }]);
      expect(world.refundCalls).toEqual([]);
      expect(types(world, input.consultationId)).toEqual(['consultation.requested', 'payment.requested', 'payment.expired', 'consultation.lapsed']);
    });
  });

  it('answered round after round: a reply task per question, the patient told of each answer, closed at the round limit, then rated', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, input, orderId } = await request(taskQueue);
      const id = input.consultationId;
      expect((await pay(handle, orderId)).outcome).toBe('paid');
      expect(world.marks).toEqual([{ orderId, status: 'paid' }]);
      const paid = await handle.query(consultationQuery);
      expect(paid.status).toBe('waiting');
      expect(tasksOf(world, id)).toEqual([
        expect.objectContaining({ id: `consult:${id}:reply:1`, kind: 'consultation-reply', role: 'doctor', assigneeId: doctor.id, status: 'open', dueAt: paid.replyDueBy }),
      ]);
      expect(Date.parse(paid.replyDueBy!) - Date.parse(paid.requestedAt)).toBeGreaterThanOrEqual(HOUR);

      // Another doctor may not answer; the consultation's doctor does.
      expect(refusal(await say(handle, otherDoctor).catch((e: unknown) => e))).toBe('not-participant');
      const first = await say(handle, doctor);
      expect(first).toMatchObject({ status: 'answered', rounds: 1, messages: { patient: 1, doctor: 1 } });
      expect(first.takenAt).toBeDefined();
      expect(Date.parse(first.closesAt!) - Date.parse(first.takenAt!)).toBe(24 * HOUR);
      expect(world.tasks.get(`consult:${id}:reply:1`)?.status).toBe('done');
      expect(world.notificationsOf('consultation.replied').map((x) => x.params)).toEqual([{ count: 1 }]);

      // A message sent again (a retried request: the same id) is counted once.
      const again = await handle.executeUpdate(consultationMessageUpdate, { args: [{ messageId: `m-${n}`, author: doctor }] });
      expect(again).toMatchObject({ rounds: 1, messages: { patient: 1, doctor: 1 } });
      expect(world.consultationTransitions.filter((t) => t.acceptMessage === `m-${n}`)).toHaveLength(1);

      // A second question opens a second reply task; its answer uses the last round and closes it.
      await say(handle, patient);
      await say(handle, patient);
      expect(world.tasks.get(`consult:${id}:reply:2`)?.status).toBe('open');
      const last = await say(handle, doctor);
      expect(last).toMatchObject({ status: 'closed', end: 'rounds-used', rounds: 2, messages: { patient: 3, doctor: 2 } });
      expect(world.tasks.get(`consult:${id}:reply:2`)?.status).toBe('done');
      expect(world.notificationsOf('consultation.closed').map((x) => x.params)).toEqual([{ count: 2, end: 'rounds-used' }]);
      expect(refusal(await say(handle, patient).catch((e: unknown) => e))).toBe(ConsultationFailureType.Closed);

      // Rated once, by the patient only.
      expect(refusal(await handle.executeUpdate(consultationRatingUpdate, { args: [{ score: 5, actor: doctor }] }).catch((e: unknown) => e))).toBe('not-participant');
      expect((await handle.executeUpdate(consultationRatingUpdate, { args: [{ score: 4, actor: patient }] })).rating).toBe(4);
      const result = await handle.result();
      expect(result.rating).toBe(4);
      expect(types(world, id).filter((t) => t === 'consultation.message')).toHaveLength(4);
      expect(types(world, id).slice(-2)).toEqual(['consultation.closed', 'consultation.rated']);
      expect(world.acceptedMessages).toHaveLength(5);
      expect(world.refundCalls).toEqual([]);
    });
  });

  it('escalates a question left unanswered, tier after tier, and closes the escalations with the answer', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, input, orderId } = await request(taskQueue, { ...TEMPLATE, takeWithin: 'PT12H' });
      const id = input.consultationId;
      await pay(handle, orderId);
      await h.env().sleep(HOUR + MIN);
      await waitFor(async () => world.tasks.has(`consult:${id}:reply-sla:1:1`));
      expect(world.tasks.get(`consult:${id}:reply-sla:1:1`)).toMatchObject({ kind: 'escalation', role: 'coordinator', status: 'open', tier: 1, subject: { type: 'consultation', id } });
      await h.env().sleep(HOUR);
      await waitFor(async () => world.tasks.has(`consult:${id}:reply-sla:1:2`));
      // The template's last tier is 2: no third however long it waits.
      await h.env().sleep(3 * HOUR);
      expect(tasksOf(world, id).filter((t) => t.kind === 'escalation').map((t) => t.tier)).toEqual([1, 2]);
      await say(handle, doctor);
      expect(tasksOf(world, id).map((t) => [t.id, t.status])).toEqual([
        [`consult:${id}:reply:1`, 'done'],
        [`consult:${id}:reply-sla:1:1`, 'done'],
        [`consult:${id}:reply-sla:1:2`, 'done'],
      ]);
      expect(types(world, id).filter((t) => t === 'task.escalated' || t === 'task.closed')).toEqual(['task.escalated', 'task.escalated', 'task.closed', 'task.closed']);
      expect(world.refundCalls).toEqual([]);
    });
  });

  it('refunds and closes a paid consultation the doctor never answered, and takes no rating', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, input, orderId } = await request(taskQueue);
      const id = input.consultationId;
      await pay(handle, orderId);
      const result = await handle.result();
      expect(result).toMatchObject({ status: 'closed', end: 'not-taken', rounds: 0, payment: { status: 'refunded' } });
      expect(world.refundCalls).toEqual([{ orderId, amount: 3000, reason: 'not-taken' }]);
      expect(world.notificationsOf('payment.refunded')).toEqual([expect.objectContaining({ id: `consult:${id}:payment.refunded:${orderId}`, params: { amount: 3000 } })]);
      expect(world.notificationsOf('consultation.closed')).toEqual([]);
      // The reply task and both escalation tiers (1 h and 2 h late) are cancelled with it.
      expect(tasksOf(world, id).map((t) => [t.id, t.status])).toEqual([
        [`consult:${id}:reply:1`, 'cancelled'],
        [`consult:${id}:reply-sla:1:1`, 'cancelled'],
        [`consult:${id}:reply-sla:1:2`, 'cancelled'],
      ]);
      expect(types(world, id).slice(-4)).toEqual(['payment.refunded', 'task.closed', 'task.closed', 'consultation.closed']);
    });
  });

  it('closes when its open time is up, cancelling a question left waiting; the rating window then ends the workflow', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, input, orderId } = await request(taskQueue, { ...TEMPLATE, maxRounds: 5, maxEscalationTier: 1 });
      const id = input.consultationId;
      await pay(handle, orderId);
      await say(handle, doctor);
      await say(handle, patient);
      const result = await handle.result();
      expect(result).toMatchObject({ status: 'closed', end: 'time-up', rounds: 1 });
      expect(result.rating).toBeUndefined();
      expect(Date.parse(result.closedAt!) - Date.parse(result.takenAt!)).toBeGreaterThanOrEqual(24 * HOUR);
      expect(Date.parse(result.ratingDueBy!) - Date.parse(result.closedAt!)).toBe(48 * HOUR);
      expect(world.tasks.get(`consult:${id}:reply:2`)?.status).toBe('cancelled');
      expect(world.tasks.get(`consult:${id}:reply-sla:2:1`)?.status).toBe('cancelled');
      expect(world.notificationsOf('consultation.closed').map((x) => x.params)).toEqual([{ count: 1, end: 'time-up' }]);
      expect(world.refundCalls).toEqual([]);
    });
  });

  it('takes a repeated payment once, and is not rated before it closes', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, orderId } = await request(taskQueue);
      expect((await pay(handle, orderId)).outcome).toBe('paid');
      expect((await pay(handle, orderId)).outcome).toBe('unchanged');
      expect(world.marks).toEqual([{ orderId, status: 'paid' }]);
      expect(refusal(await handle.executeUpdate(consultationRatingUpdate, { args: [{ score: 3, actor: patient }] }).catch((e: unknown) => e))).toBe(ConsultationFailureType.NotRateable);
    });
  });
});
