// The careProgram workflow on the time-skipping server with fake activities: a simulated year, alerts,
// adherence, doses, downtime, refills, plan and status changes.
import { randomUUID } from 'node:crypto';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import pathways from '../db/seed/pathways.json' with { type: 'json' };
import templates from '../db/seed/program-templates.json' with { type: 'json' };
import { planOccurrences } from '../activities/programs.js';
import {
  CARE_PROGRAM_WORKFLOW,
  ItemFailureType,
  ProgramFailureType,
  programDoseUpdate,
  programPlanUpdate,
  programQuery,
  programStatusUpdate,
  programWorkflowId,
  readingUpdate,
  supplyAddedSignal,
  type PathwayTemplate,
  type ProgramInput,
  type ProgramPlan,
  type ProgramTemplate,
} from '../workflows/definitions.js';
import type { careProgram } from '../workflows/care-program.js';
import type { FakeWorld } from './support/fake-activities.js';
import { sleepUntilHour } from './support/clock.js';
import { refusal, waitFor, workflowHarness } from './support/workflow-harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const h = workflowHarness();
const doctor = { role: 'doctor' as const, id: 'doc-1' };
const otherDoctor = { role: 'doctor' as const, id: 'doc-2' };
const coordinator = { role: 'coordinator' as const, id: 'coord-1' };
const patient = { role: 'patient' as const, id: 'pat-1' };
const hypertension = templates[0] as ProgramTemplate;
const diabetes = templates[1] as ProgramTemplate;

type Handle = WorkflowHandleWithFirstExecutionRunId<typeof careProgram>;

const amlodipine = { drugCode: 'amlodipine-5mg', dose: '5 mg', times: ['08:00'], supplyDays: 400 };

async function enrol(taskQueue: string, over: Partial<ProgramInput> = {}): Promise<{ handle: Handle; input: ProgramInput }> {
  const programId = randomUUID();
  const patientId = over.patientId ?? `pat-${programId.slice(0, 8)}`;
  const template = over.template ?? hypertension;
  const input: ProgramInput = {
    programId,
    patientId,
    condition: template.condition,
    doctorId: doctor.id,
    enrolledBy: doctor,
    template,
    plan: { medications: [amlodipine] },
    timezone: 'Asia/Shanghai',
    enrolledAt: new Date(await h.env().currentTimeMs()).toISOString(),
    followUpPathway: pathways[1] as PathwayTemplate,
    ...over,
  };
  const handle = await h.env().client.workflow.start<typeof careProgram>(CARE_PROGRAM_WORKFLOW, {
    taskQueue,
    workflowId: programWorkflowId(input.patientId, input.condition),
    args: [input],
  });
  h.started.push(handle);
  return { handle, input };
}

const ids = (world: FakeWorld, kind: string, programId: string) =>
  world.notifyCalls.filter((n) => n.kind === kind && n.refs.programId === programId);

/**
 * Sleeps the test server's clock in steps of a few days: one long sleep over a workflow that starts
 * child journeys stops skipping time (the time-skipping server's known trouble with children).
 */
/** Sleeps the test server's clock in steps of five days (the time-skipping server skips more reliably in steps). */
async function pass(ms: number, step = 5 * DAY): Promise<void> {
  for (let left = ms; left > 0; left -= step) await h.env().sleep(Math.min(step, left));
}

/** Everything the planner gives for these windows (the expected reminders). */
function planned(input: ProgramInput, windows: { from: number; to: number; plan: ProgramPlan }[], kind: 'medication' | 'measurement') {
  return windows.flatMap((w) =>
    planOccurrences({
      timezone: input.timezone,
      enrolledAt: input.enrolledAt,
      medications: w.plan.medications.map((m) => ({ drugCode: m.drugCode, times: m.times })),
      measurements: input.template.measurements,
      from: new Date(w.from).toISOString(),
      to: new Date(w.to).toISOString(),
    }).filter((o) => o.kind === kind),
  );
}

type HistoryEvent = NonNullable<Awaited<ReturnType<Handle['fetchHistory']>>['events']>[number];

/** Every run of the workflow, first to last: its history. */
async function runs(handle: Handle, firstRunId: string): Promise<HistoryEvent[][]> {
  const histories: HistoryEvent[][] = [];
  let runId: string | undefined = firstRunId;
  while (runId) {
    const history: Awaited<ReturnType<Handle['fetchHistory']>> = await h.env().client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    histories.push(events);
    runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return histories;
}

const eventMs = (e: HistoryEvent): number => Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);

/**
 * The history cost of each wake-up at one of these times: the events from the timer started for it up
 * to the next timer, or to the end of the run (its continue-as-new, the run's own cost, not counted). A
 * wake-up is a timer that fired within a second of its time.
 */
function wakeUpCosts(histories: HistoryEvent[][], times: number[]): Map<number, number> {
  const costs = new Map<number, number>();
  for (const run of histories) {
    const events = run.filter((e) => !e.workflowExecutionContinuedAsNewEventAttributes);
    const starts = events.flatMap((e, i) => (e.timerStartedEventAttributes ? [i] : []));
    starts.forEach((start, k) => {
      const fired = events[start + 1];
      if (!fired?.timerFiredEventAttributes) return;
      const at = times.find((t) => eventMs(fired) >= t && eventMs(fired) < t + 1000);
      if (at !== undefined) costs.set(at, (starts[k + 1] ?? events.length) - start);
    });
  }
  return costs;
}

describe('careProgram', () => {
  it('lives a year: every reminder once, a plan change, a pause, follow-ups, continue-as-new, nothing after discharge', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, input } = await enrol(taskQueue);
      const firstRunId = handle.firstExecutionRunId;
      const t0 = Date.parse(input.enrolledAt);
      const at = async () => h.env().currentTimeMs();

      await pass(100 * DAY + 5 * HOUR);
      const changeAt = await at();
      const newPlan: ProgramPlan = { medications: [{ ...amlodipine, times: ['08:00', '20:00'] }] };
      await handle.executeUpdate(programPlanUpdate, { args: [{ plan: newPlan, actor: doctor }] });
      await pass(100 * DAY);
      const pauseAt = await at();
      await handle.executeUpdate(programStatusUpdate, { args: [{ action: 'pause', reason: 'in hospital', actor: coordinator }] });
      await pass(10 * DAY);
      const resumeAt = await at();
      await handle.executeUpdate(programStatusUpdate, { args: [{ action: 'resume', reason: 'home again', actor: coordinator }] });
      await pass(t0 + 365 * DAY - resumeAt);
      const dischargeAt = await at();
      const discharged = await handle.executeUpdate(programStatusUpdate, { args: [{ action: 'discharge', reason: 'moved away', actor: doctor }] });
      expect(discharged.status).toBe('discharged');
      const result = await handle.result();
      expect(result).toMatchObject({ status: 'discharged', dischargedReason: 'moved away' });

      const windows = [
        { from: t0, to: changeAt, plan: input.plan },
        { from: changeAt, to: pauseAt, plan: newPlan },
        { from: resumeAt, to: dischargeAt, plan: newPlan },
      ];
      const all = world.notifyCalls.filter((n) => n.refs.programId === input.programId);
      const meds = ids(world, 'medication.reminder', input.programId);
      const expectedMeds = planned(input, windows, 'medication');
      expect(meds.map((n) => n.refs.scheduledAt)).toEqual(expectedMeds.map((o) => o.at));
      expect(meds.every((n) => n.refs.drugCode === 'amlodipine-5mg')).toBe(true);
      // 100 days once a day, then twice a day, less the 10 paused days: about 100 + 200 + 310.
      expect(meds.length).toBeGreaterThan(600);
      const measurements = ids(world, 'measurement.reminder', input.programId);
      expect(measurements.map((n) => n.refs.scheduledAt)).toEqual(planned(input, windows, 'measurement').map((o) => o.at));
      // Every 30 days, created 3 days ahead: follow-ups 1..12 fall within the year, but the 7th would
      // have been created during the pause (day 207) and is not created late.
      const followUps = ids(world, 'followup.due', input.programId);
      const numbers = [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12];
      expect(followUps.map((n) => n.id)).toEqual(numbers.map((k) => `program:${input.programId}:followup.due:${k}`));
      expect(world.events(input.programId, 'followup.created').map((e) => e.data.number)).toEqual(numbers);
      // Nobody went to them: each is recorded missed at its due time + lateGrace, with a coordinator task.
      const missed = world.events(input.programId, 'followup.missed');
      expect(missed.map((e) => e.data.number)).toEqual(numbers);
      expect([...world.tasks.values()].filter((t) => t.kind === 'followup-missed' && t.subject.id === input.programId)).toHaveLength(numbers.length);
      expect(ids(world, 'education', input.programId).map((n) => [n.params.topic, n.refs.scheduledAt])).toEqual([
        ['home-bp-measurement', new Date(t0 + DAY).toISOString()],
        ['low-salt-diet', new Date(t0 + 7 * DAY).toISOString()],
      ]);
      // Every program notification names its program and the time it is for.
      expect(all.every((n) => n.refs.programId === input.programId && typeof n.refs.scheduledAt === 'string')).toBe(true);

      // No notification twice; none at or after the discharge.
      expect(new Set(all.map((n) => n.id)).size).toBe(all.length);
      const last = world.programTransitions.filter((t) => t.snapshot.id === input.programId).at(-1)!;
      expect(last.snapshot.status).toBe('discharged');
      expect(last.notifications).toBeUndefined();
      expect(all.filter((n) => ['medication.reminder', 'measurement.reminder'].includes(n.kind) && Date.parse(n.refs.scheduledAt!) >= dischargeAt)).toEqual([]);

      // Continued as new at least every 30 days; no run near 1,000 events.
      const histories = await runs(handle, firstRunId);
      const lengths = histories.map((events) => events.length);
      expect(lengths.length).toBeGreaterThanOrEqual(13);
      expect(Math.max(...lengths)).toBeLessThan(1000);
      expect(result.runs).toBe(lengths.length);
      // Reminders are cheap in history: each wake-up that sent reminders cost at most 6 events (the
      // timer, its workflow task, the projection's marker), found for every reminder time.
      const times = [...new Set([...meds, ...measurements].map((n) => Date.parse(n.refs.scheduledAt!)))];
      const costs = wakeUpCosts(histories, times);
      expect(costs.size).toBe(times.length);
      expect(Math.max(...costs.values())).toBeLessThanOrEqual(6);
      // The timeline says what happened, in order.
      expect(world.types(input.programId).filter((t) => t.startsWith('program.'))).toEqual([
        'program.enrolled',
        'program.plan-changed',
        'program.paused',
        'program.resumed',
        'program.discharged',
      ]);
    });
  }, 180_000);

  it('raises one vital alert at a time, a new one once the doctor has closed it, and names a trend', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, input } = await enrol(taskQueue);
      const now = new Date(await h.env().currentTimeMs()).toISOString();
      const bp = (systolic: number, diastolic: number) => ({ reading: { type: 'bp' as const, systolic, diastolic, at: now }, actor: patient });
      expect(await handle.executeUpdate(readingUpdate, { args: [bp(132, 84)] })).toEqual({});
      const first = await handle.executeUpdate(readingUpdate, { args: [bp(165, 95)] });
      // A retry of the same reading (same time and values) is the same reading: answered alike, not counted.
      expect(await handle.executeUpdate(readingUpdate, { args: [bp(165, 95)] })).toEqual(first);
      expect(first.alert).toMatchObject({ reason: 'systolic-high' });
      const task = world.tasks.get(first.alert!.id)!;
      expect(task).toMatchObject({ kind: 'vital-alert', role: 'doctor', assigneeId: 'doc-1', status: 'open', subject: { type: 'program', id: input.programId } });
      // Inclusive thresholds; while the alert is open, the same alert answers and nothing new is raised.
      expect(await handle.executeUpdate(readingUpdate, { args: [bp(150, 100)] })).toEqual({ alert: first.alert });
      expect([...world.tasks.values()].filter((t) => t.kind === 'vital-alert')).toHaveLength(1);
      // The doctor closes it; the third reading in a row over a threshold is a trend.
      world.tasks.set(task.id, { ...task, status: 'done' });
      const third = await handle.executeUpdate(readingUpdate, { args: [bp(170, 90)] });
      expect(third.alert).toMatchObject({ reason: 'trend:systolic-high' });
      expect(third.alert!.id).not.toBe(first.alert!.id);
      expect(world.events(input.programId, 'alert.raised').map((e) => e.data.reason)).toEqual(['systolic-high', 'trend:systolic-high']);
      expect(world.events(input.programId, 'reading.recorded')).toHaveLength(4);
      const view = await handle.query(programQuery);
      expect(view.readings.map((r) => (r.type === 'bp' ? r.systolic : 0))).toEqual([170, 150, 165, 132]);
      expect(view.openAlerts).toEqual([{ id: third.alert!.id, reason: 'trend:systolic-high', at: now }]);
      // Low readings alert too, and start a run of their own.
      world.tasks.set(third.alert!.id, { ...world.tasks.get(third.alert!.id)!, status: 'done' });
      expect((await handle.executeUpdate(readingUpdate, { args: [bp(88, 60)] })).alert).toMatchObject({ reason: 'systolic-low' });
    });
  });

  it('takes glucose by context against the diabetes template', async () => {
    await h.withWorker(async ({ taskQueue }) => {
      const { handle } = await enrol(taskQueue, { template: diabetes, plan: { medications: [] } });
      const now = new Date(await h.env().currentTimeMs()).toISOString();
      const g = (mmol: number, context: 'fasting' | 'postprandial') => ({ reading: { type: 'glucose' as const, mmol, context, at: now }, actor: patient });
      expect(await handle.executeUpdate(readingUpdate, { args: [g(13.0, 'fasting')] })).toEqual({});
      expect(await handle.executeUpdate(readingUpdate, { args: [g(15.0, 'postprandial')] })).toEqual({});
      expect((await handle.executeUpdate(readingUpdate, { args: [g(13.9, 'fasting')] })).alert).toMatchObject({ reason: 'fasting-glucose-high' });
    });
  });

  it('counts adherence: confirmed, skipped and missed doses; a run of missed doses raises one coordinator task', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      await sleepUntilHour(h.env()); // enrolled at 02:00: the first dose is today's 08:00
      const { handle, input } = await enrol(taskQueue);
      await h.env().sleep(DAY + HOUR);
      const [first] = ids(world, 'medication.reminder', input.programId);
      expect(first).toBeDefined();
      const at = first!.refs.scheduledAt!;
      expect(await handle.executeUpdate(programDoseUpdate, { args: [{ drugCode: 'amlodipine-5mg', scheduledAt: at, taken: true, actor: patient }] })).toEqual({ status: 'confirmed' });
      // The first answer stands; a time that is no dose is refused.
      await expect(handle.executeUpdate(programDoseUpdate, { args: [{ drugCode: 'amlodipine-5mg', scheduledAt: at, taken: false, actor: patient }] })).rejects.toSatisfy((e) => refusal(e) === ItemFailureType.DoseAnswered);
      await expect(handle.executeUpdate(programDoseUpdate, { args: [{ drugCode: 'amlodipine-5mg', scheduledAt: new Date(Date.parse(at) + 5 * MIN).toISOString(), taken: true, actor: patient }] })).rejects.toSatisfy((e) => refusal(e) === ItemFailureType.UnknownDose);
      // The next one is skipped: not missed, and it does not count toward the run.
      await h.env().sleep(DAY);
      const second = ids(world, 'medication.reminder', input.programId)[1]!;
      await handle.executeUpdate(programDoseUpdate, { args: [{ drugCode: 'amlodipine-5mg', scheduledAt: second.refs.scheduledAt!, taken: false, actor: patient }] });
      // Then nothing for five days: a dose counts as missed at the next one's time; three in a row raise the task, once.
      await h.env().sleep(5 * DAY);
      const view = await handle.query(programQuery);
      const missed = world.events(input.programId, 'dose.missed');
      expect(missed.length).toBe(4);
      expect(missed.every((e) => e.data.reason === 'not-confirmed')).toBe(true);
      expect(view.adherence).toEqual({ taken: 1, skipped: 1, missed: 4 });
      const tasks = [...world.tasks.values()].filter((t) => t.kind === 'adherence');
      expect(tasks).toHaveLength(1);
      expect(tasks[0]).toMatchObject({ role: 'coordinator', status: 'open', subject: { type: 'program', id: input.programId } });
      expect(world.events(input.programId, 'dose.confirmed').map((e) => e.data)).toEqual([{ drugCode: 'amlodipine-5mg', scheduledAt: at }]);
      expect(world.events(input.programId, 'dose.skipped')).toHaveLength(1);
    });
  });

  it('refuses plan and status changes from anyone but the responsible doctor or a coordinator, and everything once discharged', async () => {
    await h.withWorker(async ({ taskQueue }) => {
      const { handle } = await enrol(taskQueue);
      const plan = { medications: [] };
      await expect(handle.executeUpdate(programPlanUpdate, { args: [{ plan, actor: otherDoctor }] })).rejects.toSatisfy((e) => refusal(e) === ProgramFailureType.NotResponsible);
      await expect(handle.executeUpdate(programStatusUpdate, { args: [{ action: 'pause', reason: 'x', actor: patient }] })).rejects.toSatisfy((e) => refusal(e) === ProgramFailureType.NotResponsible);
      await expect(handle.executeUpdate(programStatusUpdate, { args: [{ action: 'resume', reason: 'x', actor: coordinator }] })).rejects.toSatisfy((e) => refusal(e) === 'invalid-state');
      expect((await handle.executeUpdate(programPlanUpdate, { args: [{ plan, actor: coordinator }] })).plan).toEqual(plan);
      await handle.executeUpdate(programStatusUpdate, { args: [{ action: 'discharge', reason: 'done', actor: coordinator }] });
      await handle.result();
    });
  });

  it('starts a renewal journey at the refill lead, once per supply end; a delivery adds supply and moves the next refill', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      const { handle, input } = await enrol(taskQueue, { plan: { medications: [{ ...amlodipine, supplyDays: 10 }] } });
      const t0 = Date.parse(input.enrolledAt);
      await h.env().sleep(4 * DAY);
      const refills = world.events(input.programId, 'refill.started');
      expect(refills).toHaveLength(1);
      expect(refills[0]!.data).toMatchObject({ drugCode: 'amlodipine-5mg', until: new Date(t0 + 10 * DAY).toISOString() });
      expect(ids(world, 'refill.due', input.programId).map((n) => n.refs)).toEqual([
        { programId: input.programId, drugCode: 'amlodipine-5mg', journeyId: refills[0]!.data.journeyId, scheduledAt: new Date(t0 + 10 * DAY).toISOString() },
      ]);
      // The renewal journey: online, pre-diagnosed, started once through the activity.
      const renewal = world.startedJourneys.filter((j) => j.journeyId === refills[0]!.data.journeyId);
      expect(renewal).toHaveLength(1);
      expect(renewal[0]).toMatchObject({ patientId: input.patientId, mode: 'online', complaint: '高血压续方', followUpOf: { diagnosis: '高血压' }, pathway: { id: 'online-follow-up' } });
      // The renewal is delivered: 30 more days from the current end.
      await handle.signal(supplyAddedSignal, { prescriptionId: 'rx-1', drugCode: 'amlodipine-5mg', days: 30 });
      await waitFor(async () => (await handle.query(programQuery)).supply[0]!.until === new Date(t0 + 40 * DAY).toISOString());
      await pass(30 * DAY);
      const later = world.events(input.programId, 'refill.started');
      expect(later.map((e) => e.data.until)).toEqual([new Date(t0 + 10 * DAY).toISOString(), new Date(t0 + 40 * DAY).toISOString()]);
      expect(world.startedJourneys.map((j) => j.complaint)).toEqual(['高血压续方', '高血压复诊', '高血压续方']);
    });
  });

  it('after downtime records occurrences more than lateGrace late as missed and sends none of them', async () => {
    // A worker that was down two days finds its timers fired late; here the program's own clock finds
    // two days of occurrences overdue at its first task, which takes the same path. (The time-skipping
    // server cannot stand a worker down: with a workflow task outstanding it stops skipping time.)
    await h.withWorker(async ({ world, taskQueue }) => {
      const now = await h.env().currentTimeMs();
      const downFrom = now - 2 * DAY;
      const { handle, input } = await enrol(taskQueue, { enrolledAt: new Date(downFrom).toISOString(), template: { ...hypertension, followUpEvery: 'P300D', education: [] } });
      await waitFor(async () => (await handle.query(programQuery)).adherence.missed > 0);
      await h.env().sleep(MIN);
      const lateTill = now - 2 * HOUR;
      const overdue = (kind: 'medication' | 'measurement') => planned(input, [{ from: downFrom, to: lateTill, plan: input.plan }], kind).map((o) => o.at);
      expect(world.events(input.programId, 'measurement.missed').map((e) => [e.data.scheduledAt, e.data.reason])).toEqual(overdue('measurement').map((at) => [at, 'late']));
      expect(world.events(input.programId, 'dose.missed').map((e) => [e.data.scheduledAt, e.data.reason])).toEqual(overdue('medication').map((at) => [at, 'late']));
      // Nothing more than lateGrace late was sent; what was due within it was.
      const sent = world.notifyCalls.filter((n) => n.refs.programId === input.programId && n.refs.scheduledAt);
      expect(sent.filter((n) => Date.parse(n.refs.scheduledAt!) < lateTill)).toEqual([]);
      const recent = planned(input, [{ from: lateTill, to: now + 1, plan: input.plan }], 'measurement').map((o) => o.at);
      expect(sent.filter((n) => n.kind === 'measurement.reminder').map((n) => n.refs.scheduledAt)).toEqual(recent);
      expect(overdue('measurement').length).toBeGreaterThanOrEqual(3);
      expect((await handle.query(programQuery)).adherence.missed).toBe(overdue('medication').length);
    });
  });
});
