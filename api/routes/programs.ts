// Chronic-disease care programs: templates (admin data, versioned like pathways), enrolment (which
// starts the patient's careProgram workflow for the condition), reading a program, the plan and the
// status changes of the responsible doctor or a coordinator, and the patient's readings and doses.
// Reads come from the read model; actions are updates on the program's workflow, which refuses what
// its state or the caller cannot take.
import { randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { DateTime } from 'luxon';
import type { Sql } from '../../activities/db.js';
import { CONTROLLED_CLASSES, drugsByCode } from '../../activities/prescriptions.js';
import {
  activeProgram,
  getProgramTemplate,
  insertProgramTemplate,
  listProgramTemplates,
  listPrograms,
  planOccurrences,
  programOwner,
  programTemplateVersion,
  readProgram,
  withRemainingDays,
  type ProgramOwner,
  type ProgramRead,
} from '../../activities/programs.js';
import { getClinician, getPathway, patientTimezone } from '../../activities/reference.js';
import { LOCAL_WORK_TASK_TIMEOUT } from '../../workflows/activity-options.js';
import type { careProgram } from '../../workflows/care-program.js';
import {
  CARE_PROGRAM_WORKFLOW,
  JOURNEY_TASK_QUEUE,
  ProgramFailureType,
  programDoseUpdate,
  programPlanUpdate,
  programQuery,
  programStatusUpdate,
  programWorkflowId,
  readingUpdate,
  type Actor,
  type ProgramInput,
  type ProgramPlan,
  type ProgramSnapshot,
  type ProgramTemplate,
  type Reading,
} from '../../workflows/definitions.js';
import { durationMs } from '../../workflows/duration.js';
import { idempotent } from '../idempotency.js';
import { auditSubject } from '../audit.js';
import { authenticate, isStaff, ownerMaySee, requireRole, type User } from '../auth.js';
import { bearer, jsonBody, jsonResponse, newRouter, opaqueIds, problems } from '../openapi.js';
import { ApiProblem, conflict, forbidden, isWorkflowClosed, notFound, unprocessable } from '../problems.js';
import * as ps from '../program-schemas.js';
import * as s from '../schemas.js';
import type { ApiDeps } from '../types.js';

/** The pathway every follow-up and renewal journey of a program runs on (copied at enrolment). */
export const FOLLOW_UP_PATHWAY = 'online-follow-up';

const discharged = (): ApiProblem => conflict(ProgramFailureType.Discharged, 'the program is discharged: it takes nothing more');
const notResponsible = (): ApiProblem =>
  new ApiProblem(403, ProgramFailureType.NotResponsible, 'Forbidden', 'only the responsible doctor or a coordinator may change the program');

/**
 * The plan's drugs against the catalogue, in the prescribing rules' order: each must exist
 * (422 unknown-drug) and none may be controlled (422 controlled-drug). Its follow-up interval, when
 * it overrides the template's, must be longer than the template's lead (422 invalid-plan).
 */
export async function checkProgramPlan(sql: Sql, plan: ProgramPlan, template: ProgramTemplate): Promise<void> {
  const drugs = await drugsByCode(sql, plan.medications.map((m) => m.drugCode));
  for (const m of plan.medications) {
    if (!drugs.has(m.drugCode)) throw unprocessable('unknown-drug', `no drug ${m.drugCode} in the catalogue`);
  }
  for (const m of plan.medications) {
    const d = drugs.get(m.drugCode)!;
    if (CONTROLLED_CLASSES.includes(d.class)) throw unprocessable('controlled-drug', `${d.code} is a ${d.class} drug: CarePath never issues controlled drugs`);
  }
  if (plan.followUpEvery && durationMs(plan.followUpEvery) <= durationMs(template.followUpLead)) {
    throw unprocessable('invalid-plan', `followUpEvery must be longer than the template's followUpLead (${template.followUpLead})`);
  }
}

/**
 * Everything a careProgram workflow starts with, checked: the patient (404), the template (the
 * condition's own when none is named; 404 unknown, 422 `template-mismatch` for another condition's),
 * the plan (see checkProgramPlan), the patient's timezone and the follow-up pathway. The caller has
 * settled who the responsible doctor is. Nothing is recorded.
 */
export async function prepareEnrolment(
  sql: Sql,
  e: { patientId: string; condition: string; templateId?: string | undefined; doctorId: string; plan: ProgramPlan; enrolledBy: Actor; journeyId?: string },
): Promise<ProgramInput> {
  const timezone = await patientTimezone(sql, e.patientId);
  if (!timezone) throw notFound('patient');
  const template = await getProgramTemplate(sql, e.templateId ? { id: e.templateId } : { condition: e.condition });
  if (!template) throw notFound(e.templateId ? 'program template' : `program template for ${e.condition}`);
  if (template.condition !== e.condition) throw unprocessable('template-mismatch', `template ${template.id} is for ${template.condition}, not ${e.condition}`);
  await checkProgramPlan(sql, e.plan, template);
  const followUpPathway = await getPathway(sql, FOLLOW_UP_PATHWAY);
  if (!followUpPathway) throw new Error(`the ${FOLLOW_UP_PATHWAY} pathway is not in the database`);
  return {
    programId: randomUUID(),
    patientId: e.patientId,
    condition: e.condition,
    doctorId: e.doctorId,
    enrolledBy: e.enrolledBy,
    template,
    plan: e.plan,
    timezone,
    enrolledAt: new Date().toISOString(),
    followUpPathway,
    ...(e.journeyId ? { journeyId: e.journeyId } : {}),
  };
}

/** Polls (until `deadline`) for a program's first projection. */
async function programReadable(sql: Sql, id: string, deadline: number): Promise<ProgramRead | undefined> {
  for (;;) {
    const p = await readProgram(sql, id);
    if (p || Date.now() >= deadline) return p;
    await new Promise((r) => setTimeout(r, 25));
  }
}

const DAY = 86_400_000;
type NextFields = Pick<ProgramSnapshot, 'status' | 'plan' | 'timezone' | 'enrolledAt' | 'next' | 'template'>;

/**
 * The next dose and measurement of an active program whose snapshot lacks them. The workflow
 * projects its enrolment, a plan change and a resume before it plans the coming week, so until the
 * next transition the snapshot's `next` holds only the follow-up and the refill; the same planner
 * the workflow uses (in the patient's timezone, from now) fills the gap. A paused or discharged
 * program has no `next`.
 */
async function completeNext<P extends NextFields>(sql: Sql, p: P, templates = new Map<string, ProgramTemplate | undefined>()): Promise<P> {
  if (p.status !== 'active') return p;
  const needMedication = p.plan.medications.length > 0 && !p.next.some((n) => n.kind === 'medication');
  let measurements: ProgramTemplate['measurements'] = [];
  if (!p.next.some((n) => n.kind === 'measurement')) {
    const key = `${p.template.id}@${p.template.version}`;
    if (!templates.has(key)) templates.set(key, await programTemplateVersion(sql, p.template.id, p.template.version));
    measurements = templates.get(key)?.measurements ?? [];
  }
  if (!needMedication && measurements.length === 0) return p;
  const now = Date.now();
  const planned = planOccurrences({
    timezone: p.timezone,
    enrolledAt: p.enrolledAt,
    medications: needMedication ? p.plan.medications.map((m) => ({ drugCode: m.drugCode, times: m.times })) : [],
    measurements,
    from: new Date(Math.max(now, Date.parse(p.enrolledAt))).toISOString(),
    to: new Date(now + 8 * DAY).toISOString(),
  });
  const next = [...p.next];
  for (const kind of ['medication', 'measurement'] as const) {
    const first = planned.find((o) => o.kind === kind);
    if (first) next.push({ at: first.at, kind });
  }
  return { ...p, next: next.sort((a, b) => Date.parse(a.at) - Date.parse(b.at)) };
}

// ---- templates ------------------------------------------------------------------------------------

export function programTemplateRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/', idempotent(deps.sql, deps.engineTimeoutMs));
  r.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['care programs'],
      summary: 'Publish a care-program template version (admin); versions are immutable',
      description:
        'Durations are ISO 8601 like pathways\'. A template that measures bp needs thresholds.bp, one that measures glucose thresholds.glucose (400 otherwise). ' +
        'An existing id + version is 409 version-exists; a new version of an id must keep its condition (422 template-mismatch).',
      security: bearer,
      middleware: [requireRole('admin')] as const,
      request: { headers: s.IdempotencyHeaders, body: jsonBody(ps.ProgramTemplateSchema) },
      responses: { 201: jsonResponse(ps.ProgramTemplateSchema, 'Created'), ...problems(400, 401, 403, 409, 413, 422) },
    }),
    async (c) => {
      const t = c.req.valid('json');
      const latest = await getProgramTemplate(deps.sql, { id: t.id });
      if (latest && latest.condition !== t.condition) throw unprocessable('template-mismatch', `template ${t.id} is for ${latest.condition}; a new version keeps its condition`);
      if (!(await insertProgramTemplate(deps.sql, t))) throw conflict('version-exists', `program template ${t.id} version ${t.version} exists; versions are immutable`);
      c.get('log').info({ templateId: t.id, version: t.version }, 'program template published');
      return c.json(t, 201);
    },
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['care programs'],
      summary: 'Care-program templates, the latest version of each (staff)',
      security: bearer,
      middleware: [requireRole('doctor', 'pharmacist', 'coordinator', 'admin')] as const,
      responses: { 200: jsonResponse(z.object({ items: z.array(ps.ProgramTemplateSchema) }), 'Latest version of each template, by id'), ...problems(401, 403) },
    }),
    async (c) => c.json({ items: await listProgramTemplates(deps.sql) }, 200),
  );
  return r;
}

// ---- programs -------------------------------------------------------------------------------------

/** Its patient, its responsible doctor, coordinators and admins; anyone else is told it does not exist. */
const maySee = ownerMaySee;

export function programRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/', idempotent(deps.sql, deps.engineTimeoutMs));
  r.use('/:id', opaqueIds('program'));
  r.use('/:id/*', opaqueIds('program'));
  const deadline = () => Date.now() + (deps.engineTimeoutMs ?? 30_000);
  /** A call into the engine under its deadline (503 past it); a program whose workflow has ended was discharged (409). */
  const engine = <R>(fn: () => Promise<R>): Promise<R> =>
    deps.temporal.withDeadline(deadline(), fn).catch((err: unknown) => {
      throw isWorkflowClosed(err) ? discharged() : err;
    });
  const wf = (o: ProgramOwner) => deps.temporal.workflow.getHandle(programWorkflowId(o.patientId, o.condition));
  const actor = (u: User): Actor => ({ role: u.role, id: u.id });

  async function read(id: string): Promise<ProgramRead> {
    const p = await readProgram(deps.sql, id);
    if (!p) throw notFound('program');
    return completeNext(deps.sql, p);
  }

  /**
   * The program for a change of plan or status: it exists (404), the caller is its responsible doctor
   * or staff (403 not-responsible), and it is not discharged (409; checked here, before the engine,
   * because a later enrolment for the same condition reuses the workflow id).
   */
  async function changeable(user: User, id: string): Promise<ProgramOwner> {
    const o = await programOwner(deps.sql, id);
    if (!o) throw notFound('program');
    if (!isStaff(user) && o.doctorId !== user.id) throw notResponsible();
    if (o.status === 'discharged') throw discharged();
    return o;
  }

  /** The calling patient's own program, not discharged; another patient's is 404. */
  async function patientsOwn(user: User, id: string): Promise<ProgramOwner> {
    const o = await programOwner(deps.sql, id);
    if (!o || o.patientId !== user.id) throw notFound('program');
    if (o.status === 'discharged') throw discharged();
    return o;
  }

  const answer = (description: string) => jsonResponse(ps.Program, description);

  r.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['care programs'],
      summary: 'Enrol a patient in a care program for a condition (doctors, coordinators)',
      description:
        "Starts the patient's careProgram workflow for the condition on the condition's template (or templateId). The responsible doctor is the enrolling doctor, or doctorId " +
        '(required) when a coordinator enrols. Drugs must be in the catalogue and not controlled (422 unknown-drug, controlled-drug). A patient has at most one program per ' +
        'condition that is not discharged (409 already-enrolled). Answers once the program is readable.',
      security: bearer,
      middleware: [requireRole('doctor', 'coordinator', 'admin')] as const,
      request: { headers: s.IdempotencyHeaders, body: jsonBody(ps.EnrolInput) },
      responses: { 201: answer('Enrolled: the program'), ...problems(400, 401, 403, 404, 409, 413, 422, 503) },
    }),
    async (c) => {
      const user = c.get('user');
      const body = c.req.valid('json');
      auditSubject(c, { patientId: body.patientId });
      let doctorId: string;
      if (user.role === 'doctor') {
        if (body.doctorId !== undefined && body.doctorId !== user.id) throw forbidden('a doctor enrols as the responsible doctor; a coordinator may name another');
        doctorId = user.id;
      } else {
        if (body.doctorId === undefined) {
          throw new ApiProblem(400, 'validation', 'Invalid request', 'the request json does not match the schema', [
            { path: 'json.doctorId', message: 'required when a coordinator or admin enrols: the responsible doctor' },
          ]);
        }
        const doctor = await getClinician(deps.sql, body.doctorId);
        if (!doctor) throw notFound('doctor');
        if (doctor.role !== 'doctor') throw unprocessable('not-a-doctor', 'doctorId names a clinician who is not a doctor');
        doctorId = body.doctorId;
      }
      const input = await prepareEnrolment(deps.sql, { ...body, doctorId, enrolledBy: actor(user) });
      auditSubject(c, { resource: `program:${input.programId}` });
      const already = () => conflict('already-enrolled', `the patient already has a ${body.condition} program that is not discharged`);
      if (await activeProgram(deps.sql, body.patientId, body.condition)) throw already();
      const workflowId = programWorkflowId(input.patientId, input.condition);
      const start = () =>
        engine(() =>
          deps.temporal.workflow.start<typeof careProgram>(CARE_PROGRAM_WORKFLOW, {
            taskQueue: JOURNEY_TASK_QUEUE,
            workflowId,
            args: [input],
            workflowTaskTimeout: LOCAL_WORK_TASK_TIMEOUT,
            workflowIdConflictPolicy: 'FAIL',
            // A discharged program's workflow has completed: a new enrolment starts a new one under the same id.
            workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          }),
        );
      try {
        await start();
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        // Running under this id: a program enrolled meanwhile (another request, or a journey's
        // outcome), or a discharged one still finishing its last work. Only the latter is waited for.
        const handle = deps.temporal.workflow.getHandle(workflowId);
        const running = await engine(() => handle.query(programQuery)).catch(() => undefined);
        if (running?.status !== 'discharged') throw already();
        await engine(() => handle.result()).catch(() => undefined);
        await start().catch((again: unknown) => {
          throw again instanceof WorkflowExecutionAlreadyStartedError ? already() : again;
        });
      }
      c.get('log').info({ programId: input.programId, patientId: input.patientId }, 'program enrolled');
      const program = await programReadable(deps.sql, input.programId, deadline());
      if (!program) throw new ApiProblem(503, 'engine-unavailable', 'Service unavailable', 'the program was started but has not been recorded yet; read it again shortly');
      return c.json(await completeNext(deps.sql, program), 201);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['care programs'],
      summary: 'Care programs (coordinators and admins: all; doctors: those they are responsible for), newest first, at most 500',
      security: bearer,
      middleware: [requireRole('doctor', 'coordinator', 'admin')] as const,
      request: { query: ps.ProgramQuery },
      responses: { 200: jsonResponse(z.object({ items: z.array(ps.ProgramSummary) }), 'Programs'), ...problems(400, 401, 403) },
    }),
    async (c) => {
      const user = c.get('user');
      const q = c.req.valid('query');
      const items = await listPrograms(deps.sql, {
        ...(q.condition ? { condition: q.condition } : {}),
        ...(q.status ? { status: q.status } : {}),
        ...(q.patientId ? { patientId: q.patientId } : {}),
        ...(user.role === 'doctor' ? { doctorId: user.id } : {}),
      });
      const now = Date.now();
      const templates = new Map<string, ProgramTemplate | undefined>();
      const completed = [];
      for (const p of items) completed.push(await completeNext(deps.sql, withRemainingDays(p, now), templates));
      auditSubject(c, { patientIds: items.map((p) => p.patientId) });
      return c.json({ items: completed }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['care programs'],
      summary: 'One program with its timeline and open tasks (its patient, the responsible doctor, coordinators, admins)',
      security: bearer,
      request: { params: s.IdParam },
      responses: { 200: answer('The program'), ...problems(401, 404) },
    }),
    async (c) => {
      // One read: the program and the access check come from the same snapshot.
      const p = await readProgram(deps.sql, c.req.valid('param').id);
      if (!p || !maySee(c.get('user'), p)) throw notFound('program');
      return c.json(await completeNext(deps.sql, p), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/plan',
      tags: ['care programs'],
      summary: 'Change the plan (the responsible doctor or a coordinator); it applies from the next occurrence not yet due',
      security: bearer,
      middleware: [requireRole('doctor', 'coordinator', 'admin')] as const,
      request: { params: s.IdParam, body: jsonBody(ps.PlanChangeInput) },
      responses: { 200: answer('The program with its new plan'), ...problems(400, 401, 403, 404, 409, 413, 422, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const o = await changeable(user, id);
      const { plan } = c.req.valid('json');
      const template = await programTemplateVersion(deps.sql, o.template.id, o.template.version);
      if (!template) throw new Error(`program ${id} runs on a template version that is not in the database`);
      await checkProgramPlan(deps.sql, plan, template);
      await engine(() => wf(o).executeUpdate(programPlanUpdate, { args: [{ plan, actor: actor(user) }] }));
      c.get('log').info({ programId: id }, 'program plan changed');
      return c.json(await read(id), 200);
    },
  );

  for (const action of ['pause', 'resume', 'discharge'] as const) {
    const summary = {
      pause: 'Pause the program: no reminders, no follow-ups until it is resumed (409 unless active)',
      resume: 'Resume a paused program: planning starts again from now (409 unless paused)',
      discharge: 'Discharge the program: it ends, and a new enrolment for the condition becomes possible (409 when discharged already)',
    }[action];
    r.openapi(
      createRoute({
        method: 'post',
        path: `/{id}/${action}`,
        tags: ['care programs'],
        summary: `${summary} (the responsible doctor or a coordinator)`,
        security: bearer,
        middleware: [requireRole('doctor', 'coordinator', 'admin')] as const,
        request: { params: s.IdParam, body: jsonBody(ps.ProgramStatusInput) },
        responses: { 200: answer('The program'), ...problems(400, 401, 403, 404, 409, 413, 503) },
      }),
      async (c) => {
        const { id } = c.req.valid('param');
        const user = c.get('user');
        const o = await changeable(user, id);
        await engine(() => wf(o).executeUpdate(programStatusUpdate, { args: [{ action, reason: c.req.valid('json').reason, actor: actor(user) }] }));
        c.get('log').info({ programId: id, action }, 'program status changed');
        return c.json(await read(id), 200);
      },
    );
  }

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/readings',
      tags: ['care programs'],
      summary: "The patient records a reading; one beyond the template's thresholds answers the program's open vital alert",
      description:
        'A reading beyond a threshold opens a vital-alert task for the responsible doctor, or answers the one already open (one open alert per program). ' +
        'A reading within the thresholds answers {}.',
      security: bearer,
      middleware: [requireRole('patient')] as const,
      request: { params: s.IdParam, body: jsonBody(ps.ReadingInput) },
      responses: { 200: jsonResponse(ps.ReadingAnswer, 'Recorded'), ...problems(400, 401, 403, 404, 409, 413, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const o = await patientsOwn(user, id);
      const body = c.req.valid('json');
      const reading = { ...body, at: new Date(body.at).toISOString() } as Reading;
      const result = await engine(() => wf(o).executeUpdate(readingUpdate, { args: [{ reading, actor: actor(user) }] }));
      c.get('log').info({ programId: id }, 'reading recorded');
      return c.json(result.alert ? { alert: { id: result.alert.id, reason: result.alert.reason } } : {}, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/doses',
      tags: ['care programs'],
      summary: 'The patient confirms (taken: true) or skips (taken: false) a dose that is due or next; the first answer stands',
      security: bearer,
      middleware: [requireRole('patient')] as const,
      request: { params: s.IdParam, body: jsonBody(ps.ProgramDoseInput) },
      responses: { 200: jsonResponse(ps.ProgramDoseAnswer, 'Recorded'), ...problems(400, 401, 403, 404, 409, 413, 422, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const o = await patientsOwn(user, id);
      const body = c.req.valid('json');
      // The workflow names a dose by its time as planned, in the patient's timezone: the same instant
      // given with another offset (or in UTC) names the same dose.
      const scheduledAt = DateTime.fromISO(body.scheduledAt, { zone: o.timezone }).toISO({ suppressMilliseconds: true }) ?? body.scheduledAt;
      const result = await engine(() =>
        wf(o).executeUpdate(programDoseUpdate, { args: [{ drugCode: body.drugCode, scheduledAt, taken: body.taken, actor: actor(user) }] }),
      );
      c.get('log').info({ programId: id }, 'program dose answered');
      return c.json({ status: result.status }, 200);
    },
  );

  return r;
}
