// Exams: read one with its own timeline, record its result (a coordinator, for the lab), or cancel
// it (the patient before its time, or a coordinator). Reads come from the read model; actions are
// updates on the exam's workflow, which refuses what its state does not allow.
import { createRoute } from '@hono/zod-openapi';
import { getItem, type ItemView } from '../../activities/items.js';
import { actorName, cancelExamUpdate, examResultUpdate, examWorkflowId, type ExamSnapshot } from '../../workflows/definitions.js';
import { authenticate, ownerMaySee, requireRole, type User } from '../auth.js';
import { bearer, jsonBody, jsonResponse, newRouter, opaqueIds, problems } from '../openapi.js';
import { isWorkflowClosed, itemClosed, notFound } from '../problems.js';
import * as s from '../schemas.js';
import type { ApiDeps } from '../types.js';

/** Its patient, the doctor who ordered it, coordinators and admins; anyone else is told it does not exist. */
const maySee = (user: User, e: ExamSnapshot): boolean => ownerMaySee(user, e);

export function examRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/:id', opaqueIds('exam'));
  r.use('/:id/*', opaqueIds('exam'));
  const wf = (id: string) => deps.temporal.workflow.getHandle(examWorkflowId(id));
  /** An update on the exam's workflow under the engine deadline (503 past it); one that has ended is 409. */
  const engine = <R>(fn: () => Promise<R>): Promise<R> =>
    deps.temporal.withDeadline(Date.now() + (deps.engineTimeoutMs ?? 30_000), fn).catch((err: unknown) => {
      throw isWorkflowClosed(err) ? itemClosed('exam') : err;
    });

  /** The exam if the caller may see it; 404 otherwise (never revealing that it exists). */
  async function visible(user: User, id: string): Promise<ItemView<ExamSnapshot>> {
    const exam = await getItem<ExamSnapshot>(deps.sql, 'exam', id);
    if (!exam || !maySee(user, exam)) throw notFound('exam');
    return exam;
  }

  async function read(id: string): Promise<ItemView<ExamSnapshot>> {
    const exam = await getItem<ExamSnapshot>(deps.sql, 'exam', id);
    if (!exam) throw notFound('exam');
    return exam;
  }

  const answer = (description: string) => jsonResponse(s.Exam, description);

  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['exams'],
      summary: 'One exam with its own timeline (its patient, the ordering doctor, coordinators, admins)',
      security: bearer,
      request: { params: s.IdParam },
      responses: { 200: answer('The exam'), ...problems(401, 404) },
    }),
    async (c) => c.json(await visible(c.get('user'), c.req.valid('param').id), 200),
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/result',
      tags: ['exams'],
      summary: "Record a scheduled exam's result for the lab (coordinators, admins); the lab's own system uses POST /v1/webhooks/lab",
      description: 'The exam is completed and the patient told (report.ready); an abnormal result opens a task for the ordering doctor. An exam that is not scheduled (unpaid, completed, cancelled) is 409.',
      security: bearer,
      middleware: [requireRole('coordinator', 'admin')] as const,
      request: { params: s.IdParam, body: jsonBody(s.ExamResultInput) },
      responses: { 200: answer('Completed'), ...problems(400, 401, 403, 404, 409, 413, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const exam = await visible(user, id);
      const body = c.req.valid('json');
      await engine(() => wf(id).executeUpdate(examResultUpdate, { args: [{ summary: body.summary, abnormal: body.abnormal, actor: actorName(user) }] }));
      c.get('log').info({ examId: id, journeyId: exam.journeyId }, 'exam result recorded');
      return c.json(await read(id), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/cancel',
      tags: ['exams'],
      summary: 'Cancel an exam (its patient before the exam time, or a coordinator); a paid fee is refunded',
      description: 'An exam that is completed, expired or cancelled already is 409; so is a patient cancelling after the exam time.',
      security: bearer,
      middleware: [requireRole('patient', 'coordinator', 'admin')] as const,
      request: { params: s.IdParam, body: jsonBody(s.CancelInput) },
      responses: { 200: answer('Cancelled'), ...problems(400, 401, 403, 404, 409, 413, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const user = c.get('user');
      const exam = await visible(user, id);
      await engine(() => wf(id).executeUpdate(cancelExamUpdate, { args: [{ reason: c.req.valid('json').reason, actor: { role: user.role, id: user.id } }] }));
      c.get('log').info({ examId: id, journeyId: exam.journeyId }, 'exam cancelled');
      return c.json(await read(id), 200);
    },
  );
  return r;
}
