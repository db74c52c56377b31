// Referrals: read one with its own timeline, and record for the facility (a coordinator who took its
// answer by phone, say) its response or the patient's attendance. The facility's own system uses
// POST /v1/webhooks/facility. Actions are updates on the referral's workflow, which refuses what its
// state does not allow.
import { createRoute } from '@hono/zod-openapi';
import { getItem, type ItemView } from '../../activities/items.js';
import { journeyOwner } from '../../activities/journeys.js';
import { actorName, referralAttendedUpdate, referralResponseUpdate, referralWorkflowId, type ReferralSnapshot } from '../../workflows/definitions.js';
import { authenticate, isStaff, requireRole, type User } from '../auth.js';
import { bearer, jsonBody, jsonResponse, newRouter, opaqueIds, problems } from '../openapi.js';
import { isWorkflowClosed, itemClosed, notFound } from '../problems.js';
import * as s from '../schemas.js';
import type { ApiDeps } from '../types.js';

export function referralRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/:id', opaqueIds('referral'));
  r.use('/:id/*', opaqueIds('referral'));
  const wf = (id: string) => deps.temporal.workflow.getHandle(referralWorkflowId(id));
  /** An update on the referral's workflow under the engine deadline (503 past it); one that has ended is 409. */
  const engine = <R>(fn: () => Promise<R>): Promise<R> =>
    deps.temporal.withDeadline(Date.now() + (deps.engineTimeoutMs ?? 30_000), fn).catch((err: unknown) => {
      throw isWorkflowClosed(err) ? itemClosed('referral') : err;
    });

  /** Its patient, the doctor of its journey (who referred), coordinators and admins; anyone else gets 404. */
  async function visible(user: User, id: string): Promise<ItemView<ReferralSnapshot>> {
    const referral = await getItem<ReferralSnapshot>(deps.sql, 'referral', id);
    if (!referral) throw notFound('referral');
    if (isStaff(user) || (user.role === 'patient' && user.id === referral.patientId)) return referral;
    if (user.role === 'doctor' && (await journeyOwner(deps.sql, referral.journeyId))?.doctorId === user.id) return referral;
    throw notFound('referral');
  }

  async function read(id: string): Promise<ItemView<ReferralSnapshot>> {
    const referral = await getItem<ReferralSnapshot>(deps.sql, 'referral', id);
    if (!referral) throw notFound('referral');
    return referral;
  }

  const answer = (description: string) => jsonResponse(s.Referral, description);
  const staff = requireRole('coordinator', 'admin');

  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['referrals'],
      summary: "One referral with its own timeline (its patient, the journey's doctor, coordinators, admins)",
      security: bearer,
      request: { params: s.IdParam },
      responses: { 200: answer('The referral'), ...problems(401, 404) },
    }),
    async (c) => c.json(await visible(c.get('user'), c.req.valid('param').id), 200),
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/response',
      tags: ['referrals'],
      summary: "Record the facility's answer (coordinators, admins): accepted with the appointment time, or declined",
      description:
        'Accepted: the patient is told and reminded before the appointment (appointmentAt required, in the future: 422 otherwise). Declined: coordinators get a task to find another facility. A referral that is not waiting for an answer is 409.',
      security: bearer,
      middleware: [staff] as const,
      request: { params: s.IdParam, body: jsonBody(s.ReferralResponseInput) },
      responses: { 200: answer('Answered'), ...problems(400, 401, 403, 404, 409, 413, 422, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const referral = await visible(user, id);
      const body = c.req.valid('json');
      const input = {
        decision: body.decision,
        actor: actorName(user),
        ...(body.appointmentAt ? { appointmentAt: body.appointmentAt } : {}),
        ...(body.note ? { note: body.note } : {}),
      };
      await engine(() => wf(id).executeUpdate(referralResponseUpdate, { args: [input] }));
      c.get('log').info({ referralId: id, journeyId: referral.journeyId, decision: body.decision }, 'referral answered');
      return c.json(await read(id), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/attended',
      tags: ['referrals'],
      summary: 'Record that the patient attended an accepted referral, with a summary (coordinators, admins); this closes it',
      description: 'A referral that is not accepted is 409.',
      security: bearer,
      middleware: [staff] as const,
      request: { params: s.IdParam, body: jsonBody(s.ReferralAttendedInput) },
      responses: { 200: answer('Attended'), ...problems(400, 401, 403, 404, 409, 413, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const referral = await visible(user, id);
      await engine(() => wf(id).executeUpdate(referralAttendedUpdate, { args: [{ summary: c.req.valid('json').summary, actor: actorName(user) }] }));
      c.get('log').info({ referralId: id, journeyId: referral.journeyId }, 'referral attended');
      return c.json(await read(id), 200);
    },
  );
  return r;
}
