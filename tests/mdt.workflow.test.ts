// The multidisciplinaryConsultation workflow on the time-skipping server with fake activities: the
// quorum, who may give an opinion and conclude, a late specialist reminded then escalated tier after
// tier, a late conclusion escalated, and an MDT that expires.
import { randomUUID } from 'node:crypto';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { MDT_WORKFLOW, MdtFailureType, mdtConclusionUpdate, mdtOpinionUpdate, mdtQuery, mdtWorkflowId, type MdtInput, type MdtTemplate } from '../workflows/definitions.js';
import type { multidisciplinaryConsultation } from '../workflows/mdt.js';
import type { FakeWorld } from './support/fake-activities.js';
import { refusal, waitFor, workflowHarness } from './support/workflow-harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const h = workflowHarness();
const TEMPLATE: MdtTemplate = { id: 'test-mdt', version: 1, kind: 'mdt', name: 'Test MDT', opinionWithin: 'PT1H', escalateAfter: 'PT30M', maxEscalationTier: 2, concludeWithin: 'PT3H', expireAfter: 'P1D' };
const CONVENER = 'doc-convener';
const SPECIALISTS = ['doc-cardio', 'doc-neuro', 'doc-endo'];

type Handle = WorkflowHandleWithFirstExecutionRunId<typeof multidisciplinaryConsultation>;

async function convene(taskQueue: string, over: Partial<MdtInput> = {}): Promise<{ handle: Handle; input: MdtInput }> {
  const mdtId = randomUUID();
  const input: MdtInput = { mdtId, patientId: 'pat-1', convenerId: CONVENER, specialists: SPECIALISTS, quorum: 2, template: TEMPLATE, caseMessageId: `${mdtId}:case`, ...over };
  const handle = await h.env().client.workflow.start<typeof multidisciplinaryConsultation>(MDT_WORKFLOW, { taskQueue, workflowId: mdtWorkflowId(mdtId), args: [input] });
  h.started.push(handle);
  await waitFor(async () => (await handle.query(mdtQuery)).status === 'open');
  return { handle, input };
}

let n = 0;
const opinion = (handle: Handle, doctorId: string) => handle.executeUpdate(mdtOpinionUpdate, { args: [{ messageId: `op-${++n}`, doctorId }] });
const conclude = (handle: Handle, doctorId: string) => handle.executeUpdate(mdtConclusionUpdate, { args: [{ messageId: `cc-${++n}`, doctorId }] });
const fail = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => refusal(e));
const tasksOf = (world: FakeWorld, id: string) => [...world.tasks.values()].filter((t) => t.subject.type === 'mdt' && t.subject.id === id);
const types = (world: FakeWorld, id: string) => (world.timeline.get(id) ?? []).map((e) => e.type);

describe('multidisciplinaryConsultation', () => {
  it('invites each specialist with a task, takes one opinion each from the invited only, and refuses a conclusion before the quorum or by another doctor', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, input } = await convene(taskQueue);
      const id = input.mdtId;
      const convened = await handle.query(mdtQuery);
      expect(tasksOf(world, id).map((t) => [t.id, t.kind, t.assigneeId, t.status])).toEqual([
        ...SPECIALISTS.map((d) => [`mdt:${id}:opinion:${d}`, 'mdt-opinion', d, 'open']),
        [`mdt:${id}:conclusion`, 'mdt-conclusion', CONVENER, 'open'],
      ]);
      expect(Date.parse(convened.specialists[0]!.dueBy) - Date.parse(convened.convenedAt)).toBe(HOUR);
      expect(world.acceptedMessages).toEqual([input.caseMessageId]);
      // The patient is told it was convened, with how many specialists (patch mdt-convened-notice).
      expect(world.notificationsOf('mdt.convened')).toEqual([expect.objectContaining({ id: `mdt:${id}:mdt.convened:convened`, patientId: 'pat-1', refs: { mdtId: id }, params: { count: 3 } })]);

      expect(await fail(conclude(handle, CONVENER))).toBe(MdtFailureType.QuorumNotMet);
      expect(await fail(opinion(handle, 'doc-outsider'))).toBe(MdtFailureType.NotInvited);
      expect((await opinion(handle, 'doc-cardio')).opinions).toBe(1);
      expect(await fail(opinion(handle, 'doc-cardio'))).toBe(MdtFailureType.OpinionGiven);
      expect(await fail(conclude(handle, CONVENER))).toBe(MdtFailureType.QuorumNotMet);
      expect((await opinion(handle, 'doc-neuro')).opinions).toBe(2);
      // The quorum is in: still only the convener concludes.
      expect(await fail(conclude(handle, 'doc-cardio'))).toBe(MdtFailureType.NotConvener);
      const done = await conclude(handle, CONVENER);
      expect(done).toMatchObject({ status: 'concluded', opinions: 2 });
      // Concluded, the workflow ends: nothing more reaches it (the API answers 409 mdt-closed).
      const result = await handle.result();
      expect(result.specialists.map((s) => [s.doctorId, s.status])).toEqual([['doc-cardio', 'submitted'], ['doc-neuro', 'submitted'], ['doc-endo', 'invited']]);
      expect(tasksOf(world, id).map((t) => [t.id, t.status])).toEqual([
        [`mdt:${id}:opinion:doc-cardio`, 'done'],
        [`mdt:${id}:opinion:doc-neuro`, 'done'],
        [`mdt:${id}:opinion:doc-endo`, 'cancelled'],
        [`mdt:${id}:conclusion`, 'done'],
      ]);
      expect(types(world, id)).toEqual(['mdt.convened', 'mdt.opinion', 'mdt.opinion', 'mdt.concluded']);
      expect(world.notificationsOf('mdt.concluded')).toEqual([expect.objectContaining({ patientId: 'pat-1', refs: { mdtId: id }, params: { count: 2 } })]);
      // The case, two opinions and the conclusion: nothing refused was accepted.
      expect(world.acceptedMessages).toHaveLength(4);
    });
  });

  it('reminds a late specialist at the deadline, then asks coordinators every escalateAfter up to the last tier; the opinion closes them', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, input } = await convene(taskQueue, { specialists: ['doc-cardio'], quorum: 1 });
      const id = input.mdtId;
      await h.env().sleep(HOUR + MIN);
      await waitFor(async () => (await handle.query(mdtQuery)).specialists[0]!.status === 'reminded');
      const reminded = await handle.query(mdtQuery);
      expect(Date.parse(reminded.specialists[0]!.dueBy) - Date.parse(reminded.convenedAt)).toBeGreaterThanOrEqual(HOUR + 30 * MIN);
      expect(world.tasks.get(`mdt:${id}:opinion:doc-cardio`)).toMatchObject({ status: 'open', tier: 2, dueAt: reminded.specialists[0]!.dueBy });
      expect(tasksOf(world, id).filter((t) => t.kind === 'escalation')).toEqual([]);
      await h.env().sleep(30 * MIN);
      await waitFor(async () => world.tasks.has(`mdt:${id}:opinion:doc-cardio:1`));
      expect(world.tasks.get(`mdt:${id}:opinion:doc-cardio:1`)).toMatchObject({ kind: 'escalation', role: 'coordinator', status: 'open', subject: { type: 'mdt', id } });
      await h.env().sleep(30 * MIN);
      await waitFor(async () => world.tasks.has(`mdt:${id}:opinion:doc-cardio:2`));
      await opinion(handle, 'doc-cardio');
      expect(tasksOf(world, id).filter((t) => t.id.startsWith(`mdt:${id}:opinion:doc-cardio`)).map((t) => [t.id, t.status])).toEqual([
        [`mdt:${id}:opinion:doc-cardio`, 'done'],
        [`mdt:${id}:opinion:doc-cardio:1`, 'done'],
        [`mdt:${id}:opinion:doc-cardio:2`, 'done'],
      ]);
      expect(types(world, id)).toEqual(['mdt.convened', 'mdt.reminded', 'task.escalated', 'task.escalated', 'mdt.opinion', 'task.closed', 'task.closed']);
      await conclude(handle, CONVENER);
      await handle.result();
    });
  });

  it('escalates a late conclusion and expires an MDT never concluded, cancelling what was open', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, input } = await convene(taskQueue, { specialists: ['doc-cardio', 'doc-neuro'], quorum: 1 });
      const id = input.mdtId;
      await opinion(handle, 'doc-cardio');
      const result = await handle.result();
      expect(result.status).toBe('expired');
      expect(Date.parse(result.expiresAt) - Date.parse(result.convenedAt)).toBe(24 * HOUR);
      // Both escalation tiers of the conclusion (3 h, 3.5 h), and the late neurologist's (reminded at 1 h, tiers at 1.5 h and 2 h).
      const all = tasksOf(world, id);
      expect(all.filter((t) => t.kind === 'escalation').map((t) => [t.id, t.status]).sort()).toEqual(
        [
          [`mdt:${id}:conclusion:1`, 'cancelled'],
          [`mdt:${id}:conclusion:2`, 'cancelled'],
          [`mdt:${id}:opinion:doc-neuro:1`, 'cancelled'],
          [`mdt:${id}:opinion:doc-neuro:2`, 'cancelled'],
        ].sort(),
      );
      expect(world.tasks.get(`mdt:${id}:conclusion`)?.status).toBe('cancelled');
      expect(world.tasks.get(`mdt:${id}:opinion:doc-neuro`)?.status).toBe('cancelled');
      expect(world.tasks.get(`mdt:${id}:opinion:doc-cardio`)?.status).toBe('done');
      expect(types(world, id).at(-5)).toBe('mdt.expired');
      expect(world.notificationsOf('mdt.concluded')).toEqual([]);
    });
  });
});
