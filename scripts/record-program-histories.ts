// Records histories of the careProgram workflow for tests/replay.test.ts, on the time-skipping test
// server with the tests' fake activities: a program's run lasts 30 days, which only a skipped clock
// can record. Two files: the first run (enrolment, reminders, a reading with an alert, doses, a plan
// change, ending in continue-as-new) and the run after it (carried state, a pause and resume, then
// discharge). Like scripts/record-histories.ts it never overwrites a committed history.
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
import { FakeWorld } from '../tests/support/fake-activities.js';
import { timeSkippingEnv, workflowBundle } from '../tests/support/temporal.js';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'tests', 'histories');
const FILES = { first: 'care-program-first-run.json', continued: 'care-program-continued.json' };
const DAY = 86_400_000;

if (Object.values(FILES).some((f) => existsSync(join(OUT, f)))) {
  console.log(`skip: ${Object.values(FILES).join(', ')} committed already (never re-recorded)`);
  process.exit(0);
}

const env = await timeSkippingEnv();
const world = new FakeWorld();
const taskQueue = `record-${randomUUID()}`;
const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities: world.activities() });
try {
  await worker.runUntil(async () => {
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

    const first = await env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).fetchHistory();
    const continued = await env.client.workflow.getHandle(handle.workflowId).fetchHistory();
    for (const [name, history] of [
      [FILES.first, first],
      [FILES.continued, continued],
    ] as const) {
      const file = join(OUT, name);
      writeFileSync(file, historyToJSON(history));
      console.log(`wrote ${file} (${history.events?.length} events)`);
    }
  });
} finally {
  await env.teardown();
}
