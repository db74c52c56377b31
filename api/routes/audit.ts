// The audit log (api/audit.ts appends to it): GET /v1/audit for admins, and what
// GET /v1/patients/:id/access-log (api/routes/patients.ts) shows a patient of it. Reading the log is
// itself audited, like every read of patient data.
import { createRoute, z } from '@hono/zod-openapi';
import { listAuditEvents, type AuditEvent } from '../../activities/audit.js';
import { auditSubject } from '../audit.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { authenticate, requireRole } from '../auth.js';
import { bearer, jsonResponse, newRouter, problems } from '../openapi.js';
import * as s from '../schemas.js';
import type { ApiDeps } from '../types.js';

const Outcome = z.enum(['allowed', 'refused']).openapi({ description: 'allowed: the answer was a 2xx; refused: anything else, or a 2xx that hides a refusal (another patient’s list answered empty)' });
const Actor = z.string().nullable().openapi({ description: "The token's user id, the signing partner (`payment-provider`, `courier`, `lab`, `facility`, `identity-provider`), or null (no valid token)" });
const ActorRole = z.string().openapi({ description: "The token's role, `partner` for a signed webhook, `anonymous` without a valid token or signature" });
const Action = z.string().openapi({ description: 'Method and route template, e.g. `GET /v1/journeys/{id}`', example: 'GET /v1/journeys/{id}' });
const Resource = z.string().nullable().openapi({ description: '`<kind>:<id>` (`journey:<id>`, `order:<id>`…) or a list (`journeys`); null when no route matched' });

export const AuditEventSchema = z
  .object({
    id: z.string(),
    at: s.Timestamp,
    actor: Actor,
    role: ActorRole,
    action: Action,
    patientId: z.string().nullable().openapi({ description: 'The patient the request concerned (for a refused one too), or a list\'s patientId filter; null when it named none' }),
    patientIds: z.array(z.string()).optional().openapi({ description: 'A list: the patients it showed' }),
    resource: Resource,
    outcome: Outcome,
    status: z.number().int().openapi({ description: 'The HTTP status answered' }),
    requestId: z.string().openapi({ description: 'The X-Request-Id of the request' }),
  })
  .openapi('AuditEvent');

export const AccessLogEntry = z
  .object({ at: s.Timestamp, actor: Actor, role: ActorRole, action: Action, resource: Resource, outcome: Outcome })
  .openapi('AccessLogEntry');

export const toAccessLogEntry = (e: AuditEvent): z.infer<typeof AccessLogEntry> => ({
  at: e.at,
  actor: e.actor,
  role: e.role,
  action: e.action,
  resource: e.resource,
  outcome: e.outcome,
});

const Limit = z.coerce.number().int().min(1).max(200).default(50);
const CursorParam = z.string().max(500).optional().openapi({ description: "The previous page's nextCursor" });

export const AuditQuery = z.strictObject({
  patientId: s.Id.optional().openapi({ description: 'Events concerning this patient: theirs, and lists that showed them' }),
  actor: s.Id.optional().openapi({ description: 'Events of this actor (a user id or a partner)' }),
  from: s.Timestamp.optional().openapi({ description: 'At or after this instant' }),
  to: s.Timestamp.optional().openapi({ description: 'Before this instant' }),
  limit: Limit,
  cursor: CursorParam,
});

export const AccessLogQuery = z.strictObject({ limit: Limit, cursor: CursorParam });

export const auditPage = <T>(items: T[], next: string | undefined) => ({ items, nextCursor: next ? encodeCursor({ before: next }) : null });
export const AuditPageSchema = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });

const CursorBody = z.object({ before: z.string().regex(/^[1-9][0-9]{0,18}$/) });

/** The event id a cursor pages on from; one this API did not give out is a 400. */
export const decodeAuditCursor = (raw: string): string => decodeCursor(raw, CursorBody).before;

export function auditRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['audit'],
      summary: 'The audit log, newest first (admins)',
      description:
        'One event for every request to a route that serves patient data, allowed or refused (401, 403, 404 and every other non-2xx are `refused`, with their status). ' +
        'The log is append-only: the database refuses to change or delete an event. `patientId` matches the events concerning the patient and the lists that showed them. ' +
        'Reading the log is audited too.',
      security: bearer,
      middleware: [requireRole('admin')] as const,
      request: { query: AuditQuery },
      responses: { 200: jsonResponse(AuditPageSchema(AuditEventSchema), 'A page, newest first'), ...problems(400, 401, 403) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await listAuditEvents(deps.sql, {
        ...(q.patientId ? { patientId: q.patientId } : {}),
        ...(q.actor ? { actor: q.actor } : {}),
        ...(q.from ? { from: q.from } : {}),
        ...(q.to ? { to: q.to } : {}),
        ...(q.cursor ? { before: decodeAuditCursor(q.cursor) } : {}),
        limit: q.limit,
      });
      // The events name patients: reading them is a read of those patients' access history.
      auditSubject(c, { patientIds: [...new Set(page.items.flatMap((e) => [...(e.patientId ? [e.patientId] : []), ...(e.patientIds ?? [])]))] });
      return c.json(auditPage(page.items, page.next), 200);
    },
  );
  return r;
}
