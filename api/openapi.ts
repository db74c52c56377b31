// Router factory and helpers for declaring routes once: the same declaration validates the request
// and documents it in /openapi.json.
import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { canNameSomething, Health, Notification, Problem, Readiness } from './schemas.js';
import { ApiProblem, notFound, problemResponse, validationProblem } from './problems.js';
import type { AppEnv } from './types.js';

export function newRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) return problemResponse(c, validationProblem(result.error, result.target));
    },
  });
}

export const jsonBody = <T extends z.ZodType>(schema: T, description = 'JSON body') => ({
  required: true,
  content: { 'application/json': { schema } },
  description,
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});

const PROBLEM_TEXT: Record<number, string> = {
  400: 'Invalid request (problem+json with errors)',
  401: 'Missing, invalid or expired token, or bad signature',
  403: 'The caller may not do this',
  404: 'Not found (or not visible to the caller)',
  409: 'The current state refuses the request',
  413: 'Body over 64 KiB',
  415: 'The body is not JSON (Content-Type)',
  422: 'A business rule refuses the request',
  503: 'The database or the journey engine cannot be reached, or did not answer in time, or the request could not be audited (`audit-unavailable`); retry (after `Retry-After` seconds when given)',
};

/** problem+json responses for the given statuses. */
export function problems(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((s) => [s, { content: { 'application/problem+json': { schema: Problem } }, description: PROBLEM_TEXT[s] ?? 'Problem' }]),
  );
}

export const bearer = [{ bearerAuth: [] }];

/** An `:id` that cannot name anything (too long, NUL) is a 404 like any other unknown id. */
export function opaqueIds(what: string): MiddlewareHandler {
  return async (c, next) => {
    const id = c.req.param('id');
    if (id !== undefined && !canNameSomething(id)) return problemResponse(c, notFound(what));
    await next();
  };
}

// ---- what every operation answers besides its own ------------------------------------------------

type Registry = OpenAPIHono<AppEnv>['openAPIRegistry'];
type RouteDefinition = Extract<Registry['definitions'][number], { type: 'route' }>;

/** The statuses a route can answer whatever its handler does, from how it is declared and mounted. */
function commonStatuses(route: RouteDefinition['route']): number[] {
  const statuses: number[] = [];
  const req = route.request;
  // Every /v1 route takes a bearer token or a partner's signature, and reads or writes PostgreSQL.
  if (route.path.startsWith('/v1/')) statuses.push(401, 503);
  if (req?.body) statuses.push(400, 413, 415);
  if (req?.query || req?.headers) statuses.push(400);
  if (route.path.includes('{')) statuses.push(404);
  const headers = req?.headers;
  if (headers && !Array.isArray(headers) && 'shape' in headers && Object.hasOwn(headers.shape as object, 'idempotency-key')) statuses.push(400, 409, 422);
  return statuses;
}

/**
 * Adds to every documented route the problem answers it can give besides its own, so that the
 * document lists every status the API really answers: 401 and 503 under /v1 (a token or signature;
 * the database or the engine out of reach), 400, 413 and 415 with a body, 400 with parameters, 404 with a
 * path id, and 409 and 422 with `Idempotency-Key`. Call it once every router is mounted.
 */
export function documentCommonProblems(registry: Registry): void {
  for (const def of registry.definitions) {
    if (def.type !== 'route') continue;
    const missing = commonStatuses(def.route).filter((s) => !(String(s) in def.route.responses));
    if (missing.length > 0) def.route = { ...def.route, responses: { ...def.route.responses, ...problems(...new Set(missing)) } };
  }
}

/**
 * Answers a request no route took: 405 with `Allow` when the path is a route's with another method
 * (HEAD goes with GET), else 404. Hono's own `routes` list is read at the first such request, when
 * every router is mounted.
 */
export function unknownRoute(app: { routes: { method: string; path: string }[] }) {
  const patterns = new Map<string, { re: RegExp; methods: Set<string> }>();
  const methodsFor = (path: string): Set<string> => {
    if (patterns.size === 0) {
      for (const r of app.routes) {
        if (r.method === 'ALL' || r.path.includes('*')) continue;
        const entry = patterns.get(r.path) ?? { re: new RegExp(`^${r.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+')}/?$`), methods: new Set() };
        entry.methods.add(r.method);
        if (r.method === 'GET') entry.methods.add('HEAD');
        patterns.set(r.path, entry);
      }
    }
    const allowed = new Set<string>();
    for (const { re, methods } of patterns.values()) if (re.test(path)) methods.forEach((m) => allowed.add(m));
    return allowed;
  };
  return (c: Context): Response => {
    const path = new URL(c.req.url).pathname;
    const allowed = methodsFor(path);
    if (allowed.size > 0 && !allowed.has(c.req.method)) {
      c.header('Allow', [...allowed].sort().join(', '));
      return problemResponse(c, new ApiProblem(405, 'method-not-allowed', 'Method not allowed', `${c.req.method} is not allowed on ${path}`));
    }
    return problemResponse(c, new ApiProblem(404, 'not-found', 'Not found', `no route ${c.req.method} ${path}`));
  };
}

// ---- the routes declared outside the routers, and the notifications CarePath sends -----------------

/**
 * Documents GET /healthz, /readyz and /metrics (declared in api/index.ts with plain handlers) and the
 * notification webhook CarePath POSTs to the messaging gateway (an OpenAPI 3.1 `webhooks` entry).
 */
export function documentOperations(registry: Registry): void {
  const tags = ['operations'];
  registry.registerPath({
    method: 'get',
    path: '/healthz',
    tags,
    summary: 'The process is up (no dependency is checked)',
    responses: { 200: jsonResponse(Health, 'Up') },
  });
  registry.registerPath({
    method: 'get',
    path: '/readyz',
    tags,
    summary: 'Temporal and PostgreSQL are reachable (each check has a deadline of its own)',
    responses: { 200: jsonResponse(Readiness, 'Ready'), 503: jsonResponse(Readiness, 'Not ready: a check failed or did not answer in time') },
  });
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    tags,
    summary: "The API's Prometheus metrics: HTTP requests and latency by route template and status, and the process's own",
    description: 'Open like /healthz unless METRICS_TOKEN is set; then it takes `Authorization: Bearer <METRICS_TOKEN>`. Each worker serves its Temporal SDK metrics on a port of its own.',
    security: [{}, ...bearer],
    responses: {
      200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } },
      ...problems(401),
    },
  });
  registry.registerWebhook({
    method: 'post',
    path: 'notification',
    tags: ['notifications'],
    summary: 'A notification to a patient, POSTed to NOTIFY_WEBHOOK_URL (the messaging gateway)',
    description:
      'Every notification is stored in the patient\'s inbox once, and, when NOTIFY_WEBHOOK_URL is set, delivered to the gateway **at least once**: ' +
      'a delivery that fails (no 2xx, or no answer) is retried with backoff until the gateway takes it. ' +
      'If a worker dies while the gateway is answering, or after it answered but before the delivery was recorded, the same notification is delivered again within seconds, ' +
      'with the same `id` and the same `Idempotency-Key`: the gateway deduplicates on that key.',
    request: {
      headers: z.object({
        'x-signature': z.string().regex(/^sha256=[0-9a-f]{64}$/).openapi({ description: 'sha256=<hex HMAC-SHA256 of the raw body, keyed by NOTIFY_WEBHOOK_SECRET>' }),
        'idempotency-key': z.string().openapi({ description: "The notification's `id`: the same on every delivery of it" }),
      }),
      body: jsonBody(Notification, 'The notification'),
    },
    responses: {
      200: { description: 'Taken (any 2xx): never delivered again unless a worker dies before recording it' },
      default: { description: 'Anything else, or no answer within 10 s: delivered again later, with the same id and Idempotency-Key' },
    },
  });
}
