// Operators find journeys in the Temporal UI: the workflows keep CarePath's search attributes up to date
// on the dev server (registered as `npm start` registers them), and one visibility query finds a
// no-show, a cancelled journey, a journey at a step, or the overdue ones of a department.
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../workers/logger.js';
import { addSearchAttributes, registerSearchAttributes, searchAttributesProblem } from '../workers/search-attributes.js';
import { journeyWorkflowId } from '../workflows/definitions.js';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';
import { json, waitFor } from './support/http.js';
import { startStack, type Stack } from './support/stack.js';
import { verifyClinicianId } from './support/people.js';

let stack: Stack;
let admin: string;
let doctorId: string;
let doctor: string;

const pathway = {
  id: 'search-test',
  version: 1,
  name: 'Pathway of the search attribute tests',
  modes: ['offline'],
  fees: { registration: 1500 },
  paymentWindow: 'PT1M',
  appointmentReminders: [],
  nearTurnAhead: 1,
  noShowGrace: 'PT1S',
  consultStartSla: 'PT1S',
  pharmacistReviewSla: 'PT30M',
  prescriptionValidity: 'P3D',
};
const NAME = '搜索测试患者';
const COMPLAINT = '高血压，最近头晕';

async function newPatient(): Promise<{ id: string; token: string }> {
  const p = await json<{ id: string }>(
    await stack.call('POST', '/v1/patients', { token: admin, body: { name: NAME, phone: '+8613800000000', birthDate: '1970-01-01', sex: 'M' } }),
    201,
  );
  return { id: p.id, token: await stack.token('patient', p.id) };
}

async function journeyFor(patient: { id: string; token: string }): Promise<string> {
  const j = await json<{ id: string; triage: { department: string } }>(
    await stack.call('POST', '/v1/journeys', { token: patient.token, body: { patientId: patient.id, mode: 'offline', complaint: COMPLAINT, pathwayId: pathway.id } }),
    201,
  );
  expect(j.triage.department).toBe('cardiology');
  return j.id;
}

async function bookAndPay(journeyId: string, patient: { token: string }, slotId: string): Promise<void> {
  const booked = await json<{ payment: { orderId: string } }>(await stack.call('POST', `/v1/journeys/${journeyId}/appointment`, { token: patient.token, body: { slotId } }), 200);
  expect((await stack.payWebhook({ orderId: booked.payment.orderId, status: 'paid', amount: 1500, paidAt: new Date().toISOString(), channel: 'wechat' })).status).toBe(204);
}

/** The workflow ids a visibility query finds (the dev server's visibility is eventually consistent: poll). */
async function find(query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const w of stack.env.client.workflow.list({ query })) ids.push(w.workflowId);
  return ids.sort();
}
async function untilFound(query: string, expected: string[]): Promise<void> {
  const want = [...expected].sort();
  await waitFor(async () => (JSON.stringify(await find(query)) === JSON.stringify(want) ? true : undefined), 20_000);
  expect(await find(query)).toEqual(want);
}

/** A workflow's CarePath search attributes, by name. */
function attributes(info: Pick<WorkflowExecutionInfo, 'typedSearchAttributes'>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of SEARCH_ATTRIBUTES) {
    const value = info.typedSearchAttributes.get(key);
    if (value !== undefined) out[key.name] = value;
  }
  return out;
}

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'admin-1');
  const d = await json<{ id: string }>(await stack.call('POST', '/v1/clinicians', { token: admin, body: { name: 'Dr. Search', role: 'doctor', department: 'cardiology' } }), 201);
  await verifyClinicianId(stack, admin, d.id);
  doctorId = d.id;
  doctor = await stack.token('doctor', d.id);
  await json(await stack.call('POST', '/v1/pathways', { token: admin, body: pathway }), 201);
});

afterAll(async () => {
  await stack?.stop();
});

describe('search attributes on the dev server', () => {
  it('finds a no-show, a cancelled journey, a journey at its step and the overdue ones of a department, each by one query', async () => {
    const absent = await newPatient();
    const present = await newPatient();
    const leaving = await newPatient();
    const waiting = await newPatient();
    const [noShow, checkedIn, cancelled, booking] = await Promise.all([journeyFor(absent), journeyFor(present), journeyFor(leaving), journeyFor(waiting)]);
    // The slot is made once everyone has a journey: the bookings go in within its 3 s, however loaded the machine.
    const start = new Date(Date.now() + 3_000);
    const slot = await json<{ id: string }>(
      await stack.call('POST', '/v1/slots', {
        token: admin,
        body: { doctorId, department: 'cardiology', start: start.toISOString(), end: new Date(start.getTime() + 3_600_000).toISOString(), capacity: 5, mode: 'offline' },
      }),
      201,
    );
    await bookAndPay(noShow, absent, slot.id);
    await bookAndPay(checkedIn, present, slot.id);
    await json(await stack.call('POST', `/v1/journeys/${checkedIn}/check-in`, { token: present.token }), 200);
    await json(await stack.call('POST', `/v1/journeys/${cancelled}/cancel`, { token: leaving.token, body: { reason: 'feeling better' } }), 200);

    // A journey at its step, found by step and patient.
    await untilFound(`CarePathStep = "booking" AND CarePathPatientId = "${waiting.id}"`, [journeyWorkflowId(booking)]);
    await untilFound('CarePathStatus = "cancelled"', [journeyWorkflowId(cancelled)]);
    // After the start + grace the absent patient is a no-show; the checked-in one is late for the consultation (SLA 1 s).
    await untilFound('CarePathStatus = "no-show"', [journeyWorkflowId(noShow)]);
    await untilFound('CarePathOverdue = true AND CarePathDepartment = "cardiology"', [journeyWorkflowId(checkedIn)]);
    expect(await find('CarePathOverdue = true AND CarePathDepartment = "dermatology"')).toEqual([]);

    // The no-show's workflow has completed, yet its attributes say what became of the journey: ids and codes, no name, no complaint.
    const handle = stack.env.client.workflow.getHandle(journeyWorkflowId(noShow));
    await handle.result();
    const shown = await handle.describe();
    expect(shown.status.name).toBe('COMPLETED');
    expect(attributes(shown)).toEqual({
      CarePathStep: 'done',
      CarePathStatus: 'no-show',
      CarePathPhase: 'closed',
      CarePathDepartment: 'cardiology',
      CarePathPatientId: absent.id,
      CarePathDoctorId: doctorId,
      CarePathOverdue: false,
    });
    const raw = Object.values(shown.raw.workflowExecutionInfo?.searchAttributes?.indexedFields ?? {}).map((p) => Buffer.from(p.data ?? []).toString('utf8'));
    expect(raw.length).toBeGreaterThanOrEqual(SEARCH_ATTRIBUTES.length);
    for (const text of raw) for (const secret of [NAME, COMPLAINT, '高血压']) expect(text).not.toContain(secret);
    const listed = await find(`CarePathPatientId = "${present.id}"`);
    expect(listed).toEqual([journeyWorkflowId(checkedIn)]);

    // The consultation starts: the escalation closes, the journey is no longer overdue.
    await json(await stack.call('POST', `/v1/journeys/${checkedIn}/consultation`, { token: doctor }), 200);
    await untilFound('CarePathOverdue = true', []);
    await untilFound(`CarePathStep = "in-consultation" AND CarePathPhase = "visit" AND CarePathDoctorId = "${doctorId}"`, [journeyWorkflowId(checkedIn)]);
  });

  it('registers what a namespace lacks, and names what a worker must not start without', async () => {
    const connection = stack.env.connection;
    const log = createLogger('silent');
    const namespace = async (name: string) => {
      await connection.workflowService.registerNamespace({ namespace: name, workflowExecutionRetentionPeriod: msToTs('1 day') });
      // A new namespace reaches the server's caches after a moment.
      await waitFor(() => connection.operatorService.listSearchAttributes({ namespace: name }).then(() => true, () => undefined));
    };
    expect(await searchAttributesProblem(connection, stack.env.namespace ?? 'default', log)).toBeUndefined();

    await namespace('bare');
    const problem = await searchAttributesProblem(connection, 'bare', log);
    expect(problem).toContain("namespace bare lacks CarePath's search attributes");
    expect(problem).toContain('temporal operator search-attribute create --namespace bare --name CarePathStatus --type Keyword');
    expect(problem).toContain('temporal operator search-attribute create --namespace bare --name CarePathOverdue --type Bool');
    expect(await registerSearchAttributes(connection, 'bare')).toEqual(SEARCH_ATTRIBUTES.map((k) => k.name));
    expect(await registerSearchAttributes(connection, 'bare')).toEqual([]);
    expect(await searchAttributesProblem(connection, 'bare', log)).toBeUndefined();

    await namespace('mistyped');
    await addSearchAttributes(connection, 'mistyped', [defineSearchAttributeKey('CarePathOverdue', SearchAttributeType.KEYWORD)]);
    expect(await searchAttributesProblem(connection, 'mistyped', log)).toBe('namespace mistyped has search attributes of another type: CarePathOverdue is not Bool');
    await expect(registerSearchAttributes(connection, 'mistyped')).rejects.toThrow('CarePathOverdue is not Bool');
  });
});
