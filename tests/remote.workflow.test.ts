// The remoteConsultation workflow on the time-skipping server with fake activities: scheduling a
// specialist (late: escalated), changing them, the agreed time for the opinion (late: escalated), who
// may give it, and the opinion's return to the institution, retried until it is taken.
import { randomUUID } from 'node:crypto';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { REMOTE_WORKFLOW, RemoteFailureType, remoteAssignUpdate, remoteOpinionUpdate, remoteQuery, remoteWorkflowId, type RemoteInput, type RemoteTemplate } from '../workflows/definitions.js';
import type { remoteConsultation } from '../workflows/remote.js';
import type { FakeWorld } from './support/fake-activities.js';
import { refusal, waitFor, workflowHarness } from './support/workflow-harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const h = workflowHarness();
const TEMPLATE: RemoteTemplate = { id: 'test-remote', version: 1, kind: 'remote', name: 'Test', assignWithin: 'PT1H', opinionWithin: 'PT6H', escalateAfter: 'PT1H', maxEscalationTier: 2 };
const coordinator = { role: 'coordinator' as const, id: 'coord-1' };

type Handle = WorkflowHandleWithFirstExecutionRunId<typeof remoteConsultation>;

async function receive(taskQueue: string): Promise<{ handle: Handle; input: RemoteInput }> {
  const remoteId = randomUUID();
  const input: RemoteInput = { remoteId, institutionId: 'inst-1', externalRef: `ref-${remoteId}`, patientId: 'pat-1', department: 'cardiology', requestMessageId: `${remoteId}:request`, template: TEMPLATE };
  const handle = await h.env().client.workflow.start<typeof remoteConsultation>(REMOTE_WORKFLOW, { taskQueue, workflowId: remoteWorkflowId(remoteId), args: [input] });
  h.started.push(handle);
  await waitFor(async () => (await handle.query(remoteQuery)).status === 'received');
  return { handle, input };
}

const assign = (handle: Handle, doctorId: string) => handle.executeUpdate(remoteAssignUpdate, { args: [{ doctorId, actor: coordinator }] });
let n = 0;
const opinion = (handle: Handle, doctorId: string) => handle.executeUpdate(remoteOpinionUpdate, { args: [{ messageId: `op-${++n}`, doctorId }] });
const fail = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => refusal(e));
const tasksOf = (world: FakeWorld, id: string) => [...world.tasks.values()].filter((t) => t.subject.type === 'remote' && t.subject.id === id);
const types = (world: FakeWorld, id: string) => (world.timeline.get(id) ?? []).map((e) => e.type);

describe('remoteConsultation', () => {
  it('is scheduled, rescheduled, answered by its specialist only, and returned to its institution once', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, input } = await receive(taskQueue);
      const id = input.remoteId;
      expect(tasksOf(world, id)).toEqual([expect.objectContaining({ id: `remote:${id}:assign`, kind: 'remote-assign', role: 'coordinator', status: 'open' })]);
      expect(world.acceptedMessages).toEqual([input.requestMessageId]);
      expect((await assign(handle, 'doc-a')).status).toBe('assigned');
      expect((await assign(handle, 'doc-b')).doctorId).toBe('doc-b');
      expect(tasksOf(world, id).map((t) => [t.id, t.status])).toEqual([
        [`remote:${id}:assign`, 'done'],
        [`remote:${id}:opinion:doc-a`, 'cancelled'],
        [`remote:${id}:opinion:doc-b`, 'open'],
      ]);
      expect(await fail(opinion(handle, 'doc-a'))).toBe(RemoteFailureType.NotAssigned);
      await opinion(handle, 'doc-b');
      const result = await handle.result();
      expect(result).toMatchObject({ status: 'returned', doctorId: 'doc-b' });
      expect(world.remoteSends).toEqual([id]);
      expect(types(world, id)).toEqual(['remote.received', 'remote.assigned', 'remote.assigned', 'remote.answered', 'remote.returned']);
      expect(world.tasks.get(`remote:${id}:opinion:doc-b`)?.status).toBe('done');
      expect(world.acceptedMessages).toHaveLength(2);
      // The patient is told of the request and of the opinion's return, once each (patch remote-patient-notices).
      expect(world.notifyCalls.filter((x) => x.refs.remoteId === id).map((x) => [x.kind, x.patientId])).toEqual([
        ['remote.received', 'pat-1'],
        ['remote.returned', 'pat-1'],
      ]);
    });
  });

  it('escalates a specialist not scheduled in time and an opinion past the agreed time; the opinion closes them all', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, input } = await receive(taskQueue);
      const id = input.remoteId;
      await h.env().sleep(HOUR + MIN);
      await waitFor(async () => world.tasks.has(`remote:${id}:assign:1`));
      expect(world.tasks.get(`remote:${id}:assign:1`)).toMatchObject({ kind: 'escalation', role: 'coordinator', status: 'open', tier: 1, subject: { type: 'remote', id } });
      await assign(handle, 'doc-a');
      expect(world.tasks.get(`remote:${id}:assign:1`)?.status).toBe('done');
      await h.env().sleep(5 * HOUR);
      await waitFor(async () => world.tasks.has(`remote:${id}:opinion:1`));
      const answered = await opinion(handle, 'doc-a');
      expect(Date.parse(answered.answeredAt!)).toBeGreaterThan(Date.parse(answered.opinionDueBy));
      await handle.result();
      expect(world.tasks.get(`remote:${id}:opinion:1`)?.status).toBe('done');
      expect((world.timeline.get(id) ?? []).find((e) => e.type === 'remote.answered')?.data).toMatchObject({ late: true });
    });
  });

  it('keeps sending the opinion back while the institution cannot take it', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, input } = await receive(taskQueue);
      world.institutionDown.set(input.remoteId, 2);
      await assign(handle, 'doc-a');
      await opinion(handle, 'doc-a');
      const result = await handle.result();
      expect(result.status).toBe('returned');
      expect(world.remoteSends).toEqual([input.remoteId, input.remoteId, input.remoteId]);
      expect((world.timeline.get(input.remoteId) ?? []).at(-1)).toMatchObject({ type: 'remote.returned', data: { institutionId: 'inst-1', attempts: 3 } });
    });
  });
});
