// The catalogue clinicians prescribe and refer from: drugs (seeded reference data, searchable by
// Chinese or English name), the exams a doctor may order, and the facilities referrals go to (written by
// admins).
import { createRoute, z } from '@hono/zod-openapi';
import { createFacility, listFacilities, type Facility } from '../../activities/facilities.js';
import { searchDrugs } from '../../activities/prescriptions.js';
import { listExamTypes } from '../../activities/reference.js';
import { idempotent } from '../idempotency.js';
import { authenticate, requireRole, type User } from '../auth.js';
import { bearer, jsonBody, jsonResponse, newRouter, problems } from '../openapi.js';
import * as s from '../schemas.js';
import type { ApiDeps } from '../types.js';

/** Anyone who works at the hospital; patients have no use for the catalogue (403). */
const clinicians = requireRole('doctor', 'pharmacist', 'coordinator', 'admin');

export function drugRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));

  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['catalogue'],
      summary: 'Search the drug catalogue by Chinese or English name (or code), optionally by class',
      description: 'At most 200 drugs, by English name. Controlled classes are listed (so a search finds them) but never prescribed.',
      security: bearer,
      middleware: [clinicians] as const,
      request: { query: s.DrugQuery },
      responses: { 200: jsonResponse(z.object({ items: z.array(s.Drug) }), 'Matching drugs'), ...problems(400, 401, 403) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const items = await searchDrugs(deps.sql, { ...(q.query ? { query: q.query } : {}), ...(q.class ? { class: q.class } : {}) });
      return c.json({ items }, 200);
    },
  );
  return r;
}

const ExamType = z.object({ code: z.string(), name: z.string(), price: z.number().int().openapi({ description: 'fen' }) }).openapi('ExamType');

export function examCatalogueRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['catalogue'],
      summary: 'The exams a doctor may order in an outcome, by code',
      security: bearer,
      middleware: [clinicians] as const,
      responses: { 200: jsonResponse(z.object({ items: z.array(ExamType) }), 'Every exam type'), ...problems(401, 403) },
    }),
    async (c) => c.json({ items: await listExamTypes(deps.sql) }, 200),
  );
  return r;
}

/** The webhook URL is configuration: admins see it, other clinicians only whom they may refer to. */
const facilityFor = (user: User, f: Facility): Facility => {
  if (user.role === 'admin') return f;
  const { webhookUrl: _hidden, ...rest } = f;
  return rest;
};

export function facilityRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/', idempotent(deps.sql, deps.engineTimeoutMs));

  r.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['catalogue'],
      summary: 'Add a facility referrals can go to (admin)',
      security: bearer,
      middleware: [requireRole('admin')] as const,
      request: { headers: s.IdempotencyHeaders, body: jsonBody(s.FacilityInput) },
      responses: { 201: jsonResponse(s.Facility, 'Created'), ...problems(400, 401, 403, 413) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const facility = await createFacility(deps.sql, { name: body.name, kind: body.kind, ...(body.webhookUrl ? { webhookUrl: body.webhookUrl } : {}) });
      c.get('log').info({ facilityId: facility.id, kind: facility.kind }, 'facility created');
      return c.json(facility, 201);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['catalogue'],
      summary: 'The facilities referrals can go to, by name (any clinician)',
      security: bearer,
      middleware: [clinicians] as const,
      request: { query: s.FacilityQuery },
      responses: { 200: jsonResponse(z.object({ items: z.array(s.Facility) }), 'Facilities'), ...problems(400, 401, 403) },
    }),
    async (c) => {
      const user = c.get('user');
      const q = c.req.valid('query');
      const items = await listFacilities(deps.sql, q.kind ? { kind: q.kind } : {});
      return c.json({ items: items.map((f) => facilityFor(user, f)) }, 200);
    },
  );
  return r;
}
