// The audit of patient data: every request to a router that serves patient data appends exactly one
// event (activities/audit.ts), after its handler, whatever it answered: who (the token's user, the
// signing partner, or anonymous), what (method and route template), whose data (the patient), on
// what, allowed (2xx) or refused (anything else, or a 2xx hiding a refusal), with the status and the request id. The answer goes
// out only once its event is stored: when the event cannot be stored the answer is a 503, so no
// read of patient data goes unaudited. docs/architecture.md ("Audit log") says what each route records.
import type { Context, MiddlewareHandler } from 'hono';
import { routePath, matchedRoutes } from 'hono/route';
import { OWNED_KINDS, appendAuditEvent, type OwnedKind } from '../activities/audit.js';
import type { Sql } from '../activities/db.js';
import { bearerToken, verifyToken, type TokenKey, type User } from './auth.js';
import { ApiProblem, isDatabaseUnavailable, problemResponse } from './problems.js';
import { canNameSomething } from './schemas.js';
import type { AppEnv } from './types.js';

/** The routers that serve patient data, by mount path: each request to one is audited once. */
export const AUDITED_ROUTERS = [
  '/v1/patients',
  '/v1/journeys',
  '/v1/prescriptions',
  '/v1/exams',
  '/v1/referrals',
  '/v1/programs',
  '/v1/consultations',
  '/v1/mdt',
  '/v1/remote-consultations',
  '/v1/tasks',
  '/v1/board',
  '/v1/stream',
  '/v1/webhooks',
  '/v1/audit',
  '/v1/reconciliations',
  '/codec',
] as const;

/** What a handler says about its request, when the path does not say it all (api/audit.ts). */
export interface AuditSubject {
  /** The patient whose data the request reads or writes (a body's `patientId`, a created patient). */
  patientId?: string;
  /** A list: the patients it shows. */
  patientIds?: string[];
  /** A list: resources it shows (`task:<id>`, `exam:<id>`…) whose patients the audit looks up. */
  shows?: string[];
  /** `<kind>:<id>` when the path names no resource (a webhook's order, a journey just started). */
  resource?: string;
  /** The answer is a 2xx that hides a refusal (another patient's list answered empty): audited as refused. */
  refused?: boolean;
}

/** Names the request's patient, list or resource for its audit event (merged with what was named before). */
export function auditSubject(c: Context<AppEnv>, s: AuditSubject): void {
  c.set('audit', { ...c.get('audit'), ...s });
}

/** Path segments naming a collection, and the kind of the resource an `:id` after them names. */
const KIND_OF: Record<string, OwnedKind> = {
  patients: 'patient',
  journeys: 'journey',
  prescriptions: 'prescription',
  exams: 'exam',
  referrals: 'referral',
  programs: 'program',
  consultations: 'consultation',
  mdt: 'mdt',
  'remote-consultations': 'remote',
  tasks: 'task',
};

const isOwnedKind = (k: string): k is OwnedKind => (OWNED_KINDS as readonly string[]).includes(k);

/** `<kind>:<id>` as the kind and the id, when the kind is one whose patient can be looked up. */
function owned(resource: string): { kind: OwnedKind; id: string } | undefined {
  const at = resource.indexOf(':');
  const kind = resource.slice(0, at);
  const id = resource.slice(at + 1);
  return at > 0 && isOwnedKind(kind) && canNameSomething(id) ? { kind, id } : undefined;
}

function decoded(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * The route the request matched (its template, `:id` written `{id}` as the OpenAPI document does) and
 * the resource its path names: `<kind>:<id>` for a path id (none for an id that cannot name
 * anything), else the collection (`journeys`, `board`, `webhooks/payments`). No route matched (an
 * unknown path or method): the router's mount, and no resource.
 */
function routeOf(c: Context<AppEnv>, mount: string): { action: string; resource: string | null } {
  const route = matchedRoutes(c).findLast((r) => r.method !== 'ALL');
  if (!route) return { action: `${c.req.method} ${mount}`, resource: null };
  const template = route.path.split('/');
  const action = `${c.req.method} ${template.map((s) => (s.startsWith(':') ? `{${s.slice(1)}}` : s)).join('/')}`;
  const at = template.indexOf(':id');
  if (at < 1) return { action, resource: template.filter((s) => s && s !== 'v1').join('/') };
  const id = decoded(new URL(c.req.url).pathname.split('/')[at] ?? '');
  const kind = KIND_OF[template[at - 1]!] ?? template[at - 1]!;
  // An id that cannot name anything (NUL, over 200 characters) names no resource; PostgreSQL could not store a NUL either.
  return { action, resource: id !== undefined && canNameSomething(id) ? `${kind}:${id}` : null };
}

/**
 * Who asked: the user authentication found, or the partner whose signature held; a request refused
 * before either was checked (a 413) is the bearer token's user when the token is valid. Otherwise
 * anonymous (no token, or one that is invalid or expired).
 */
async function actorOf(c: Context<AppEnv>, key: TokenKey): Promise<{ actor: string | null; role: string }> {
  const partner = c.get('partner');
  if (partner) return { actor: partner, role: 'partner' };
  let user = c.get('user') as User | undefined;
  const token = user ? undefined : bearerToken(c);
  if (token) {
    const checked = await verifyToken(key, token);
    if (typeof checked !== 'string') user = checked;
  }
  // A signed token's `sub` is stored as it is, but for a NUL, which PostgreSQL text cannot hold.
  return user ? { actor: user.id.replaceAll('\u0000', '\ufffd'), role: user.role } : { actor: null, role: 'anonymous' };
}

/**
 * Appends the request's audit event once its handler has answered (mount it on each router of
 * AUDITED_ROUTERS, before the body limit, so that a 413 is audited too). CORS preflights (OPTIONS)
 * carry no credentials and read nothing: they are not audited.
 */
export function auditRequests(sql: Sql, key: TokenKey): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.method === 'OPTIONS') return next();
    const mount = routePath(c);
    await next();
    const named = c.get('audit') ?? {};
    const { action, resource: fromPath } = routeOf(c, mount);
    const resource = named.resource ?? fromPath;
    const owner = resource ? owned(resource) : undefined;
    const queried = c.req.query('patientId');
    const list = named.patientIds || named.shows ? { patientIds: named.patientIds ?? [], shows: (named.shows ?? []).map(owned).filter((o) => o !== undefined) } : undefined;
    const status = c.res.status;
    try {
      await appendAuditEvent(sql, {
        ...(await actorOf(c, key)),
        action,
        resource,
        ...(owner ? { owner } : {}),
        ...(named.patientId !== undefined ? { patientId: named.patientId } : {}),
        ...(queried !== undefined && canNameSomething(queried) ? { queriedPatientId: queried } : {}),
        ...(list ? { list } : {}),
        outcome: status >= 200 && status < 300 && !named.refused ? 'allowed' : 'refused',
        status,
        requestId: c.get('requestId'),
      });
    } catch (err) {
      const down = isDatabaseUnavailable(err);
      c.get('log').warn({ err, code: (err as { code?: string }).code, status }, 'audit event not stored');
      // A 5xx shows no patient data: it stays as it is (a database outage is already its 503).
      if (status >= 500) return;
      // No answer without its audit event: the handler's answer (a stream's too) is dropped, and
      // with it every header it set (a stream's Transfer-Encoding among them) but the request id.
      await c.res.body?.cancel().catch(() => undefined);
      c.res = undefined;
      const problem = problemResponse(
        c,
        down
          ? new ApiProblem(503, 'database-unavailable', 'Service unavailable', 'the database cannot be reached; try again shortly')
          : new ApiProblem(503, 'audit-unavailable', 'Service unavailable', 'the access could not be audited; try again shortly'),
      );
      c.res = new Response(problem.body, {
        status: 503,
        headers: { 'content-type': 'application/problem+json', 'retry-after': '2', 'x-request-id': c.get('requestId') },
      });
    }
  };
}
