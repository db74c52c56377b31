// What patients look up (issue 13): the price list, the hospital guide and the history of admins'
// edits of them. A drug's own information is served by the drugs router (api/routes/catalogue.ts).
// Every signed-in user reads; admins edit, and every edit is kept.
import { createRoute, z } from '@hono/zod-openapi';
import { getGuide, listInformationChanges, listPrices, setGuideDepartment, setGuideProcedure } from '../../activities/information.js';
import { authenticate, requireRole } from '../auth.js';
import { bearer, jsonBody, jsonResponse, newRouter, problems } from '../openapi.js';
import * as s from '../schemas.js';
import type { ApiDeps } from '../types.js';
import { actorName } from '../../workflows/definitions.js';

export function priceRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['information'],
      summary: 'The price list (价格公示): registration fees by pathway, online consultation fees, exams and drugs',
      description:
        'Every signed-in user, patients included. `query` matches part of the code or of the name in either language, in any case. Amounts in fen, per `unit` (a visit, a consultation, an exam, or one unit of a drug\'s form). ' +
        'A registration fee is the same in every department (a pathway is booked in any department). By kind, then code; at most `limit` (default 200).',
      security: bearer,
      request: { query: s.PriceQuery },
      responses: { 200: jsonResponse(z.object({ items: z.array(s.PriceItem) }), 'Matching prices'), ...problems(400, 401) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json({ items: await listPrices(deps.sql, { ...(q.query ? { query: q.query } : {}), ...(q.kind ? { kind: q.kind } : {}), limit: q.limit }) }, 200);
    },
  );
  return r;
}

export function guideRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  const admin = requireRole('admin');
  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['information'],
      summary: 'The hospital guide (就诊指南): departments with building, floor, location and hours; the visit, pick-up and payment procedures',
      description: 'Every signed-in user. Each text in zh-CN and en.',
      security: bearer,
      responses: { 200: jsonResponse(s.Guide, 'The guide'), ...problems(401) },
    }),
    async (c) => c.json(await getGuide(deps.sql), 200),
  );
  /** A PUT of one guide entry by its code (admin): stored by `set` with its history row, answered with its version. */
  function guideEdit<B extends typeof s.GuideDepartmentInput | typeof s.GuideProcedureInput>(
    path: string,
    summary: string,
    body: B,
    set: (entry: z.infer<B> & { code: string }, by: string) => Promise<number>,
  ) {
    r.openapi(
      createRoute({
        method: 'put',
        path,
        tags: ['information'],
        summary,
        security: bearer,
        middleware: [admin] as const,
        request: { params: s.CodeParam, body: jsonBody(body) },
        responses: { 200: jsonResponse(z.object({ code: z.string(), version: z.number().int() }), 'Stored, with its version'), ...problems(400, 401, 403, 413) },
      }),
      async (c) => {
        const { code } = c.req.valid('param');
        const version = await set({ code, ...(c.req.valid('json') as z.infer<B>) }, actorName(c.get('user')));
        return c.json({ code, version }, 200);
      },
    );
  }
  guideEdit(
    '/departments/{code}',
    "Set a department's guide entry (admin); a new code is added at the end. Every edit is kept (GET /v1/information-changes)",
    s.GuideDepartmentInput,
    (d, by) => setGuideDepartment(deps.sql, d, by),
  );
  guideEdit('/procedures/{code}', 'Set a procedure of the guide (admin); a new code is added at the end. Every edit is kept', s.GuideProcedureInput, (p, by) => setGuideProcedure(deps.sql, p, by));
  return r;
}

export function informationChangeRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['information'],
      summary: "Every admin edit of drug information, prices and the guide, newest first, with what it set (admin)",
      security: bearer,
      middleware: [requireRole('admin')] as const,
      request: { query: s.InformationChangeQuery },
      responses: { 200: jsonResponse(z.object({ items: z.array(s.InformationChange) }), 'Edits, newest first'), ...problems(400, 401, 403) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json({ items: await listInformationChanges(deps.sql, { ...(q.kind ? { kind: q.kind } : {}), ...(q.key ? { key: q.key } : {}), limit: q.limit }) }, 200);
    },
  );
  return r;
}
