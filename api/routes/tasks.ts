// Work queues: the open tasks of the caller's role (a doctor: those assigned to them), oldest due
// first, and closing by hand the tasks that no workflow action completes.
import { createRoute, z } from '@hono/zod-openapi';
import { completeTask, getTask, listTasks, type TaskView } from '../../activities/tasks.js';
import { actorName, type TaskKind } from '../../workflows/definitions.js';
import { auditSubject } from '../audit.js';
import { authenticate, requireRole, type User } from '../auth.js';
import { bearer, jsonBody, jsonResponse, newRouter, opaqueIds, problems } from '../openapi.js';
import { conflict, notFound } from '../problems.js';
import * as s from '../schemas.js';
import type { ApiDeps } from '../types.js';

/** Tasks closed by the action on their item (review, revision), not by hand: where to act instead. */
const ACTED_ON_ITEM: Partial<Record<TaskKind, string>> = {
  'pharmacist-review': 'POST /v1/prescriptions/{id}/review',
  'prescription-revision': 'POST /v1/prescriptions/{id}/revision or /cancel',
};

/** The task is in the caller's queue: their role's, or (for a doctor) assigned to them. Admins act as coordinators. */
function inQueue(user: User, t: TaskView): boolean {
  if (user.role === 'doctor') return t.assigneeId === user.id;
  if (user.role === 'admin') return t.role === 'coordinator' || t.role === 'admin';
  return t.role === user.role;
}

export function taskRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/:id/*', opaqueIds('task'));
  const staffRoles = requireRole('doctor', 'pharmacist', 'coordinator', 'admin');

  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['tasks'],
      summary: "The caller's work queue, oldest due first (open tasks unless status says otherwise)",
      security: bearer,
      middleware: [staffRoles] as const,
      request: { query: s.TaskQuery },
      responses: { 200: jsonResponse(z.object({ items: z.array(s.Task) }), 'Tasks, oldest due first'), ...problems(400, 401, 403) },
    }),
    async (c) => {
      const user = c.get('user');
      const q = c.req.valid('query');
      const items = await listTasks(deps.sql, {
        role: user.role,
        userId: user.id,
        status: q.status,
        limit: q.limit,
        ...(q.kind ? { kind: q.kind } : {}),
        ...(q.overdue !== undefined ? { overdue: q.overdue } : {}),
      });
      // A task shows its subject (a journey, an item, a program): the audit looks up their patients.
      auditSubject(c, { shows: items.map((t) => `${t.subject.type}:${t.subject.id}`) });
      return c.json({ items }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/complete',
      tags: ['tasks'],
      summary: 'Close a task no workflow action completes (an escalation acknowledged, an abnormal result or a declined referral dealt with)',
      description:
        'Acknowledging an escalation closes that task only: if the work stays late, the next tier still comes. Pharmacist reviews and revisions are completed by acting on the prescription (409).',
      security: bearer,
      middleware: [staffRoles] as const,
      request: { params: s.IdParam, body: jsonBody(s.TaskCompleteInput) },
      responses: { 200: jsonResponse(s.Task, 'Done'), ...problems(400, 401, 403, 404, 409, 413) },
    }),
    async (c) => {
      const user = c.get('user');
      const { id } = c.req.valid('param');
      const task = await getTask(deps.sql, id);
      if (!task || !inQueue(user, task)) throw notFound('task');
      const elsewhere = ACTED_ON_ITEM[task.kind];
      if (elsewhere) throw conflict('task-needs-action', `a ${task.kind} task is completed by acting on the item: ${elsewhere}`);
      if (task.status !== 'open') throw conflict('task-closed', `the task is ${task.status} already`);
      const done = await completeTask(deps.sql, { id, by: actorName(user), note: c.req.valid('json').note });
      if (!done) throw conflict('task-closed', 'the task was closed meanwhile');
      c.get('log').info({ taskId: id, kind: task.kind, journeyId: task.journeyId }, 'task completed');
      return c.json(done, 200);
    },
  );
  return r;
}
