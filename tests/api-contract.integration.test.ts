// The HTTP contract's error behaviour (DESIGN.md, "API contract (v1)") on every route, against the real
// stack: Temporal dev server, PostgreSQL, a worker and the API on a local port.
//
// Every refusal is asserted by status AND by its body: application/problem+json with `type`, `title`
// and `status`; validation 400s also carry `errors` with field `path`s and `message`s. Each table has a
// control (the same request done right, or by the right caller) so a refusal cannot pass by accident.
import { randomUUID } from 'node:crypto';
import { sign as signJwt } from 'hono/jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../activities/signature.js';
import { journeyWorkflowId, type Role } from '../workflows/definitions.js';
import { SECRETS, startStack, type Stack } from './support/stack.js';
import { verifyClinicianId, verifyPatientId } from './support/people.js';

// ---- helpers ------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

interface FieldError {
  path: string;
  message: string;
}

interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: FieldError[];
}

interface JourneyBody {
  id: string;
  patientId: string;
  step: string;
  phase: string;
  status: string;
  triage?: { department: string; urgency: string };
  appointment?: { slotId: string; doctorId: string };
  payment?: { orderId: string; amount: number; status: string };
  timeline: { seq: number; type: string; actor: string; data: Json }[];
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const MAX_BODY = 64 * 1024;
/** How long a request may take before the test calls it hung (the workflow updates answer in well under a second). */
const ANSWER_WITHIN_MS = 15_000;

let st: Stack;

/** A timestamp `ms` from now, ISO 8601 with a +08:00 offset (as the hospital's front ends send them). */
function isoIn(ms: number): string {
  return new Date(Date.now() + ms + 8 * HOUR).toISOString().replace('Z', '+08:00');
}

/** A calendar date (YYYY-MM-DD) `days` from today (UTC). */
function dateIn(days: number): string {
  return new Date(Date.now() + days * DAY).toISOString().slice(0, 10);
}

/** The body of an answer that must be a problem: status, media type and the RFC 9457 members. */
async function expectProblem(res: Response, status: number): Promise<Problem> {
  const text = await res.text();
  expect(res.status, `expected ${status}, got ${res.status}: ${text.slice(0, 500)}`).toBe(status);
  expect(res.headers.get('content-type') ?? '').toMatch(/^application\/problem\+json\b/);
  const body = JSON.parse(text) as Problem;
  expect(body).toMatchObject({ type: expect.stringMatching(/\S/), title: expect.stringMatching(/\S/), status });
  return body;
}

const endsWithPath = (field: string): RegExp => new RegExp(`(^|\\.)${field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

/** A 400 whose `errors` name each of `fields` by its path (`json.diagnosis.text` names `diagnosis.text`). */
async function expectValidation(res: Response, ...fields: string[]): Promise<Problem> {
  const p = await expectProblem(res, 400);
  expect(Array.isArray(p.errors), 'a validation problem carries errors').toBe(true);
  const errors = p.errors ?? [];
  expect(errors.length).toBeGreaterThan(0);
  for (const e of errors) expect(e).toMatchObject({ path: expect.stringMatching(/\S/), message: expect.stringMatching(/\S/) });
  for (const field of fields) {
    expect(
      errors.map((e) => e.path),
      `an error's path names ${field}`,
    ).toContainEqual(expect.stringMatching(endsWithPath(field)));
  }
  return p;
}

/** A 400 with errors that mention the unknown key (zod reports it on the enclosing object). */
async function expectUnknownKeyRefused(res: Response, key: string): Promise<void> {
  const p = await expectValidation(res);
  expect(
    (p.errors ?? []).some((e) => e.path.endsWith(key) || e.message.includes(key)),
    `an error mentions the unknown key ${key}: ${JSON.stringify(p.errors)}`,
  ).toBe(true);
}

/** Some 4xx problem: the contract fixes that the input is refused, not which 4xx. */
async function expectClientProblem(res: Response): Promise<Problem> {
  const text = await res.text();
  expect(res.status, text.slice(0, 300)).toBeGreaterThanOrEqual(400);
  expect(res.status, text.slice(0, 300)).toBeLessThan(500);
  expect(res.headers.get('content-type') ?? '').toMatch(/^application\/problem\+json\b/);
  const body = JSON.parse(text) as Problem;
  expect(body).toMatchObject({ type: expect.stringMatching(/\S/), title: expect.stringMatching(/\S/), status: res.status });
  return body;
}

/** Never a 5xx: the answer is a success or a 4xx problem. */
async function expectNoServerError(res: Response): Promise<void> {
  const text = await res.text();
  expect(res.status, `a 5xx for bad input: ${text.slice(0, 300)}`).toBeLessThan(500);
  if (res.status >= 400) expect(res.headers.get('content-type') ?? '').toMatch(/^application\/problem\+json\b/);
}

async function expectJson<T>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  expect(res.status, text.slice(0, 500)).toBe(status);
  return JSON.parse(text) as T;
}

/** The response, or 'no answer' when the API has not answered within `ms` (a hung request). */
async function within(ms: number, res: Promise<Response>): Promise<Response | 'no answer'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'no answer'>((resolve) => (timer = setTimeout(() => resolve('no answer'), ms)));
  try {
    return await Promise.race([res, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- fixtures -----------------------------------------------------------------------------------

const f = {
  admin: 'admin-1',
  coordinator: 'coordinator-1',
  pharmacist: 'pharmacist-1',
  /** respiratory doctor, booked on journeyA */
  doctorA: '',
  /** respiratory doctor, booked on nothing */
  doctorB: '',
  patientA: '',
  patientB: '',
  slotA: '',
  /** patientA's journey, booked with doctorA; payment pending */
  journeyA: '',
  /** patientA's journey, triaged, not booked */
  journeyUnbooked: '',
  /** patientB's journey, triaged, not booked (target of cancel validation) */
  journeyB: '',
};

/** Who each role acts as by default: the patient owns journeyA and the doctor is booked on it. */
const defaultId = (role: Role): string =>
  ({ admin: f.admin, coordinator: f.coordinator, pharmacist: f.pharmacist, doctor: f.doctorA, patient: f.patientA })[role];

const tokenFor = (role: Role, id: string = defaultId(role)): Promise<string> => st.token(role, id);

const bodies = {
  clinician: (): Json => ({ name: 'Dr Wang', role: 'doctor', department: 'respiratory' }),
  patient: (): Json => ({ name: 'Li Na', phone: '+8613800000001', birthDate: '1980-01-01', sex: 'F' }),
  slot: (doctorId = f.doctorA, startIn = 2 * DAY, capacity = 10): Json => ({
    doctorId,
    department: 'respiratory',
    start: isoIn(startIn),
    end: isoIn(startIn + HOUR),
    capacity,
    mode: 'offline',
  }),
  pathway: (id: string, version = 1): Json => ({
    id,
    version,
    name: 'Contract test pathway',
    modes: ['offline'],
    fees: { registration: 1500 },
    paymentWindow: 'PT15M',
    appointmentReminders: ['P1D', 'PT1H'],
    nearTurnAhead: 2,
    noShowGrace: 'PT30M',
    consultStartSla: 'PT30M',
    pharmacistReviewSla: 'PT30M',
    prescriptionValidity: 'P3D',
  }),
  journey: (patientId = f.patientA): Json => ({ patientId, mode: 'offline', complaint: 'cough for a week' }),
  book: (slotId = f.slotA): Json => ({ slotId }),
  cancel: (): Json => ({ reason: 'feeling better' }),
  outcome: (): Json => ({ diagnosis: { code: 'J20.9', text: 'acute bronchitis' }, notes: 'rest and fluids' }),
  payment: (orderId: string, amount = 1500): Json => ({ orderId, status: 'paid', amount, paidAt: isoIn(0), channel: 'wechat' }),
  courier: (): Json => ({ deliveryId: 'no-such-delivery', status: 'delivered', at: isoIn(0) }),
};

async function create(path: string, body: Json, role: Role = 'admin'): Promise<string> {
  const res = await st.call('POST', path, { token: await tokenFor(role), body });
  return (await expectJson<{ id: string }>(res, 201)).id;
}

async function startJourney(patientId: string): Promise<JourneyBody> {
  const res = await st.call('POST', '/v1/journeys', { token: await tokenFor('patient', patientId), body: bodies.journey(patientId) });
  const j = await expectJson<JourneyBody>(res, 201);
  expect(j.triage?.department).toBe('respiratory');
  return j;
}

async function bookedJourney(patientId: string, slotId = f.slotA): Promise<JourneyBody> {
  const j = await startJourney(patientId);
  const res = await st.call('POST', `/v1/journeys/${j.id}/appointment`, { token: await tokenFor('patient', patientId), body: bodies.book(slotId) });
  const booked = await expectJson<JourneyBody>(res, 200);
  expect(booked.payment?.status).toBe('pending');
  return booked;
}

async function getJourney(id: string): Promise<JourneyBody> {
  return expectJson<JourneyBody>(await st.call('GET', `/v1/journeys/${id}`, { token: await tokenFor('admin') }), 200);
}

function signedCall(path: string, raw: string, secret: string, headers: Record<string, string> = {}): Promise<Response> {
  return st.call('POST', path, { raw, headers: { ...headers, 'X-Signature': sign(secret, raw) } });
}

beforeAll(async () => {
  st = await startStack();
  f.doctorA = await create('/v1/clinicians', bodies.clinician());
  f.doctorB = await create('/v1/clinicians', { ...bodies.clinician(), name: 'Dr Zhao' });
  f.patientA = await create('/v1/patients', bodies.patient());
  f.patientB = await create('/v1/patients', { ...bodies.patient(), name: 'Wang Fang', phone: '+8613800000002', sex: 'M' });
  // Booking needs a verified doctor (and online care a verified patient): verified like a hospital's staff would.
  for (const id of [f.doctorA, f.doctorB]) await verifyClinicianId(st, await tokenFor('admin'), id);
  for (const id of [f.patientA, f.patientB]) await verifyPatientId(st, await tokenFor('coordinator'), id);
  f.slotA = await create('/v1/slots', bodies.slot());
  f.journeyA = (await bookedJourney(f.patientA)).id;
  f.journeyUnbooked = (await startJourney(f.patientA)).id;
  f.journeyB = (await startJourney(f.patientB)).id;
});

afterAll(async () => {
  if (!st) return;
  // Journeys left waiting (or wedged by a failing test) must not keep update requests open past stop().
  const rows = await st.db.sql<{ id: string }[]>`select id from journeys`;
  await Promise.all(rows.map((r) => st.env.client.workflow.getHandle(journeyWorkflowId(r.id)).terminate('test over').catch(() => undefined)));
  await new Promise((r) => setTimeout(r, 500));
  await st.stop();
});

// ---- the routes ---------------------------------------------------------------------------------

interface BearerRoute {
  name: string;
  method: 'GET' | 'POST' | 'PUT';
  /** The path as /openapi.json lists it. */
  template: string;
  path: () => string;
  /** A valid body, so a refusal can only be about who is asking. */
  body?: () => Json;
  /** Roles the contract refuses with 403. */
  forbidden: Role[];
  /** A caller who gets past authentication and the role check, and what they get (no side effects). */
  control: { role: Role; id?: () => string; path?: () => string; body?: Json; status: number };
}

const NO_SUCH_JOURNEY = 'no-such-journey';

const ROUTES: BearerRoute[] = [
  {
    name: 'POST /v1/clinicians',
    method: 'POST',
    template: '/v1/clinicians',
    path: () => '/v1/clinicians',
    body: bodies.clinician,
    forbidden: ['patient', 'doctor', 'pharmacist'],
    control: { role: 'coordinator', body: {}, status: 400 },
  },
  {
    name: 'POST /v1/patients',
    method: 'POST',
    template: '/v1/patients',
    path: () => '/v1/patients',
    body: bodies.patient,
    forbidden: ['patient', 'doctor', 'pharmacist'],
    control: { role: 'coordinator', body: {}, status: 400 },
  },
  {
    name: 'GET /v1/patients/{id}/notifications',
    method: 'GET',
    template: '/v1/patients/{id}/notifications',
    path: () => `/v1/patients/${f.patientA}/notifications`,
    forbidden: ['doctor', 'pharmacist'],
    control: { role: 'patient', status: 200 },
  },
  {
    name: 'GET /v1/patients/{id}',
    method: 'GET',
    template: '/v1/patients/{id}',
    path: () => `/v1/patients/${f.patientA}`,
    forbidden: ['doctor', 'pharmacist'],
    control: { role: 'patient', status: 200 },
  },
  {
    name: 'POST /v1/patients/{id}/identity-verifications',
    method: 'POST',
    template: '/v1/patients/{id}/identity-verifications',
    path: () => `/v1/patients/${f.patientA}/identity-verifications`,
    body: () => ({ method: 'id-card' }),
    forbidden: ['patient', 'doctor', 'pharmacist'],
    control: { role: 'coordinator', body: {}, status: 400 },
  },
  {
    name: 'GET /v1/clinicians/{id}',
    method: 'GET',
    template: '/v1/clinicians/{id}',
    path: () => `/v1/clinicians/${f.doctorA}`,
    forbidden: ['patient', 'doctor', 'pharmacist'],
    control: { role: 'coordinator', status: 200 },
  },
  {
    name: 'POST /v1/clinicians/{id}/verification',
    method: 'POST',
    template: '/v1/clinicians/{id}/verification',
    path: () => `/v1/clinicians/${f.doctorA}/verification`,
    body: () => ({ licenceNumber: 'LIC-MATRIX', yearsOfPractice: 10 }),
    forbidden: ['patient', 'doctor', 'pharmacist', 'coordinator'],
    control: { role: 'admin', body: {}, status: 400 },
  },
  {
    name: 'GET /v1/patients/{id}/access-log',
    method: 'GET',
    template: '/v1/patients/{id}/access-log',
    path: () => `/v1/patients/${f.patientA}/access-log`,
    // The patient's own and the auditors' (admins): not the clinicians, not the coordinators.
    forbidden: ['doctor', 'pharmacist', 'coordinator'],
    control: { role: 'patient', status: 200 },
  },
  {
    name: 'GET /v1/audit',
    method: 'GET',
    template: '/v1/audit',
    path: () => `/v1/audit?patientId=${f.patientA}`,
    forbidden: ['patient', 'doctor', 'pharmacist', 'coordinator'],
    control: { role: 'admin', status: 200 },
  },
  {
    name: 'GET /v1/patients/{id}/consents',
    method: 'GET',
    template: '/v1/patients/{id}/consents',
    path: () => `/v1/patients/${f.patientA}/consents`,
    forbidden: ['doctor', 'pharmacist'],
    control: { role: 'patient', status: 200 },
  },
  {
    name: 'PUT /v1/patients/{id}/consents/{scope}',
    method: 'PUT',
    template: '/v1/patients/{id}/consents/{scope}',
    path: () => `/v1/patients/${f.patientA}/consents/outreach`,
    // Granted already: an allowed caller changes nothing with it.
    body: () => ({ granted: true }),
    // The patient themself, or staff on their behalf: not their doctor, not a pharmacist.
    forbidden: ['doctor', 'pharmacist'],
    control: { role: 'coordinator', body: {}, status: 400 },
  },
  {
    name: 'POST /v1/slots',
    method: 'POST',
    template: '/v1/slots',
    path: () => '/v1/slots',
    body: () => bodies.slot(),
    forbidden: ['patient', 'doctor', 'pharmacist'],
    control: { role: 'admin', body: {}, status: 400 },
  },
  {
    name: 'GET /v1/slots',
    method: 'GET',
    template: '/v1/slots',
    path: () => '/v1/slots?department=respiratory',
    forbidden: [],
    control: { role: 'patient', status: 200 },
  },
  {
    name: 'POST /v1/pathways',
    method: 'POST',
    template: '/v1/pathways',
    path: () => '/v1/pathways',
    body: () => bodies.pathway('refused-pathway'),
    forbidden: ['patient', 'doctor', 'pharmacist', 'coordinator'],
    control: { role: 'admin', body: {}, status: 400 },
  },
  {
    name: 'GET /v1/pathways',
    method: 'GET',
    template: '/v1/pathways',
    path: () => '/v1/pathways',
    forbidden: [],
    control: { role: 'pharmacist', status: 200 },
  },
  {
    name: 'GET /v1/pathways/{id}',
    method: 'GET',
    template: '/v1/pathways/{id}',
    path: () => '/v1/pathways/standard-outpatient',
    forbidden: [],
    control: { role: 'doctor', status: 200 },
  },
  {
    name: 'POST /v1/journeys',
    method: 'POST',
    template: '/v1/journeys',
    path: () => '/v1/journeys',
    body: () => bodies.journey(),
    forbidden: ['doctor', 'pharmacist'],
    control: { role: 'coordinator', body: {}, status: 400 },
  },
  {
    name: 'GET /v1/journeys',
    method: 'GET',
    template: '/v1/journeys',
    path: () => '/v1/journeys',
    forbidden: ['patient', 'pharmacist'],
    control: { role: 'coordinator', status: 200 },
  },
  {
    name: 'GET /v1/journeys/{id}',
    method: 'GET',
    template: '/v1/journeys/{id}',
    path: () => `/v1/journeys/${f.journeyA}`,
    forbidden: [],
    control: { role: 'patient', status: 200 },
  },
  {
    name: 'POST /v1/journeys/{id}/appointment',
    method: 'POST',
    template: '/v1/journeys/{id}/appointment',
    path: () => `/v1/journeys/${f.journeyA}/appointment`,
    body: () => bodies.book(),
    forbidden: ['pharmacist'],
    control: { role: 'patient', body: {}, status: 400 },
  },
  {
    name: 'POST /v1/journeys/{id}/cancel',
    method: 'POST',
    template: '/v1/journeys/{id}/cancel',
    path: () => `/v1/journeys/${f.journeyA}/cancel`,
    body: bodies.cancel,
    // "The patient or a coordinator may cancel": not even the booked doctor.
    forbidden: ['doctor', 'pharmacist'],
    control: { role: 'patient', body: {}, status: 400 },
  },
  {
    name: 'POST /v1/journeys/{id}/check-in',
    method: 'POST',
    template: '/v1/journeys/{id}/check-in',
    path: () => `/v1/journeys/${f.journeyA}/check-in`,
    forbidden: ['pharmacist'],
    control: { role: 'coordinator', path: () => `/v1/journeys/${NO_SUCH_JOURNEY}/check-in`, status: 404 },
  },
  {
    name: 'POST /v1/journeys/{id}/consultation',
    method: 'POST',
    template: '/v1/journeys/{id}/consultation',
    path: () => `/v1/journeys/${f.journeyA}/consultation`,
    // Only the booked doctor: not the journey's own patient, not staff.
    forbidden: ['patient', 'pharmacist', 'coordinator', 'admin'],
    control: { role: 'doctor', path: () => `/v1/journeys/${NO_SUCH_JOURNEY}/consultation`, status: 404 },
  },
  {
    name: 'POST /v1/journeys/{id}/outcome',
    method: 'POST',
    template: '/v1/journeys/{id}/outcome',
    path: () => `/v1/journeys/${f.journeyA}/outcome`,
    body: bodies.outcome,
    forbidden: ['patient', 'pharmacist', 'coordinator', 'admin'],
    control: { role: 'doctor', body: {}, status: 400 },
  },
];

function callRoute(route: BearerRoute, headers: Record<string, string>): Promise<Response> {
  return st.call(route.method, route.path(), { headers, ...(route.body ? { body: route.body() } : {}) });
}

// ---- operations ---------------------------------------------------------------------------------

describe('operations', () => {
  it('GET /healthz answers 200 without a token', async () => {
    expect(await expectJson<{ status: string }>(await st.call('GET', '/healthz'), 200)).toEqual({ status: 'ok' });
  });

  it('GET /openapi.json answers 200 and lists every route under its full path', async () => {
    const doc = await expectJson<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(await st.call('GET', '/openapi.json'), 200);
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/journeys', '/v1/journeys/{id}']));
    const listed = [
      ...ROUTES.map((r) => [r.method, r.template] as const),
      ['POST', '/v1/webhooks/payments'] as const,
      ['POST', '/v1/webhooks/courier'] as const,
    ];
    for (const [method, path] of listed) expect(doc.paths[path]?.[method.toLowerCase()], `${method} ${path} in /openapi.json`).toBeDefined();
  });

  it('GET /docs answers 200 with an HTML page', async () => {
    const res = await st.call('GET', '/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type') ?? '').toMatch(/^text\/html/);
    expect(await res.text()).toMatch(/<html/i);
  });

  it('an unknown route is a 404 problem', async () => {
    await expectProblem(await st.call('GET', '/v1/no-such-resource', { token: await tokenFor('admin') }), 404);
  });
});

// ---- authentication -----------------------------------------------------------------------------

const b64url = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** Credentials the API must refuse with 401, for a caller whose role would otherwise be allowed. */
const BAD_CREDENTIALS: { name: string; header: (role: Role, id: string) => Promise<Record<string, string>> }[] = [
  { name: 'no Authorization header', header: async () => ({}) },
  { name: 'a Basic scheme', header: async () => ({ authorization: 'Basic YWRtaW46YWRtaW4=' }) },
  { name: 'a Bearer that is not a JWT', header: async () => ({ authorization: 'Bearer not-a-jwt' }) },
  {
    name: 'a token signed with the wrong secret',
    header: async (role, id) => ({
      authorization: `Bearer ${await signJwt({ sub: id, role, iat: nowSeconds(), exp: nowSeconds() + 3600 }, 'not-the-secret', 'HS256')}`,
    }),
  },
  { name: 'an expired token', header: async (role, id) => ({ authorization: `Bearer ${await st.token(role, id, -10)}` }) },
  {
    name: 'an unsigned token (alg none)',
    header: async (role, id) => ({
      authorization: `Bearer ${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: id, role, exp: nowSeconds() + 3600 })}.`,
    }),
  },
];

describe('authentication: 401 on every route', () => {
  describe.each(ROUTES)('$name', (route) => {
    it.each(BAD_CREDENTIALS)('$name → 401', async ({ header }) => {
      const role = route.control.role;
      const res = await callRoute(route, await header(role, route.control.id?.() ?? defaultId(role)));
      const p = await expectProblem(res, 401);
      expect(p.type).toMatch(/unauthorized$/);
    });
  });
});

// ---- authorisation by role ----------------------------------------------------------------------

describe('authorisation: a wrong role is 403', () => {
  const cases = ROUTES.flatMap((route) => route.forbidden.map((role) => ({ ...route, role })));

  it.each(cases)('$role on $name → 403', async (c) => {
    const res = await callRoute(c, { authorization: `Bearer ${await tokenFor(c.role)}` });
    await expectProblem(res, 403);
  });

  it.each(ROUTES)('control: $control.role gets past authentication and the role check on $name', async (route) => {
    const { role, id, path, body, status } = route.control;
    const res = await st.call(route.method, (path ?? route.path)(), {
      token: await tokenFor(role, id?.() ?? defaultId(role)),
      ...(body !== undefined ? { body } : {}),
    });
    if (status === 200) await expectJson(res, 200);
    else await expectProblem(res, status);
  });
});

// ---- request validation -------------------------------------------------------------------------

type Auth = { role: Role; id?: () => string } | { webhookSecret: string };

interface BodyRoute {
  name: string;
  path: () => string;
  auth: Auth;
  /** A body this route accepts (or refuses only for state or existence: never for its shape). */
  valid: () => Json;
  /** Bodies that parse but break the schema, and the field paths the errors must name. */
  broken: { label: string; body: () => unknown; fields: string[] }[];
  /** A valid body with an unknown field inside a nested object, and that field's name. */
  nestedUnknown?: { body: () => Json; key: string };
}

const BODY_ROUTES: BodyRoute[] = [
  {
    name: 'POST /v1/clinicians',
    path: () => '/v1/clinicians',
    auth: { role: 'admin' },
    valid: bodies.clinician,
    broken: [
      { label: 'blank name, unknown role and department', body: () => ({ name: '   ', role: 'surgeon', department: 'astrology' }), fields: ['name', 'role', 'department'] },
      { label: 'name of the wrong type', body: () => ({ ...bodies.clinician(), name: 42 }), fields: ['name'] },
    ],
  },
  {
    name: 'POST /v1/patients',
    path: () => '/v1/patients',
    auth: { role: 'admin' },
    valid: bodies.patient,
    broken: [
      {
        label: 'bad phone, impossible date, unknown sex and timezone',
        body: () => ({ name: 'x', phone: 'call me', birthDate: '1980-02-30', sex: 'X', timezone: 'Mars/Olympus' }),
        fields: ['phone', 'birthDate', 'sex', 'timezone'],
      },
      { label: 'a birth date in the future', body: () => ({ ...bodies.patient(), birthDate: dateIn(3) }), fields: ['birthDate'] },
      { label: 'missing fields', body: () => ({}), fields: ['name', 'phone', 'birthDate', 'sex'] },
    ],
  },
  {
    name: 'POST /v1/clinicians/{id}/verification',
    path: () => `/v1/clinicians/${f.doctorB}/verification`,
    auth: { role: 'admin' },
    valid: () => ({ licenceNumber: 'LIC-BODY-1', yearsOfPractice: 12 }),
    broken: [
      { label: 'a licence of punctuation and negative years', body: () => ({ licenceNumber: '!!', yearsOfPractice: -1 }), fields: ['licenceNumber', 'yearsOfPractice'] },
      { label: 'missing fields', body: () => ({}), fields: ['licenceNumber', 'yearsOfPractice'] },
    ],
  },
  {
    name: 'POST /v1/patients/{id}/identity-verifications',
    path: () => `/v1/patients/${f.patientB}/identity-verifications`,
    auth: { role: 'coordinator' },
    valid: () => ({ method: 'passport', reference: 'E0000001' }),
    broken: [{ label: 'an unknown method', body: () => ({ method: 'handshake' }), fields: ['method'] }],
  },
  {
    name: 'POST /v1/slots',
    path: () => '/v1/slots',
    auth: { role: 'coordinator' },
    valid: () => bodies.slot(),
    broken: [
      {
        label: 'capacity 0, unknown mode, a start without offset',
        body: () => ({ ...bodies.slot(), capacity: 0, mode: 'hybrid', start: '2030-01-01T09:00:00' }),
        fields: ['capacity', 'mode', 'start'],
      },
      { label: 'an end before the start', body: () => ({ ...bodies.slot(), start: isoIn(2 * DAY), end: isoIn(DAY) }), fields: ['end'] },
      { label: 'a fractional capacity', body: () => ({ ...bodies.slot(), capacity: 2.5 }), fields: ['capacity'] },
    ],
  },
  {
    name: 'POST /v1/pathways',
    path: () => '/v1/pathways',
    auth: { role: 'admin' },
    valid: () => bodies.pathway('unknown-field-pathway'),
    broken: [
      {
        label: 'version 0, a duration that is not ISO 8601, no modes, an upper-case id',
        body: () => ({ ...bodies.pathway('Bad_Id'), version: 0, paymentWindow: '15 minutes', modes: [] }),
        fields: ['id', 'version', 'paymentWindow', 'modes'],
      },
      { label: 'a negative fee', body: () => ({ ...bodies.pathway('neg-fee'), fees: { registration: -1 } }), fields: ['fees.registration'] },
    ],
    nestedUnknown: { body: () => ({ ...bodies.pathway('nested-unknown'), fees: { registration: 1500, vip: 9900 } }), key: 'vip' },
  },
  {
    name: 'POST /v1/journeys',
    path: () => '/v1/journeys',
    auth: { role: 'patient' },
    valid: () => bodies.journey(),
    broken: [
      { label: 'empty ids and complaint, unknown mode', body: () => ({ patientId: '', mode: 'walk-in', complaint: '' }), fields: ['patientId', 'mode', 'complaint'] },
      {
        label: 'a followUpOf with an impossible date and a blank diagnosis',
        body: () => ({ ...bodies.journey(), mode: 'online', followUpOf: { diagnosis: ' ', visitDate: '2020-13-01', facility: 'Ruijin' } }),
        fields: ['followUpOf.diagnosis', 'followUpOf.visitDate'],
      },
    ],
    nestedUnknown: {
      body: () => ({ ...bodies.journey(), mode: 'online', followUpOf: { diagnosis: 'asthma', visitDate: dateIn(-30), facility: 'Ruijin', doctor: 'Dr Hu' } }),
      key: 'doctor',
    },
  },
  {
    name: 'POST /v1/journeys/{id}/appointment',
    path: () => `/v1/journeys/${f.journeyA}/appointment`,
    auth: { role: 'patient' },
    valid: () => bodies.book(),
    broken: [
      { label: 'a slotId of the wrong type', body: () => ({ slotId: 42 }), fields: ['slotId'] },
      { label: 'no slotId', body: () => ({}), fields: ['slotId'] },
    ],
  },
  {
    name: 'POST /v1/journeys/{id}/cancel',
    path: () => `/v1/journeys/${f.journeyB}/cancel`,
    auth: { role: 'coordinator' },
    valid: bodies.cancel,
    broken: [
      { label: 'a blank reason', body: () => ({ reason: '   ' }), fields: ['reason'] },
      { label: 'no reason', body: () => ({}), fields: ['reason'] },
      { label: 'a reason over 500 characters', body: () => ({ reason: 'r'.repeat(501) }), fields: ['reason'] },
    ],
  },
  {
    name: 'POST /v1/journeys/{id}/outcome',
    path: () => `/v1/journeys/${f.journeyA}/outcome`,
    auth: { role: 'doctor' },
    valid: bodies.outcome,
    broken: [
      { label: 'a diagnosis without text, notes of the wrong type', body: () => ({ diagnosis: { code: '' }, notes: 5 }), fields: ['diagnosis.text', 'diagnosis.code', 'notes'] },
      { label: 'no diagnosis', body: () => ({ notes: 'x' }), fields: ['diagnosis'] },
    ],
    nestedUnknown: { body: () => ({ ...bodies.outcome(), diagnosis: { text: 'bronchitis', severity: 'mild' } }), key: 'severity' },
  },
  {
    name: 'POST /v1/webhooks/payments',
    path: () => '/v1/webhooks/payments',
    auth: { webhookSecret: SECRETS.paymentWebhook },
    // An order that does not exist: were a shape check skipped, the answer would be 404, not 400.
    valid: () => bodies.payment('no-such-order'),
    broken: [
      {
        label: 'unknown status and channel, fractional amount, a paidAt that is no time',
        body: () => ({ orderId: 'x', status: 'refunded', amount: 1.5, paidAt: 'yesterday', channel: 'cash' }),
        fields: ['status', 'amount', 'paidAt', 'channel'],
      },
      { label: 'a negative amount', body: () => ({ ...bodies.payment('x'), amount: -1500 }), fields: ['amount'] },
    ],
  },
  {
    name: 'POST /v1/webhooks/courier',
    path: () => '/v1/webhooks/courier',
    auth: { webhookSecret: SECRETS.courierWebhook },
    valid: bodies.courier,
    broken: [{ label: 'an empty id, unknown status, a time that is no time', body: () => ({ deliveryId: '', status: 'lost', at: 'now' }), fields: ['deliveryId', 'status', 'at'] }],
  },
];

async function postRaw(route: { path: () => string; auth: Auth }, raw: string, headers: Record<string, string> = {}): Promise<Response> {
  if ('webhookSecret' in route.auth) return signedCall(route.path(), raw, route.auth.webhookSecret, headers);
  return st.call('POST', route.path(), { raw, headers, token: await tokenFor(route.auth.role, route.auth.id?.()) });
}

const MALFORMED_JSON: [string, string][] = [
  ['an unterminated object', '{"name": "x"'],
  ['single quotes', "{'name': 'x'}"],
  ['a trailing comma', '{"name": "x",}'],
  ['an empty body', ''],
  ['plain text', 'hello'],
];

/** `{"pad":"xxx…"}` of exactly `bytes` bytes. */
const paddedBody = (bytes: number): string => `{"pad":"${'x'.repeat(bytes - '{"pad":""}'.length)}"}`;

describe('request validation', () => {
  describe.each(BODY_ROUTES)('$name', (route) => {
    it.each(MALFORMED_JSON)('malformed JSON (%s) → 400', async (_label, raw) => {
      await expectProblem(await postRaw(route, raw), 400);
    });

    it.each(route.broken)('a body that breaks the schema ($label) → 400 with errors', async ({ body, fields }) => {
      await expectValidation(await postRaw(route, JSON.stringify(body())), ...fields);
    });

    it.each([
      ['null', 'null'],
      ['an array', '[]'],
      ['a string', '"x"'],
    ])('a JSON body that is %s, not an object → 400 with errors', async (_label, raw) => {
      await expectValidation(await postRaw(route, raw));
    });

    it('a broken body sent as text/plain is a 4xx problem, never a 5xx', async () => {
      const broken = route.broken[0]!.body();
      await expectClientProblem(await postRaw(route, JSON.stringify(broken), { 'content-type': 'text/plain' }));
    });

    it('an unknown top-level field → 400 (schemas are strict)', async () => {
      await expectUnknownKeyRefused(await postRaw(route, JSON.stringify({ ...route.valid(), surprise: true })), 'surprise');
    });

    if (route.nestedUnknown) {
      const { body, key } = route.nestedUnknown;
      it(`an unknown nested field (${key}) → 400`, async () => {
        await expectUnknownKeyRefused(await postRaw(route, JSON.stringify(body())), key);
      });
    }

    it('a body of exactly 64 KiB is read (a 400 for its shape, not 413)', async () => {
      const raw = paddedBody(MAX_BODY);
      expect(Buffer.byteLength(raw)).toBe(MAX_BODY);
      await expectValidation(await postRaw(route, raw));
    });
  });

  describe('a body over 64 KiB → 413', () => {
    const sizeRoutes: { name: string; path: () => string; auth: Auth }[] = [
      ...BODY_ROUTES,
      { name: 'POST /v1/journeys/{id}/check-in', path: () => `/v1/journeys/${f.journeyA}/check-in`, auth: { role: 'patient' } },
      { name: 'POST /v1/journeys/{id}/consultation', path: () => `/v1/journeys/${f.journeyA}/consultation`, auth: { role: 'doctor' } },
    ];

    it.each(sizeRoutes)('$name', async (route) => {
      await expectProblem(await postRaw(route, paddedBody(MAX_BODY + 1)), 413);
    });

    it('also when the body is streamed without Content-Length', async () => {
      const bytes = new TextEncoder().encode(paddedBody(MAX_BODY + 4096));
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < bytes.length; i += 8192) c.enqueue(bytes.slice(i, i + 8192));
          c.close();
        },
      });
      const init: RequestInit & { duplex: 'half' } = {
        method: 'POST',
        body,
        duplex: 'half',
        headers: { authorization: `Bearer ${await tokenFor('admin')}`, 'content-type': 'application/json' },
      };
      await expectProblem(await fetch(`${st.url}/v1/clinicians`, init), 413);
    });
  });

  describe('bad query parameters → 400 with errors', () => {
    const cursorOf = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const BAD_QUERIES: { path: () => string; field: string }[] = [
      { path: () => '/v1/slots?from=notadate', field: 'from' },
      { path: () => '/v1/slots?from=2030-01-01T09:00:00', field: 'from' },
      { path: () => '/v1/slots?to=2030-01-01', field: 'to' },
      { path: () => '/v1/slots?department=astrology', field: 'department' },
      { path: () => '/v1/slots?mode=hybrid', field: 'mode' },
      { path: () => '/v1/journeys?limit=0', field: 'limit' },
      { path: () => '/v1/journeys?limit=-1', field: 'limit' },
      { path: () => '/v1/journeys?limit=201', field: 'limit' },
      { path: () => '/v1/journeys?limit=abc', field: 'limit' },
      { path: () => '/v1/journeys?limit=2.5', field: 'limit' },
      { path: () => '/v1/journeys?overdue=maybe', field: 'overdue' },
      { path: () => '/v1/journeys?status=open', field: 'status' },
      { path: () => '/v1/journeys?phase=waiting', field: 'phase' },
      { path: () => '/v1/journeys?department=astrology', field: 'department' },
      { path: () => '/v1/journeys?cursor=garbage', field: 'cursor' },
      { path: () => `/v1/journeys?cursor=${cursorOf({ createdAt: 'yesterday', id: 'x' })}`, field: 'cursor' },
      { path: () => `/v1/journeys?cursor=${'A'.repeat(600)}`, field: 'cursor' },
      { path: () => '/v1/pathways/standard-outpatient?version=0', field: 'version' },
      { path: () => '/v1/pathways/standard-outpatient?version=abc', field: 'version' },
      { path: () => '/v1/pathways/standard-outpatient?version=1.5', field: 'version' },
    ];

    it.each(BAD_QUERIES)('GET $path', async ({ path, field }) => {
      await expectValidation(await st.call('GET', path(), { token: await tokenFor('admin') }), field);
    });

    it.each(['/v1/slots?surprise=1', '/v1/journeys?surprise=1', '/v1/pathways/standard-outpatient?surprise=1'])('an unknown parameter: GET %s', async (path) => {
      await expectUnknownKeyRefused(await st.call('GET', path, { token: await tokenFor('admin') }), 'surprise');
    });

    it('control: the same parameters done right are answered, and a cursor the API gave out is taken back', async () => {
      const admin = await tokenFor('admin');
      const slots = await expectJson<{ items: { id: string }[] }>(
        await st.call('GET', `/v1/slots?department=respiratory&mode=offline&from=${encodeURIComponent(isoIn(0))}&to=${encodeURIComponent(isoIn(7 * DAY))}`, { token: admin }),
        200,
      );
      expect(slots.items.map((s) => s.id)).toContain(f.slotA);
      const page = await expectJson<{ items: { id: string }[]; nextCursor: string | null }>(
        await st.call('GET', '/v1/journeys?limit=1&status=active&phase=pre-visit&department=respiratory&overdue=false', { token: admin }),
        200,
      );
      expect(page.items).toHaveLength(1);
      expect(page.nextCursor).toEqual(expect.any(String));
      const next = await expectJson<{ items: { id: string }[] }>(await st.call('GET', `/v1/journeys?limit=1&cursor=${page.nextCursor}`, { token: admin }), 200);
      expect(next.items).toHaveLength(1);
      expect(next.items[0]?.id).not.toBe(page.items[0]?.id);
      await expectJson(await st.call('GET', '/v1/pathways/standard-outpatient?version=1', { token: admin }), 200);
    });
  });

  describe('odd input is never a 5xx', () => {
    // Values zod lets through but PostgreSQL cannot store or compare: the NUL character, year 0000,
    // integers past int4. The contract: bad input is a 4xx with a clear message, never a 5xx.
    const NUL = 'a\u0000b';
    const HALF = 'diabetes \ud83d';
    const ODD: { name: string; send: () => Promise<Response> }[] = [
      { name: 'a clinician name with a NUL character', send: async () => st.call('POST', '/v1/clinicians', { token: await tokenFor('admin'), body: { ...bodies.clinician(), name: NUL } }) },
      { name: 'a patient name with a NUL character', send: async () => st.call('POST', '/v1/patients', { token: await tokenFor('admin'), body: { ...bodies.patient(), name: NUL } }) },
      { name: 'a birth date in year 0000', send: async () => st.call('POST', '/v1/patients', { token: await tokenFor('admin'), body: { ...bodies.patient(), birthDate: '0000-01-01' } }) },
      { name: 'a slot doctorId with a NUL character', send: async () => st.call('POST', '/v1/slots', { token: await tokenFor('admin'), body: { ...bodies.slot(), doctorId: NUL } }) },
      {
        name: 'a slot in year 0000',
        send: async () => st.call('POST', '/v1/slots', { token: await tokenFor('admin'), body: { ...bodies.slot(), start: '0000-01-01T09:00:00Z', end: '0000-01-01T10:00:00Z' } }),
      },
      { name: 'a pathway version past int4', send: async () => st.call('POST', '/v1/pathways', { token: await tokenFor('admin'), body: bodies.pathway('huge-version', 2 ** 31) }) },
      { name: 'a pathway whose payment window is a hundred years', send: async () => st.call('POST', '/v1/pathways', { token: await tokenFor('admin'), body: { ...bodies.pathway('century-window'), paymentWindow: 'P5200W' } }) },
      { name: 'a pathway name with a NUL character', send: async () => st.call('POST', '/v1/pathways', { token: await tokenFor('admin'), body: { ...bodies.pathway('nul-name'), name: NUL } }) },
      { name: 'a journey for a patientId with a NUL character', send: async () => st.call('POST', '/v1/journeys', { token: await tokenFor('coordinator'), body: bodies.journey(NUL) }) },
      { name: 'a journey with a pathwayId with a NUL character', send: async () => st.call('POST', '/v1/journeys', { token: await tokenFor('patient'), body: { ...bodies.journey(), pathwayId: NUL } }) },
      { name: 'GET /v1/slots?from= year 0000', send: async () => st.call('GET', '/v1/slots?from=0000-01-01T00:00:00Z', { token: await tokenFor('admin') }) },
      { name: 'GET /v1/journeys?patientId= a NUL character', send: async () => st.call('GET', '/v1/journeys?patientId=a%00b', { token: await tokenFor('admin') }) },
      {
        name: 'GET /v1/journeys?cursor= with a year-0000 time',
        send: async () =>
          st.call('GET', `/v1/journeys?cursor=${Buffer.from(JSON.stringify({ createdAt: '0000-01-01T00:00:00Z', id: 'x' })).toString('base64url')}`, {
            token: await tokenFor('admin'),
          }),
      },
      { name: 'GET /v1/pathways/{id}?version= past int4', send: async () => st.call('GET', '/v1/pathways/standard-outpatient?version=99999999999', { token: await tokenFor('admin') }) },
      { name: 'a payment webhook for an orderId with a NUL character', send: async () => signedCall('/v1/webhooks/payments', JSON.stringify(bodies.payment(NUL)), SECRETS.paymentWebhook) },
      { name: 'a courier webhook for a deliveryId with a NUL character', send: async () => signedCall('/v1/webhooks/courier', JSON.stringify({ ...bodies.courier(), deliveryId: NUL }), SECRETS.courierWebhook) },
      // A lone UTF-16 surrogate (half an emoji) cannot be stored in jsonb.
      { name: 'a pathway name with a lone surrogate', send: async () => st.call('POST', '/v1/pathways', { token: await tokenFor('admin'), body: { ...bodies.pathway('half-emoji'), name: HALF } }) },
      { name: 'a patient name with a lone surrogate', send: async () => st.call('POST', '/v1/patients', { token: await tokenFor('admin'), body: { ...bodies.patient(), name: HALF } }) },
      { name: 'a complaint with a lone surrogate', send: async () => st.call('POST', '/v1/journeys', { token: await tokenFor('patient'), body: { ...bodies.journey(), complaint: `cough ${HALF}` } }) },
    ];

    it.each(ODD)('$name', async ({ send }) => {
      await expectNoServerError(await send());
    });

    it('booking with a slotId that holds a NUL character is answered (4xx), not left hanging', async () => {
      const j = await startJourney(f.patientB);
      const res = await within(ANSWER_WITHIN_MS, st.call('POST', `/v1/journeys/${j.id}/appointment`, { token: await tokenFor('patient', f.patientB), body: bodies.book(NUL) }));
      expect(res, `no answer within ${ANSWER_WITHIN_MS} ms`).not.toBe('no answer');
      if (res !== 'no answer') await expectNoServerError(res);
    });

    it('cancelling with a reason that holds a lone surrogate is a 400 and changes nothing', async () => {
      const j = await startJourney(f.patientB);
      const res = await st.call('POST', `/v1/journeys/${j.id}/cancel`, { token: await tokenFor('patient', f.patientB), body: { reason: HALF } });
      expect(res.status).toBe(400);
      const after = (await (await st.call('GET', `/v1/journeys/${j.id}`, { token: await tokenFor('patient', f.patientB) })).json()) as { status: string };
      expect(after.status).toBe('active');
    });

    it('cancelling with a reason that holds a NUL character is answered (4xx), not left hanging', async () => {
      const j = await startJourney(f.patientB);
      const res = await within(ANSWER_WITHIN_MS, st.call('POST', `/v1/journeys/${j.id}/cancel`, { token: await tokenFor('patient', f.patientB), body: { reason: NUL } }));
      expect(res, `no answer within ${ANSWER_WITHIN_MS} ms`).not.toBe('no answer');
      if (res !== 'no answer') await expectNoServerError(res);
    });
  });
});

// ---- ids that name nothing ----------------------------------------------------------------------

describe('an id that names nothing is 404, whatever its shape', () => {
  const SHAPES: [string, string][] = [
    ['a uuid', randomUUID()],
    ['one character', 'x'],
    ['200 characters', 'j'.repeat(200)],
    ['non-ASCII', 'äöü'],
    ['SQL', "1' or '1'='1"],
    ['an emoji', '🩺'],
    ['a slash', 'a/b'],
    ['blanks', '  '],
    ['1000 characters', 'k'.repeat(1000)],
    ['a NUL character', 'a\u0000b'],
  ];
  const ID_ROUTES: { name: string; method: 'GET' | 'POST'; path: (id: string) => string; role: Role; body?: Json }[] = [
    { name: 'GET /v1/journeys/{id}', method: 'GET', path: (id) => `/v1/journeys/${id}`, role: 'admin' },
    { name: 'GET /v1/pathways/{id}', method: 'GET', path: (id) => `/v1/pathways/${id}`, role: 'patient' },
    { name: 'GET /v1/patients/{id}/notifications', method: 'GET', path: (id) => `/v1/patients/${id}/notifications`, role: 'coordinator' },
    { name: 'GET /v1/patients/{id}/consents', method: 'GET', path: (id) => `/v1/patients/${id}/consents`, role: 'coordinator' },
    { name: 'POST /v1/journeys/{id}/appointment', method: 'POST', path: (id) => `/v1/journeys/${id}/appointment`, role: 'admin', body: { slotId: 'x' } },
    { name: 'POST /v1/journeys/{id}/cancel', method: 'POST', path: (id) => `/v1/journeys/${id}/cancel`, role: 'coordinator', body: { reason: 'x' } },
    { name: 'POST /v1/journeys/{id}/check-in', method: 'POST', path: (id) => `/v1/journeys/${id}/check-in`, role: 'admin' },
    { name: 'POST /v1/journeys/{id}/consultation', method: 'POST', path: (id) => `/v1/journeys/${id}/consultation`, role: 'doctor' },
    { name: 'POST /v1/journeys/{id}/outcome', method: 'POST', path: (id) => `/v1/journeys/${id}/outcome`, role: 'doctor', body: { diagnosis: { text: 'x' }, notes: '' } },
  ];

  describe.each(ID_ROUTES)('$name', (route) => {
    it.each(SHAPES)('%s → 404', async (_label, id) => {
      const res = await st.call(route.method, route.path(encodeURIComponent(id)), {
        token: await tokenFor(route.role),
        ...(route.body ? { body: route.body } : {}),
      });
      await expectProblem(res, 404);
    });
  });

  it('control: the ids that do name something are found', async () => {
    await expectJson(await st.call('GET', `/v1/journeys/${f.journeyA}`, { token: await tokenFor('admin') }), 200);
    await expectJson(await st.call('GET', '/v1/pathways/online-follow-up', { token: await tokenFor('patient') }), 200);
    await expectJson(await st.call('GET', `/v1/patients/${f.patientA}/notifications`, { token: await tokenFor('coordinator') }), 200);
  });

  it('ids referenced in a body that name nothing are 404 too', async () => {
    const coordinator = await tokenFor('coordinator');
    await expectProblem(await st.call('POST', '/v1/slots', { token: coordinator, body: bodies.slot('no-such-doctor') }), 404);
    await expectProblem(await st.call('POST', '/v1/journeys', { token: coordinator, body: bodies.journey('no-such-patient') }), 404);
    await expectProblem(await st.call('POST', '/v1/journeys', { token: coordinator, body: { ...bodies.journey(f.patientA), pathwayId: 'no-such-pathway' } }), 404);
    await expectProblem(await st.call('POST', `/v1/journeys/${f.journeyUnbooked}/appointment`, { token: coordinator, body: bodies.book('no-such-slot') }), 404);
    // The refused booking left the journey at the booking step.
    expect((await getJourney(f.journeyUnbooked)).step).toBe('booking');
  });
});

// ---- object-level access and business rules ------------------------------------------------------

describe('object-level access', () => {
  it("a patient reading another patient's journey gets the same 404 as for a journey that does not exist", async () => {
    const other = await tokenFor('patient', f.patientB);
    const hidden = await expectProblem(await st.call('GET', `/v1/journeys/${f.journeyA}`, { token: other }), 404);
    const missing = await expectProblem(await st.call('GET', `/v1/journeys/${randomUUID()}`, { token: other }), 404);
    expect(hidden).toEqual(missing);
    // control: the owner reads it
    expect((await expectJson<JourneyBody>(await st.call('GET', `/v1/journeys/${f.journeyA}`, { token: await tokenFor('patient') }), 200)).id).toBe(f.journeyA);
  });

  it.each([
    ['appointment', { slotId: 'x' }],
    ['cancel', { reason: 'not mine' }],
    ['check-in', undefined],
  ] as const)("a patient acting on another patient's journey (%s) gets 404", async (action, body) => {
    const res = await st.call('POST', `/v1/journeys/${f.journeyA}/${action}`, { token: await tokenFor('patient', f.patientB), ...(body ? { body } : {}) });
    await expectProblem(res, 404);
    const j = await getJourney(f.journeyA);
    expect([j.status, j.step]).toEqual(['active', 'awaiting-payment']);
  });

  it("a patient reading another patient's notifications gets 404", async () => {
    const other = await tokenFor('patient', f.patientB);
    const hidden = await expectProblem(await st.call('GET', `/v1/patients/${f.patientA}/notifications`, { token: other }), 404);
    const missing = await expectProblem(await st.call('GET', `/v1/patients/${randomUUID()}/notifications`, { token: other }), 404);
    expect(hidden).toEqual(missing);
  });

  it('a doctor not booked on a journey gets 404 on GET and does not see it in the list; the booked doctor does', async () => {
    const other = await tokenFor('doctor', f.doctorB);
    const booked = await tokenFor('doctor', f.doctorA);
    await expectProblem(await st.call('GET', `/v1/journeys/${f.journeyA}`, { token: other }), 404);
    await expectJson(await st.call('GET', `/v1/journeys/${f.journeyA}`, { token: booked }), 200);
    const theirs = await expectJson<{ items: { id: string }[] }>(await st.call('GET', '/v1/journeys', { token: other }), 200);
    expect(theirs.items.map((j) => j.id)).not.toContain(f.journeyA);
    const mine = await expectJson<{ items: { id: string }[] }>(await st.call('GET', '/v1/journeys', { token: booked }), 200);
    expect(mine.items.map((j) => j.id)).toContain(f.journeyA);
  });

  it('a pharmacist reading a journey gets 404', async () => {
    await expectProblem(await st.call('GET', `/v1/journeys/${f.journeyA}`, { token: await tokenFor('pharmacist') }), 404);
  });

  it.each([
    ['consultation', undefined],
    ['outcome', bodies.outcome()],
  ] as const)('a doctor not booked on the journey gets 403 on /%s', async (action, body) => {
    const res = await st.call('POST', `/v1/journeys/${f.journeyA}/${action}`, { token: await tokenFor('doctor', f.doctorB), ...(body ? { body } : {}) });
    await expectProblem(res, 403);
  });

  it('control: the booked doctor is refused only by the state (409: not checked in yet)', async () => {
    const p = await expectProblem(await st.call('POST', `/v1/journeys/${f.journeyA}/consultation`, { token: await tokenFor('doctor', f.doctorA) }), 409);
    expect(p.type).toMatch(/invalid-state$/);
  });

  it('a patient starting a journey for someone else gets 403, whether that patient exists or not', async () => {
    const patient = await tokenFor('patient', f.patientA);
    await expectProblem(await st.call('POST', '/v1/journeys', { token: patient, body: bodies.journey(f.patientB) }), 403);
    await expectProblem(await st.call('POST', '/v1/journeys', { token: patient, body: bodies.journey(randomUUID()) }), 403);
  });
});

describe('business rules', () => {
  const followUpOf = { diagnosis: 'asthma', visitDate: dateIn(-30), facility: 'Ruijin Hospital' };

  it.each([
    ['the default online pathway', {}],
    ['standard-outpatient', { pathwayId: 'standard-outpatient' }],
  ])('an online journey without followUpOf is 422 first-visit-online (%s)', async (_label, extra) => {
    const res = await st.call('POST', '/v1/journeys', { token: await tokenFor('patient'), body: { ...bodies.journey(), mode: 'online', ...extra } });
    const p = await expectProblem(res, 422);
    expect(p.type).toMatch(/first-visit-online$/);
  });

  it('followUpOf.visitDate in the future is 400 with an error on that field', async () => {
    const res = await st.call('POST', '/v1/journeys', {
      token: await tokenFor('patient'),
      // two days ahead: in the future in every timezone
      body: { ...bodies.journey(), mode: 'online', followUpOf: { ...followUpOf, visitDate: dateIn(2) } },
    });
    await expectValidation(res, 'followUpOf.visitDate');
  });

  it('control: an online follow-up with a past visit date starts', async () => {
    const res = await st.call('POST', '/v1/journeys', { token: await tokenFor('patient'), body: { ...bodies.journey(), mode: 'online', followUpOf } });
    expect((await expectJson<{ mode: string }>(res, 201)).mode).toBe('online');
  });

  it('POST /v1/pathways with an existing id and version is 409, and the stored version stays as it was', async () => {
    const admin = await tokenFor('admin');
    const seeded = await expectJson<Json>(await st.call('GET', '/v1/pathways/standard-outpatient?version=1', { token: admin }), 200);
    await expectProblem(await st.call('POST', '/v1/pathways', { token: admin, body: seeded }), 409);

    await expectJson(await st.call('POST', '/v1/pathways', { token: admin, body: bodies.pathway('contract-pathway') }), 201);
    const p = await expectProblem(await st.call('POST', '/v1/pathways', { token: admin, body: { ...bodies.pathway('contract-pathway'), name: 'Rewritten' } }), 409);
    expect(p.type).toMatch(/\S/);
    const stored = await expectJson<{ name: string }>(await st.call('GET', '/v1/pathways/contract-pathway?version=1', { token: admin }), 200);
    expect(stored.name).toBe('Contract test pathway');
    // control: a new version is taken
    await expectJson(await st.call('POST', '/v1/pathways', { token: admin, body: bodies.pathway('contract-pathway', 2) }), 201);
  });

  it('booking a journey that is not at the booking step is 409', async () => {
    const p = await expectProblem(await st.call('POST', `/v1/journeys/${f.journeyA}/appointment`, { token: await tokenFor('patient'), body: bodies.book() }), 409);
    expect(p.type).toMatch(/\S/);
  });
});

// ---- signed partner webhooks ----------------------------------------------------------------------

describe('payment webhook', () => {
  let journey: JourneyBody;
  let orderId: string;
  let amount: number;

  /** What must not change when a webhook is refused. */
  async function state() {
    const j = await getJourney(journey.id);
    const [row] = await st.db.sql<{ status: string; paid_at: Date | null }[]>`select status, paid_at from payments where order_id = ${orderId}`;
    return { step: j.step, status: j.status, payment: j.payment?.status, timeline: j.timeline.length, row: row?.status, paidAt: row?.paid_at ?? null };
  }

  beforeAll(async () => {
    journey = await bookedJourney(f.patientB);
    orderId = journey.payment!.orderId;
    amount = journey.payment!.amount;
  });

  const BAD_SIGNATURES: [string, (raw: string) => Record<string, string>][] = [
    ['no X-Signature', () => ({})],
    ['an empty X-Signature', () => ({ 'X-Signature': '' })],
    ['a signature of zeros', () => ({ 'X-Signature': `sha256=${'0'.repeat(64)}` })],
    ['the hex without its sha256= prefix', (raw) => ({ 'X-Signature': sign(SECRETS.paymentWebhook, raw).slice('sha256='.length) })],
    ['a signature with the wrong secret', (raw) => ({ 'X-Signature': sign('not-the-secret', raw) })],
    ['a signature with the courier secret', (raw) => ({ 'X-Signature': sign(SECRETS.courierWebhook, raw) })],
    ['the signature of another body', () => ({ 'X-Signature': sign(SECRETS.paymentWebhook, JSON.stringify(bodies.payment(orderId, amount + 1))) })],
  ];

  it.each(BAD_SIGNATURES)('%s → 401, nothing changes', async (_label, header) => {
    const before = await state();
    const raw = JSON.stringify(bodies.payment(orderId, amount));
    const p = await expectProblem(await st.call('POST', '/v1/webhooks/payments', { raw, headers: header(raw) }), 401);
    expect(p.type).toMatch(/\S/);
    expect(await state()).toEqual(before);
    expect(before).toMatchObject({ step: 'awaiting-payment', payment: 'pending', row: 'pending' });
  });

  it('a bad signature is refused before the body is read (malformed JSON → 401)', async () => {
    await expectProblem(await st.call('POST', '/v1/webhooks/payments', { raw: '{oops', headers: { 'X-Signature': sign('not-the-secret', '{oops') } }), 401);
  });

  it('an unknown orderId, correctly signed → 404', async () => {
    await expectProblem(await st.payWebhook(bodies.payment(`${orderId}-nope`, amount)), 404);
  });

  it('a wrong amount → 422, nothing changes', async () => {
    const before = await state();
    await expectProblem(await st.payWebhook(bodies.payment(orderId, amount - 1)), 422);
    await expectProblem(await st.payWebhook(bodies.payment(orderId, amount * 10)), 422);
    expect(await state()).toEqual(before);
  });

  it('a failed payment → 204, nothing changes', async () => {
    const before = await state();
    expect((await st.payWebhook({ ...bodies.payment(orderId, amount), status: 'failed' })).status).toBe(204);
    expect(await state()).toEqual(before);
  });

  it('control: the right payment, correctly signed → 204 and a read right after shows it paid; a duplicate changes nothing', async () => {
    const res = await st.payWebhook(bodies.payment(orderId, amount));
    expect(res.status).toBe(204);
    const after = await state();
    expect(after).toMatchObject({ step: 'booked', status: 'active', payment: 'paid', row: 'paid' });
    const paid = await getJourney(journey.id);
    expect(paid.payment).toEqual({ ...journey.payment, status: 'paid' });
    expect(paid.timeline.at(-1)).toMatchObject({ type: 'payment.received', actor: 'payment-provider', data: { orderId, amount, channel: 'wechat' } });
    expect((await st.payWebhook(bodies.payment(orderId, amount))).status).toBe(204);
    expect(await state()).toEqual(after);
    const again = await getJourney(journey.id);
    expect(again.timeline.filter((e) => e.type === 'payment.received')).toHaveLength(1);
  });

  describe('a payment for a journey no longer waiting for it is refunded at once; status, phase and step stay', () => {
    /** A booked journey, cancelled before it was paid. */
    async function cancelledUnpaid(): Promise<JourneyBody> {
      const j = await bookedJourney(f.patientB);
      const cancelled = await expectJson<JourneyBody>(await st.call('POST', `/v1/journeys/${j.id}/cancel`, { token: await tokenFor('patient', f.patientB), body: bodies.cancel() }), 200);
      expect(cancelled).toMatchObject({ status: 'cancelled', phase: 'closed', step: 'done', payment: { status: 'expired' } });
      return cancelled;
    }

    async function expectRefunded(cancelled: JourneyBody): Promise<void> {
      const { orderId: order, amount: fee } = cancelled.payment!;
      expect((await st.payWebhook(bodies.payment(order, fee))).status).toBe(204);
      // Right after the 204: refunded, with the amount on the timeline, and nothing else changed.
      const after = await getJourney(cancelled.id);
      expect(after).toMatchObject({ status: 'cancelled', phase: 'closed', step: 'done', payment: { orderId: order, amount: fee, status: 'refunded' } });
      expect(after.timeline.map((e) => e.type)).toEqual([...cancelled.timeline.map((e) => e.type), 'payment.refunded']);
      expect(after.timeline.at(-1)).toMatchObject({ actor: 'system', data: { orderId: order, amount: fee, reason: 'late-payment' } });
      const refunds = await st.db.sql<{ amount: number }[]>`select amount from refunds where order_id = ${order}`;
      expect(refunds.map((r) => r.amount)).toEqual([fee]);
      // A duplicate changes nothing.
      expect((await st.payWebhook(bodies.payment(order, fee))).status).toBe(204);
      expect(await getJourney(cancelled.id)).toEqual(after);
      expect(await st.db.sql`select 1 from refunds where order_id = ${order}`).toHaveLength(1);
    }

    it('right after the cancellation (the journey workflow may still be finishing)', async () => {
      await expectRefunded(await cancelledUnpaid());
    });

    it('once the journey workflow has completed (latePaymentRefund)', async () => {
      const cancelled = await cancelledUnpaid();
      await st.env.client.workflow.getHandle(journeyWorkflowId(cancelled.id)).result();
      await expectRefunded(cancelled);
    });
  });
});

describe('courier webhook', () => {
  it('a bad or missing signature → 401', async () => {
    const raw = JSON.stringify(bodies.courier());
    await expectProblem(await st.call('POST', '/v1/webhooks/courier', { raw }), 401);
    await expectProblem(await signedCall('/v1/webhooks/courier', raw, SECRETS.paymentWebhook), 401);
  });

  it('an unknown deliveryId, correctly signed → 404', async () => {
    await expectProblem(await signedCall('/v1/webhooks/courier', JSON.stringify(bodies.courier()), SECRETS.courierWebhook), 404);
  });
});

// ---- the visit: refusals along the way ----------------------------------------------------------------

describe('the visit steps refuse what their state does not allow', () => {
  let journeyId: string;

  beforeAll(async () => {
    const j = await bookedJourney(f.patientB);
    journeyId = j.id;
    expect((await st.payWebhook(bodies.payment(j.payment!.orderId, j.payment!.amount))).status).toBe(204);
    expect((await getJourney(journeyId)).step).toBe('booked');
  });

  it('outcome before the consultation is 409; check-in twice is 409', async () => {
    await expectProblem(await st.call('POST', `/v1/journeys/${journeyId}/outcome`, { token: await tokenFor('doctor', f.doctorA), body: bodies.outcome() }), 409);
    const patient = await tokenFor('patient', f.patientB);
    const first = await expectJson<{ queueNumber: number; ahead: number }>(await st.call('POST', `/v1/journeys/${journeyId}/check-in`, { token: patient }), 200);
    expect(first.queueNumber).toBeGreaterThanOrEqual(1);
    await expectProblem(await st.call('POST', `/v1/journeys/${journeyId}/check-in`, { token: patient }), 409);
  });

  it('only the booked doctor starts the consultation, once', async () => {
    await expectProblem(await st.call('POST', `/v1/journeys/${journeyId}/consultation`, { token: await tokenFor('doctor', f.doctorB) }), 403);
    const doctor = await tokenFor('doctor', f.doctorA);
    expect((await expectJson<JourneyBody>(await st.call('POST', `/v1/journeys/${journeyId}/consultation`, { token: doctor }), 200)).step).toBe('in-consultation');
    await expectProblem(await st.call('POST', `/v1/journeys/${journeyId}/consultation`, { token: doctor }), 409);
    // a visit in progress can no longer be cancelled
    await expectProblem(await st.call('POST', `/v1/journeys/${journeyId}/cancel`, { token: await tokenFor('patient', f.patientB), body: bodies.cancel() }), 409);
  });

  it('an outcome whose notes hold a NUL character is answered (4xx), not left hanging', async () => {
    const res = await within(
      ANSWER_WITHIN_MS,
      st.call('POST', `/v1/journeys/${journeyId}/outcome`, { token: await tokenFor('doctor', f.doctorA), body: { ...bodies.outcome(), notes: 'a\u0000b' } }),
    );
    expect(res, `no answer within ${ANSWER_WITHIN_MS} ms`).not.toBe('no answer');
    if (res !== 'no answer') await expectNoServerError(res);
  });
});
