// Consent (issue 10, rule 6) on the time-skipping server with the fake activities, which keep consent
// as activities/consent.ts does (tests/support/fake-activities.ts: `setConsent`, `store`):
// - record sharing withdrawn: a referral not yet sent is cancelled at its next attempt and never sent;
// - outreach withdrawn mid-course: the next reminder tick stores and delivers nothing, the timeline
//   says why once, transactional notices still go, and consent given back resumes the ticks after it.
// What a workflow asked for is in `notifyCalls`; what reached the patient is what was stored
// (`notifications`) and delivered (`delivered`); `withheld` is what the store refused.
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import pathways from '../db/seed/pathways.json' with { type: 'json' };
import templates from '../db/seed/program-templates.json' with { type: 'json' };
import {
  CARE_PROGRAM_WORKFLOW,
  PATIENT_JOURNEY_WORKFLOW,
  PRESCRIPTION_WORKFLOW,
  REFERRAL_WORKFLOW,
  bookUpdate,
  cancelUpdate,
  courierUpdate,
  journeyWorkflowId,
  paymentReceivedSignal,
  paymentUpdate,
  prescriptionQuery,
  prescriptionWorkflowId,
  programDoseUpdate,
  programQuery,
  programWorkflowId,
  referralQuery,
  referralWorkflowId,
  reviewUpdate,
  snapshotQuery,
  triagedUpdate,
  type JourneyInput,
  type PathwayTemplate,
  type PrescriptionInput,
  type ProgramInput,
  type ProgramTemplate,
  type ReferralInput,
  type TimelineEvent,
} from '../workflows/definitions.js';
import type { careProgram } from '../workflows/care-program.js';
import type { patientJourney } from '../workflows/patient-journey.js';
import type { prescriptionFulfillment } from '../workflows/prescription.js';
import type { referral } from '../workflows/referral.js';
import { sleepUntilHour } from './support/clock.js';
import type { FakeWorld } from './support/fake-activities.js';
import { waitFor, workflowHarness } from './support/workflow-harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const h = workflowHarness();
const patientActor = { role: 'patient' as const, id: 'pat-1' };
const coordinator = { role: 'coordinator' as const, id: 'coord-1' };
const now = () => h.env().currentTimeMs();
const outreachEvents = (world: FakeWorld, id: string): TimelineEvent[] => (world.timeline.get(id) ?? []).filter((e) => e.type.startsWith('outreach.'));
/** The notifications stored for the patient (the inbox), by kind. */
const stored = (world: FakeWorld, kind: string, ref: (refs: Record<string, string>) => boolean = () => true) =>
  [...world.notifications.values()].filter((n) => n.kind === kind && ref(n.refs));

// ---- record sharing: referrals ------------------------------------------------------------------

async function startReferral(taskQueue: string): Promise<{ handle: WorkflowHandle<typeof referral>; id: string }> {
  const id = randomUUID();
  const input: ReferralInput = {
    referralId: id,
    journeyId: 'journey-1',
    patientId: 'pat-1',
    facilityId: 'ruijin',
    department: 'cardiology',
    reason: 'coronary angiography',
    urgency: 'urgent',
    diagnosis: 'unstable angina',
    timings: { pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D', paymentWindow: 'PT15M', appointmentReminders: ['P1D'] },
  };
  const handle = await h.env().client.workflow.start<typeof referral>(REFERRAL_WORKFLOW, { taskQueue, workflowId: referralWorkflowId(id), args: [input] });
  h.started.push(handle);
  return { handle, id };
}

describe('consent: record sharing', () => {
  it('cancels a referral whose patient withdrew consent before it was sent: never sent, its timeline names consent-withdrawn', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      world.setConsent('pat-1', 'record-sharing', false);
      const { handle, id } = await startReferral(taskQueue);
      expect(await handle.result()).toMatchObject({ status: 'cancelled' });
      // One attempt, and the adapter sent nothing in it.
      expect(world.sendReferralCalls).toEqual([id]);
      expect(world.referralsSent.size).toBe(0);
      expect(world.types(id)).toEqual(['referral.cancelled']);
      expect(world.events(id, 'referral.cancelled').map((e) => [e.actor, e.data])).toEqual([['system', { reason: 'consent-withdrawn', scope: 'record-sharing' }]]);
      expect(world.items.get(id)).toMatchObject({ id, status: 'cancelled' });
      expect([...world.tasks.values()]).toEqual([]);
      expect(world.notifyCalls).toEqual([]);
    });
  });

  it('stops a referral that is being retried against a facility that is down at the attempt after the withdrawal', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      world.facilityDown = true;
      const { handle, id } = await startReferral(taskQueue);
      await waitFor(async () => world.sendReferralCalls.length >= 1);
      expect((await handle.query(referralQuery)).status).toBe('sending');
      world.setConsent('pat-1', 'record-sharing', false);
      // The facility comes back too: only the consent stops the send. Retries are at most 30 s apart.
      world.facilityDown = false;
      await h.env().sleep(MIN);
      expect(await handle.result()).toMatchObject({ status: 'cancelled' });
      expect(world.sendReferralCalls.length).toBeGreaterThanOrEqual(2);
      expect(world.referralsSent.size).toBe(0);
      expect(world.events(id, 'referral.sent')).toEqual([]);
      expect(world.events(id, 'referral.cancelled').map((e) => e.data)).toEqual([{ reason: 'consent-withdrawn', scope: 'record-sharing' }]);
      const calls = world.sendReferralCalls.length;
      await new Promise((r) => setTimeout(r, 1000));
      expect(world.sendReferralCalls.length).toBe(calls); // no attempt after the cancellation
    });
  });

  it('control: consent withdrawn and given back before the send: the referral is sent as usual', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      world.setConsent('pat-1', 'record-sharing', false);
      world.setConsent('pat-1', 'record-sharing', true);
      const { handle, id } = await startReferral(taskQueue);
      await waitFor(async () => world.events(id, 'referral.sent').length === 1);
      expect((await handle.query(referralQuery)).status).toBe('sent');
      expect([...world.referralsSent]).toEqual([id]);
      expect(world.events(id, 'referral.cancelled')).toEqual([]);
    });
  });
});

// ---- outreach -------------------------------------------------------------------------------------

describe('consent: outreach', () => {
  it("journey: the reminder after the withdrawal is withheld, the timeline says why once, and the cancellation's notices still go", async () => {
    await h.withWorker(
      async ({ world, taskQueue }) => {
        const journeyId = randomUUID();
        const input: JourneyInput = { journeyId, patientId: 'pat-1', mode: 'offline', complaint: '咳嗽一周，有痰', pathway: pathways[0] as PathwayTemplate, startedBy: patientActor };
        const handle = await h.env().client.workflow.start<typeof patientJourney>(PATIENT_JOURNEY_WORKFLOW, { taskQueue, workflowId: journeyWorkflowId(journeyId), args: [input] });
        h.started.push(handle);
        await handle.executeUpdate(triagedUpdate);
        const slotId = randomUUID();
        const start = (await now()) + 2 * DAY;
        world.addSlot({ id: slotId, doctorId: 'doc-1', department: 'respiratory', mode: 'offline', start, remaining: 3 });
        const booked = await handle.executeUpdate(bookUpdate, { args: [{ slotId, actor: patientActor }] });
        const orderId = booked.payment!.orderId;
        await handle.signal(paymentReceivedSignal, { orderId, amount: 1500, paidAt: new Date().toISOString(), channel: 'wechat' });
        await waitFor(async () => (await handle.query(snapshotQuery)).payment?.status === 'paid');

        // The P1D reminder goes out; then the patient withdraws outreach consent.
        await h.env().sleep(start - DAY + MIN - (await now()));
        const first = `journey:${journeyId}:appointment.reminder:P1D`;
        expect(stored(world, 'appointment.reminder').map((n) => n.id)).toEqual([first]);
        world.setConsent('pat-1', 'outreach', false);

        // The next tick (PT1H) asks, and nothing is stored or delivered.
        await h.env().sleep(start - 10 * MIN - (await now()));
        const second = `journey:${journeyId}:appointment.reminder:PT1H`;
        expect(world.notificationsOf('appointment.reminder').map((n) => n.id)).toEqual([first, second]);
        expect(world.withheld).toEqual([second]);
        expect(stored(world, 'appointment.reminder').map((n) => n.id)).toEqual([first]);
        expect(world.queued).not.toContain(second);
        expect(world.events(journeyId, 'reminder.sent').map((e) => e.data.offset)).toEqual(['P1D']);
        const since = world.consentOf('pat-1', 'outreach');
        expect(outreachEvents(world, journeyId).map((e) => [e.type, e.key, e.data])).toEqual([
          ['outreach.stopped', `outreach.stopped:${since.seq}`, { reason: 'consent-withdrawn', scope: 'outreach', kind: 'appointment.reminder', since: since.changedAt }],
        ]);

        // Transactional notices are not outreach: the cancellation and its refund are told.
        const cancelled = await handle.executeUpdate(cancelUpdate, { args: [{ reason: 'clinic closed', actor: coordinator }] });
        expect(cancelled).toMatchObject({ status: 'cancelled', payment: { status: 'refunded' } });
        await handle.result();
        const told = [`journey:${journeyId}:payment.refunded:${orderId}`, `journey:${journeyId}:journey.cancelled:cancel`];
        for (const id of told) {
          expect(world.notifications.has(id)).toBe(true);
          expect(world.queued).toContain(id);
        }
        // Queued for the outbox dispatcher with their projections (journey-one-transaction): exactly what
        // was stored, once each (payment.due, the P1D reminder, the two notices); no delivery activity.
        expect([...world.queued].sort()).toEqual([...world.notifications.keys()].sort());
        expect(world.queued).toHaveLength(4);
        expect(world.delivered).toEqual([]);
        expect(outreachEvents(world, journeyId)).toHaveLength(1);
      },
      { ended: async (hd) => ((await hd.query(snapshotQuery).catch(() => undefined))?.status ?? 'active') !== 'active' },
    );
  });

  it('prescription course: withheld while withdrawn, said once; given back, the following doses are reminded and the timeline says so once', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      await sleepUntilHour(h.env()); // 02:00 Shanghai: the course starts at 08:00
      const id = randomUUID();
      const input: PrescriptionInput = {
        prescriptionId: id,
        journeyId: 'journey-1',
        patientId: 'pat-1',
        prescriberId: 'doc-1',
        items: [{ drugCode: 'metformin-500mg', dose: '500 mg', frequency: 'bid', days: 3, quantity: 6, name: '二甲双胍片', unitPrice: 40 }],
        long: false,
        timezone: 'Asia/Shanghai',
        timings: { pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D', paymentWindow: 'PT15M', appointmentReminders: [], deliverySla: 'P2D' },
      };
      const handle = await h.env().client.workflow.start<typeof prescriptionFulfillment>(PRESCRIPTION_WORKFLOW, { taskQueue, workflowId: prescriptionWorkflowId(id), args: [input] });
      h.started.push(handle);
      await waitFor(async () => (await handle.query(prescriptionQuery)).status === 'pending-review');
      const approved = await handle.executeUpdate(reviewUpdate, { args: [{ pharmacistId: 'ph-1', decision: 'approve' }] });
      await handle.executeUpdate(paymentUpdate, { args: [{ orderId: approved.payment!.orderId, amount: 240, paidAt: new Date().toISOString(), channel: 'wechat' }] });
      await waitFor(async () => (await handle.query(prescriptionQuery)).status === 'shipped');
      const deliveryId = (await handle.query(prescriptionQuery)).delivery!.deliveryId;
      await handle.executeUpdate(courierUpdate, { args: [{ deliveryId, status: 'delivered', at: new Date().toISOString() }] });
      await waitFor(async () => (await handle.query(prescriptionQuery)).reminders !== undefined);
      const doses = async () => stored(world, 'medication.reminder', (r) => r.prescriptionId === id).map((n) => n.params.at);

      await h.env().sleep(7 * HOUR); // 09:00: the 08:00 dose reminded
      expect(await doses()).toHaveLength(1);
      world.setConsent('pat-1', 'outreach', false);
      await h.env().sleep(DAY); // 09:00 the next day: 20:00 and 08:00 withheld
      expect(await doses()).toHaveLength(1);
      expect(world.withheld).toHaveLength(2);
      const stopped = world.consentOf('pat-1', 'outreach');
      world.setConsent('pat-1', 'outreach', true);
      const resumed = world.consentOf('pat-1', 'outreach');
      await h.env().sleep(12 * HOUR); // 21:00: 20:00 reminded again
      const sent = await doses();
      expect(sent).toHaveLength(2);
      expect(String(sent[1]).slice(11)).toBe('20:00:00+08:00');

      const told = world.events(id, 'medication.reminder-sent').map((e) => e.data.at);
      expect(told).toEqual(sent);
      expect(outreachEvents(world, id).map((e) => [e.type, e.key, e.data.reason, e.data.since])).toEqual([
        ['outreach.stopped', `outreach.stopped:${stopped.seq}`, 'consent-withdrawn', stopped.changedAt],
        ['outreach.resumed', `outreach.resumed:${resumed.seq}`, 'consent-given', resumed.changedAt],
      ]);
      // The order: stopped before the withheld ticks' silence, resumed right before the first reminder after it.
      expect(world.types(id).slice(-3)).toEqual(['outreach.stopped', 'outreach.resumed', 'medication.reminder-sent']);
      const reminders = new Set(stored(world, 'medication.reminder').map((n) => n.id));
      expect(world.delivered.filter((d) => d.includes(':medication.reminder:')).sort()).toEqual([...reminders].sort());
      for (const w of world.withheld) expect(world.delivered).not.toContain(w);
    });
  });

  it('care program: reminders and education withheld from the next tick, doses not reminded never counted missed; given back, the ticks after it send again', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      await sleepUntilHour(h.env()); // 02:00 Shanghai
      const programId = randomUUID();
      const patientId = `pat-${programId.slice(0, 8)}`;
      const template = templates[0] as ProgramTemplate; // hypertension: bp 07:00 and 19:00, education after P1D and P7D
      const input: ProgramInput = {
        programId,
        patientId,
        condition: template.condition,
        doctorId: 'doc-1',
        enrolledBy: { role: 'doctor', id: 'doc-1' },
        template,
        plan: { medications: [{ drugCode: 'amlodipine-5mg', dose: '5 mg', times: ['08:00'], supplyDays: 400 }] },
        timezone: 'Asia/Shanghai',
        enrolledAt: new Date(await now()).toISOString(),
        followUpPathway: pathways[1] as PathwayTemplate,
      };
      const handle = await h.env().client.workflow.start<typeof careProgram>(CARE_PROGRAM_WORKFLOW, { taskQueue, workflowId: programWorkflowId(patientId, input.condition), args: [input] });
      h.started.push(handle);
      const mine = (kind: string) => stored(world, kind, (r) => r.programId === programId);
      const ids = (kind: string) => mine(kind).map((n) => n.id);

      await h.env().sleep(7 * HOUR); // 09:00: bp 07:00 and amlodipine 08:00 reminded
      expect(ids('measurement.reminder')).toHaveLength(1);
      const [dose] = mine('medication.reminder');
      expect(dose).toBeDefined();
      await handle.executeUpdate(programDoseUpdate, { args: [{ drugCode: 'amlodipine-5mg', scheduledAt: dose!.refs.scheduledAt!, taken: true, actor: { role: 'patient', id: patientId } }] });
      world.setConsent(patientId, 'outreach', false);
      const since = world.consentOf(patientId, 'outreach');

      // Two days withdrawn: bp 19:00, the education of day 1, bp 07:00, amlodipine 08:00, bp 19:00, bp 07:00, amlodipine 08:00.
      await h.env().sleep(2 * DAY);
      expect(ids('measurement.reminder')).toHaveLength(1);
      expect(ids('medication.reminder')).toHaveLength(1);
      expect(ids('education')).toEqual([]);
      expect(world.withheld).toHaveLength(7);
      expect(world.withheld[0]).toMatch(/:measurement\.reminder:bp@.*T19:00:00\+08:00$/); // the very next tick
      expect(world.withheld).toContain(`program:${programId}:education:home-bp-measurement`);
      expect(world.events(programId, 'education.sent')).toEqual([]); // not told as sent
      expect(outreachEvents(world, programId).map((e) => [e.type, e.data])).toEqual([
        ['outreach.stopped', { reason: 'consent-withdrawn', scope: 'outreach', kind: 'measurement.reminder', since: since.changedAt }],
      ]);
      // The doses nobody was reminded of are not held against the patient.
      const during = await handle.query(programQuery);
      expect(during.adherence).toEqual({ taken: 1, skipped: 0, missed: 0 });
      expect(world.events(programId, 'dose.missed')).toEqual([]);

      world.setConsent(patientId, 'outreach', true);
      const back = world.consentOf(patientId, 'outreach');
      await h.env().sleep(DAY); // bp 19:00, bp 07:00, amlodipine 08:00: sent again
      expect(ids('measurement.reminder')).toHaveLength(3);
      expect(ids('medication.reminder')).toHaveLength(2);
      expect(world.withheld).toHaveLength(7);
      expect(outreachEvents(world, programId).map((e) => [e.type, e.key, e.data.since])).toEqual([
        ['outreach.stopped', `outreach.stopped:${since.seq}`, since.changedAt],
        ['outreach.resumed', `outreach.resumed:${back.seq}`, back.changedAt],
      ]);
      // The education withheld is not sent late.
      expect(ids('education')).toEqual([]);
    });
  });
});
