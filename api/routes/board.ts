// The coordinators' board: journeys by phase and step with counts and overdue counts, the escalation
// queue (overdue coordinator tasks, most overdue first, with the action to take) and the programs that
// need attention, in one call.
import { createRoute, z } from '@hono/zod-openapi';
import { readBoard } from '../../activities/board.js';
import { auditSubject } from '../audit.js';
import { authenticate, requireRole } from '../auth.js';
import { bearer, jsonResponse, newRouter, problems } from '../openapi.js';
import * as s from '../schemas.js';
import type { ApiDeps } from '../types.js';

const BoardQuery = z.strictObject({
  department: s.Department.optional(),
  status: z.enum(['active', 'completed', 'cancelled', 'no-show', 'redirected']).optional(),
  from: s.Timestamp.optional().openapi({ description: 'Journeys created at or after this instant' }),
  to: s.Timestamp.optional().openapi({ description: 'Journeys created before this instant' }),
  overdue: s.booleanParam.optional().openapi({ description: 'true: only journeys with an open task past due' }),
});

const Board = z
  .object({
    total: z.number().int(),
    groups: z.array(z.object({ phase: z.string(), step: z.string(), count: z.number().int(), overdue: z.number().int() })),
    escalations: z.array(
      z.object({
        id: z.string(),
        kind: z.string(),
        journeyId: z.string().nullable(),
        subject: z.object({ type: z.string(), id: z.string() }),
        action: z.string(),
        dueAt: s.Timestamp,
        tier: z.number().int(),
        overdueBy: z.number().int().openapi({ description: 'Seconds past due' }),
      }),
    ),
    programs: z.array(
      z.object({
        id: z.string(),
        patientId: z.string(),
        condition: z.string(),
        doctorId: z.string(),
        adherence: z.object({ taken: z.number().int(), skipped: z.number().int(), missed: z.number().int() }),
        openAlerts: z.number().int(),
      }),
    ),
  })
  .openapi('Board');

export function boardRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['board'],
      summary: 'The coordinators’ board: journeys by phase and step, overdue counts, the escalation queue, programs needing attention',
      security: bearer,
      middleware: [requireRole('coordinator', 'admin')] as const,
      request: { query: BoardQuery },
      responses: { 200: jsonResponse(Board, 'The board'), ...problems(400, 401, 403) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const board = await readBoard(deps.sql, {
        ...(q.department ? { department: q.department } : {}),
        ...(q.status ? { status: q.status } : {}),
        ...(q.from ? { from: q.from } : {}),
        ...(q.to ? { to: q.to } : {}),
        ...(q.overdue ? { overdue: true } : {}),
      });
      // The counts show no one; the programs and the escalations' subjects do.
      auditSubject(c, { patientIds: board.programs.map((p) => p.patientId), shows: board.escalations.map((e) => `${e.subject.type}:${e.subject.id}`) });
      return c.json(board, 200);
    },
  );
  return r;
}
