// Reference data: clinicians, slots (written by admin or coordinator) and pathway
// templates (written by admin); slots and pathways are readable by any signed-in user.
import { createRoute, z } from '@hono/zod-openapi';
import * as reference from '../../activities/reference.js';
import { createSlot, listSlots } from '../../activities/slots.js';
import { verifyClinician } from '../../activities/verification.js';
import { idempotent } from '../idempotency.js';
import { authenticate, requireRole } from '../auth.js';
import { bearer, jsonBody, jsonResponse, newRouter, opaqueIds, problems } from '../openapi.js';
import { ApiProblem, conflict, notFound } from '../problems.js';
import * as s from '../schemas.js';
import type { ApiDeps } from '../types.js';

const staff = requireRole('admin', 'coordinator');

export function clinicianRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/', idempotent(deps.sql, deps.engineTimeoutMs));
  r.use('/:id', opaqueIds('clinician'));
  r.use('/:id/*', opaqueIds('clinician'));
  r.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['reference data'],
      security: bearer,
      middleware: [staff] as const,
      request: { headers: s.IdempotencyHeaders, body: jsonBody(s.ClinicianInput) },
      responses: { 201: jsonResponse(s.Clinician, 'Created'), ...problems(400, 401, 403, 413) },
    }),
    async (c) => c.json(await reference.createClinician(deps.sql, c.req.valid('json')), 201),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['reference data'],
      summary: 'One clinician with their licence and its verification (coordinators and admins)',
      security: bearer,
      middleware: [staff] as const,
      request: { params: s.IdParam },
      responses: { 200: jsonResponse(s.Clinician, 'The clinician'), ...problems(401, 403, 404) },
    }),
    async (c) => {
      const clinician = await reference.clinicianView(deps.sql, c.req.valid('param').id);
      if (!clinician) throw notFound('clinician');
      return c.json(clinician, 200);
    },
  );
  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/verification',
      tags: ['reference data'],
      summary: "An admin records the clinician's verified licence (number, years of practice, now)",
      description:
        'Until verified, a doctor cannot be booked, start a consultation or prescribe (422 `clinician-unverified`), and a pharmacist cannot review; ' +
        'an online consultation needs at least 3 years of practice (422 `insufficient-practice`). A coordinator cannot verify (403). Verifying again replaces the licence data and the time.',
      security: bearer,
      middleware: [requireRole('admin')] as const,
      request: { params: s.IdParam, body: jsonBody(s.ClinicianVerificationInput) },
      responses: { 200: jsonResponse(s.Clinician, 'Verified'), ...problems(400, 401, 403, 404, 413, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const existing = await reference.clinicianView(deps.sql, id);
      if (!existing) throw notFound('clinician');
      if (existing.role === 'coordinator') throw new ApiProblem(422, 'not-licensed-role', 'Unprocessable', 'coordinators carry no practising licence');
      await verifyClinician(deps.sql, id, { ...c.req.valid('json'), verifiedBy: c.get('user').id });
      c.get('log').info({ clinicianId: id }, 'clinician verified');
      return c.json((await reference.clinicianView(deps.sql, id))!, 200);
    },
  );
  return r;
}

export function slotRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/', idempotent(deps.sql, deps.engineTimeoutMs));
  r.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['reference data'],
      security: bearer,
      middleware: [staff] as const,
      request: { headers: s.IdempotencyHeaders, body: jsonBody(s.SlotInput) },
      responses: { 201: jsonResponse(s.Slot, 'Created'), ...problems(400, 401, 403, 404, 413, 422) },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const doctor = await reference.getClinician(deps.sql, input.doctorId);
      if (!doctor) throw notFound('doctor');
      if (doctor.role !== 'doctor') throw new ApiProblem(422, 'not-a-doctor', 'Unprocessable', 'doctorId names a clinician who is not a doctor');
      return c.json(await createSlot(deps.sql, input), 201);
    },
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['reference data'],
      security: bearer,
      request: { query: s.SlotQuery },
      responses: { 200: jsonResponse(z.object({ items: z.array(s.Slot) }), 'Slots in start order, full ones included'), ...problems(400, 401) },
    }),
    async (c) => c.json({ items: await listSlots(deps.sql, c.req.valid('query')) }, 200),
  );
  return r;
}

export function pathwayRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/', idempotent(deps.sql, deps.engineTimeoutMs));
  r.use('/:id', opaqueIds('pathway'));
  r.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['pathways'],
      security: bearer,
      middleware: [requireRole('admin')] as const,
      request: { headers: s.IdempotencyHeaders, body: jsonBody(s.PathwayTemplateSchema) },
      responses: { 201: jsonResponse(s.PathwayTemplateSchema, 'Created'), ...problems(400, 401, 403, 409, 413) },
    }),
    async (c) => {
      const t = c.req.valid('json');
      if (!(await reference.insertPathway(deps.sql, t))) throw conflict('version-exists', `pathway ${t.id} version ${t.version} exists; versions are immutable`);
      return c.json(t, 201);
    },
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['pathways'],
      security: bearer,
      responses: { 200: jsonResponse(z.object({ items: z.array(s.PathwayTemplateSchema) }), 'Latest version of each template'), ...problems(401) },
    }),
    async (c) => c.json({ items: await reference.listPathways(deps.sql) }, 200),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['pathways'],
      security: bearer,
      request: { params: s.IdParam, query: z.strictObject({ version: z.coerce.number().int().min(1).max(s.INT4_MAX).optional() }) },
      responses: { 200: jsonResponse(s.PathwayTemplateSchema, 'The latest version, or ?version='), ...problems(400, 401, 404) },
    }),
    async (c) => {
      const t = await reference.getPathway(deps.sql, c.req.valid('param').id, c.req.valid('query').version);
      if (!t) throw notFound('pathway');
      return c.json(t, 200);
    },
  );
  return r;
}
