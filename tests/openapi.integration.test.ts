// The OpenAPI document against the API that serves it, on the real stack: every answer the API gives
// to the calls below (a journey from booking to its outcome with a prescription, an exam, a referral and
// a care program, and bad input of every kind on every documented operation) must have a documented
// status and media type and validate against the documented schema, and none may be a 5xx. This is
// what a schema-driven fuzzer checks (docs/testing.md runs Schemathesis), without Python.
// Every call is also checked against the audit log (api/audit.ts): a call to a route that serves
// patient data appended exactly one event, with the caller, the route, the outcome and the status of
// the answer, and in the walk the patient it concerned; any other call appended none.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { verify } from 'hono/jwt';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditRow } from '../activities/audit.js';
import { sign } from '../activities/signature.js';
import { SECRETS, startStack, type Stack } from './support/stack.js';
import { waitFor } from './support/http.js';

type Json = Record<string, any>;
interface Operation {
  method: string;
  template: string;
  re: RegExp;
  op: Json;
}

let stack: Stack;
let doc: Json;
let operations: Operation[];
let ajv: Ajv2020;
const validators = new Map<string, ValidateFunction>();
/** Every answer checked, as `METHOD template status`. */
const seen = new Set<string>();
const violations: string[] = [];

// ajv-formats is CommonJS: its default export is the module object under some loaders.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (a: Ajv2020) => void;

function operationOf(method: string, path: string): Operation | undefined {
  const pathname = path.split('?')[0]!;
  return operations.find((o) => o.method === method && o.re.test(pathname));
}

/** The documented schema of `op`'s answer `status` in `mediaType`, compiled once; `$ref`s point into the document. */
function validatorOf(key: string, schema: Json): ValidateFunction {
  let v = validators.get(key);
  if (!v) {
    const rebased = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"doc#/components/')) as Json;
    v = ajv.compile(rebased);
    validators.set(key, v);
  }
  return v;
}

/** Checks one answer against the document; records what is wrong (asserted once, at the end). */
async function check(method: string, path: string, res: Response): Promise<string> {
  const text = await res.clone().text();
  const o = operationOf(method, path);
  const where = `${method} ${path} → ${res.status}`;
  if (!o) {
    violations.push(`${where}: not a documented operation`);
    return text;
  }
  seen.add(`${method} ${o.template} ${res.status}`);
  if (res.status >= 500) violations.push(`${where}: server error ${text}`);
  const documented = o.op.responses?.[String(res.status)];
  if (!documented) {
    violations.push(`${where}: status not documented (${Object.keys(o.op.responses ?? {}).join(', ')})`);
    return text;
  }
  const content = documented.content as Json | undefined;
  if (!content) {
    if (text !== '') violations.push(`${where}: documented without a body, answered ${text}`);
    return text;
  }
  const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const entry = content[mediaType];
  if (!entry) {
    violations.push(`${where}: media type ${mediaType} not documented (${Object.keys(content).join(', ')})`);
    return text;
  }
  if (mediaType.endsWith('json')) {
    const validate = validatorOf(`${method} ${o.template} ${res.status} ${mediaType}`, entry.schema);
    if (!validate(JSON.parse(text))) violations.push(`${where}: ${ajv.errorsText(validate.errors)} in ${text.slice(0, 300)}`);
  }
  return text;
}

// ---- the audit of every call ---------------------------------------------------------------------

/** The routers that serve patient data: each call to one is audited once, any other call never. */
const AUDITED = ['/v1/patients', '/v1/journeys', '/v1/prescriptions', '/v1/exams', '/v1/referrals', '/v1/programs', '/v1/consultations', '/v1/mdt', '/v1/remote-consultations', '/v1/tasks', '/v1/board', '/v1/stream', '/v1/webhooks', '/v1/audit', '/v1/reconciliations', '/codec'];
/** The partner a valid signature on each webhook stands for. */
const PARTNERS: Record<string, { partner: string; secret: string }> = {
  '/v1/webhooks/payments': { partner: 'payment-provider', secret: SECRETS.paymentWebhook },
  '/v1/webhooks/courier': { partner: 'courier', secret: SECRETS.courierWebhook },
  '/v1/webhooks/lab': { partner: 'lab', secret: SECRETS.labWebhook },
  '/v1/webhooks/facility': { partner: 'facility', secret: SECRETS.facilityWebhook },
  '/v1/webhooks/identity': { partner: 'identity-provider', secret: SECRETS.identityWebhook },
};

interface Called {
  method: string;
  path: string;
  opts: CallOpts;
  status: number;
  requestId: string | null;
  body: any;
}
/** `audit.patient`: the patient the call's event must name when it is not the walk's patient (null: none). */
type CallOpts = NonNullable<Parameters<Stack['call']>[2]> & { audit?: { patient: string | null } };
const calls: Called[] = [];

/** Who the audit must name for a call: the token's user, the partner whose signature is valid, or anonymous. */
async function expectedActor(c: Called): Promise<{ actor: string | null; role: string }> {
  const pathname = c.path.split('?')[0]!;
  const partner = PARTNERS[pathname];
  const raw = c.opts.raw ?? (c.opts.body !== undefined ? JSON.stringify(c.opts.body) : '');
  if (partner && typeof raw === 'string' && c.opts.headers?.['X-Signature'] === sign(partner.secret, raw)) return { actor: partner.partner, role: 'partner' };
  if (c.opts.token) {
    const claims = await verify(c.opts.token, SECRETS.jwt, 'HS256').catch(() => undefined);
    if (claims) return { actor: String(claims.sub), role: String(claims.role) };
  }
  return { actor: null, role: 'anonymous' };
}

/**
 * Checks the audit events of the calls made since the last check: one per call to a patient-data
 * route, with the caller, the action (method and documented template), the outcome and the status;
 * none for any other call. Returns the audited calls with their events.
 */
async function expectAudited(): Promise<{ call: Called; event: AuditRow }[]> {
  const made = calls.splice(0);
  const rows = await stack.db.sql<AuditRow[]>`
    select actor, role, action, patient_id, patient_ids, resource, outcome, status, request_id
    from audit_events where request_id = any(${made.map((c) => c.requestId ?? '')}::text[])`;
  const wrong: string[] = [];
  const audited: { call: Called; event: AuditRow }[] = [];
  for (const c of made) {
    const where = `${c.method} ${c.path.slice(0, 120)} → ${c.status}`;
    const events = rows.filter((r) => r.request_id === c.requestId);
    const pathname = c.path.split('?')[0]!;
    const router = AUDITED.find((p) => pathname === p || pathname.startsWith(`${p}/`));
    if (!c.requestId) wrong.push(`${where}: no X-Request-Id`);
    if (!router) {
      if (events.length > 0) wrong.push(`${where}: audited, but serves no patient data`);
      continue;
    }
    if (events.length !== 1) {
      wrong.push(`${where}: ${events.length} audit events`);
      continue;
    }
    const [event] = events as [AuditRow];
    const o = operationOf(c.method, c.path);
    const want = {
      ...(await expectedActor(c)),
      action: `${c.method} ${o?.template ?? `${router}/*`}`,
      outcome: c.status >= 200 && c.status < 300 ? 'allowed' : 'refused',
      status: c.status,
    };
    const got = { actor: event.actor, role: event.role, action: event.action, outcome: event.outcome, status: event.status };
    if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${where}: audited as ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    audited.push({ call: c, event });
  }
  expect(wrong).toEqual([]);
  return audited;
}

/** A call to the API whose answer is checked against the document (and later its audit); the parsed body. */
async function call(method: string, path: string, opts: CallOpts = {}): Promise<{ status: number; body: any }> {
  const res = await stack.call(method, path, opts);
  const text = await check(method, path, res);
  const body = text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text;
  calls.push({ method, path, opts, status: res.status, requestId: res.headers.get('x-request-id'), body });
  return { status: res.status, body };
}

/** A signed partner webhook. */
const signed = (path: string, body: Json, secret: string, audit?: CallOpts['audit']) => {
  const raw = JSON.stringify(body);
  return call('POST', path, { raw, headers: { 'X-Signature': sign(secret, raw) }, ...(audit ? { audit } : {}) });
};

beforeAll(async () => {
  stack = await startStack({ sandbox: {} });
  doc = (await (await fetch(`${stack.url}/openapi.json`)).json()) as Json;
  operations = Object.entries(doc.paths as Record<string, Json>)
    .flatMap(([template, ops]) =>
      Object.entries(ops).map(([method, op]) => ({
        method: method.toUpperCase(),
        template,
        re: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
        op: op as Json,
      })),
    )
    // Literal paths before templated ones (/v1/journeys before /v1/journeys/{id}).
    .sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0));
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'doc', components: doc.components }, 'doc');
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});
beforeEach(() => {
  violations.length = 0;
  calls.length = 0;
});

describe('the OpenAPI document', () => {
  it('is one object schema per response: no allOf of closed objects that no body can satisfy', () => {
    const closed = (s: Json): boolean => (s.$ref ? closed(doc.components.schemas[String(s.$ref).split('/').pop()!]) : s.additionalProperties === false);
    const found: string[] = [];
    const walk = (x: unknown, path: string, refs: Set<string>): void => {
      if (Array.isArray(x)) return x.forEach((v, i) => walk(v, `${path}/${i}`, refs));
      if (!x || typeof x !== 'object') return;
      const o = x as Json;
      if (Array.isArray(o.allOf) && o.allOf.length > 1 && o.allOf.some(closed)) found.push(path);
      if (typeof o.$ref === 'string' && !refs.has(o.$ref)) {
        refs.add(o.$ref);
        walk(doc.components.schemas[String(o.$ref).split('/').pop()!], o.$ref, refs);
      }
      for (const [k, v] of Object.entries(o)) walk(v, `${path}/${k}`, refs);
    };
    for (const o of operations) walk(o.op.responses, `${o.method} ${o.template}`, new Set());
    expect(found).toEqual([]);
    expect(Object.keys(doc.components.schemas.Clinician.properties)).toEqual(['id', 'name', 'role', 'department', 'licenceNumber', 'yearsOfPractice', 'verifiedAt', 'createdAt']);
  });

  it('documents the operations endpoints, Idempotency-Key on every creating POST, and the at-least-once notification webhook', () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) expect(doc.paths[path]?.get, path).toBeDefined();
    expect(Object.keys(doc.paths['/readyz'].get.responses)).toEqual(['200', '503']);
    expect(Object.keys(doc.paths['/metrics'].get.responses['200'].content)).toEqual(['text/plain']);
    const creating = operations.filter((o) => o.method === 'POST' && o.op.responses['201']).map((o) => o.template);
    expect(creating).toEqual(expect.arrayContaining(['/v1/journeys', '/v1/patients', '/v1/clinicians', '/v1/slots', '/v1/pathways', '/v1/facilities', '/v1/programs', '/v1/program-templates', '/v1/consultations', '/v1/consultations/{id}/messages', '/v1/consultation-templates', '/v1/mdt', '/v1/mdt/{id}/opinions', '/v1/institutions']));
    for (const o of operations.filter((x) => creating.includes(x.template) && x.method === 'POST')) {
      expect((o.op.parameters as Json[]).map((p) => `${p.in}:${p.name}`), o.template).toContain('header:idempotency-key');
      expect(Object.keys(o.op.responses), o.template).toEqual(expect.arrayContaining(['409', '422']));
    }
    const webhook = doc.webhooks.notification.post;
    expect(webhook.description).toMatch(/at least once/);
    expect(webhook.parameters.map((p: Json) => p.name)).toEqual(expect.arrayContaining(['x-signature', 'idempotency-key']));
  });
});

describe('every answer of the API is in the document', () => {
  let admin: string;
  let coordinator: string;
  let pharmacist: string;

  beforeAll(async () => {
    admin = await stack.token('admin', 'admin-1');
    coordinator = await stack.token('coordinator', 'coord-1');
    pharmacist = await stack.token('pharmacist', 'pharm-1');
  });

  it('a journey from booking to an outcome with a prescription, an exam, a referral and a care program, and every item read and acted on', async () => {
    const pathway = {
      id: 'openapi-walk', version: 1, name: 'OpenAPI walk', modes: ['offline'], fees: { registration: 800 }, paymentWindow: 'PT10M',
      appointmentReminders: ['P1D'], nearTurnAhead: 1, noShowGrace: 'PT10M', consultStartSla: 'PT10M', pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D',
    };
    expect((await call('POST', '/v1/pathways', { token: admin, body: pathway })).status).toBe(201);
    expect((await call('GET', '/v1/pathways', { token: admin })).status).toBe(200);
    expect((await call('GET', `/v1/pathways/${pathway.id}`, { token: admin })).status).toBe(200);
    const doctor = await call('POST', '/v1/clinicians', { token: admin, body: { name: 'Dr. Schema', role: 'doctor', department: 'cardiology' }, headers: { 'Idempotency-Key': 'walk-doctor' } });
    expect(doctor.status).toBe(201);
    expect((await call('POST', `/v1/clinicians/${doctor.body.id}/verification`, { token: admin, body: { licenceNumber: 'LIC-WALK-1', yearsOfPractice: 9 } })).status).toBe(200);
    expect((await call('GET', `/v1/clinicians/${doctor.body.id}`, { token: coordinator })).status).toBe(200);
    const ph = await call('POST', '/v1/clinicians', { token: admin, body: { name: 'Ph. Schema', role: 'pharmacist' } });
    expect((await call('POST', `/v1/clinicians/${ph.body.id}/verification`, { token: admin, body: { licenceNumber: 'LIC-WALK-2', yearsOfPractice: 5 } })).status).toBe(200);
    pharmacist = await stack.token('pharmacist', ph.body.id);
    const doctorToken = await stack.token('doctor', doctor.body.id);
    const facility = await call('POST', '/v1/facilities', { token: admin, body: { name: 'Walk Hospital', kind: 'hospital' } });
    expect(facility.status).toBe(201);
    expect((await call('GET', '/v1/facilities', { token: admin })).status).toBe(200);
    expect((await call('GET', '/v1/drugs?query=amlodipine', { token: doctorToken })).status).toBe(200);
    expect((await call('GET', '/v1/exam-catalogue', { token: doctorToken })).status).toBe(200);
    expect((await call('GET', '/v1/program-templates', { token: admin })).status).toBe(200);
    const patient = await call('POST', '/v1/patients', { token: admin, body: { name: '文档患者', phone: '+8613800000077', birthDate: '1958-03-04', sex: 'M' } });
    expect(patient.status).toBe(201);
    const patientToken = await stack.token('patient', patient.body.id);
    expect((await call('POST', `/v1/patients/${patient.body.id}/identity-verifications`, { token: coordinator, body: { method: 'id-card' } })).status).toBe(201);
    const identity = { patientId: patient.body.id, method: 'face-recognition', verifiedAt: new Date().toISOString(), reference: `walk-${patient.body.id}` };
    expect((await signed('/v1/webhooks/identity', identity, SECRETS.identityWebhook)).status).toBe(204);
    expect((await call('GET', `/v1/patients/${patient.body.id}`, { token: patientToken })).status).toBe(200);
    const start = new Date(Date.now() + 2500);
    const slot = await call('POST', '/v1/slots', {
      token: admin,
      body: { doctorId: doctor.body.id, department: 'cardiology', start: start.toISOString(), end: new Date(start.getTime() + 3600_000).toISOString(), capacity: 3, mode: 'offline' },
    });
    expect(slot.status).toBe(201);
    expect((await call('GET', '/v1/slots?department=cardiology', { token: patientToken })).status).toBe(200);
    const journey = await call('POST', '/v1/journeys', { token: patientToken, body: { patientId: patient.body.id, mode: 'offline', complaint: '高血压 头晕', pathwayId: pathway.id } });
    expect(journey.status).toBe(201);
    const j = journey.body.id as string;
    const booked = await call('POST', `/v1/journeys/${j}/appointment`, { token: patientToken, body: { slotId: slot.body.id } });
    expect(booked.status).toBe(200);
    const paid = await signed('/v1/webhooks/payments', { orderId: booked.body.payment.orderId, status: 'paid', amount: 800, paidAt: new Date().toISOString(), channel: 'wechat' }, SECRETS.paymentWebhook);
    expect(paid.status).toBe(204);
    await new Promise((r) => setTimeout(r, Math.max(0, start.getTime() - Date.now()) + 100));
    expect((await call('POST', `/v1/journeys/${j}/check-in`, { token: patientToken })).status).toBe(200);
    expect((await call('POST', `/v1/journeys/${j}/consultation`, { token: doctorToken })).status).toBe(200);
    const outcome = await call('POST', `/v1/journeys/${j}/outcome`, {
      token: doctorToken,
      body: {
        diagnosis: { code: 'I10', text: 'Essential hypertension' },
        notes: 'Lipids; echo.',
        prescriptions: [{ items: [{ drugCode: 'amoxicillin-500mg', dose: '500 mg', frequency: 'tid', days: 1, quantity: 3 }] }],
        exams: [{ code: 'lipid-panel' }],
        referral: { facilityId: facility.body.id, department: 'cardiology', reason: 'Echocardiography', urgency: 'routine', consent: true },
        program: { condition: 'hypertension', plan: { medications: [{ drugCode: 'amlodipine-5mg', dose: '5 mg', times: ['08:00'], supplyDays: 30 }] } },
      },
    });
    expect(outcome.status).toBe(200);
    const { prescriptions: [rx], exams: [exam], referrals: [referral], programs: [program] } = outcome.body.created;
    expect((await call('GET', `/v1/journeys/${j}`, { token: patientToken })).status).toBe(200);
    expect((await call('GET', `/v1/journeys?patientId=${patient.body.id}`, { token: coordinator })).status).toBe(200);

    // Each item, once its workflow has projected it.
    const ready = (path: string) => waitFor(async () => ((await stack.call('GET', path, { token: admin })).status === 200 ? true : undefined));
    for (const path of [`/v1/prescriptions/${rx}`, `/v1/exams/${exam}`, `/v1/referrals/${referral}`, `/v1/programs/${program}`]) {
      await ready(path);
      expect((await call('GET', path, { token: admin })).status, path).toBe(200);
    }
    expect((await call('GET', `/v1/prescriptions?patientId=${patient.body.id}`, { token: pharmacist })).status).toBe(200);
    expect((await call('POST', `/v1/prescriptions/${rx}/review`, { token: pharmacist, body: { decision: 'approve' } })).status).toBe(200);
    expect((await call('POST', `/v1/prescriptions/${rx}/doses`, { token: patientToken, body: { scheduledAt: new Date().toISOString(), taken: true } })).status).toBeLessThan(500);
    expect((await call('POST', `/v1/prescriptions/${rx}/revision`, { token: doctorToken, body: { items: [{ drugCode: 'amoxicillin-500mg', dose: '500 mg', frequency: 'bid', days: 1, quantity: 2 }] } })).status).toBeLessThan(500);
    // The sandbox provider pays at once: a paid prescription refuses a cancellation (409) until it is delivered.
    expect([200, 409]).toContain((await call('POST', `/v1/prescriptions/${rx}/cancel`, { token: coordinator, body: { reason: 'Walk over' } })).status);
    expect((await call('POST', `/v1/exams/${exam}/result`, { token: doctorToken, body: { summary: 'LDL 3.1', abnormal: false } })).status).toBe(403);
    // The sandbox provider pays the exam: once scheduled, its result is taken.
    await waitFor(async () => ((await stack.call('GET', `/v1/exams/${exam}`, { token: admin }).then((r) => r.json())) as Json).status === 'scheduled' || undefined);
    expect((await call('POST', `/v1/exams/${exam}/result`, { token: coordinator, body: { summary: 'LDL 3.1', abnormal: false } })).status).toBe(200);
    expect((await call('POST', `/v1/exams/${exam}/cancel`, { token: coordinator, body: { reason: 'Walk over' } })).status).toBeLessThan(500);
    await waitFor(async () => ((await stack.call('GET', `/v1/referrals/${referral}`, { token: admin }).then((r) => r.json())) as Json).status === 'sent' || undefined);
    const appointmentAt = new Date(Date.now() + 7 * 86_400_000).toISOString();
    expect((await call('POST', `/v1/referrals/${referral}/response`, { token: coordinator, body: { decision: 'accepted', appointmentAt } })).status).toBe(200);
    expect((await call('POST', `/v1/referrals/${referral}/attended`, { token: coordinator, body: { summary: 'Echo normal' } })).status).toBe(200);
    expect((await signed('/v1/webhooks/lab', { examId: exam, summary: 'late', abnormal: false }, SECRETS.labWebhook)).status).toBeLessThan(500);
    expect((await signed('/v1/webhooks/facility', { referralId: referral, summary: 'again' }, SECRETS.facilityWebhook)).status).toBeLessThan(500);
    expect((await signed('/v1/webhooks/courier', { deliveryId: 'no-such-delivery', status: 'in-transit', at: new Date().toISOString() }, SECRETS.courierWebhook, { patient: null })).status).toBe(404);

    const reading = await call('POST', `/v1/programs/${program}/readings`, { token: patientToken, body: { type: 'bp', systolic: 176, diastolic: 98, at: new Date().toISOString() } });
    expect(reading.status).toBe(200);
    const plan = { medications: [{ drugCode: 'amlodipine-5mg', dose: '5 mg', times: ['09:00'], supplyDays: 30 }] };
    expect((await call('POST', `/v1/programs/${program}/plan`, { token: doctorToken, body: { plan } })).status).toBe(200);
    const next = (await call('GET', `/v1/programs/${program}`, { token: patientToken })).body.next as Json[];
    const doseAt = next.find((n) => n.kind === 'medication')!.at as string;
    expect((await call('POST', `/v1/programs/${program}/doses`, { token: patientToken, body: { drugCode: 'amlodipine-5mg', scheduledAt: doseAt, taken: true } })).status).toBe(200);
    const enrolled = await call('POST', '/v1/programs', {
      token: doctorToken,
      body: { patientId: patient.body.id, condition: 'diabetes-t2', plan: { medications: [{ drugCode: 'metformin-500mg', dose: '500 mg', times: ['08:00', '20:00'], supplyDays: 60 }] } },
    });
    expect(enrolled.status).toBe(201);
    const [template] = (await call('GET', '/v1/program-templates', { token: admin })).body.items as Json[];
    expect((await call('POST', '/v1/program-templates', { token: admin, body: { ...template, id: 'openapi-walk', version: 1 } })).status).toBe(201);
    expect((await call('POST', `/v1/programs/${program}/pause`, { token: coordinator, body: { reason: 'Travelling' } })).status).toBe(200);
    expect((await call('POST', `/v1/programs/${program}/resume`, { token: coordinator, body: { reason: 'Back' } })).status).toBe(200);
    expect((await call('GET', `/v1/programs?patientId=${patient.body.id}`, { token: coordinator })).status).toBe(200);
    const tasks = await call('GET', '/v1/tasks?kind=vital-alert', { token: doctorToken });
    expect(tasks.status).toBe(200);
    if (tasks.body.items[0]) expect((await call('POST', `/v1/tasks/${tasks.body.items[0].id}/complete`, { token: doctorToken, body: { note: 'Called the patient' } })).status).toBe(200);
    expect((await call('POST', `/v1/programs/${program}/discharge`, { token: coordinator, body: { reason: 'Moved away' } })).status).toBe(200);
    expect((await call('GET', '/v1/board', { token: coordinator })).status).toBe(200);
    expect((await call('GET', `/v1/patients/${patient.body.id}/notifications`, { token: patientToken })).status).toBe(200);
    // Consent: withdrawn by the patient, given back by a coordinator on their behalf.
    expect((await call('PUT', `/v1/patients/${patient.body.id}/consents/outreach`, { token: patientToken, body: { granted: false, reason: 'No reminders, please' } })).status).toBe(200);
    expect((await call('PUT', `/v1/patients/${patient.body.id}/consents/outreach`, { token: coordinator, body: { granted: true } })).status).toBe(200);
    expect((await call('GET', `/v1/patients/${patient.body.id}/consents`, { token: patientToken })).body.items).toHaveLength(2);

    // A second journey, cancelled before its visit.
    const other = await call('POST', '/v1/journeys', { token: coordinator, body: { patientId: patient.body.id, mode: 'offline', complaint: '咳嗽' }, headers: { 'Idempotency-Key': 'walk-journey-2' } });
    expect(other.status).toBe(201);
    expect((await call('POST', `/v1/journeys/${other.body.id}/cancel`, { token: patientToken, body: { reason: 'Feeling better' } })).status).toBe(200);

    // The audit log, as admins and as the patient see it: the walk's calls are in it.
    const audit = await call('GET', `/v1/audit?patientId=${patient.body.id}&limit=200`, { token: admin });
    expect(audit.status).toBe(200);
    const accessLog = await call('GET', `/v1/patients/${patient.body.id}/access-log?limit=2`, { token: patientToken });
    expect(accessLog.status).toBe(200);
    expect(accessLog.body.items[0]).toEqual({ at: expect.any(String), actor: 'admin-1', role: 'admin', action: 'GET /v1/audit', resource: 'audit', outcome: 'allowed' });
    expect(accessLog.body.items).toHaveLength(2);
    expect(accessLog.body.nextCursor).toEqual(expect.any(String));
    expect(violations).toEqual([]);

    // Every call of the walk to a patient-data route is audited once, naming the walk's patient (a list:
    // the patients it showed, and its patientId filter).
    const walked = await expectAudited();
    const listed = new Set(audit.body.items.map((e: Json) => e.requestId));
    const lists = ['/v1/journeys', '/v1/prescriptions', '/v1/programs', '/v1/tasks', '/v1/board', '/v1/audit'];
    for (const { call: c, event } of walked) {
      const [pathname, query] = c.path.split('?') as [string, string | undefined];
      const where = `${c.method} ${c.path}`;
      if (c.method === 'GET' && lists.includes(pathname)) {
        const shows = pathname === '/v1/board' ? c.body.programs.length + c.body.escalations.length > 0 : c.body.items.length > 0;
        expect([event.patient_id, event.patient_ids], where).toEqual([new URLSearchParams(query).get('patientId'), shows ? [patient.body.id] : []]);
      } else {
        const concerned = c.opts.audit ? c.opts.audit.patient : patient.body.id;
        expect([event.patient_id, event.patient_ids], where).toEqual([concerned, null]);
      }
      // GET /v1/audit?patientId= answered every event before it that concerned the patient.
      const before = !pathname.startsWith('/v1/audit') && !pathname.endsWith('/access-log');
      if (before && (event.patient_id === patient.body.id || event.patient_ids?.includes(patient.body.id))) {
        expect(listed.has(c.requestId), where).toBe(true);
      }
    }
  }, 120_000);

  it('bad input of every kind, on every documented operation', async () => {
    const patient = await stack.token('patient', 'pat-walk');
    const garbage = '{"not json';
    for (const o of operations) {
      if (o.method !== 'GET' && o.method !== 'POST' && o.method !== 'PUT') continue;
      if (o.template === '/v1/stream') continue; // an endless stream (its 400 and 401 are below)
      const path = o.template.replace(/\{[^}]+\}/g, 'no-such-id');
      const hasBody = o.op.requestBody !== undefined;
      const signedRoute = o.template.startsWith('/v1/webhooks/');
      // No token (or no signature), and a token that is not one.
      await call(o.method, path, hasBody ? { body: {} } : {});
      await call(o.method, path, { token: 'not-a-token', ...(hasBody ? { body: {} } : {}) });
      for (const token of [admin, patient]) {
        // The right shape with ids that name nothing; a body that breaks the schema; one that is not JSON, or not sent as JSON; one over 64 KiB.
        await call(o.method, path, { token, ...(hasBody ? { body: {} } : {}) });
        if (hasBody) {
          await call(o.method, path, { token, body: { unknown: 'field', at: 'yesterday', amount: -1 } });
          await call(o.method, path, { token });
          await call(o.method, path, { token, raw: garbage });
          await call(o.method, path, { token, raw: 'plain text', headers: { 'content-type': 'text/plain' } });
          await call(o.method, path, { token, raw: JSON.stringify({ padding: 'x'.repeat(70_000) }) });
        }
        if (o.method === 'GET') await call(o.method, `${path}?limit=0&status=nonsense&from=yesterday`, { token });
        if ((o.op.parameters as Json[] | undefined)?.some((p) => p.name === 'idempotency-key')) {
          await call(o.method, path, { token, body: {}, headers: { 'Idempotency-Key': 'not visible' } });
          await call(o.method, path, { token, body: { a: 1 }, headers: { 'Idempotency-Key': `reused-${o.template}` } });
          await call(o.method, path, { token, body: { a: 2 }, headers: { 'Idempotency-Key': `reused-${o.template}` } });
        }
      }
      if (signedRoute) await call(o.method, path, { raw: '{}', headers: { 'X-Signature': 'sha256=00' } });
      if (o.template.includes('{')) await call(o.method, o.template.replace(/\{[^}]+\}/g, 'x'.repeat(201)), { token: admin, ...(hasBody ? { body: {} } : {}) });
    }
    // The stream's refusals, and a method a path does not serve.
    await call('GET', '/v1/stream');
    await call('GET', '/v1/stream', { token: admin, headers: { 'Last-Event-ID': 'nonsense' } });
    const trace = await stack.call('DELETE', '/v1/journeys', { token: admin });
    expect([trace.status, trace.headers.get('allow')]).toEqual([405, 'GET, HEAD, POST']);
    expect(violations).toEqual([]);
    // Every documented operation was called, and answered, as documented.
    const called = new Set([...seen].map((s) => s.split(' ').slice(0, 2).join(' ')));
    const notCalled = operations.filter((o) => !called.has(`${o.method} ${o.template}`) && o.template !== '/v1/stream').map((o) => `${o.method} ${o.template}`);
    await expectAudited();
    expect(notCalled.filter((o) => !o.startsWith('GET /healthz') && !o.startsWith('GET /readyz') && !o.startsWith('GET /metrics') && !o.includes('/codec/'))).toEqual([]);
  }, 120_000);

  it('answers /healthz, /readyz and /metrics as documented', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) expect((await call('GET', path)).status, path).toBe(200);
    expect(violations).toEqual([]);
    expect(await expectAudited()).toEqual([]);
  });
});
