// referral on the time-skipping server: sent once through the facility adapter, accepted with
// reminders before the appointment and then attended, declined with a coordinator task, unanswered
// (tier 1 at the SLA, expired at twice the SLA with a tier-2 task), attendance reported late or never,
// and a facility whose webhook is down.
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import {
  REFERRAL_WORKFLOW,
  referralAttendedUpdate,
  referralQuery,
  referralResponseUpdate,
  referralWorkflowId,
  type ReferralInput,
  type ReferralResponseInput,
} from '../workflows/definitions.js';
import type { referral } from '../workflows/referral.js';
import type { FakeWorld } from './support/fake-activities.js';
import { refusal, waitFor, workflowHarness } from './support/workflow-harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const SLA = 2 * DAY; // the default referralResponseSla
const h = workflowHarness();
const FACILITY = 'ruijin';
const refs = (id: string) => ({ journeyId: 'journey-1', referralId: id });

type Handle = WorkflowHandle<typeof referral>;

/** Starts a referral; waits until it is sent (or, with the facility down, until the send was tried). */
async function startReferral(world: FakeWorld, taskQueue: string, over: Partial<ReferralInput> = {}): Promise<{ handle: Handle; id: string; t0: number }> {
  const id = randomUUID();
  const input: ReferralInput = {
    referralId: id,
    journeyId: 'journey-1',
    patientId: 'pat-1',
    facilityId: FACILITY,
    department: 'cardiology',
    reason: 'coronary angiography',
    urgency: 'urgent',
    diagnosis: 'unstable angina',
    timings: { pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D', paymentWindow: 'PT15M', appointmentReminders: ['P1D', 'PT1H'] },
    ...over,
  };
  const t0 = await h.env().currentTimeMs();
  const handle = await h.env().client.workflow.start<typeof referral>(REFERRAL_WORKFLOW, { taskQueue, workflowId: referralWorkflowId(id), args: [input] });
  h.started.push(handle);
  if (world.facilityDown) await waitFor(async () => world.sendReferralCalls.includes(id));
  else await waitFor(async () => world.events(id, 'referral.sent').length === 1);
  return { handle, id, t0 };
}

const respond = (handle: Handle, r: Omit<ReferralResponseInput, 'actor'>, actor = 'facility:ruijin') => handle.executeUpdate(referralResponseUpdate, { args: [{ ...r, actor }] });
const attended = (handle: Handle) =>
  handle.executeUpdate(referralAttendedUpdate, { args: [{ summary: 'Angiography: 70% LAD stenosis, stent placed', actor: 'coordinator:coord-1' }] });
const inFuture = async (ms: number) => new Date(Math.ceil(((await h.env().currentTimeMs()) + ms) / MIN) * MIN).toISOString();

async function timersStarted(handle: WorkflowHandle): Promise<number> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).filter((e) => e.timerStartedEventAttributes).length;
}

/** Free text (the facility's note, the attendance summary) is kept on the referral, never in its events. */
function expectNoFreeTextInEvents(world: FakeWorld, id: string): void {
  const events = JSON.stringify(world.projected.get(id) ?? []);
  expect(events).not.toContain('stent');
  expect(events).not.toContain('fully booked');
}

describe('referral', () => {
  it('is sent once, accepted with an appointment, reminds before it, and closes when attended', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startReferral(world, taskQueue);
      expect(world.sendReferralCalls).toEqual([id]);
      expect(world.events(id, 'referral.sent').map((e) => [e.actor, e.data])).toEqual([['system', { facilityId: FACILITY, via: 'webhook' }]]);
      expect(await handle.query(referralQuery)).toMatchObject({ status: 'sent', facilityId: FACILITY, department: 'cardiology', urgency: 'urgent' });
      // The first projection (before the send) carried no patient name: there is none in this workflow.
      expect(world.items.get(id)).toMatchObject({ id, status: 'sent' });

      await expect(attended(handle)).rejects.toSatisfy((e) => refusal(e) === 'invalid-state');
      await expect(respond(handle, { decision: 'accepted' })).rejects.toSatisfy((e) => refusal(e) === 'invalid-appointment');
      await expect(respond(handle, { decision: 'accepted', appointmentAt: new Date((await h.env().currentTimeMs()) - MIN).toISOString() })).rejects.toSatisfy(
        (e) => refusal(e) === 'invalid-appointment',
      );

      const appointmentAt = await inFuture(3 * DAY);
      const accepted = await respond(handle, { decision: 'accepted', appointmentAt, note: 'bring prior ECGs' });
      expect(accepted).toMatchObject({ status: 'accepted', appointmentAt, note: 'bring prior ECGs' });
      expect(world.events(id, 'referral.accepted').map((e) => [e.actor, e.data])).toEqual([['facility:ruijin', { appointmentAt, by: 'facility:ruijin' }]]);
      expect(world.notificationsOf('referral.accepted').map((n) => [n.id, n.refs, n.params])).toEqual([
        [`referral:${id}:referral.accepted:accepted`, refs(id), { appointmentAt }],
      ]);
      await expect(respond(handle, { decision: 'declined' })).rejects.toSatisfy((e) => refusal(e) === 'invalid-state');

      await h.env().sleep(Date.parse(appointmentAt) - (await h.env().currentTimeMs()) - 10 * MIN);
      const reminders = world.events(id, 'reminder.sent');
      expect(reminders.map((e) => e.data)).toEqual([{ offset: 'P1D', start: appointmentAt }, { offset: 'PT1H', start: appointmentAt }]);
      expect(Math.abs(Date.parse(reminders[0]!.at) - (Date.parse(appointmentAt) - DAY))).toBeLessThan(2000);
      expect(Math.abs(Date.parse(reminders[1]!.at) - (Date.parse(appointmentAt) - HOUR))).toBeLessThan(2000);
      expect(world.notificationsOf('appointment.reminder').map((n) => [n.refs, n.params])).toEqual([
        [refs(id), { start: appointmentAt, offset: 'P1D' }],
        [refs(id), { start: appointmentAt, offset: 'PT1H' }],
      ]);

      const done = await attended(handle);
      expect(done).toMatchObject({ status: 'attended', summary: 'Angiography: 70% LAD stenosis, stent placed' });
      expect(world.events(id, 'referral.attended').map((e) => [e.actor, e.data])).toEqual([['coordinator:coord-1', { by: 'coordinator:coord-1' }]]);
      expect(await handle.result()).toMatchObject({ status: 'attended' });
      expect(world.types(id)).toEqual(['referral.sent', 'referral.accepted', 'reminder.sent', 'reminder.sent', 'referral.attended']);
      expect(world.sendReferralCalls).toEqual([id]);
      expect([...world.tasks.values()]).toEqual([]);
      expectNoFreeTextInEvents(world, id);
      const ids = world.notifyCalls.map((n) => n.id);
      expect(new Set(ids).size).toBe(ids.length);
    });
  });

  it('opens a coordinator task when the facility declines, keeping its note off the timeline', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startReferral(world, taskQueue);
      const now = await h.env().currentTimeMs();
      const declined = await respond(handle, { decision: 'declined', note: 'cardiology fully booked this month' }, 'coordinator:coord-1');
      expect(declined).toMatchObject({ status: 'declined', note: 'cardiology fully booked this month' });
      const task = world.tasks.get(`referral:${id}:declined`)!;
      expect(task).toMatchObject({ kind: 'referral-declined', role: 'coordinator', status: 'open', subject: { type: 'referral', id }, tier: 0 });
      expect(task.action).toMatch(/another facility/);
      expect(Math.abs(Date.parse(task.dueAt) - (now + DAY))).toBeLessThan(3000);
      expect(world.events(id, 'referral.declined').map((e) => [e.actor, e.data])).toEqual([['coordinator:coord-1', { by: 'coordinator:coord-1' }]]);
      expect(world.events(id, 'task.created').map((e) => e.data)).toEqual([{ taskId: task.id, kind: 'referral-declined' }]);
      expect(world.notificationsOf('referral.declined').map((n) => [n.id, n.refs])).toEqual([[`referral:${id}:referral.declined:declined`, refs(id)]]);
      expect(await handle.result()).toMatchObject({ status: 'declined' });
      expectNoFreeTextInEvents(world, id);
    });
  });

  it('escalates an unanswered referral at the SLA and expires it at twice the SLA with a task to find another facility', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id, t0 } = await startReferral(world, taskQueue);
      await h.env().sleep(SLA - MIN);
      expect(world.events(id, 'task.escalated')).toEqual([]);
      await h.env().sleep(2 * MIN);
      const tier1 = world.tasks.get(`referral:${id}:response-sla:1`)!;
      expect(tier1).toMatchObject({ kind: 'escalation', role: 'coordinator', status: 'open', subject: { type: 'referral', id }, tier: 1 });
      expect(Math.abs(Date.parse(tier1.dueAt) - (t0 + SLA))).toBeLessThan(3000);
      expect((await handle.query(referralQuery)).status).toBe('sent');

      await h.env().sleep(SLA);
      expect(await handle.result()).toMatchObject({ status: 'expired' });
      expect(world.events(id, 'referral.expired').map((e) => e.data)).toEqual([{ reason: 'unanswered' }]);
      const escalated = world.events(id, 'task.escalated');
      expect(escalated.map((e) => e.data)).toEqual([
        { taskId: `referral:${id}:response-sla:1`, kind: 'escalation', subject: { type: 'referral', id }, tier: 1 },
        { taskId: `referral:${id}:response-sla:2`, kind: 'escalation', subject: { type: 'referral', id }, tier: 2 },
      ]);
      escalated.forEach((e, i) => expect(Math.abs(Date.parse(e.at) - (t0 + (i + 1) * SLA))).toBeLessThan(3000));
      expect(world.tasks.get(tier1.id)!.status).toBe('cancelled');
      const tier2 = world.tasks.get(`referral:${id}:response-sla:2`)!;
      expect(tier2).toMatchObject({ kind: 'escalation', role: 'coordinator', status: 'open', subject: { type: 'referral', id }, tier: 2 });
      expect(tier2.action).toMatch(/find another facility/);
      expect(Math.abs(Date.parse(tier2.dueAt) - (t0 + 2 * SLA))).toBeLessThan(3000);
      await expect(respond(handle, { decision: 'declined' })).rejects.toThrow();
    });
  });

  it('takes the pathway’s own response SLA', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const timings = { pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D', paymentWindow: 'PT15M', appointmentReminders: [], referralResponseSla: 'PT4H' };
      const { handle, id } = await startReferral(world, taskQueue, { timings });
      await h.env().sleep(4 * HOUR + MIN);
      expect(world.events(id, 'task.escalated').map((e) => e.data.tier)).toEqual([1]);
      await h.env().sleep(4 * HOUR);
      expect(await handle.result()).toMatchObject({ status: 'expired' });
    });
  });

  it('escalates attendance not reported by the appointment + SLA; reporting it then closes the escalation', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startReferral(world, taskQueue);
      await h.env().sleep(DAY + MIN); // answered late, but before the tier-1 deadline
      const appointmentAt = await inFuture(2 * HOUR);
      await respond(handle, { decision: 'accepted', appointmentAt });
      expect(world.events(id, 'reminder.sent')).toEqual([]);
      await h.env().sleep(2 * HOUR + SLA + MIN);
      expect(world.events(id, 'reminder.sent').map((e) => e.data.offset)).toEqual(['PT1H']); // 1 day before had passed when accepted
      const tier1 = world.tasks.get(`referral:${id}:attendance-sla:1`)!;
      expect(tier1).toMatchObject({ kind: 'escalation', role: 'coordinator', status: 'open', subject: { type: 'referral', id }, tier: 1 });
      expect(Math.abs(Date.parse(tier1.dueAt) - (Date.parse(appointmentAt) + SLA))).toBeLessThan(3000);
      expect(world.tasks.get(`referral:${id}:response-sla:1`)).toBeUndefined();

      await attended(handle);
      expect(world.tasks.get(tier1.id)!.status).toBe('done');
      expect(world.events(id, 'task.closed').map((e) => e.data)).toEqual([{ taskId: tier1.id, status: 'done' }]);
      expect(await handle.result()).toMatchObject({ status: 'attended' });
      expect(world.events(id, 'referral.expired')).toEqual([]);
    });
  });

  it('expires when attendance is never reported, at the appointment + twice the SLA, then starts no timer', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, id } = await startReferral(world, taskQueue);
      const appointmentAt = await inFuture(HOUR + 30 * MIN);
      await respond(handle, { decision: 'accepted', appointmentAt });
      await h.env().sleep(Date.parse(appointmentAt) + 2 * SLA + MIN - (await h.env().currentTimeMs()));
      expect(await handle.result()).toMatchObject({ status: 'expired', appointmentAt });
      expect(world.events(id, 'referral.expired').map((e) => e.data)).toEqual([{ reason: 'not-attended' }]);
      expect(world.events(id, 'task.escalated').map((e) => [e.data.taskId, e.data.tier])).toEqual([
        [`referral:${id}:attendance-sla:1`, 1],
        [`referral:${id}:attendance-sla:2`, 2],
      ]);
      expect(world.tasks.get(`referral:${id}:attendance-sla:1`)!.status).toBe('cancelled');
      expect(world.tasks.get(`referral:${id}:attendance-sla:2`)).toMatchObject({ status: 'open', tier: 2, role: 'coordinator' });
      // One timer per deadline: the response's tier 1 and expiry, the PT1H reminder, attendance's tier 1 and expiry.
      expect(await timersStarted(handle)).toBe(5);
    });
  });

  it('expires a referral the facility’s webhook never takes, and gives up sending it', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      world.facilityDown = true;
      // A short SLA: skipped time replays the adapter's retries (at most 30 s apart) one after another.
      const timings = { pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D', paymentWindow: 'PT15M', appointmentReminders: [], referralResponseSla: 'PT1M' };
      const { handle, id } = await startReferral(world, taskQueue, { timings });
      expect((await handle.query(referralQuery)).status).toBe('sending');
      await h.env().sleep(2 * MIN + 1000);
      expect(await handle.result()).toMatchObject({ status: 'expired' });
      expect(world.events(id, 'referral.expired').map((e) => e.data)).toEqual([{ reason: 'unanswered' }]);
      expect(world.events(id, 'referral.sent')).toEqual([]);
      expect(world.referralsSent.has(id)).toBe(false);
      const calls = world.sendReferralCalls.length;
      await new Promise((r) => setTimeout(r, 1500));
      expect(world.sendReferralCalls.length).toBe(calls); // no attempt after the expiry
    });
  });

  it('takes an answer that arrives before the send is recorded (the facility answers at once, or by phone)', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      world.facilityDown = true;
      const { handle, id } = await startReferral(world, taskQueue);
      const appointmentAt = await inFuture(3 * DAY);
      expect(await respond(handle, { decision: 'accepted', appointmentAt }, 'coordinator:coord-1')).toMatchObject({ status: 'accepted', appointmentAt });
      world.facilityDown = false; // the adapter's next retry gets through
      await waitFor(async () => world.events(id, 'referral.sent').length === 1, 45_000);
      expect((await handle.query(referralQuery)).status).toBe('accepted');
      await attended(handle);
      expect(await handle.result()).toMatchObject({ status: 'attended' });
      expect(world.referralsSent.has(id)).toBe(true);
      expect(world.types(id)).toEqual(['referral.accepted', 'referral.sent', 'referral.attended']);
    });
  });
});
