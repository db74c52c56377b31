// Patients: registration (staff) and what hangs off a patient's record: the notification inbox,
// identity verification, consents and the access log. A patient reads only their own; another
// patient's record is 404.
import { createRoute, z } from '@hono/zod-openapi';
import { listNotifications } from '../../activities/notifications.js';
import * as reference from '../../activities/reference.js';
import { idempotent } from '../idempotency.js';
import { authenticate, isStaff, requireRole } from '../auth.js';
import { bearer, jsonBody, jsonResponse, newRouter, opaqueIds, problems } from '../openapi.js';
import { ApiProblem, notFound } from '../problems.js';
import * as s from '../schemas.js';
import type { ApiDeps } from '../types.js';

const staff = requireRole('admin', 'coordinator');

export function patientRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/', idempotent(deps.sql, deps.engineTimeoutMs));
  r.use('/:id/*', opaqueIds('patient'));
  r.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['reference data'],
      security: bearer,
      middleware: [staff] as const,
      request: { headers: s.IdempotencyHeaders, body: jsonBody(s.PatientInput) },
      responses: { 201: jsonResponse(s.Patient, 'Created'), ...problems(400, 401, 403, 413) },
    }),
    async (c) => c.json(await reference.createPatient(deps.sql, c.req.valid('json')), 201),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/notifications',
      tags: ['notifications'],
      summary: "The patient's notification inbox (the patient, coordinators, admins)",
      security: bearer,
      request: { params: s.IdParam },
      responses: { 200: jsonResponse(z.object({ items: z.array(s.Notification) }), 'Inbox, newest first'), ...problems(400, 401, 403, 404) },
    }),
    async (c) => {
      const user = c.get('user');
      const { id } = c.req.valid('param');
      if (user.role === 'doctor' || user.role === 'pharmacist') throw new ApiProblem(403, 'forbidden', 'Forbidden', 'only the patient and staff read an inbox');
      if (!(isStaff(user) || user.id === id) || !(await reference.patientExists(deps.sql, id))) throw notFound('patient');
      return c.json({ items: await listNotifications(deps.sql, id) }, 200);
    },
  );
  return r;
}
