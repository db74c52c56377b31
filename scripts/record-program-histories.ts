// Records histories of care programs for tests/replay.test.ts, on the time-skipping test server with
// the tests' fake activities: a program's run lasts 30 days, which only a skipped clock can record.
// - care-program-lean-first-run.json / care-program-lean-continued.json: enrolment, reminders, a reading
//   with an alert, a dose, a plan change, ending in continue-as-new; then the run after it (carried
//   state, a pause and resume, discharge), both with patch `program-lean-reminders`. The same scenario
//   recorded before that patch is care-program-first-run.json / care-program-continued.json (kept, and
//   replayed: runs of that code may still be going);
// - patient-journey-program-outcome.json: a journey whose outcome enrols the patient (patch
//   `post-visit-program`);
// - prescription-program-supply.json: a prescription delivered to an enrolled patient, whose program
//   takes the drug's supply and reminders (patch `program-supply`);
// - care-program-outreach-withheld.json: a program whose patient withdraws outreach consent for two
//   days (reminders and an education withheld, `outreach.stopped`), gives it back (`outreach.resumed`),
//   and is discharged (patch `outreach-consent`).
// Like scripts/record-histories.ts it never overwrites a committed history.
//
//   npx tsx scripts/record-program-histories.ts
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import pathways from '../db/seed/pathways.json' with { type: 'json' };
import templates from '../db/seed/program-templates.json' with { type: 'json' };
import {
  CARE_PROGRAM_WORKFLOW,
  PATIENT_JOURNEY_WORKFLOW,
  PRESCRIPTION_WORKFLOW,
  bookUpdate,
  checkInUpdate,
  courierUpdate,
  journeyWorkflowId,
  paymentUpdate,
  prescriptionQuery,
  prescriptionWorkflowId,
  recordOutcomeUpdate,
  reviewUpdate,
  startConsultationUpdate,
  triagedUpdate,
  programDoseUpdate,
  programPlanUpdate,
  programQuery,
  programStatusUpdate,
  programWorkflowId,
  readingUpdate,
  type PathwayTemplate,
  type ProgramInput,
  type ProgramTemplate,
} from '../workflows/definitions.js';
import type { careProgram } from '../workflows/care-program.js';
import type { patientJourney } from '../workflows/patient-journey.js';
import type { prescriptionFulfillment } from '../workflows/prescription.js';
import { FakeWorld } from '../tests/support/fake-activities.js';
import { timeSkippingEnv, workflowBundle } from '../tests/support/temporal.js';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'tests', 'histories');
const FILES = {
  first: 'care-program-lean-first-run.json',
  continued: 'care-program-lean-continued.json',
  journey: 'patient-journey-program-outcome.json',
  prescription: 'prescription-program-supply.json',
  outreach: 'care-program-outreach-withheld.json',
};
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const missing = (...files: string[]) => files.every((f) => !existsSync(join(OUT, f)));
const save = (name: string, history: { events?: unknown[] | null }) => {
  const file = join(OUT, name);
  if (existsSync(file)) throw new Error(`${file} exists: a committed history is never re-recorded`);
  writeFileSync(file, historyToJSON(history as never));
  console.log(`wrote ${file} (${history.events?.length} events)`);
};

const env = await timeSkippingEnv();
const world = new FakeWorld();
const taskQueue = `record-${randomUUID()}`;
const bundle = await workflowBundle();
/** A worker runs once: one per scenario. */
const worker = { runUntil: async (fn: () => Promise<void>) => (await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities: world.activities() })).runUntil(fn) };
try {
  if (missing(FILES.first, FILES.continued)) await worker.runUntil(async () => {
    const doctor = { role: 'doctor' as const, id: 'doc-replay' };
    const patientActor = { role: 'patient' as const, id: 'pat-replay' };
    const template = templates[0] as ProgramTemplate;
    const input: ProgramInput = {
      programId: randomUUID(),
      patientId: 'pat-replay',
      condition: template.condition,
      doctorId: doctor.id,
      enrolledBy: doctor,
      template,
      plan: { medications: [{ drugCode: 'amlodipine-5mg', dose: '5 mg', times: ['08:00'], supplyDays: 20 }] },
      timezone: 'Asia/Shanghai',
      enrolledAt: new Date(await env.currentTimeMs()).toISOString(),
      followUpPathway: pathways[1] as PathwayTemplate,
    };
    const handle = await env.client.workflow.start<typeof careProgram>(CARE_PROGRAM_WORKFLOW, {
      taskQueue,
      workflowId: programWorkflowId(input.patientId, input.condition),
      args: [input],
    });
    const pass = async (ms: number) => {
      for (let left = ms; left > 0; left -= 2 * DAY) await env.sleep(Math.min(2 * DAY, left));
    };
    await pass(2 * DAY);
    const reminded = world.notifyCalls.filter((n) => n.kind === 'medication.reminder');
    const last = reminded.at(-1)!;
    await handle.executeUpdate(programDoseUpdate, { args: [{ drugCode: 'amlodipine-5mg', scheduledAt: last.refs.scheduledAt!, taken: true, actor: patientActor }] });
    const at = new Date(await env.currentTimeMs()).toISOString();
    await handle.executeUpdate(readingUpdate, { args: [{ reading: { type: 'bp', systolic: 168, diastolic: 96, at }, actor: patientActor }] });
    await handle.executeUpdate(programPlanUpdate, { args: [{ plan: { medications: [{ drugCode: 'amlodipine-5mg', dose: '5 mg', times: ['08:00', '20:00'], supplyDays: 20 }] }, actor: doctor }] });
    await pass(29 * DAY);
    // Past 30 days: the first run has continued as new.
    const view = await handle.query(programQuery);
    if (view.runs < 2) throw new Error(`expected a continued run, got runs = ${view.runs}`);
    await handle.executeUpdate(programStatusUpdate, { args: [{ action: 'pause', reason: 'in hospital', actor: doctor }] });
    await pass(2 * DAY);
    await handle.executeUpdate(programStatusUpdate, { args: [{ action: 'resume', reason: 'home', actor: doctor }] });
    await pass(DAY);
    await handle.executeUpdate(programStatusUpdate, { args: [{ action: 'discharge', reason: 'recorded for replay', actor: doctor }] });
    await handle.result();

    save(FILES.first, await env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).fetchHistory());
    save(FILES.continued, await env.client.workflow.getHandle(handle.workflowId).fetchHistory());
  });
  if (missing(FILES.journey)) await worker.runUntil(async () => {
    const journeyId = randomUUID();
    const standard = pathways[0] as PathwayTemplate;
    const handle = await env.client.workflow.start<typeof patientJourney>(PATIENT_JOURNEY_WORKFLOW, {
      taskQueue,
      workflowId: journeyWorkflowId(journeyId),
      args: [{ journeyId, patientId: 'pat-journey', mode: 'offline', complaint: '血压高', pathway: { ...standard, appointmentReminders: [] }, startedBy: { role: 'patient', id: 'pat-journey' } }],
    });
    await handle.executeUpdate(triagedUpdate);
    const start = (await env.currentTimeMs()) + 3_600_000;
    world.addSlot({ id: 'slot-replay', doctorId: 'doc-replay', department: 'cardiology', mode: 'offline', start, remaining: 3 });
    const booked = await handle.executeUpdate(bookUpdate, { args: [{ slotId: 'slot-replay', actor: { role: 'patient', id: 'pat-journey' } }] });
    await handle.executeUpdate(paymentUpdate, { args: [{ orderId: booked.payment!.orderId, amount: booked.payment!.amount, paidAt: new Date().toISOString(), channel: 'wechat' }] });
    await handle.executeUpdate(checkInUpdate, { args: [{ role: 'patient', id: 'pat-journey' }] });
    await handle.executeUpdate(startConsultationUpdate, { args: [{ doctorId: 'doc-replay' }] });
    const template = templates[0] as ProgramTemplate;
    const program: ProgramInput = {
      programId: randomUUID(),
      patientId: 'pat-journey',
      condition: template.condition,
      doctorId: 'doc-replay',
      enrolledBy: { role: 'doctor', id: 'doc-replay' },
      template,
      plan: { medications: [{ drugCode: 'amlodipine-5mg', dose: '5 mg', times: ['08:00'], supplyDays: 28 }] },
      timezone: 'Asia/Shanghai',
      enrolledAt: new Date(await env.currentTimeMs()).toISOString(),
      followUpPathway: pathways[1] as PathwayTemplate,
    };
    await handle.executeUpdate(recordOutcomeUpdate, { args: [{ doctorId: 'doc-replay', diagnosis: { code: 'I10', text: 'Hypertension' }, notes: '', items: { prescriptions: [], exams: [], referrals: [], program } }] });
    await handle.result();
    save(FILES.journey, await handle.fetchHistory());
    await env.client.workflow.getHandle(programWorkflowId('pat-journey', template.condition)).terminate('recorded');
  });
  if (missing(FILES.prescription)) await worker.runUntil(async () => {
    const template = templates[0] as ProgramTemplate;
    const enrolledAt = new Date(await env.currentTimeMs()).toISOString();
    const program: ProgramInput = {
      programId: randomUUID(),
      patientId: 'pat-rx',
      condition: template.condition,
      doctorId: 'doc-replay',
      enrolledBy: { role: 'doctor', id: 'doc-replay' },
      template,
      plan: { medications: [{ drugCode: 'amlodipine-5mg', dose: '5 mg', times: ['08:00'], supplyDays: 5 }] },
      timezone: 'Asia/Shanghai',
      enrolledAt,
      followUpPathway: pathways[1] as PathwayTemplate,
    };
    const ph = await env.client.workflow.start<typeof careProgram>(CARE_PROGRAM_WORKFLOW, { taskQueue, workflowId: programWorkflowId('pat-rx', template.condition), args: [program] });
    while (!world.programs.has(program.programId)) await new Promise((r) => setTimeout(r, 20));
    const prescriptionId = randomUUID();
    const rx = await env.client.workflow.start<typeof prescriptionFulfillment>(PRESCRIPTION_WORKFLOW, {
      taskQueue,
      workflowId: prescriptionWorkflowId(prescriptionId),
      args: [{
        prescriptionId,
        journeyId: 'journey-replay',
        patientId: 'pat-rx',
        prescriberId: 'doc-replay',
        items: [
          { drugCode: 'amlodipine-5mg', dose: '5 mg', frequency: 'qd', days: 2, quantity: 2, name: '氨氯地平片', unitPrice: 150 },
          { drugCode: 'metformin-500mg', dose: '500 mg', frequency: 'bid', days: 1, quantity: 2, name: '二甲双胍片', unitPrice: 40 },
        ],
        long: false,
        timezone: 'Asia/Shanghai',
        timings: { pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D', paymentWindow: 'PT15M', appointmentReminders: [], deliverySla: 'P2D' },
      }],
    });
    const approved = await rx.executeUpdate(reviewUpdate, { args: [{ pharmacistId: 'ph-replay', decision: 'approve' }] });
    await rx.executeUpdate(paymentUpdate, { args: [{ orderId: approved.payment!.orderId, amount: approved.payment!.amount, paidAt: new Date().toISOString(), channel: 'wechat' }] });
    let snapshot = await rx.query(prescriptionQuery);
    while (snapshot.status !== 'shipped') {
      await new Promise((r) => setTimeout(r, 20));
      snapshot = await rx.query(prescriptionQuery);
    }
    await rx.executeUpdate(courierUpdate, { args: [{ deliveryId: snapshot.delivery!.deliveryId, status: 'delivered', at: new Date().toISOString() }] });
    await env.sleep(2 * DAY);
    await rx.result();
    save(FILES.prescription, await rx.fetchHistory());
    await ph.terminate('recorded');
  });
  if (missing(FILES.outreach)) await worker.runUntil(async () => {
    const doctor = { role: 'doctor' as const, id: 'doc-replay' };
    const template = templates[0] as ProgramTemplate;
    const input: ProgramInput = {
      programId: randomUUID(),
      patientId: 'pat-outreach',
      condition: template.condition,
      doctorId: doctor.id,
      enrolledBy: doctor,
      template,
      plan: { medications: [{ drugCode: 'amlodipine-5mg', dose: '5 mg', times: ['08:00'], supplyDays: 60 }] },
      timezone: 'Asia/Shanghai',
      enrolledAt: new Date(await env.currentTimeMs()).toISOString(),
      followUpPathway: pathways[1] as PathwayTemplate,
    };
    const handle = await env.client.workflow.start<typeof careProgram>(CARE_PROGRAM_WORKFLOW, { taskQueue, workflowId: programWorkflowId(input.patientId, input.condition), args: [input] });
    await env.sleep(HOUR * 20);
    world.setConsent(input.patientId, 'outreach', false);
    await env.sleep(2 * DAY); // the education of day 1 and every reminder withheld
    if (world.withheld.length === 0) throw new Error('nothing was withheld');
    world.setConsent(input.patientId, 'outreach', true);
    await env.sleep(DAY);
    await handle.executeUpdate(programStatusUpdate, { args: [{ action: 'discharge', reason: 'recorded for replay', actor: doctor }] });
    await handle.result();
    save(FILES.outreach, await handle.fetchHistory());
  });
} finally {
  await env.teardown();
}
