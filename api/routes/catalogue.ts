// The catalogue clinicians prescribe and refer from: drugs (seeded reference data, searchable by
// Chinese or English name), the exams a doctor may order, and the facilities referrals go to (written by
// admins).
import { createRoute, z } from '@hono/zod-openapi';
import { createFacility, listFacilities, type Facility } from '../../activities/facilities.js';
import { searchDrugs } from '../../activities/prescriptions.js';
import { listExamTypes } from '../../activities/reference.js';
import { getDrugInformation, setDrugInformation, setPrice } from '../../activities/information.js';
import type { Context } from 'hono';
import type { AppEnv } from '../types.js';
import { idempotent } from '../idempotency.js';
import { authenticate, requireRole, type User } from '../auth.js';
import { bearer, jsonBody, jsonResponse, newRouter, problems } from '../openapi.js';
import { notFound } from '../problems.js';
import * as s from '../schemas.js';
import type { ApiDeps } from '../types.js';
import { actorName } from '../../workflows/definitions.js';

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

  r.openapi(
    createRoute({
      method: 'get',
      path: '/{code}',
      tags: ['information'],
      summary: "A drug's information (用药助手): usage, contraindications and the patient-facing leaflet, in zh-CN and en, with its unit price",
      description: 'Every signed-in user, patients included. A drug with no information yet answers without `usage`, `contraindications` and `leaflet`.',
      security: bearer,
      request: { params: s.CodeParam },
      responses: { 200: jsonResponse(s.DrugInformation, 'The drug'), ...problems(400, 401, 404) },
    }),
    async (c) => {
      const drug = await getDrugInformation(deps.sql, c.req.valid('param').code);
      if (!drug) throw notFound('drug');
      return c.json(drug, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'put',
      path: '/{code}/information',
      tags: ['information'],
      summary: "Set a drug's information (admin): the next version; every edit is kept (GET /v1/information-changes)",
      security: bearer,
      middleware: [requireRole('admin')] as const,
      request: { params: s.CodeParam, body: jsonBody(s.DrugInformationInput) },
      responses: { 200: jsonResponse(s.DrugInformation, 'The drug, with the new version'), ...problems(400, 401, 403, 404, 413) },
    }),
    async (c) => {
      const { code } = c.req.valid('param');
      const user = c.get('user');
      if ((await setDrugInformation(deps.sql, code, c.req.valid('json'), actorName(user))) === undefined) throw notFound('drug');
      return c.json((await getDrugInformation(deps.sql, code))!, 200);
    },
  );
  r.openapi(priceEdit('Drug', "Set a drug's unit price (admin), in fen per unit of its form"), setPriceOf(deps, 'drug'));
  return r;
}

/** PUT /{code}/price of a drug or an exam: kept across restarts (the seed no longer resets it), and in the history. */
const priceEdit = (tag: string, summary: string) =>
  createRoute({
    method: 'put',
    path: '/{code}/price',
    tags: ['information'],
    summary: `${summary}. Orders already made keep their amount; every edit is kept (GET /v1/information-changes)`,
    security: bearer,
    middleware: [requireRole('admin')] as const,
    request: { params: s.CodeParam, body: jsonBody(s.PriceInput) },
    responses: { 200: jsonResponse(z.object({ code: z.string(), amount: z.number().int(), version: z.number().int() }).openapi(`${tag}PriceSet`), 'Stored, with the price\'s version'), ...problems(400, 401, 403, 404, 413) },
  });
const setPriceOf = (deps: ApiDeps, kind: 'drug' | 'exam') => async (c: Context<AppEnv, string, { out: { param: { code: string }; json: { amount: number } } }>) => {
  const { code } = c.req.valid('param');
  const { amount } = c.req.valid('json');
  const user = c.get('user');
  const version = await setPrice(deps.sql, kind, code, amount, actorName(user));
  if (version === undefined) throw notFound(kind);
  return c.json({ code, amount, version }, 200);
};

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
  r.openapi(priceEdit('Exam', "Set an exam's price (admin), in fen"), setPriceOf(deps, 'exam'));
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
