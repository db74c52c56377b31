// Multidisciplinary consultations (多学科会诊, issue 12): a doctor convenes specialists on one of their
// patients' cases (which starts the MDT's workflow), each specialist gives an opinion, and the convener
// records the conclusion once the request's quorum of opinions is in. Reads come from the read model;
// the case, the opinions and the conclusion are texts stored here in PostgreSQL (sendText), their ids
// counted by the workflow, which refuses what its state or the caller cannot take.
import { createRoute, z } from '@hono/zod-openapi';
import { caresFor, getConsultationTemplate, getMdt, isMdtTemplate, listMdts, mdtOwner, storeConsultationMessage, type MdtView } from '../../activities/consultations.js';
import { getClinician, getPatient } from '../../activities/reference.js';
import { clinicianStanding, standingRefusal } from '../../activities/verification.js';
import type { multidisciplinaryConsultation } from '../../workflows/mdt.js';
import { MDT_WORKFLOW, MdtFailureType, mdtConclusionUpdate, mdtOpinionUpdate, mdtWorkflowId, type MdtInput } from '../../workflows/definitions.js';
import { auditSubject } from '../audit.js';
import { authenticate, isStaff, requireRole, type User } from '../auth.js';
import * as cs from '../consultation-schemas.js';
import { idFor, idempotent } from '../idempotency.js';
import { bearer, jsonBody, jsonResponse, newRouter, opaqueIds, problems } from '../openapi.js';
import { ApiProblem, conflict, forbidden, isWorkflowClosed, notFound, unprocessable } from '../problems.js';
import * as s from '../schemas.js';
import type { ApiDeps } from '../types.js';
import { conversationReads, firstRecorded, listScope, sendText, startOnce } from './consultations.js';

/** The template an MDT uses when it names none. */
export const DEFAULT_MDT_TEMPLATE = 'mdt-standard';

/** Its patient, its convener, the specialists invited, coordinators and admins; anyone else is told it does not exist. */
const maySee = (user: User, o: { patientId: string; convenerId: string; specialists: string[] }): boolean =>
  isStaff(user) || (user.role === 'patient' && user.id === o.patientId) || (user.role === 'doctor' && (user.id === o.convenerId || o.specialists.includes(user.id)));

export function mdtRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/', idempotent(deps.sql, deps.engineTimeoutMs));
  r.use('/:id/opinions', idempotent(deps.sql, deps.engineTimeoutMs));
  r.use('/:id', opaqueIds('mdt'));
  r.use('/:id/*', opaqueIds('mdt'));
  const deadline = () => Date.now() + (deps.engineTimeoutMs ?? 30_000);
  /** A call into the engine under its deadline (503 past it); an MDT whose workflow has ended takes nothing more (409). */
  const engine = <R>(fn: () => Promise<R>): Promise<R> =>
    deps.temporal.withDeadline(deadline(), fn).catch((err: unknown) => {
      throw isWorkflowClosed(err) ? conflict(MdtFailureType.Closed, 'the MDT has ended') : err;
    });
  const wf = (id: string) => deps.temporal.workflow.getHandle<typeof multidisciplinaryConsultation>(mdtWorkflowId(id));

  /** The MDT the caller may see (404 otherwise, whether or not it exists); its patient named for the audit. */
  async function visible(c: Parameters<typeof auditSubject>[0], id: string): Promise<void> {
    const o = await mdtOwner(deps.sql, id);
    if (!o || !maySee(c.get('user'), o)) throw notFound('MDT');
    auditSubject(c, { patientId: o.patientId });
  }

  async function read(id: string): Promise<MdtView> {
    const v = await getMdt(deps.sql, id);
    if (!v) throw notFound('MDT');
    return v;
  }

  /** A clinician who may take part: a doctor with a verified licence (422 otherwise; 404 unknown). */
  async function verifiedDoctor(id: string, what: string): Promise<void> {
    const doctor = await getClinician(deps.sql, id);
    if (!doctor) throw notFound(what);
    if (doctor.role !== 'doctor') throw unprocessable('not-a-doctor', `${what} ${id} is not a doctor`);
    const refusal = standingRefusal(await clinicianStanding(deps.sql, id), 'doctor');
    if (refusal) throw unprocessable(refusal.type, `${what} ${id}: ${refusal.detail}`);
  }

  r.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['mdt'],
      summary: "A doctor convenes specialists on one of their patients' cases",
      description:
        "Starts the MDT (workflow `mdt:<id>`) on the template (default `mdt-standard`, `kind: mdt`): each specialist is invited with a deadline (`opinionWithin`), reminded once past it, then coordinators are asked every `escalateAfter`; " +
        'the convener\'s conclusion is due within `concludeWithin` (escalated the same way) and may be recorded only once `quorum` opinions are in; not concluded within `expireAfter`, it expires. ' +
        'A doctor convenes as themself, for a patient they have cared for (a visit booked with them, a program or an online consultation: 403 `no-care-relationship` otherwise); a coordinator convenes on a doctor\'s behalf (`convenerId`). ' +
        'Every doctor must have a verified licence (422 `clinician-unverified`).',
      security: bearer,
      middleware: [requireRole('doctor', 'coordinator', 'admin')] as const,
      request: { headers: s.IdempotencyHeaders, body: jsonBody(cs.MdtInput) },
      responses: { 201: jsonResponse(cs.Mdt, 'Convened: the specialists invited'), ...problems(400, 401, 403, 404, 409, 413, 422, 503) },
    }),
    async (c) => {
      const user = c.get('user');
      const body = c.req.valid('json');
      auditSubject(c, { patientId: body.patientId });
      let convenerId: string;
      if (user.role === 'doctor') {
        if (body.convenerId !== undefined && body.convenerId !== user.id) throw forbidden('a doctor convenes as themself; a coordinator may name the convener');
        convenerId = user.id;
      } else {
        if (body.convenerId === undefined) {
          throw new ApiProblem(400, 'validation', 'Invalid request', 'the request json does not match the schema', [{ path: 'json.convenerId', message: 'required when a coordinator or admin convenes' }]);
        }
        convenerId = body.convenerId;
      }
      if (body.specialists.includes(convenerId)) {
        throw new ApiProblem(400, 'validation', 'Invalid request', 'the request json does not match the schema', [{ path: 'json.specialists', message: 'the convener is not one of the specialists' }]);
      }
      if (!(await getPatient(deps.sql, body.patientId))) throw notFound('patient');
      await verifiedDoctor(convenerId, 'convener');
      if (user.role === 'doctor' && !(await caresFor(deps.sql, convenerId, body.patientId))) {
        throw new ApiProblem(403, 'no-care-relationship', 'Forbidden', 'a doctor convenes an MDT only for a patient they have cared for');
      }
      for (const d of body.specialists) await verifiedDoctor(d, 'specialist');
      const template = await getConsultationTemplate(deps.sql, body.templateId ?? DEFAULT_MDT_TEMPLATE);
      if (!template) throw notFound('MDT template');
      if (!isMdtTemplate(template)) throw unprocessable('template-kind', `template ${template.id} is a text consultation's, not an MDT's`);
      const mdtId = idFor(c, 'mdt');
      auditSubject(c, { resource: `mdt:${mdtId}` });
      const caseMessageId = `${mdtId}:case`;
      await storeConsultationMessage(deps.sql, { id: caseMessageId, consultationId: mdtId, kind: 'case', from: 'doctor', authorId: convenerId, body: body.case.body, attachments: body.case.attachments });
      const input: MdtInput = {
        mdtId,
        patientId: body.patientId,
        convenerId,
        specialists: body.specialists,
        quorum: body.quorum,
        template,
        caseMessageId,
        ...(body.journeyId ? { journeyId: body.journeyId } : {}),
      };
      if (await startOnce(deps, engine, MDT_WORKFLOW, mdtWorkflowId(mdtId), input)) {
        const o = await mdtOwner(deps.sql, mdtId);
        if (o && (o.patientId !== body.patientId || o.convenerId !== convenerId)) throw unprocessable('idempotency-key-reused', 'this Idempotency-Key was used for another request');
      }
      c.get('log').info({ mdtId, patientId: body.patientId, convenerId, specialists: body.specialists.length }, 'MDT convened');
      return c.json(await firstRecorded(() => getMdt(deps.sql, mdtId), deadline(), 'MDT'), 201);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['mdt'],
      summary: "MDTs: a doctor's (convened or invited to), a patient's own, every one for coordinators; the conclusion due soonest first",
      security: bearer,
      request: { query: cs.MdtQuery },
      responses: { 200: jsonResponse(z.object({ items: z.array(cs.MdtSummary) }), 'At most `limit`'), ...problems(400, 401, 403) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const scope = listScope(c, q.patientId, 'MDTs');
      if (!scope) return c.json({ items: [] }, 200);
      const items = await listMdts(deps.sql, { limit: q.limit, ...(q.status ? { status: q.status } : {}), ...scope });
      auditSubject(c, { patientIds: items.map((i) => i.patientId) });
      return c.json({ items }, 200);
    },
  );

  conversationReads(r, {
    sql: deps.sql,
    tag: 'mdt',
    schema: cs.Mdt,
    summary: 'One MDT with its timeline and open tasks (its patient, its convener, its specialists, coordinators)',
    messages: 'The case, the opinions and the conclusion, oldest first',
    visible,
    read,
  });

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/opinions',
      tags: ['mdt'],
      summary: "An invited specialist gives their opinion (once)",
      description: 'Only an invited specialist (403 `not-invited`), once (409 `opinion-given`), while the MDT is open (409 `mdt-closed`).',
      security: bearer,
      middleware: [requireRole('doctor')] as const,
      request: { params: s.IdParam, headers: s.IdempotencyHeaders, body: jsonBody(cs.MessageInput) },
      responses: { 201: jsonResponse(z.object({ message: cs.Message, mdt: cs.Mdt }), 'Taken'), ...problems(400, 401, 403, 404, 409, 413, 422, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const body = c.req.valid('json');
      await visible(c, id);
      const text = { id: idFor(c, `opinion:${id}`), consultationId: id, kind: 'opinion' as const, from: 'doctor' as const, authorId: user.id, body: body.body, attachments: body.attachments };
      const message = await sendText(deps.sql, text, () => engine(() => wf(id).executeUpdate(mdtOpinionUpdate, { args: [{ messageId: text.id, doctorId: user.id }] })));
      return c.json({ message, mdt: await read(id) }, 201);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/conclusion',
      tags: ['mdt'],
      summary: "The convener records the MDT's conclusion, once the quorum of opinions is in",
      description: 'Only the convener (403 `not-convener`); not before `quorum` opinions (409 `quorum-not-met`); once (409 `mdt-closed`). The patient is told.',
      security: bearer,
      middleware: [requireRole('doctor')] as const,
      request: { params: s.IdParam, body: jsonBody(cs.MessageInput) },
      responses: { 200: jsonResponse(cs.Mdt, 'Concluded'), ...problems(400, 401, 403, 404, 409, 413, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const body = c.req.valid('json');
      await visible(c, id);
      const text = { id: idFor(c, `conclusion:${id}`), consultationId: id, kind: 'conclusion' as const, from: 'doctor' as const, authorId: user.id, body: body.body, attachments: body.attachments };
      await sendText(deps.sql, text, () => engine(() => wf(id).executeUpdate(mdtConclusionUpdate, { args: [{ messageId: text.id, doctorId: user.id }] })));
      return c.json(await read(id), 200);
    },
  );

  return r;
}
