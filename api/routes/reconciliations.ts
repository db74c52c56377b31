// Daily reconciliation (对账, issue 13), for finance staff (admins): the days reconciled and their
// results, a day's runs and mismatches, and a re-run of a day after a correction. In development the
// sandbox channels can be told what to get wrong in a day's statement.
import { createRoute, z } from '@hono/zod-openapi';
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { DEFAULT_HOSPITAL_TIMEZONE, SETTLEMENT_CHANNELS, getReconciliationDay, listReconciliationDays, localDate, reconciliationRunning, plantStatementFault } from '../../activities/reconciliation.js';
import { JOURNEY_TASK_QUEUE, RECONCILIATION_WORKFLOW, actorName, reconciliationWorkflowId, type ReconciliationInput } from '../../workflows/definitions.js';
import type { dailyReconciliation } from '../../workflows/reconciliation.js';
import { auditSubject } from '../audit.js';
import { authenticate, requireRole } from '../auth.js';
import { idempotent } from '../idempotency.js';
import { bearer, jsonBody, jsonResponse, newRouter, problems } from '../openapi.js';
import { Day, IdempotencyHeaders } from '../schemas.js';
import { ApiProblem, conflict, notFound, unprocessable } from '../problems.js';
import type { ApiDeps } from '../types.js';

const Amount = z.number().int().min(0).max(100_000_000);
const Side = z.object({ amount: Amount, at: z.string() });
const Counts = z.object({ ours: z.number().int(), theirs: z.number().int(), matched: z.number().int(), mismatched: z.number().int() });
const Run = z
  .object({
    id: z.string(),
    trigger: z.enum(['schedule', 'admin']),
    status: z.enum(['running', 'done']),
    requestedBy: z.string().optional(),
    startedAt: z.string(),
    finishedAt: z.string().optional(),
    channels: z.record(z.string(), Counts).openapi({ description: 'Per channel: lines on each side, matched and mismatched' }),
  })
  .openapi('ReconciliationRun');
const Mismatch = z
  .object({
    taskId: z.string().openapi({ description: 'Its `finance-exception` task (GET /v1/tasks; closed with POST /v1/tasks/{id}/complete)' }),
    taskStatus: z.enum(['open', 'done', 'cancelled']),
    channel: z.string(),
    kind: z.enum(['payment', 'refund']),
    orderId: z.string(),
    type: z.enum(['missing-in-statement', 'missing-in-carepath', 'amount-differs', 'duplicate', 'refund-not-settled']),
    ours: Side.nullable().openapi({ description: "CarePath's line (none: missing in CarePath)" }),
    theirs: z.array(Side).openapi({ description: "The statement's lines for the same order and kind" }),
  })
  .openapi('ReconciliationMismatch');
const DayView = z
  .object({
    date: Day,
    status: z.enum(['running', 'open', 'closed']).openapi({ description: '`closed`: the result has no open exception' }),
    result: Run.extend({ mismatches: z.array(Mismatch) }).optional().openapi({ description: "The day's latest finished run" }),
    runs: z.array(Run).openapi({ description: 'Every run of the day, newest first; a re-run replaces the result and keeps the runs before' }),
  })
  .openapi('ReconciliationDay');
const DaySummary = z
  .object({
    date: Day,
    status: z.enum(['running', 'open', 'closed']),
    result: Run.optional(),
    openExceptions: z.number().int(),
    exceptions: z.number().int(),
  })
  .openapi('ReconciliationDaySummary');
const Fault = z
  .strictObject({
    channel: z.enum(SETTLEMENT_CHANNELS),
    date: Day,
    kind: z.enum(['payment', 'refund']),
    orderId: z.string().min(1).max(200),
    fault: z.enum(['drop', 'duplicate', 'alter', 'add']),
    amount: Amount.optional().openapi({ description: '`alter`: the amount the line shows; `add`: the line\'s amount' }),
  })
  .refine((f) => (f.fault === 'alter' || f.fault === 'add' ? f.amount !== undefined : f.amount === undefined), { message: 'amount goes with alter and add only', path: ['amount'] })
  .openapi('SandboxStatementFault');


export function reconciliationRoutes(deps: ApiDeps) {
  const r = newRouter();
  const timezone = deps.hospitalTimezone ?? DEFAULT_HOSPITAL_TIMEZONE;
  const engine = <R>(fn: () => Promise<R>): Promise<R> => deps.temporal.withDeadline(Date.now() + (deps.engineTimeoutMs ?? 30_000), fn);
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/:date/runs', idempotent(deps.sql, deps.engineTimeoutMs));
  const finance = requireRole('admin');
  /** The orders a view shows: the audit looks up their patients. */
  const showsOrders = (orderIds: string[]) => ({ shows: [...new Set(orderIds)].map((id) => `order:${id}`) });

  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['reconciliation'],
      summary: 'The days reconciled between from and to (admin: finance), newest first',
      security: bearer,
      middleware: [finance] as const,
      request: { query: z.object({ from: Day, to: Day }) },
      responses: { 200: jsonResponse(z.object({ items: z.array(DaySummary) }), 'Days with a run'), ...problems(400, 401, 403) },
    }),
    async (c) => {
      const { from, to } = c.req.valid('query');
      if (from > to) throw unprocessable('invalid-range', 'from is after to');
      if (Date.parse(to) - Date.parse(from) > 366 * 86_400_000) throw unprocessable('invalid-range', 'at most a year at a time');
      return c.json({ items: await listReconciliationDays(deps.sql, { from, to }) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/{date}',
      tags: ['reconciliation'],
      summary: "A day's result, its mismatches (each with its finance-exception task) and every run",
      security: bearer,
      middleware: [finance] as const,
      request: { params: z.object({ date: Day.openapi({ param: { name: 'date', in: 'path' } }) }) },
      responses: { 200: jsonResponse(DayView, 'The day'), ...problems(400, 401, 403, 404) },
    }),
    async (c) => {
      const { date } = c.req.valid('param');
      const day = await getReconciliationDay(deps.sql, date);
      if (!day) throw notFound('reconciliation');
      auditSubject(c, showsOrders(day.result?.mismatches.map((m) => m.orderId) ?? []));
      return c.json(day, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{date}/runs',
      tags: ['reconciliation'],
      summary: 'Reconcile a day again (after a correction): answers the day once the run is done',
      description:
        'The run fetches every channel\'s statement again and becomes the day\'s result; the runs before are kept. A mismatch found again keeps its task; ' +
        'a task whose mismatch is no longer found is cancelled. Only a day that has ended (in the hospital\'s time zone): else 422 `day-not-over`. One run of a day at a time: 409 `run-in-progress`.',
      security: bearer,
      middleware: [finance] as const,
      request: { headers: IdempotencyHeaders, params: z.object({ date: Day.openapi({ param: { name: 'date', in: 'path' } }) }) },
      responses: { 201: jsonResponse(DayView, 'The day, with this run as its result'), ...problems(400, 401, 403, 409, 422, 503) },
    }),
    async (c) => {
      const { date } = c.req.valid('param');
      if (date >= localDate(new Date(), timezone)) throw unprocessable('day-not-over', `${date} has not ended yet in ${timezone}`);
      // Production has no settlement statement adapter yet: the sandbox's would find every day clean.
      if (deps.sandboxStatements === false) throw new ApiProblem(503, 'no-statement-adapter', 'Service unavailable', 'no settlement statement adapter is configured');
      // One run of a day at a time, whoever started the other (the Schedule's catch-up included).
      if (await reconciliationRunning(deps.sql, date)) throw conflict('run-in-progress', `a run of ${date} is in progress`);
      const user = c.get('user');
      const runId = `reconciliation:${date}:${randomUUID()}`;
      const input: ReconciliationInput = { trigger: 'admin', day: date, requestedBy: actorName(user), runId };
      try {
        await engine(async () => {
          const handle = await deps.temporal.workflow.start<typeof dailyReconciliation>(RECONCILIATION_WORKFLOW, {
            taskQueue: JOURNEY_TASK_QUEUE,
            workflowId: reconciliationWorkflowId(date),
            args: [input],
            workflowIdConflictPolicy: 'FAIL',
          });
          await handle.result();
        });
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) throw conflict('run-in-progress', `a run of ${date} is in progress`);
        throw err;
      }
      c.get('log').info({ runId, date }, 'reconciliation re-run');
      const day = (await getReconciliationDay(deps.sql, date))!;
      auditSubject(c, showsOrders(day.result?.mismatches.map((m) => m.orderId) ?? []));
      return c.json(day, 201);
    },
  );
  return r;
}

/** The sandbox channels, told what to get wrong in a day's statement (development and tests; absent in production). */
export function sandboxStatementRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/', idempotent(deps.sql, deps.engineTimeoutMs));
  r.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['reconciliation'],
      summary: "Tell a sandbox channel to get a line of a day's statement wrong (admin; development only)",
      description:
        '`drop` leaves the order\'s line out, `duplicate` repeats it, `alter` shows it with `amount`, `add` adds a line CarePath has not. Applied in the order planted, each time the statement is fetched.',
      security: bearer,
      middleware: [requireRole('admin')] as const,
      request: { headers: IdempotencyHeaders, body: jsonBody(Fault) },
      responses: { 201: jsonResponse(z.object({ id: z.string() }), 'Planted'), ...problems(400, 401, 403, 413) },
    }),
    async (c) => {
      const f = c.req.valid('json');
      const planted = await plantStatementFault(deps.sql, { channel: f.channel, day: f.date, kind: f.kind, orderId: f.orderId, fault: f.fault, ...(f.amount !== undefined ? { amount: f.amount } : {}) });
      return c.json(planted, 201);
    },
  );
  return r;
}
