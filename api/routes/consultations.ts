// Online consultations (在线咨询, issue 12): templates (admin data, versioned like pathways), a
// patient's question to one doctor (which starts the consultation's workflow and asks for its fee),
// reading one, its messages, writing in it and rating it. Reads come from the read model; a message's
// text is stored here in PostgreSQL and only its id goes to the workflow, which refuses what its state
// or the caller cannot take (then the stored text is removed). The fee is paid through the payment
// webhook like any order.
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import {
  consultationMessages,
  consultationOwner,
  dropConsultationMessage,
  getConsultation,
  getConsultationTemplate,
  insertConsultationTemplate,
  listConsultationTemplates,
  listConsultations,
  storeConsultationMessage,
  type ConsultationMessage,
  type ConsultationView,
} from '../../activities/consultations.js';
import type { Sql } from '../../activities/db.js';
import { getClinician, getPatient } from '../../activities/reference.js';
import { visitStanding } from '../../activities/verification.js';
import { LOCAL_WORK_TASK_TIMEOUT } from '../../workflows/activity-options.js';
import type { onlineConsultation } from '../../workflows/consultation.js';
import {
  CONSULTATION_WORKFLOW,
  ConsultationFailureType,
  JOURNEY_TASK_QUEUE,
  MdtFailureType,
  RemoteFailureType,
  consultationMessageUpdate,
  consultationRatingUpdate,
  consultationWorkflowId,
  type ConsultationInput,
} from '../../workflows/definitions.js';
import { auditSubject } from '../audit.js';
import { authenticate, ownerMaySee, requireRole } from '../auth.js';
import * as cs from '../consultation-schemas.js';
import { idFor, idempotent } from '../idempotency.js';
import { bearer, jsonBody, jsonResponse, newRouter, opaqueIds, problems } from '../openapi.js';
import { ApiProblem, conflict, forbidden, fromWorkflowError, isWorkflowClosed, notFound, unprocessable } from '../problems.js';
import * as s from '../schemas.js';
import type { ApiDeps, AppEnv } from '../types.js';

/** The template a question uses when it names none. */
export const DEFAULT_CONSULTATION_TEMPLATE = 'text-consultation';

const closed = (): ApiProblem => conflict(ConsultationFailureType.Closed, 'the consultation has closed');

/**
 * Refusals that say the text was never counted, whatever happened before: who wrote it, or what the
 * conversation needs first. A refusal that may follow from this very text's first attempt (the
 * conversation closed by it, the opinion it gave, the answer it was) is not among them.
 */
const NEVER_COUNTED = new Set<string>([
  ConsultationFailureType.NotParticipant,
  ConsultationFailureType.Unpaid,
  MdtFailureType.NotInvited,
  MdtFailureType.NotConvener,
  MdtFailureType.QuorumNotMet,
  RemoteFailureType.NotAssigned,
]);

/**
 * Stores a text (a message, an opinion, a conclusion), then has its workflow count it (`count`), and
 * answers it as stored. A text refused for a reason that means it was never counted is deleted. Any
 * other failure keeps it: an engine that did not answer may still take it, and a retry refused because
 * its first attempt closed the conversation must not delete what that attempt's projection is about to
 * accept. Only accepted texts are ever read back.
 */
export async function sendText(sql: Sql, text: Parameters<typeof storeConsultationMessage>[1], count: () => Promise<unknown>): Promise<ConsultationMessage> {
  await storeConsultationMessage(sql, text);
  try {
    await count();
  } catch (err) {
    const problem = err instanceof ApiProblem ? err : fromWorkflowError(err);
    if (problem && NEVER_COUNTED.has(problem.type)) await dropConsultationMessage(sql, text.id);
    throw err;
  }
  return (await consultationMessages(sql, text.consultationId)).find((m) => m.id === text.id)!;
}

/** Polls (until `deadline`) for a workflow's first projection: `read` gives it once recorded (503 past the deadline). */
export async function firstRecorded<T>(read: () => Promise<T | undefined>, deadline: number, what: string): Promise<T> {
  for (;;) {
    const v = await read();
    if (v) return v;
    if (Date.now() >= deadline) throw new ApiProblem(503, 'engine-unavailable', 'Service unavailable', `the ${what} was started but has not been recorded yet; read it again shortly`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

/**
 * `GET /{id}` and `GET /{id}/messages` of an MDT or a remote consultation: each behind the kind's own
 * object check (`visible`: 404 to whoever may not see it, its patient named for the audit), the item
 * from the read model and its texts, oldest first.
 */
export function conversationReads<V extends object>(
  r: OpenAPIHono<AppEnv>,
  o: { sql: Sql; tag: string; schema: z.ZodType; summary: string; messages: string; visible(c: Parameters<typeof auditSubject>[0], id: string): Promise<void>; read(id: string): Promise<V> },
): void {
  r.openapi(
    createRoute({ method: 'get', path: '/{id}', tags: [o.tag], summary: o.summary, security: bearer, request: { params: s.IdParam }, responses: { 200: jsonResponse(o.schema, 'Found'), ...problems(401, 404) } }),
    async (c) => {
      const { id } = c.req.valid('param');
      await o.visible(c, id);
      return c.json((await o.read(id)) as never, 200);
    },
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/messages',
      tags: [o.tag],
      summary: o.messages,
      security: bearer,
      request: { params: s.IdParam },
      responses: { 200: jsonResponse(z.object({ items: z.array(cs.Message) }), 'Every text it took, oldest first'), ...problems(401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await o.visible(c, id);
      return c.json({ items: await consultationMessages(o.sql, id) }, 200);
    },
  );
}

/**
 * Starts a consultation-kind workflow once under `workflowId` (its short work as local activities:
 * LOCAL_WORK_TASK_TIMEOUT). True when it was started before (a retry of the same request), for the
 * caller to check it is this request's.
 */
export async function startOnce(deps: ApiDeps, engine: <R>(fn: () => Promise<R>) => Promise<R>, workflowType: string, workflowId: string, input: unknown): Promise<boolean> {
  try {
    await engine(() =>
      deps.temporal.workflow.start(workflowType, {
        taskQueue: JOURNEY_TASK_QUEUE,
        workflowId,
        args: [input],
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        workflowTaskTimeout: LOCAL_WORK_TASK_TIMEOUT,
      }),
    );
    return false;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return true;
    throw err;
  }
}

/**
 * Whose items a consultation-kind list shows: a patient their own (another patient's filter answers
 * empty, audited as refused: undefined), a doctor theirs, staff any (by `patientId`); pharmacists none (403).
 */
export function listScope(c: Parameters<typeof auditSubject>[0], patientId: string | undefined, what: string): { patientId?: string; doctorId?: string } | undefined {
  const user = c.get('user');
  if (user.role === 'pharmacist') throw forbidden(`pharmacists do not see ${what}`);
  if (user.role === 'patient' && patientId !== undefined && patientId !== user.id) {
    auditSubject(c, { refused: true });
    return undefined;
  }
  return {
    ...(user.role === 'patient' ? { patientId: user.id } : patientId ? { patientId } : {}),
    ...(user.role === 'doctor' ? { doctorId: user.id } : {}),
  };
}

// ---- templates ------------------------------------------------------------------------------------

export function consultationTemplateRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/', idempotent(deps.sql, deps.engineTimeoutMs));
  r.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['consultations'],
      summary: 'Publish an online-consultation template version (admin); versions are immutable',
      description: 'Durations are ISO 8601 like pathways\'. An existing id + version is 409 version-exists. A consultation keeps the version it started with.',
      security: bearer,
      middleware: [requireRole('admin')] as const,
      request: { headers: s.IdempotencyHeaders, body: jsonBody(cs.ConsultationTemplateSchema) },
      responses: { 201: jsonResponse(cs.ConsultationTemplateSchema, 'Created'), ...problems(400, 401, 403, 409, 413) },
    }),
    async (c) => {
      const t = c.req.valid('json');
      if (!(await insertConsultationTemplate(deps.sql, t))) throw conflict('version-exists', `consultation template ${t.id} version ${t.version} exists; versions are immutable`);
      c.get('log').info({ templateId: t.id, version: t.version }, 'consultation template published');
      return c.json(t, 201);
    },
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['consultations'],
      summary: 'Online-consultation templates, the latest version of each: fee, response time, rounds',
      security: bearer,
      responses: { 200: jsonResponse(z.object({ items: z.array(cs.ConsultationTemplateSchema) }), 'Latest version of each template, by id'), ...problems(401) },
    }),
    async (c) => c.json({ items: await listConsultationTemplates(deps.sql) }, 200),
  );
  return r;
}

// ---- consultations --------------------------------------------------------------------------------

/** Its patient, its doctor, coordinators and admins; anyone else is told it does not exist. */
const maySee = ownerMaySee;

export function consultationRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/', idempotent(deps.sql, deps.engineTimeoutMs));
  // A message retried under its Idempotency-Key is the same message (its id comes from the key): sent once.
  r.use('/:id/messages', idempotent(deps.sql, deps.engineTimeoutMs));
  r.use('/:id', opaqueIds('consultation'));
  r.use('/:id/*', opaqueIds('consultation'));
  const deadline = () => Date.now() + (deps.engineTimeoutMs ?? 30_000);
  /** A call into the engine under its deadline (503 past it); a consultation whose workflow has ended has closed (409). */
  const engine = <R>(fn: () => Promise<R>): Promise<R> =>
    deps.temporal.withDeadline(deadline(), fn).catch((err: unknown) => {
      throw isWorkflowClosed(err) ? closed() : err;
    });
  const wf = (id: string) => deps.temporal.workflow.getHandle<typeof onlineConsultation>(consultationWorkflowId(id));

  /** The consultation the caller may see (404 otherwise, whether or not it exists); its patient named for the audit. */
  async function visible(c: Parameters<typeof auditSubject>[0], id: string): Promise<void> {
    const o = await consultationOwner(deps.sql, id);
    if (!o || !maySee(c.get('user'), o)) throw notFound('consultation');
    auditSubject(c, { patientId: o.patientId });
  }

  async function read(id: string): Promise<ConsultationView> {
    const v = await getConsultation(deps.sql, id);
    if (!v) throw notFound('consultation');
    return v;
  }


  r.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['consultations'],
      summary: 'A patient asks a doctor a question online; the fee is then due within the payment window',
      description:
        'Starts the consultation (workflow `consult:<id>`) on the template (default `text-consultation`): its fee is an order (`payment.orderId`) paid through the payment webhook ' +
        'within the template\'s payment window, or it lapses. Once paid, the doctor answers within `replyWithin` (each question left longer escalates to coordinators, tier after tier); ' +
        'a consultation the doctor has not answered within `takeWithin` is refunded and closed. It closes after `maxRounds` answers or `openFor` after the first. ' +
        'Online care: the doctor must be verified with the years of practice online care needs (422 `clinician-unverified`, `insufficient-practice`) and the patient real-name verified (422 `patient-unverified`). ' +
        'A consultation is advice and follow-up only: it prescribes nothing. A patient asks for themself; coordinators may ask on a patient\'s behalf.',
      security: bearer,
      middleware: [requireRole('patient', 'coordinator', 'admin')] as const,
      request: { headers: s.IdempotencyHeaders, body: jsonBody(cs.ConsultationInput) },
      responses: { 201: jsonResponse(cs.Consultation, 'Asked: the consultation, its fee pending'), ...problems(400, 401, 403, 404, 409, 413, 422, 503) },
    }),
    async (c) => {
      const user = c.get('user');
      const body = c.req.valid('json');
      auditSubject(c, { patientId: body.patientId });
      if (user.role === 'patient' && user.id !== body.patientId) throw forbidden('a patient asks only for themself');
      if (!(await getPatient(deps.sql, body.patientId))) throw notFound('patient');
      const doctor = await getClinician(deps.sql, body.doctorId);
      if (!doctor) throw notFound('doctor');
      if (doctor.role !== 'doctor') throw unprocessable('not-a-doctor', 'doctorId names a clinician who is not a doctor');
      const standing = await visitStanding(deps.sql, { doctorId: body.doctorId, mode: 'online', patientId: body.patientId });
      if (!standing.ok) throw unprocessable(standing.type, standing.detail);
      const template = await getConsultationTemplate(deps.sql, body.templateId ?? DEFAULT_CONSULTATION_TEMPLATE);
      if (!template) throw notFound('consultation template');
      if (template.kind !== undefined && template.kind !== 'text') throw unprocessable('template-kind', `template ${template.id} is not a text consultation's (kind ${template.kind})`);
      // With an Idempotency-Key the ids come from the caller and the key: a retry finds what the first attempt made.
      const consultationId = idFor(c, 'consultation');
      auditSubject(c, { resource: `consultation:${consultationId}` });
      const firstMessageId = `${consultationId}:1`;
      await storeConsultationMessage(deps.sql, { id: firstMessageId, consultationId, from: 'patient', authorId: body.patientId, body: body.message.body, attachments: body.message.attachments });
      const input: ConsultationInput = { consultationId, patientId: body.patientId, doctorId: body.doctorId, template, firstMessageId, requestedBy: { role: user.role, id: user.id } };
      if (await startOnce(deps, engine, CONSULTATION_WORKFLOW, consultationWorkflowId(consultationId), input)) {
        // Started by the first attempt of this key; one for another patient or doctor is not this request.
        const o = await consultationOwner(deps.sql, consultationId);
        if (o && (o.patientId !== body.patientId || o.doctorId !== body.doctorId)) throw unprocessable('idempotency-key-reused', 'this Idempotency-Key was used for another request');
      }
      c.get('log').info({ consultationId, patientId: body.patientId, doctorId: body.doctorId }, 'consultation asked');
      return c.json(await firstRecorded(() => getConsultation(deps.sql, consultationId), deadline(), 'consultation'), 201);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['consultations'],
      summary: "Consultations: a patient's own, a doctor's queue (the soonest answer due first), every one for coordinators",
      security: bearer,
      request: { query: cs.ConsultationQuery },
      responses: { 200: jsonResponse(z.object({ items: z.array(cs.ConsultationSummary) }), 'At most `limit`'), ...problems(400, 401, 403) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      // A patient sees their own and a doctor the consultations asked of them, whatever the filter says.
      const scope = listScope(c, q.patientId, 'consultations');
      if (!scope) return c.json({ items: [] }, 200);
      const items = await listConsultations(deps.sql, { limit: q.limit, ...(q.status ? { status: q.status } : {}), ...scope });
      auditSubject(c, { patientIds: items.map((i) => i.patientId) });
      return c.json({ items }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['consultations'],
      summary: 'One consultation with its timeline and open tasks (its patient, its doctor, coordinators)',
      security: bearer,
      request: { params: s.IdParam },
      responses: { 200: jsonResponse(cs.Consultation, 'The consultation'), ...problems(401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const v = await getConsultation(deps.sql, id);
      if (!v || !maySee(c.get('user'), v)) throw notFound('consultation');
      auditSubject(c, { patientId: v.patientId });
      return c.json(v, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/messages',
      tags: ['consultations'],
      summary: 'The conversation, oldest first (its patient, its doctor, coordinators)',
      security: bearer,
      request: { params: s.IdParam },
      responses: { 200: jsonResponse(z.object({ items: z.array(cs.Message) }), 'Every message the consultation took'), ...problems(401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await visible(c, id);
      return c.json({ items: await consultationMessages(deps.sql, id) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/messages',
      tags: ['consultations'],
      summary: 'The patient asks, or the doctor answers',
      description:
        'Only its patient and its doctor write (403 `not-participant`; anyone else who may not see it: 404). Nothing before the fee is paid (409 `consultation-unpaid`) nor after it closed (409 `consultation-closed`). ' +
        "The doctor's message to a waiting question is an answer: it uses a round, and the last round closes the consultation. A patient's message after an answer is a new question, due within the template's `replyWithin`.",
      security: bearer,
      middleware: [requireRole('patient', 'doctor')] as const,
      request: { params: s.IdParam, headers: s.IdempotencyHeaders, body: jsonBody(cs.MessageInput) },
      responses: { 201: jsonResponse(z.object({ message: cs.Message, consultation: cs.Consultation }), 'Taken'), ...problems(400, 401, 403, 404, 409, 413, 422, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const body = c.req.valid('json');
      await visible(c, id);
      const message = { id: idFor(c, `message:${id}`), consultationId: id, from: user.role as 'patient' | 'doctor', authorId: user.id, body: body.body, attachments: body.attachments };
      const stored = await sendText(deps.sql, message, () =>
        engine(() => wf(id).executeUpdate(consultationMessageUpdate, { args: [{ messageId: message.id, author: { role: user.role, id: user.id } }] })),
      );
      return c.json({ message: stored, consultation: await read(id) }, 201);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/rating',
      tags: ['consultations'],
      summary: 'The patient rates the consultation (1–5), once, within the rating window after it closed',
      description: 'Only after it closed with answers (409 `consultation-not-rateable` before, for one refunded or lapsed, a second time, or after the window); only its patient (403 `not-participant`).',
      security: bearer,
      middleware: [requireRole('patient')] as const,
      request: { params: s.IdParam, body: jsonBody(cs.RatingInput) },
      responses: { 200: jsonResponse(cs.Consultation, 'Rated'), ...problems(400, 401, 403, 404, 409, 413, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      await visible(c, id);
      await engine(() => wf(id).executeUpdate(consultationRatingUpdate, { args: [{ score: c.req.valid('json').score, actor: { role: user.role, id: user.id } }] })).catch((err: unknown) => {
        // The workflow ends with its rating window: a rating after it is refused like one too late.
        if (err instanceof ApiProblem && err.type === ConsultationFailureType.Closed) throw conflict(ConsultationFailureType.NotRateable, 'the rating window has passed');
        throw err;
      });
      return c.json(await read(id), 200);
    },
  );

  return r;
}
