// Journeys: start one (triage included), read and list them, and drive the pre-visit and visit steps
// through the workflow's updates. Reads come from the PostgreSQL read model.
import { randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import type { Logger } from 'pino';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { getJourney, journeyOwner, listJourneys, recordTransition, type JourneyView } from '../../activities/journeys.js';
import { consentOf } from '../../activities/consent.js';
import type { Sql } from '../../activities/db.js';
import { checkPrescribing, drugsByCode, enrolledConditions } from '../../activities/prescriptions.js';
import { activeProgram } from '../../activities/programs.js';
import { examTypes, facilityExists, getPathway, getPatient, patientTimezone } from '../../activities/reference.js';
import { classify, loadRules } from '../../activities/triage.js';
import { identityVerification } from '../../activities/verification.js';
import {
  DEFAULT_PATHWAY,
  FailureType,
  JOURNEY_TASK_QUEUE,
  PATIENT_JOURNEY_WORKFLOW,
  RuleFailureType,
  guardianRefusal,
  bookUpdate,
  cancelUpdate,
  checkInUpdate,
  journeyWorkflowId,
  recordOutcomeUpdate,
  startConsultationUpdate,
  type JourneyInput,
  type Triage,
  type PostVisitItems,
  type ProgramInput,
} from '../../workflows/definitions.js';
import type { patientJourney } from '../../workflows/patient-journey.js';
import { startTransition } from '../../workflows/journey-start.js';
import { LOCAL_WORK_TASK_TIMEOUT } from '../../workflows/activity-options.js';
import { auditSubject } from '../audit.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { idFor, idempotent } from '../idempotency.js';
import { authenticate, ownerMaySee, requireRole, type User } from '../auth.js';
import { bearer, jsonBody, jsonResponse, newRouter, opaqueIds, problems } from '../openapi.js';
import { ApiProblem, conflict, forbidden, notFound, unprocessable } from '../problems.js';
import { OutcomeProgram } from '../program-schemas.js';
import { signingAs } from './prescriptions.js';
import { prepareEnrolment } from './programs.js';
import * as s from '../schemas.js';
import type { ApiDeps } from '../types.js';


const Cursor = z.object({ createdAt: s.Timestamp, id: s.Id });

/**
 * Checks the outcome's post-visit items against the catalogues and the rules (a refusal is a 422
 * naming the rule, and nothing is recorded), prices them and gives each an id.
 */
const OutcomeInput = s.OutcomeFields.extend({
  program: OutcomeProgram.optional().openapi({ description: 'Enrols the patient in a care program (409 already-enrolled when one for the condition is not discharged)' }),
}).openapi('OutcomeInput');

async function postVisitItems(
  sql: Sql,
  patientId: string,
  body: z.infer<typeof OutcomeInput>,
  program?: ProgramInput,
): Promise<PostVisitItems | undefined> {
  const prescriptions = body.prescriptions ?? [];
  const exams = body.exams ?? [];
  const referral = body.referral;
  if (prescriptions.length === 0 && exams.length === 0 && !referral && !program) return undefined;
  const drugs = await drugsByCode(sql, prescriptions.flatMap((p) => p.items.map((i) => i.drugCode)));
  const enrolled = await enrolledConditions(sql, patientId);
  const timezone = (await patientTimezone(sql, patientId)) ?? 'Asia/Shanghai';
  const items: PostVisitItems = { prescriptions: [], exams: [], referrals: [], ...(program ? { program } : {}) };
  for (const p of prescriptions) {
    const checked = checkPrescribing(p, drugs, enrolled);
    if (!checked.ok) throw unprocessable(checked.refusal.type, checked.refusal.detail);
    items.prescriptions.push({ prescriptionId: randomUUID(), items: checked.items, long: p.long === true, timezone });
  }
  const catalogue = await examTypes(sql, exams.map((e) => e.code));
  for (const e of exams) {
    const type = catalogue.get(e.code);
    if (!type) throw unprocessable('unknown-exam', `no exam ${e.code} in the catalogue`);
    items.exams.push({ examId: randomUUID(), code: type.code, name: type.name, price: type.price });
  }
  if (referral) {
    if (referral.consent !== true) throw unprocessable('referral-without-consent', 'a referral needs the patient\'s consent to share the record (consent: true)');
    // The patient's standing record-sharing consent (PUT /v1/patients/{id}/consents/record-sharing)
    // overrides the consent the doctor records in the visit. The referral workflow checks it again
    // before each attempt to send, for a withdrawal after this answer.
    if (!(await consentOf(sql, patientId, 'record-sharing')).granted) {
      throw unprocessable(RuleFailureType.ConsentWithdrawn, 'the patient has withdrawn consent to share their record: no referral can be sent');
    }
    if (!(await facilityExists(sql, referral.facilityId))) throw unprocessable('unknown-facility', `no facility ${referral.facilityId}`);
    items.referrals.push({
      referralId: randomUUID(),
      facilityId: referral.facilityId,
      department: referral.department,
      reason: referral.reason,
      urgency: referral.urgency,
      diagnosis: body.diagnosis.text,
    });
  }
  return items;
}

/**
 * Waits (until `deadline`) for each created item's (or journey's) first projection, so that a client reading an id
 * of `created` right after the answer finds it. The items exist either way: past the deadline the
 * answer goes out and a read may briefly be 404.
 */
type Created = { prescriptions: string[]; exams: string[]; referrals: string[]; programs: string[] };

async function readable(sql: Sql, created: Created & { journeys?: string[] }, deadline: number): Promise<void> {
  const journeys = created.journeys ?? [];
  const want = created.prescriptions.length + created.exams.length + created.referrals.length + created.programs.length + journeys.length;
  while (want > 0 && Date.now() < deadline) {
    const [row] = await sql<{ n: number }[]>`
      select (select count(*) from prescriptions where id = any(${created.prescriptions}))
           + (select count(*) from exams where id = any(${created.exams}))
           + (select count(*) from referrals where id = any(${created.referrals}))
           + (select count(*) from programs where id = any(${created.programs}))
           + (select count(*) from journeys where id = any(${journeys}))::int as n`;
    if (Number(row!.n) >= want) return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function journeyRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/', idempotent(deps.sql, deps.engineTimeoutMs));
  r.use('/:id', opaqueIds('journey'));
  r.use('/:id/*', opaqueIds('journey'));
  const wf = (id: string) => deps.temporal.workflow.getHandle(journeyWorkflowId(id));
  /** Every call into the journey engine has a deadline: a stalled engine is a 503, not a hung request. */
  const engine = <R>(fn: () => Promise<R>): Promise<R> => deps.temporal.withDeadline(Date.now() + (deps.engineTimeoutMs ?? 30_000), fn);

  const maySee = ownerMaySee;

  /** Refuses (404, never revealing that it exists) a journey the caller may not see. */
  async function visible(user: User, id: string): Promise<void> {
    const owner = await journeyOwner(deps.sql, id);
    if (!owner || !maySee(user, owner)) throw notFound('journey');
  }

  /** Only the booked doctor; another doctor is refused with 403 once the journey is known to exist. */
  async function bookedDoctor(user: User, id: string): Promise<void> {
    const owner = await journeyOwner(deps.sql, id);
    if (!owner) throw notFound('journey');
    if (owner.doctorId !== user.id) throw new ApiProblem(403, FailureType.NotBookedDoctor, 'Forbidden', 'only the booked doctor may do this');
  }

  async function read(id: string): Promise<JourneyView> {
    const j = await getJourney(deps.sql, id);
    if (!j) throw notFound('journey');
    return j;
  }

  /** A journey another attempt started: once its triage is projected (within the engine deadline, else 503). */
  async function readWhenProjected(id: string): Promise<JourneyView> {
    const until = Date.now() + (deps.engineTimeoutMs ?? 30_000);
    for (;;) {
      const j = await getJourney(deps.sql, id);
      if (j?.triage) return j;
      if (Date.now() > until) throw new ApiProblem(503, 'engine-unavailable', 'Service unavailable', 'the journey is still starting; try again');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const patientOrStaff = requireRole('patient', 'coordinator', 'admin');
  const journeyResponse = (description: string) => jsonResponse(s.Journey, description);

  r.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['journeys'],
      summary: 'Start a journey; answers once triage is done',
      security: bearer,
      middleware: [patientOrStaff] as const,
      request: { headers: s.IdempotencyHeaders, body: jsonBody(s.JourneyInput) },
      responses: { 201: journeyResponse('The journey, triaged'), ...problems(400, 401, 403, 404, 413, 422) },
    }),
    async (c) => {
      const user = c.get('user');
      const body = c.req.valid('json');
      auditSubject(c, { patientId: body.patientId });
      if (user.role === 'patient' && user.id !== body.patientId) throw forbidden('a patient may start a journey only for themself');
      const patient = await getPatient(deps.sql, body.patientId);
      if (!patient) throw notFound('patient');
      const pathway = await getPathway(deps.sql, body.pathwayId ?? DEFAULT_PATHWAY[body.mode]);
      if (!pathway) throw notFound('pathway');
      if (!pathway.modes.includes(body.mode)) throw unprocessable('mode-not-offered', `pathway ${pathway.id} does not offer ${body.mode} visits`);
      if (body.mode === 'online' && !body.followUpOf) {
        throw unprocessable(FailureType.FirstVisitOnline, 'a first visit is never online: an online journey needs a prior offline diagnosis (followUpOf)');
      }
      // The workflow refuses it too; here it is refused before anything starts.
      const noGuardian = guardianRefusal({ mode: body.mode, patientBirthDate: patient.birthDate, ...(body.guardian ? { guardian: body.guardian } : {}) }, Date.now());
      if (noGuardian) throw unprocessable(RuleFailureType.GuardianRequired, noGuardian);
      // A child's own account vouches for its guardian only once it is real-name verified (a minor is
      // verified with the guardian's documents); staff vouch at any time.
      const needsGuardian = guardianRefusal({ mode: body.mode, patientBirthDate: patient.birthDate }, Date.now()) !== undefined;
      if (needsGuardian && user.role === 'patient' && !(await identityVerification(deps.sql, patient.id))) {
        throw unprocessable(RuleFailureType.GuardianRequired, "the guardian's verification needs the child's real-name verification first (done with the guardian), or a coordinator");
      }
      // With an Idempotency-Key the id comes from the caller and the key, so a retry after an answer
      // that never arrived (a 503, a timeout) finds the journey the first attempt may have started.
      const idem = c.get('idempotency');
      const journeyId = idFor(c);
      auditSubject(c, { resource: `journey:${journeyId}` });
      const input: JourneyInput & { triage: Triage } = {
        journeyId,
        patientId: body.patientId,
        mode: body.mode,
        complaint: body.complaint,
        pathway,
        ...(body.followUpOf ? { followUpOf: body.followUpOf } : {}),
        startedBy: { role: user.role, id: user.id },
        patientBirthDate: patient.birthDate,
        ...(body.guardian ? { guardian: body.guardian } : {}),
        // Triaged at the door with the stored rules (advice, not a side effect): the journey starts with
        // one projection of its start and triage (patch journey-one-transaction).
        triage: classify(body.complaint, await loadRules(deps.sql)),
      };
      // A plain start: the answer does not wait for the workflow's first task. The API writes the
      // start's transition itself once the workflow is started (workflows/journey-start.ts); the
      // workflow writes the same one in its first task, and the read model keeps whichever came first.
      // Nothing is written for a journey that did not start.
      try {
        await engine(() =>
          deps.temporal.workflow.start<typeof patientJourney>(PATIENT_JOURNEY_WORKFLOW, {
            taskQueue: JOURNEY_TASK_QUEUE,
            workflowId: journeyWorkflowId(journeyId),
            args: [input],
            workflowIdConflictPolicy: 'FAIL',
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
            // Its short work runs as local activities inside its workflow tasks (patch journey-local-work).
            workflowTaskTimeout: LOCAL_WORK_TASK_TIMEOUT,
          }),
        );
      } catch (err) {
        // The same key started it before: answer with that journey, as the first attempt would have.
        if (!(idem && err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        c.get('log').info({ journeyId }, 'journey start retried with its Idempotency-Key');
        return c.json(await readWhenProjected(journeyId), 201);
      }
      try {
        await recordTransition(deps.sql, startTransition(input, new Date().toISOString()));
      } catch (err) {
        // The workflow writes it too: the answer waits for that instead.
        c.get('log').warn({ journeyId, err }, "the journey's start was not written by the API; waiting for the workflow's");
        return c.json(await readWhenProjected(journeyId), 201);
      }
      c.get('log').info({ journeyId, patientId: body.patientId }, 'journey started');
      return c.json(await read(journeyId), 201);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['journeys'],
      summary: 'List journeys (coordinators and admins; a doctor sees those booked with them)',
      security: bearer,
      middleware: [requireRole('coordinator', 'admin', 'doctor')] as const,
      request: { query: s.JourneyQuery },
      responses: {
        200: jsonResponse(z.object({ items: z.array(s.JourneySummary), nextCursor: z.string().nullable() }), 'A page, newest first'),
        ...problems(400, 401, 403),
      },
    }),
    async (c) => {
      const user = c.get('user');
      const q = c.req.valid('query');
      const page = await listJourneys(deps.sql, {
        ...(q.status ? { status: q.status } : {}),
        ...(q.phase ? { phase: q.phase } : {}),
        ...(q.step ? { step: q.step } : {}),
        ...(q.department ? { department: q.department } : {}),
        ...(q.patientId ? { patientId: q.patientId } : {}),
        ...(q.overdue !== undefined ? { overdue: q.overdue } : {}),
        ...(user.role === 'doctor' ? { doctorId: user.id } : {}),
        ...(q.cursor ? { cursor: decodeCursor(q.cursor, Cursor) } : {}),
        limit: q.limit,
      });
      auditSubject(c, { patientIds: page.items.map((j) => j.patientId) });
      return c.json({ items: page.items, nextCursor: page.next ? encodeCursor(page.next) : null }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['journeys'],
      summary: 'One journey with its timeline and open tasks',
      security: bearer,
      request: { params: s.IdParam },
      responses: { 200: journeyResponse('The journey'), ...problems(401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      // One read: the journey and the access check come from the same snapshot.
      const journey = await getJourney(deps.sql, id);
      if (!journey || !maySee(c.get('user'), { patientId: journey.patientId, doctorId: journey.appointment?.doctorId })) throw notFound('journey');
      return c.json(journey, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/appointment',
      tags: ['journeys'],
      summary: 'Book a slot; the registration fee is then due within the payment window',
      description:
        'The slot\'s doctor must have a verified licence (422 `clinician-unverified`); an online visit needs a doctor with at least 3 years of practice (422 `insufficient-practice`) ' +
        'and a real-name verified patient (422 `patient-unverified`). Nothing is booked when refused.',
      security: bearer,
      middleware: [patientOrStaff] as const,
      request: { params: s.IdParam, body: jsonBody(s.BookInput) },
      responses: { 200: journeyResponse('Booked; payment pending'), ...problems(400, 401, 403, 404, 409, 413, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      await visible(user, id);
      await engine(() => wf(id).executeUpdate(bookUpdate, { args: [{ slotId: c.req.valid('json').slotId, actor: { role: user.role, id: user.id } }] }));
      return c.json(await read(id), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/cancel',
      tags: ['journeys'],
      summary: 'Cancel before the visit: the seat is freed and a paid fee refunded',
      security: bearer,
      middleware: [patientOrStaff] as const,
      request: { params: s.IdParam, body: jsonBody(s.CancelInput) },
      responses: { 200: journeyResponse('Cancelled'), ...problems(400, 401, 403, 404, 409, 413) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      await visible(user, id);
      await engine(() => wf(id).executeUpdate(cancelUpdate, { args: [{ reason: c.req.valid('json').reason, actor: { role: user.role, id: user.id } }] }));
      return c.json(await read(id), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/check-in',
      tags: ['journeys'],
      summary: 'Check in: returns the queue number and how many are ahead',
      security: bearer,
      middleware: [patientOrStaff] as const,
      request: { params: s.IdParam },
      responses: { 200: jsonResponse(s.CheckInResult, 'Checked in'), ...problems(401, 403, 404, 409) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      await visible(user, id);
      const result = await engine(() => wf(id).executeUpdate(checkInUpdate, { args: [{ role: user.role, id: user.id }] }));
      return c.json(result, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/consultation',
      tags: ['journeys'],
      summary: 'The booked doctor starts the consultation',
      description:
        'The doctor\'s licence must be verified (422 `clinician-unverified`); online, with at least 3 years of practice (422 `insufficient-practice`) and a real-name verified patient (422 `patient-unverified`).',
      security: bearer,
      middleware: [requireRole('doctor')] as const,
      request: { params: s.IdParam },
      responses: { 200: journeyResponse('In consultation'), ...problems(401, 403, 404, 409, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      await bookedDoctor(user, id);
      await engine(() => wf(id).executeUpdate(startConsultationUpdate, { args: [{ doctorId: user.id }] }));
      return c.json(await read(id), 200);
    },
  );

  /** "Needs in-person care": nothing in it, a reason given; the workflow checks the mode and starts the offline journey. */
  async function referOffline(id: string, user: User, body: z.infer<typeof OutcomeInput>, log: Logger): Promise<JourneyView & { created: Created }> {
    if (!body.reason) throw new ApiProblem(400, 'validation', 'Invalid request', 'a needs-in-person outcome needs a reason', [{ path: 'json.reason', message: 'required with kind needs-in-person' }]);
    if (body.prescriptions?.length || body.exams?.length || body.referral || body.program) {
      throw unprocessable(RuleFailureType.InPersonOnly, 'a visit that needs in-person care prescribes and orders nothing: the in-person visit does');
    }
    const journey = await engine(() =>
      wf(id).executeUpdate(recordOutcomeUpdate, { args: [{ doctorId: user.id, diagnosis: body.diagnosis, notes: body.notes, kind: 'needs-in-person', reason: body.reason }] }),
    );
    const created: Created = { prescriptions: [], exams: [], referrals: [], programs: [] };
    // The offline journey is readable when the answer goes out (else briefly 404, as for items).
    if (journey.referredTo) await readable(deps.sql, { ...created, journeys: [journey.referredTo] }, Date.now() + (deps.engineTimeoutMs ?? 30_000));
    log.info({ journeyId: id, referredTo: journey.referredTo }, 'outcome recorded: needs in-person care');
    return { ...(await read(id)), created };
  }

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/outcome',
      tags: ['journeys'],
      summary: 'The booked doctor records the outcome',
      security: bearer,
      middleware: [requireRole('doctor')] as const,
      request: { params: s.IdParam, body: jsonBody(OutcomeInput) },
      description:
        'Prescriptions, exams and a referral each become a child workflow, and a program enrols the patient in a care program that outlives the journey; ' +
        'an outcome that breaks a prescribing rule is a 422 whose type names the rule ' +
        '(controlled-drug, too-many-drugs, course-too-long, unknown-drug, unknown-exam, unknown-facility, referral-without-consent, consent-withdrawn, template-mismatch, invalid-plan) and records nothing; ' +
        'a program for a condition the patient already has one for (not discharged) is a 409 already-enrolled. ' +
        '`kind: needs-in-person` (online visits only, with a `reason`) ends the visit for in-person care: nothing may be prescribed or ordered (422 in-person-only), ' +
        'the journey closes `referred-offline` with `referredTo`, an offline journey at the same department starts triaged, and the patient is told why (`journey.referred-offline`). ' +
        'An unverified doctor cannot prescribe (422 clinician-unverified).',
      responses: { 200: jsonResponse(s.OutcomeResult, 'Outcome recorded; `created` lists the items it started'), ...problems(400, 401, 403, 404, 409, 413, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const body = c.req.valid('json');
      await bookedDoctor(user, id);
      if (body.followUp !== undefined && body.followUp !== null) throw unprocessable('not-supported-yet', 'followUp is not supported yet');
      if (body.kind === 'needs-in-person') return c.json(await referOffline(id, user, body, c.get('log')), 200);
      const owner = (await journeyOwner(deps.sql, id))!;
      let program: ProgramInput | undefined;
      if (body.program) {
        if (await activeProgram(deps.sql, owner.patientId, body.program.condition)) {
          throw conflict('already-enrolled', `the patient already has a ${body.program.condition} program that is not discharged`);
        }
        program = await prepareEnrolment(deps.sql, {
          patientId: owner.patientId,
          condition: body.program.condition,
          templateId: body.program.templateId,
          doctorId: user.id,
          plan: body.program.plan,
          enrolledBy: { role: 'doctor', id: user.id },
          journeyId: id,
        });
      }
      const items = await postVisitItems(deps.sql, owner.patientId, body, program);
      // Each prescription is signed here, in the prescribing doctor's own request, once every rule has passed (issue 10, rule 5).
      const sign = signingAs(deps, user);
      for (const p of items?.prescriptions ?? []) {
        p.signature = await sign({ prescriptionId: p.prescriptionId, version: 1, journeyId: id, patientId: owner.patientId, prescriberId: user.id, long: p.long, items: p.items });
      }
      await engine(() => wf(id).executeUpdate(recordOutcomeUpdate, {
        args: [{ doctorId: user.id, diagnosis: body.diagnosis, notes: body.notes, ...(items ? { items } : {}) }],
      }));
      const created = {
        prescriptions: items?.prescriptions.map((p) => p.prescriptionId) ?? [],
        exams: items?.exams.map((e) => e.examId) ?? [],
        referrals: items?.referrals.map((r) => r.referralId) ?? [],
        programs: program ? [program.programId] : [],
      };
      c.get('log').info({ journeyId: id, created }, 'outcome recorded');
      await readable(deps.sql, created, Date.now() + (deps.engineTimeoutMs ?? 30_000));
      return c.json({ ...(await read(id)), created }, 200);
    },
  );

  return r;
}
