// Remote consultations (远程会诊, issue 12): institutions (admin: primary-care centres and pharmacies,
// each with its own signing secret and callback URL); a request an institution signs with its secret
// (which starts the consultation's workflow); coordinators scheduling a specialist; the specialist's
// opinion, which the workflow sends back, signed, to that institution only. Staff routes take a bearer
// token; the intake takes the institution's signature instead (another institution's is 401, and
// nothing is recorded).
import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { getConsultationTemplate, isRemoteTemplate, storeConsultationMessage } from '../../activities/consultations.js';
import { keyedUuid } from '../idempotency.js';
import { createInstitution, getRemote, institutionPatient, institutionSecret, listInstitutions, listRemotes, remoteOwner, type RemoteView } from '../../activities/remote.js';
import { getClinician } from '../../activities/reference.js';
import { SIGNATURE_HEADER, verifySignature } from '../../activities/signature.js';
import { clinicianStanding, standingRefusal } from '../../activities/verification.js';
import type { remoteConsultation } from '../../workflows/remote.js';
import { REMOTE_WORKFLOW, RemoteFailureType, remoteAssignUpdate, remoteOpinionUpdate, remoteWorkflowId, type RemoteInput } from '../../workflows/definitions.js';
import { auditSubject } from '../audit.js';
import { authenticate, isStaff, requireRole, type User } from '../auth.js';
import * as cs from '../consultation-schemas.js';
import { idFor, idempotent } from '../idempotency.js';
import { bearer, jsonBody, jsonResponse, newRouter, opaqueIds, problems } from '../openapi.js';
import { ApiProblem, conflict, isWorkflowClosed, notFound, problemResponse, unprocessable } from '../problems.js';
import * as s from '../schemas.js';
import type { ApiDeps, AppEnv } from '../types.js';
import { conversationReads, firstRecorded, sendText, startOnce } from './consultations.js';

/** The institution a signed request comes from. */
export const INSTITUTION_HEADER = 'X-Institution-Id';

/** Coordinators and admins see every one; a doctor those scheduled with them; the institution is answered by callback. */
const maySee = (user: User, o: { doctorId: string | null }): boolean => isStaff(user) || (user.role === 'doctor' && o.doctorId === user.id);

// ---- institutions ---------------------------------------------------------------------------------

export function institutionRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/', idempotent(deps.sql, deps.engineTimeoutMs));
  r.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['remote consultations'],
      summary: 'Register a primary-care centre or a pharmacy that may ask for remote consultations (admin)',
      description:
        'Answers its `signingSecret` once: the institution signs each request with it (`X-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, with `X-Institution-Id`), ' +
        'and CarePath signs the opinion it POSTs to `callbackUrl` with the same secret. The secret is never shown again. `templateId` names the timings of its agreement (a template of kind `remote`; default `remote-standard`).',
      security: bearer,
      middleware: [requireRole('admin')] as const,
      request: { headers: s.IdempotencyHeaders, body: jsonBody(cs.InstitutionInput) },
      responses: { 201: jsonResponse(cs.InstitutionCreated, 'Registered: its signing secret, shown this once'), ...problems(400, 401, 403, 404, 409, 413, 422) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const templateId = body.templateId ?? DEFAULT_REMOTE_TEMPLATE;
      const template = await getConsultationTemplate(deps.sql, templateId);
      if (!template) throw notFound('remote consultation template');
      if (!isRemoteTemplate(template)) throw unprocessable('template-kind', `template ${templateId} is not a remote consultation's`);
      const created = await createInstitution(deps.sql, { name: body.name, kind: body.kind, callbackUrl: body.callbackUrl, templateId });
      c.get('log').info({ institutionId: created.id, kind: created.kind }, 'institution registered');
      return c.json(created, 201);
    },
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['remote consultations'],
      summary: 'The institutions (coordinators, admins); never their secrets',
      security: bearer,
      middleware: [requireRole('coordinator', 'admin')] as const,
      responses: { 200: jsonResponse(z.object({ items: z.array(cs.Institution) }), 'Every institution'), ...problems(401, 403) },
    }),
    async (c) => c.json({ items: await listInstitutions(deps.sql) }, 200),
  );
  return r;
}

/** The template a remote consultation uses when its institution's agreement names none. */
export const DEFAULT_REMOTE_TEMPLATE = 'remote-standard';

// ---- remote consultations ---------------------------------------------------------------------------

/**
 * The intake's check: the institution named by `X-Institution-Id` exists and signed the raw body with
 * its own secret (401 otherwise, the same answer whether the institution is unknown or the signature
 * wrong); it is then the request's actor.
 */
function signedByInstitution(deps: ApiDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const id = c.req.header(INSTITUTION_HEADER) ?? '';
    const known = id.length > 0 && id.length <= 200 ? await institutionSecret(deps.sql, id) : undefined;
    if (!known || !verifySignature(known.secret, raw, c.req.header(SIGNATURE_HEADER))) {
      return problemResponse(c, new ApiProblem(401, 'bad-signature', 'Unauthorized', `${SIGNATURE_HEADER} is missing or does not match the body for ${INSTITUTION_HEADER}`));
    }
    c.set('partner', `institution:${id}`);
    c.set('institution', { id, templateId: known.templateId });
    await next();
  };
}

export function remoteRoutes(deps: ApiDeps) {
  const r = newRouter();
  const auth = authenticate(deps.secrets.jwt);
  // The intake (POST /) is signed by the institution; every other route takes a staff bearer token.
  const intake = (c: { req: { method: string; path: string } }) => c.req.method === 'POST' && /^\/v1\/remote-consultations\/?$/.test(c.req.path);
  r.use('*', async (c, next) => (intake(c) ? next() : auth(c, next)));
  r.use('/:id', opaqueIds('remote consultation'));
  r.use('/:id/*', opaqueIds('remote consultation'));
  const deadline = () => Date.now() + (deps.engineTimeoutMs ?? 30_000);
  const engine = <R>(fn: () => Promise<R>): Promise<R> =>
    deps.temporal.withDeadline(deadline(), fn).catch((err: unknown) => {
      throw isWorkflowClosed(err) ? conflict(RemoteFailureType.Answered, 'the opinion has been returned') : err;
    });
  const wf = (id: string) => deps.temporal.workflow.getHandle<typeof remoteConsultation>(remoteWorkflowId(id));

  async function visible(c: Parameters<typeof auditSubject>[0], id: string): Promise<void> {
    const o = await remoteOwner(deps.sql, id);
    if (!o || !maySee(c.get('user'), o)) throw notFound('remote consultation');
    auditSubject(c, { patientId: o.patientId });
  }

  async function read(id: string): Promise<RemoteView> {
    const v = await getRemote(deps.sql, id);
    if (!v) throw notFound('remote consultation');
    return v;
  }

  r.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['remote consultations'],
      summary: 'An institution asks for a specialist\'s opinion on one of its patients (signed with its own secret)',
      description:
        `Signed: \`${INSTITUTION_HEADER}\` names the institution and \`${SIGNATURE_HEADER}\` is sha256=<hex HMAC-SHA256 of the raw body> with its secret (401 otherwise: nothing is recorded). ` +
        'The same `externalRef` again is the same consultation (answered as it stands). Coordinators schedule a specialist within the agreement\'s `assignWithin`; the opinion is due within `opinionWithin` of the request, ' +
        'each late step escalated to coordinators. The opinion is POSTed, signed with the institution\'s secret (`X-Signature`, `Idempotency-Key`: the consultation\'s id), to its `callbackUrl`, and to no other, retried until it answers 2xx.',
      middleware: [signedByInstitution(deps), idempotent(deps.sql, deps.engineTimeoutMs)] as const,
      request: {
        headers: s.IdempotencyHeaders.extend({ [INSTITUTION_HEADER.toLowerCase()]: z.string().openapi({ description: 'The institution\'s id' }), [SIGNATURE_HEADER.toLowerCase()]: z.string() }),
        body: jsonBody(cs.RemoteRequest),
      },
      responses: { 201: jsonResponse(cs.RemoteReceipt, 'Received'), ...problems(400, 401, 404, 409, 413, 422, 503) },
    }),
    async (c) => {
      const institution = c.get('institution')!;
      const body = c.req.valid('json');
      const template = await getConsultationTemplate(deps.sql, institution.templateId);
      if (!template || !isRemoteTemplate(template)) throw new Error(`institution ${institution.id}: its template ${institution.templateId} is not a remote consultation's`);
      const patientId = await institutionPatient(deps.sql, institution.id, body.patient);
      auditSubject(c, { patientId });
      const remoteId = keyedUuid(`remote\n${institution.id}\n${body.externalRef}`);
      auditSubject(c, { resource: `remote:${remoteId}` });
      const requestMessageId = `${remoteId}:request`;
      await storeConsultationMessage(deps.sql, { id: requestMessageId, consultationId: remoteId, kind: 'case', from: 'doctor', authorId: `institution:${institution.id}`, body: body.request.body, attachments: body.request.attachments });
      const input: RemoteInput = { remoteId, institutionId: institution.id, externalRef: body.externalRef, patientId, department: body.department, requestMessageId, template };
      // The same request sent again: the consultation it started, as it stands.
      await startOnce(deps, engine, REMOTE_WORKFLOW, remoteWorkflowId(remoteId), input);
      c.get('log').info({ remoteId, institutionId: institution.id }, 'remote consultation received');
      const v = await firstRecorded(() => getRemote(deps.sql, remoteId), deadline(), 'remote consultation');
      return c.json({ id: v.id, externalRef: v.externalRef, status: v.status, receivedAt: v.receivedAt, opinionDueBy: v.opinionDueBy }, 201);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['remote consultations'],
      summary: "Remote consultations: every one for coordinators (the opinion due soonest first), a doctor's own",
      security: bearer,
      request: { query: cs.RemoteQuery },
      responses: { 200: jsonResponse(z.object({ items: z.array(cs.RemoteSummary) }), 'At most `limit`'), ...problems(400, 401, 403) },
    }),
    async (c) => {
      const user = c.get('user');
      const q = c.req.valid('query');
      if (!isStaff(user) && user.role !== 'doctor') throw new ApiProblem(403, 'forbidden', 'Forbidden', 'remote consultations are for coordinators and their specialists');
      const items = await listRemotes(deps.sql, { limit: q.limit, ...(q.status ? { status: q.status } : {}), ...(user.role === 'doctor' ? { doctorId: user.id } : {}) });
      auditSubject(c, { patientIds: items.map((i) => i.patientId) });
      return c.json({ items }, 200);
    },
  );

  conversationReads(r, {
    sql: deps.sql,
    tag: 'remote consultations',
    schema: cs.Remote,
    summary: 'One remote consultation with its timeline and open tasks (coordinators, its specialist)',
    messages: "The institution's request and the opinion",
    visible,
    read,
  });

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/assignment',
      tags: ['remote consultations'],
      summary: 'A coordinator schedules a specialist (or another one, until the opinion is given)',
      description: 'A doctor with a verified licence (422 `clinician-unverified`); 409 `remote-answered` once the opinion is given.',
      security: bearer,
      middleware: [requireRole('coordinator', 'admin')] as const,
      request: { params: s.IdParam, body: jsonBody(cs.AssignInput) },
      responses: { 200: jsonResponse(cs.Remote, 'Scheduled'), ...problems(400, 401, 403, 404, 409, 413, 422, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const { doctorId } = c.req.valid('json');
      await visible(c, id);
      const doctor = await getClinician(deps.sql, doctorId);
      if (!doctor) throw notFound('doctor');
      if (doctor.role !== 'doctor') throw unprocessable('not-a-doctor', 'doctorId names a clinician who is not a doctor');
      const refusal = standingRefusal(await clinicianStanding(deps.sql, doctorId), 'doctor');
      if (refusal) throw unprocessable(refusal.type, refusal.detail);
      await engine(() => wf(id).executeUpdate(remoteAssignUpdate, { args: [{ doctorId, actor: { role: user.role, id: user.id } }] }));
      return c.json(await read(id), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/opinion',
      tags: ['remote consultations'],
      summary: 'The scheduled specialist gives the opinion; it goes back, signed, to the institution that asked',
      description: 'Only the specialist scheduled for it (403 `not-assigned`; another doctor who may not see it: 404), once (409 `remote-answered`).',
      security: bearer,
      middleware: [requireRole('doctor')] as const,
      request: { params: s.IdParam, body: jsonBody(cs.MessageInput) },
      responses: { 200: jsonResponse(cs.Remote, 'Given; on its way back'), ...problems(400, 401, 403, 404, 409, 413, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const body = c.req.valid('json');
      await visible(c, id);
      const text = { id: idFor(c, `remote-opinion:${id}`), consultationId: id, kind: 'opinion' as const, from: 'doctor' as const, authorId: user.id, body: body.body, attachments: body.attachments };
      await sendText(deps.sql, text, () => engine(() => wf(id).executeUpdate(remoteOpinionUpdate, { args: [{ messageId: text.id, doctorId: user.id }] })));
      return c.json(await read(id), 200);
    },
  );

  return r;
}
