// The rules of online care as patientJourney enforces them, on the time-skipping test server: verified
// doctors (online: three years of practice), real-name patients online, a guardian for a young child,
// and "needs in-person care" ending an online visit. Each test breaks one rule's precondition and sees
// the refusal, then shows the same step going through once the precondition holds.
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import pathways from '../db/seed/pathways.json' with { type: 'json' };
import {
  PATIENT_JOURNEY_WORKFLOW,
  RuleFailureType,
  ageInYears,
  bookUpdate,
  checkInUpdate,
  guardianRefusal,
  journeyWorkflowId,
  paymentReceivedSignal,
  recordOutcomeUpdate,
  snapshotQuery,
  startConsultationUpdate,
  triagedUpdate,
  type JourneyInput,
  type OutcomeInput,
  type PathwayTemplate,
  type PostVisitItems,
} from '../workflows/definitions.js';
import type { patientJourney } from '../workflows/patient-journey.js';
import type { FakeWorld } from './support/fake-activities.js';
import { refusal, waitFor, workflowHarness } from './support/workflow-harness.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const [standard, onlineFollowUp] = pathways as PathwayTemplate[];
const patientActor = { role: 'patient' as const, id: 'pat-1' };
const followUpOf = { diagnosis: 'Hypertension', visitDate: '2026-01-05', facility: 'CarePath' };

const h = workflowHarness();
let env: TestWorkflowEnvironment;
beforeAll(() => {
  env = h.env();
});
const withWorker = <T>(fn: (ctx: { world: FakeWorld; taskQueue: string }) => Promise<T>): Promise<T> =>
  h.withWorker(fn, { ended: async (handle) => ((await handle.query(snapshotQuery).catch(() => undefined))?.status ?? 'active') !== 'active' });

type Journey = WorkflowHandle<typeof patientJourney>;

function input(over: Partial<JourneyInput> = {}): JourneyInput {
  const online = over.mode === 'online';
  return {
    journeyId: randomUUID(),
    patientId: 'pat-1',
    mode: 'offline',
    complaint: '咳嗽一周，有痰',
    pathway: online ? onlineFollowUp! : standard!,
    startedBy: patientActor,
    ...(online ? { followUpOf } : {}),
    ...over,
  };
}

async function start(taskQueue: string, over: Partial<JourneyInput> = {}): Promise<{ handle: Journey; journeyId: string }> {
  const i = input(over);
  const handle = await env.client.workflow.start<typeof patientJourney>(PATIENT_JOURNEY_WORKFLOW, { taskQueue, workflowId: journeyWorkflowId(i.journeyId), args: [i] });
  h.started.push(handle);
  return { handle, journeyId: i.journeyId };
}

/** Starts a journey and waits for its triage. */
async function triaged(taskQueue: string, over: Partial<JourneyInput> = {}) {
  const j = await start(taskQueue, over);
  await j.handle.executeUpdate(triagedUpdate);
  return j;
}

const slotOf = async (world: FakeWorld, mode: 'online' | 'offline', doctorId = 'doc-1') =>
  world.addSlot({ id: randomUUID(), doctorId, department: 'respiratory', mode, start: (await env.currentTimeMs()) + HOUR, remaining: 3 });

const book = (handle: Journey, slotId: string) => handle.executeUpdate(bookUpdate, { args: [{ slotId, actor: patientActor }] });

/** The refusal type an update failed with (undefined: it went through). */
async function refused(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    const type = refusal(err);
    if (!type) throw err;
    return type;
  }
}

/** Booked, paid and checked in with doctor `doc-1`. */
async function checkedIn(world: FakeWorld, handle: Journey, mode: 'online' | 'offline') {
  const slot = await slotOf(world, mode);
  const booked = await book(handle, slot.id);
  await handle.signal(paymentReceivedSignal, { orderId: booked.payment!.orderId, amount: booked.payment!.amount, paidAt: new Date().toISOString(), channel: 'wechat' });
  await waitFor(async () => (await handle.query(snapshotQuery)).payment?.status === 'paid');
  await handle.executeUpdate(checkInUpdate, { args: [patientActor] });
}

const outcome = (over: Partial<OutcomeInput> = {}): OutcomeInput => ({ doctorId: 'doc-1', diagnosis: { text: 'Needs an examination' }, notes: '', ...over });
const item = { drugCode: 'amoxicillin-500mg', dose: '500 mg', frequency: 'tid' as const, days: 5, quantity: 15, name: '阿莫西林胶囊', unitPrice: 50 };
const withPrescription = (): PostVisitItems => ({ prescriptions: [{ prescriptionId: randomUUID(), items: [item], long: false, timezone: 'Asia/Shanghai' }], exams: [], referrals: [] });

describe('verified doctors', () => {
  it('refuses to book an unverified doctor, before any seat is taken; booking goes through once the licence is verified', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      world.clinicians.set('doc-1', { verifiedAt: null });
      const { handle } = await triaged(taskQueue);
      const slot = await slotOf(world, 'offline');
      expect(await refused(book(handle, slot.id))).toBe(RuleFailureType.ClinicianUnverified);
      expect(world.seats.size).toBe(0); // asked with the seat, in its transaction: none taken
      expect(world.slots.get(slot.id)!.remaining).toBe(3);
      expect((await handle.query(snapshotQuery)).step).toBe('booking');

      world.clinicians.delete('doc-1');
      expect((await book(handle, slot.id)).step).toBe('awaiting-payment');
      expect(world.slots.get(slot.id)!.remaining).toBe(2);
    });
  });

  it('refuses an online booking with a doctor of under three years of practice, and takes one of three', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      world.clinicians.set('doc-1', { yearsOfPractice: 2 });
      const { handle } = await triaged(taskQueue, { mode: 'online' });
      const slot = await slotOf(world, 'online');
      expect(await refused(book(handle, slot.id))).toBe(RuleFailureType.InsufficientPractice);
      world.clinicians.set('doc-1', { yearsOfPractice: 3 });
      expect((await book(handle, slot.id)).step).toBe('awaiting-payment');
    });
  });

  it('lets a doctor of two years see patients offline', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      world.clinicians.set('doc-1', { yearsOfPractice: 2 });
      const { handle } = await triaged(taskQueue);
      await checkedIn(world, handle, 'offline');
      expect((await handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] })).step).toBe('in-consultation');
    });
  });

  it('refuses the consultation, and then a prescription, to a doctor whose licence is not verified at that moment', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle, journeyId } = await triaged(taskQueue);
      await checkedIn(world, handle, 'offline');
      world.clinicians.set('doc-1', { verifiedAt: null });
      expect(await refused(handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] }))).toBe(RuleFailureType.ClinicianUnverified);
      expect((await handle.query(snapshotQuery)).step).toBe('checked-in');
      world.clinicians.delete('doc-1');
      await handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] });

      world.clinicians.set('doc-1', { licenceNumber: null });
      expect(await refused(handle.executeUpdate(recordOutcomeUpdate, { args: [outcome({ items: withPrescription() })] }))).toBe(RuleFailureType.ClinicianUnverified);
      const after = await handle.query(snapshotQuery);
      expect(after.step).toBe('in-consultation');
      expect(after.outcome).toBeUndefined();
      expect(world.types(journeyId)).not.toContain('outcome.recorded');
      // Without a prescription the outcome is recorded: only prescribing needs the licence here.
      expect((await handle.executeUpdate(recordOutcomeUpdate, { args: [outcome()] })).status).toBe('completed');
    });
  });
});

describe('real-name patients', () => {
  it('refuses an online booking and an online consultation to a patient whose identity is not verified', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      world.unverifiedPatients.add('pat-1');
      const { handle } = await triaged(taskQueue, { mode: 'online' });
      const slot = await slotOf(world, 'online');
      expect(await refused(book(handle, slot.id))).toBe(RuleFailureType.PatientUnverified);
      expect(world.seats.size).toBe(0); // asked with the seat, in its transaction: none taken

      world.unverifiedPatients.delete('pat-1');
      await checkedIn(world, handle, 'online');
      // The consultation asks again (a journey booked before the rule was deployed was never asked): unverified, refused.
      world.unverifiedPatients.add('pat-1');
      expect(await refused(handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] }))).toBe(RuleFailureType.PatientUnverified);
      world.unverifiedPatients.delete('pat-1');
      expect((await handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] })).step).toBe('in-consultation');
    });
  });

  it('does not ask for real-name verification before an offline visit', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      world.unverifiedPatients.add('pat-1');
      const { handle } = await triaged(taskQueue);
      await checkedIn(world, handle, 'offline');
      expect((await handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] })).step).toBe('in-consultation');
    });
  });
});

describe('children', () => {
  // The time-skipping server may jump years ahead while a test waits for a result, so a child's birth
  // date is set where no jump makes them six: the workflow counts the age on its own clock. The exact
  // boundary (the sixth birthday) is tested on ageInYears itself, and on real time over HTTP.
  const childBirthDate = async () => new Date((await env.currentTimeMs()) + 100 * 365 * DAY).toISOString().slice(0, 10);

  async function failure(taskQueue: string, over: Partial<JourneyInput>): Promise<string | undefined> {
    const { handle } = await start(taskQueue, over);
    const err = await handle.result().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause;
    return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
  }

  it('refuses an online journey for a child under six without a guardian, or with an unverified one', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const birth = await childBirthDate();
      expect(await failure(taskQueue, { mode: 'online', patientBirthDate: birth })).toBe(RuleFailureType.GuardianRequired);
      expect(await failure(taskQueue, { mode: 'online', patientBirthDate: birth, guardian: { name: '王妈妈', relation: 'parent', verified: false } })).toBe(RuleFailureType.GuardianRequired);
      expect(world.calls.triage ?? 0).toBe(0);
    });
  });

  it('records a verified guardian on the journey; a child seen offline needs none', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const birth = await childBirthDate();
      const guardian = { name: '王妈妈', relation: 'parent' as const, verified: true };
      const online = await triaged(taskQueue, { mode: 'online', patientBirthDate: birth, guardian });
      expect((await online.handle.query(snapshotQuery)).guardian).toEqual(guardian);
      expect(world.events(online.journeyId, 'journey.started')[0]!.data).toMatchObject({ guardian: 'parent' });
      const offline = await triaged(taskQueue, { patientBirthDate: birth });
      expect((await offline.handle.query(snapshotQuery)).step).toBe('booking');
    });
  });

  it('counts whole years in UTC: the sixth birthday is six, the day before is five', () => {
    const at = Date.parse('2026-11-30T12:00:00Z');
    expect(ageInYears('2020-11-30', at)).toBe(6);
    expect(ageInYears('2020-12-01', at)).toBe(5);
    expect(ageInYears('2020-02-29', Date.parse('2026-02-28T23:59:59Z'))).toBe(5);
    expect(ageInYears('2020-02-29', Date.parse('2026-03-01T00:00:00Z'))).toBe(6);
    expect(guardianRefusal({ mode: 'online', patientBirthDate: '2020-12-01' }, at)).toMatch(/needs a guardian/);
    expect(guardianRefusal({ mode: 'online', patientBirthDate: '2020-11-30' }, at)).toBeUndefined();
    expect(guardianRefusal({ mode: 'offline', patientBirthDate: '2025-01-01' }, at)).toBeUndefined();
    expect(guardianRefusal({ mode: 'online', patientBirthDate: '2025-01-01', guardian: { name: 'g', relation: 'parent', verified: false } }, at)).toMatch(/must be verified/);
    expect(guardianRefusal({ mode: 'online', patientBirthDate: '2025-01-01', guardian: { name: 'g', relation: 'parent', verified: true } }, at)).toBeUndefined();
    expect(guardianRefusal({ mode: 'online' }, at)).toBeUndefined();
  });
});

describe('needs in-person care', () => {
  it('ends an online visit: nothing issued, closed referred-offline, an offline journey started once at the same department, the patient told why', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const guardian = { name: '李爸爸', relation: 'parent' as const, verified: true };
      const { handle, journeyId } = await triaged(taskQueue, { mode: 'online', guardian });
      await checkedIn(world, handle, 'online');
      await handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] });

      // No prescription, exam, referral or program can be issued in that visit.
      const withItems = outcome({ kind: 'needs-in-person', reason: 'physical-examination', items: withPrescription() });
      expect(await refused(handle.executeUpdate(recordOutcomeUpdate, { args: [withItems] }))).toBe(RuleFailureType.InPersonOnly);
      expect(await refused(handle.executeUpdate(recordOutcomeUpdate, { args: [outcome({ kind: 'needs-in-person', reason: 'procedure', items: { prescriptions: [], exams: [{ examId: 'e1', code: 'cbc', name: 'CBC', price: 2500 }], referrals: [] } })] }))).toBe(RuleFailureType.InPersonOnly);

      const closed = await handle.executeUpdate(recordOutcomeUpdate, { args: [outcome({ kind: 'needs-in-person', reason: 'physical-examination' })] });
      expect(closed).toMatchObject({ status: 'referred-offline', phase: 'closed', step: 'done', outcome: { kind: 'needs-in-person', reason: 'physical-examination', recordedBy: 'doc-1' } });
      expect(closed.children).toBeUndefined();
      expect(world.inPersonJourneys).toEqual([
        {
          journeyId: closed.referredTo,
          patientId: 'pat-1',
          complaint: '咳嗽一周，有痰',
          department: 'respiratory',
          reason: 'physical-examination',
          referredFrom: journeyId,
          startedBy: { role: 'doctor', id: 'doc-1' },
          guardian,
        },
      ]);
      expect(world.types(journeyId).slice(-2)).toEqual(['outcome.recorded', 'journey.referred-offline']);
      expect(world.events(journeyId, 'journey.referred-offline')[0]!.data).toEqual({ journeyId: closed.referredTo, department: 'respiratory', reason: 'physical-examination' });
      const told = world.notificationsOf('journey.referred-offline');
      expect(told).toHaveLength(1);
      expect(told[0]).toMatchObject({ patientId: 'pat-1', params: { reason: 'physical-examination' }, refs: { journeyId } });
      expect(world.calls.startInPersonJourney).toBe(1);
      expect(await handle.result()).toMatchObject({ status: 'referred-offline' });
    });
  });

  it('is refused in an offline visit', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const { handle } = await triaged(taskQueue);
      await checkedIn(world, handle, 'offline');
      await handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-1' }] });
      expect(await refused(handle.executeUpdate(recordOutcomeUpdate, { args: [outcome({ kind: 'needs-in-person', reason: 'procedure' })] }))).toBe(RuleFailureType.InPersonOnly);
      expect(world.calls.startInPersonJourney ?? 0).toBe(0);
      expect((await handle.query(snapshotQuery)).step).toBe('in-consultation');
    });
  });

  it('starts the referred journey triaged: no triage runs, it waits for booking with the online visit as its origin', async () => {
    await withWorker(async ({ world, taskQueue }) => {
      const triage = { department: 'cardiology', urgency: 'routine' as const, advice: 'In-person visit', rule: 'in-person:tests-on-site' };
      const { handle, journeyId } = await triaged(taskQueue, { triage, referredFrom: 'online-journey-1', startedBy: { role: 'doctor', id: 'doc-1' } });
      expect(world.calls.triage ?? 0).toBe(0);
      expect(await handle.query(snapshotQuery)).toMatchObject({ step: 'booking', triage, referredFrom: 'online-journey-1', mode: 'offline' });
      expect(world.events(journeyId, 'journey.started')[0]!.data).toMatchObject({ referredFrom: 'online-journey-1' });
      expect(world.events(journeyId, 'triage.completed')[0]!.data).toEqual({ department: 'cardiology', urgency: 'routine' });
    });
  });
});
