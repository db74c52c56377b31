// Patient data sealed in Temporal, on the whole stack: a journey whose complaint, diagnosis, notes,
// name and phone carry marker strings runs to its outcome through the API; its history, read through
// a Temporal client without the codec, holds none of the markers, and every payload in it is sealed;
// through the codec (the client's, or the API's /codec/decode) they read again; and the sealed
// history replays through the codec.
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { METADATA_ENCODING_KEY, defaultPayloadConverter, type Payload } from '@temporalio/common';
import proto, { type temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journeyWorkflowId } from '../workflows/definitions.js';
import { ENCRYPTED_ENCODING } from '../workers/codec.js';
import { json, waitFor } from './support/http.js';
import { startStack, type Stack } from './support/stack.js';
import { DATA_CONVERTER, workflowBundle } from './support/temporal.js';
import { verifyClinicianId } from './support/people.js';

type History = temporal.api.history.v1.IHistory;

let stack: Stack;
let admin: string;
let coordinator: string;
const tag = randomUUID().slice(0, 8);
const MARKERS = {
  complaint: `COMPLAINT-${tag}-胸痛三天`,
  diagnosis: `DIAGNOSIS-${tag}-angina`,
  notes: `NOTES-${tag}-rest`,
  name: `NAME-${tag}-王`,
  phone: `+86139${tag.replace(/\D/g, '').padEnd(8, '7').slice(0, 8)}`,
};
const pathway = {
  id: 'sealed-test',
  version: 1,
  name: 'Sealed payloads',
  modes: ['offline', 'online'],
  fees: { registration: 900 },
  paymentWindow: 'PT10M',
  appointmentReminders: ['P1D'],
  nearTurnAhead: 1,
  noShowGrace: 'PT10M',
  consultStartSla: 'PT10M',
  pharmacistReviewSla: 'PT30M',
  prescriptionValidity: 'P3D',
};

/**
 * Every Payload in a history (objects with `data` bytes), but those of search attributes (ids and
 * codes that Temporal indexes, never encrypted) and of patch markers (a patch's name, written by the
 * SDK's core, which no codec sees).
 */
function payloadsOf(node: unknown, out: Payload[] = []): Payload[] {
  if (!node || typeof node !== 'object' || node instanceof Uint8Array) return out;
  if (Array.isArray(node)) {
    for (const n of node) payloadsOf(n, out);
    return out;
  }
  const o = node as Record<string, unknown>;
  if (o.markerName === 'core_patch') return out;
  // A local activity's marker: its result is sealed; `data` is the SDK's own bookkeeping (sequence,
  // attempt, activity id and type, times), no workflow data. The raw bytes are checked for markers too.
  if (o.markerName === 'core_local_activity') {
    const result = (o.details as Record<string, unknown> | undefined)?.result;
    expect(result).toBeDefined();
    return payloadsOf(result, out);
  }
  if (o.data instanceof Uint8Array && o.metadata && typeof o.metadata === 'object') {
    out.push(o as Payload);
    return out;
  }
  for (const [k, v] of Object.entries(o)) if (k !== 'searchAttributes') payloadsOf(v, out);
  return out;
}

const bytesOf = (h: History) => Buffer.from(proto.temporal.api.history.v1.History.encode(h).finish());

let journeyId: string;
let sealed: History;

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'admin-1');
  coordinator = await stack.token('coordinator', 'coord-1');
  await json(await stack.call('POST', '/v1/pathways', { token: admin, body: pathway }), 201);
  const doctorId = (await json(await stack.call('POST', '/v1/clinicians', { token: admin, body: { name: 'Dr. Seal', role: 'doctor', department: 'cardiology' } }), 201)).id as string;
  await verifyClinicianId(stack, admin, doctorId);
  const doctor = await stack.token('doctor', doctorId);
  const p = await json(await stack.call('POST', '/v1/patients', { token: admin, body: { name: MARKERS.name, phone: MARKERS.phone, birthDate: '1966-06-06', sex: 'F' } }), 201);
  const patient = await stack.token('patient', p.id);
  const start = new Date(Date.now() + 2500);
  const slot = await json(await stack.call('POST', '/v1/slots', {
    token: admin,
    body: { doctorId, department: 'cardiology', start: start.toISOString(), end: new Date(start.getTime() + 3600_000).toISOString(), capacity: 5, mode: 'offline' },
  }), 201);
  const j = await json(await stack.call('POST', '/v1/journeys', { token: patient, body: { patientId: p.id, mode: 'offline', complaint: MARKERS.complaint, pathwayId: pathway.id } }), 201);
  journeyId = j.id;
  const booked = await json(await stack.call('POST', `/v1/journeys/${j.id}/appointment`, { token: patient, body: { slotId: slot.id } }), 200);
  expect((await stack.payWebhook({ orderId: booked.payment.orderId, status: 'paid', amount: 900, paidAt: new Date().toISOString(), channel: 'wechat' })).status).toBe(204);
  await new Promise((r) => setTimeout(r, Math.max(0, start.getTime() - Date.now()) + 100));
  await json(await stack.call('POST', `/v1/journeys/${j.id}/check-in`, { token: patient }), 200);
  await json(await stack.call('POST', `/v1/journeys/${j.id}/consultation`, { token: doctor }), 200);
  await json(await stack.call('POST', `/v1/journeys/${j.id}/outcome`, { token: doctor, body: { diagnosis: { code: 'I20', text: MARKERS.diagnosis }, notes: MARKERS.notes } }), 200);
  // The journey reads back in clear through the API (its codec-sealed update answers and query).
  const read = await waitFor(async () => {
    const r = await json(await stack.call('GET', `/v1/journeys/${j.id}`, { token: admin }), 200);
    return r.status === 'completed' ? r : undefined;
  });
  expect(read.outcome).toMatchObject({ diagnosis: { code: 'I20', text: MARKERS.diagnosis }, notes: MARKERS.notes });
  // The history as anyone with access to Temporal reads it: a client without the codec.
  const raw = new Client({ connection: stack.env.connection, namespace: stack.env.namespace ?? 'default' });
  sealed = await raw.workflow.getHandle(journeyWorkflowId(j.id)).fetchHistory();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe('payloads sealed in Temporal', () => {
  it('the history read without the codec holds no marker of the complaint, diagnosis, notes, name or phone', () => {
    const bytes = bytesOf(sealed);
    const types = (sealed.events ?? []).map((e) => e.eventType);
    expect(types.length).toBeGreaterThan(10);
    for (const [what, marker] of Object.entries(MARKERS)) {
      expect(bytes.includes(Buffer.from(marker, 'utf8')), `${what} in the raw history`).toBe(false);
      expect(bytes.includes(Buffer.from(marker.split('-')[1] ?? marker, 'utf8')), `${what}'s tag in the raw history`).toBe(false);
    }
    // Every payload of the history (inputs, results, updates, signals, queries answered, memos) is sealed.
    const payloads = payloadsOf(sealed);
    expect(payloads.length).toBeGreaterThan(10);
    const encodings = new Set(payloads.map((p) => Buffer.from(p.metadata![METADATA_ENCODING_KEY]!).toString()));
    expect([...encodings]).toEqual([ENCRYPTED_ENCODING]);
  });

  it('through the codec every marker reads again', async () => {
    const opened = await DATA_CONVERTER.payloadCodecs[0].decode(payloadsOf(sealed));
    const clear = JSON.stringify(opened.map((p) => defaultPayloadConverter.fromPayload(p)));
    for (const marker of Object.values(MARKERS).filter((m) => m !== MARKERS.name && m !== MARKERS.phone)) expect(clear).toContain(marker);
    // The journey's own client (with the codec) reads the workflow's result and query as before.
    expect(await stack.env.client.workflow.getHandle(journeyWorkflowId(journeyId)).result()).toBeDefined();
  });

  it("the API's codec server opens them for staff and answers 401 without a token", async () => {
    const started = sealed.events!.find((e) => e.workflowExecutionStartedEventAttributes)!.workflowExecutionStartedEventAttributes!.input!.payloads!;
    const body = {
      payloads: started.map((p) => ({
        metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
        data: Buffer.from(p.data!).toString('base64'),
      })),
    };
    const res = await stack.call('POST', '/codec/decode', { token: coordinator, body });
    const decoded = await json<{ payloads: { data: string }[] }>(res, 200);
    expect(Buffer.from(decoded.payloads[0]!.data, 'base64').toString('utf8')).toContain(MARKERS.complaint);
    const refused = await stack.call('POST', '/codec/decode', { body });
    expect(refused.status).toBe(401);
    expect(await refused.text()).not.toContain(MARKERS.complaint);
  });

  it('the sealed history replays through the codec', async () => {
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle(), dataConverter: DATA_CONVERTER }, sealed, `sealed-${journeyId}`);
  });
});
