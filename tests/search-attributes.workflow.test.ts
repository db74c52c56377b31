// The post-visit items keep their search attributes on the time-skipping server: a prescription's
// status, patient, prescriber and `overdue` while its review is late; an exam's and a referral's
// status, patient and doctor or department. (The journey's, queried on the dev server:
// tests/search-attributes.integration.test.ts.)
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import {
  EXAM_WORKFLOW,
  PRESCRIPTION_WORKFLOW,
  REFERRAL_WORKFLOW,
  examWorkflowId,
  prescriptionWorkflowId,
  referralWorkflowId,
  reviewUpdate,
  type ItemTimings,
} from '../workflows/definitions.js';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';
import { waitFor, workflowHarness } from './support/workflow-harness.js';

const MIN = 60_000;
const h = workflowHarness();
const timings: ItemTimings = { pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D', paymentWindow: 'PT15M', appointmentReminders: ['PT1H'] };

/** The workflow's CarePath search attributes, by name, as the server holds them. */
async function attributes(handle: WorkflowHandle): Promise<Record<string, unknown>> {
  const { typedSearchAttributes } = await handle.describe();
  return Object.fromEntries(SEARCH_ATTRIBUTES.flatMap((key) => {
    const value = typedSearchAttributes.get(key);
    return value === undefined ? [] : [[key.name, value]];
  }));
}

/** Waits until the server holds `expected` (an upsert lands with the workflow task that made it). */
async function until(handle: WorkflowHandle, expected: Record<string, unknown>): Promise<void> {
  await waitFor(async () => JSON.stringify(await attributes(handle)) === JSON.stringify(expected)).catch(() => undefined);
  expect(await attributes(handle)).toEqual(expected);
}

describe('search attributes of the post-visit items', () => {
  it('a prescription: its status, patient and prescriber; overdue from the late review until it is approved', async () => {
    await h.withWorker(async ({ taskQueue }) => {
      const id = randomUUID();
      const handle = await h.env().client.workflow.start(PRESCRIPTION_WORKFLOW, {
        taskQueue,
        workflowId: prescriptionWorkflowId(id),
        args: [
          {
            prescriptionId: id, journeyId: 'journey-1', patientId: 'pat-1', prescriberId: 'doc-1', long: false, timezone: 'Asia/Shanghai', timings,
            items: [{ drugCode: 'amlodipine-5mg', dose: '5 mg', frequency: 'qd', days: 2, quantity: 2, name: '氨氯地平片', unitPrice: 150 }],
          },
        ],
      });
      h.started.push(handle);
      const base = { CarePathPatientId: 'pat-1', CarePathDoctorId: 'doc-1' };
      await until(handle, { CarePathStatus: 'pending-review', ...base, CarePathOverdue: false });
      await h.env().sleep(31 * MIN);
      await until(handle, { CarePathStatus: 'pending-review', ...base, CarePathOverdue: true });
      await handle.executeUpdate(reviewUpdate, { args: [{ pharmacistId: 'ph-1', decision: 'approve' }] });
      await until(handle, { CarePathStatus: 'awaiting-payment', ...base, CarePathOverdue: false });
    });
  });

  it('an exam: its status, patient and ordering doctor', async () => {
    await h.withWorker(async ({ taskQueue }) => {
      const id = randomUUID();
      const handle = await h.env().client.workflow.start(EXAM_WORKFLOW, {
        taskQueue,
        workflowId: examWorkflowId(id),
        args: [{ examId: id, journeyId: 'journey-1', patientId: 'pat-2', doctorId: 'doc-2', code: 'hba1c', name: 'HbA1c', price: 8000, timings }],
      });
      h.started.push(handle);
      await until(handle, { CarePathStatus: 'awaiting-payment', CarePathPatientId: 'pat-2', CarePathDoctorId: 'doc-2', CarePathOverdue: false });
    });
  });

  it('a referral: its status, patient and the department referred to', async () => {
    await h.withWorker(async ({ taskQueue }) => {
      const id = randomUUID();
      const handle = await h.env().client.workflow.start(REFERRAL_WORKFLOW, {
        taskQueue,
        workflowId: referralWorkflowId(id),
        args: [
          {
            referralId: id, journeyId: 'journey-1', patientId: 'pat-3', facilityId: 'ruijin', department: 'cardiology', reason: 'angiography', urgency: 'urgent',
            diagnosis: 'angina', timings,
          },
        ],
      });
      h.started.push(handle);
      await until(handle, { CarePathStatus: 'sent', CarePathDepartment: 'cardiology', CarePathPatientId: 'pat-3', CarePathOverdue: false });
    });
  });
});
