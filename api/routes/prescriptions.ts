// Prescriptions: the pharmacists' review, the prescriber's revision or cancellation, and the
// patient's dose confirmations. Reads come from the read model; actions are updates on the
// prescription's workflow, refused there when its state or the caller cannot take them.
import { createRoute, z } from '@hono/zod-openapi';
import { getItem } from '../../activities/items.js';
import {
  answerDose,
  checkPrescribing,
  drugsByCode,
  enrolledConditions,
  listPrescriptions,
  prescriptionOwner,
} from '../../activities/prescriptions.js';
import { DEV_SIGNING_KEYS, SignerRefused, localSigner, type PrescriptionSigner } from '../../activities/signing.js';
import {
  ItemFailureType,
  RuleFailureType,
  cancelPrescriptionUpdate,
  prescriptionWorkflowId,
  reviewUpdate,
  reviseUpdate,
  type PrescriptionContent,
  type PrescriptionSignature,
  type PrescriptionSnapshot,
} from '../../workflows/definitions.js';
import { auditSubject } from '../audit.js';
import { authenticate, isStaff, requireRole, type User } from '../auth.js';
import { bearer, jsonBody, jsonResponse, newRouter, opaqueIds, problems } from '../openapi.js';
import { ApiProblem, conflict, isWorkflowClosed, itemClosed, notFound, unprocessable } from '../problems.js';
import * as s from '../schemas.js';
import type { ApiDeps } from '../types.js';

type Owner = NonNullable<Awaited<ReturnType<typeof prescriptionOwner>>>;

/** Pharmacists and coordinators see every prescription; a doctor those they wrote; a patient their own. */
const maySee = (user: User, o: Owner): boolean =>
  isStaff(user) || user.role === 'pharmacist' || (user.role === 'doctor' && user.id === o.prescriberId) || (user.role === 'patient' && user.id === o.patientId);

/** The API's signature adapter: the configured one, or CarePath's own keys under the development key ring. */
const signers = new WeakMap<ApiDeps, PrescriptionSigner>();
function apiSigner(deps: ApiDeps): PrescriptionSigner {
  let signer = signers.get(deps);
  if (!signer) signers.set(deps, (signer = deps.signer ?? localSigner(deps.sql, DEV_SIGNING_KEYS)));
  return signer;
}

const signerNotPrescriber = (): ApiProblem =>
  new ApiProblem(403, RuleFailureType.SignerNotPrescriber, 'Forbidden', 'only the prescribing doctor signs a prescription, in their own request');

/**
 * Signs prescription versions as `user`, in their own request: the only way a version gets signed
 * (issue 10, rule 5). Anyone but the doctor the content names as prescriber (another doctor, another
 * role, a service) is refused 403 `signer-not-prescriber`.
 */
export function signingAs(deps: ApiDeps, user: User): (content: PrescriptionContent) => Promise<PrescriptionSignature> {
  const signer = apiSigner(deps);
  return async (content) => {
    if (user.role !== 'doctor' || user.id !== content.prescriberId) throw signerNotPrescriber();
    try {
      return await signer.sign({ role: user.role, id: user.id }, content);
    } catch (err) {
      throw err instanceof SignerRefused ? signerNotPrescriber() : err;
    }
  };
}

export function prescriptionRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/:id', opaqueIds('prescription'));
  r.use('/:id/*', opaqueIds('prescription'));
  const wf = (id: string) => deps.temporal.workflow.getHandle(prescriptionWorkflowId(id));
  /** An update on the prescription's workflow under the engine deadline (503 past it); one that has ended is 409. */
  const engine = <R>(fn: () => Promise<R>): Promise<R> =>
    deps.temporal.withDeadline(Date.now() + (deps.engineTimeoutMs ?? 30_000), fn).catch((err: unknown) => {
      throw isWorkflowClosed(err) ? itemClosed('prescription') : err;
    });

  async function visible(user: User, id: string): Promise<Owner> {
    const owner = await prescriptionOwner(deps.sql, id);
    if (!owner || !maySee(user, owner)) throw notFound('prescription');
    return owner;
  }

  async function read(id: string) {
    const p = await getItem<PrescriptionSnapshot>(deps.sql, 'prescription', id);
    if (!p) throw notFound('prescription');
    return p;
  }

  const answer = (description: string) => jsonResponse(s.Prescription, description);

  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['prescriptions'],
      summary: 'Prescriptions (pharmacists and coordinators: all; doctors: their own; patients: their own), newest first',
      security: bearer,
      request: { query: s.PrescriptionQuery },
      responses: { 200: jsonResponse(z.object({ items: z.array(s.PrescriptionSummary) }), 'Prescriptions'), ...problems(400, 401) },
    }),
    async (c) => {
      const user = c.get('user');
      const q = c.req.valid('query');
      // A patient asking for another patient's prescriptions is told of none.
      if (user.role === 'patient' && q.patientId && q.patientId !== user.id) {
        auditSubject(c, { patientIds: [], refused: true });
        return c.json({ items: [] }, 200);
      }
      const items = await listPrescriptions(deps.sql, {
        limit: q.limit,
        ...(q.status ? { status: q.status } : {}),
        ...(q.patientId ? { patientId: q.patientId } : {}),
        ...(user.role === 'patient' ? { patientId: user.id } : {}),
        ...(user.role === 'doctor' ? { prescriberId: user.id } : {}),
      });
      auditSubject(c, { patientIds: items.map((p) => p.patientId) });
      return c.json({ items }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['prescriptions'],
      summary: 'One prescription with its own timeline',
      security: bearer,
      request: { params: s.IdParam },
      responses: { 200: answer('The prescription'), ...problems(401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await visible(c.get('user'), id);
      return c.json(await read(id), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/review',
      tags: ['prescriptions'],
      summary: 'A pharmacist approves (the patient is asked to pay) or rejects with a reason (back to the prescriber)',
      description:
        'Only a verified pharmacist reviews (422 clinician-unverified), never one who wrote it (403 own-prescription). ' +
        "A version whose content as stored no longer matches the prescriber's signature cannot be reviewed (422 signature-mismatch): " +
        'the timeline records `prescription.signature-mismatch` and coordinators get an escalation task.',
      security: bearer,
      middleware: [requireRole('pharmacist')] as const,
      request: { params: s.IdParam, body: jsonBody(s.ReviewInput) },
      responses: { 200: answer('Reviewed'), ...problems(400, 401, 403, 404, 409, 413, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const body = c.req.valid('json');
      await visible(user, id);
      await engine(() => wf(id).executeUpdate(reviewUpdate, { args: [{ pharmacistId: user.id, decision: body.decision, ...(body.reason ? { reason: body.reason } : {}) }] }));
      c.get('log').info({ prescriptionId: id, decision: body.decision }, 'prescription reviewed');
      return c.json(await read(id), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/revision',
      tags: ['prescriptions'],
      summary: 'The prescriber revises a rejected prescription: a new version, reviewed again',
      description:
        "The new version is signed in this request with the prescriber's own key (`signature` in the answer); " +
        'only a verified doctor revises (422 clinician-unverified); the prescribing rules apply as in the outcome.',
      security: bearer,
      middleware: [requireRole('doctor')] as const,
      request: { params: s.IdParam, body: jsonBody(s.RevisionInput) },
      responses: { 200: answer('Revised; pending review'), ...problems(400, 401, 403, 404, 409, 413, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const owner = await visible(user, id);
      if (owner.prescriberId !== user.id) throw new ApiProblem(403, ItemFailureType.NotPrescriber, 'Forbidden', 'only the prescriber may revise the prescription');
      const body = c.req.valid('json');
      const current = await read(id);
      const checked = checkPrescribing(
        { items: body.items, long: current.long },
        await drugsByCode(deps.sql, body.items.map((i) => i.drugCode)),
        await enrolledConditions(deps.sql, owner.patientId),
      );
      if (!checked.ok) throw unprocessable(checked.refusal.type, checked.refusal.detail);
      // Signed here, in the prescriber's own request; the workflow stores it only if it is of exactly the new version.
      const signature = await signingAs(deps, user)({
        prescriptionId: id,
        version: current.version + 1,
        journeyId: current.journeyId,
        patientId: current.patientId,
        prescriberId: user.id,
        long: current.long,
        items: checked.items,
      });
      await engine(() => wf(id).executeUpdate(reviseUpdate, { args: [{ prescriberId: user.id, items: checked.items, signature }] }));
      return c.json(await read(id), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/cancel',
      tags: ['prescriptions'],
      summary: 'The prescriber or a coordinator cancels (a paid amount is refunded); after delivery it stops the course',
      description: 'Before dispensing, or at delivery-failed: cancelled, any payment refunded. Delivered: the course and its reminders stop (course.stopped), the status stays delivered. Paid, dispensed or shipped: 409.',
      security: bearer,
      middleware: [requireRole('doctor', 'coordinator', 'admin')] as const,
      request: { params: s.IdParam, body: jsonBody(s.CancelInput) },
      responses: { 200: answer('Cancelled, or its course stopped'), ...problems(400, 401, 403, 404, 409, 413) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const owner = await visible(user, id);
      if (user.role === 'doctor' && owner.prescriberId !== user.id) {
        throw new ApiProblem(403, ItemFailureType.NotPrescriber, 'Forbidden', 'only the prescriber or a coordinator may cancel the prescription');
      }
      await engine(() => wf(id).executeUpdate(cancelPrescriptionUpdate, { args: [{ reason: c.req.valid('json').reason, actor: { role: user.role, id: user.id } }] }));
      c.get('log').info({ prescriptionId: id }, 'prescription cancelled');
      return c.json(await read(id), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/doses',
      tags: ['prescriptions'],
      summary: 'The patient confirms (taken: true) or skips (taken: false) one planned dose; the first answer stands',
      security: bearer,
      middleware: [requireRole('patient')] as const,
      request: { params: s.IdParam, body: jsonBody(s.DoseInput) },
      responses: { 200: jsonResponse(s.DoseAnswer, 'Recorded'), ...problems(400, 401, 403, 404, 409, 413, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const owner = await visible(user, id);
      if (owner.patientId !== user.id) throw notFound('prescription');
      const body = c.req.valid('json');
      const result = await answerDose(deps.sql, { prescriptionId: id, scheduledAt: body.scheduledAt, taken: body.taken, by: `patient:${user.id}` });
      if (!result.ok && result.reason === 'unknown-dose') throw unprocessable(ItemFailureType.UnknownDose, 'scheduledAt names no dose of this course');
      if (!result.ok) throw conflict(ItemFailureType.DoseAnswered, 'this dose was answered already; the first answer stands');
      return c.json({ prescriptionId: id, scheduledAt: new Date(body.scheduledAt).toISOString(), taken: body.taken }, 200);
    },
  );
  return r;
}
