// The HTTP API: createApi(deps) builds the Hono app. One router per resource, zod at the edge,
// one error mapper, problem+json everywhere, request ids and pino logs that carry ids only.
import { paymentRoutes, sandboxInsuranceRoutes } from './routes/payments.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { AUDITED_ROUTERS, auditRequests } from './audit.js';
import { httpMetrics } from './metrics.js';
import { documentCommonProblems, documentOperations, unknownRoute } from './openapi.js';
import { codecRoutes } from './codec.js';
import { ApiProblem, errorHandler, problemResponse } from './problems.js';
import { auditRoutes } from './routes/audit.js';
import { boardRoutes } from './routes/board.js';
import { drugRoutes, examCatalogueRoutes, facilityRoutes } from './routes/catalogue.js';
import { examRoutes } from './routes/exams.js';
import { journeyRoutes } from './routes/journeys.js';
import { clinicianRoutes, pathwayRoutes, slotRoutes } from './routes/reference.js';
import { patientRoutes } from './routes/patients.js';
import { prescriptionRoutes } from './routes/prescriptions.js';
import { programRoutes, programTemplateRoutes } from './routes/programs.js';
import { consultationRoutes, consultationTemplateRoutes } from './routes/consultations.js';
import { mdtRoutes } from './routes/mdt.js';
import { institutionRoutes, remoteRoutes } from './routes/remote.js';
import { referralRoutes } from './routes/referrals.js';
import { taskRoutes } from './routes/tasks.js';
import { webhookRoutes } from './routes/webhooks.js';
import { ChangeFeed, streamRoutes } from './stream.js';
import { traceRequests } from './tracing.js';
import { reconciliationRoutes, sandboxStatementRoutes } from './routes/reconciliations.js';
import { guideRoutes, informationChangeRoutes, priceRoutes } from './routes/information.js';
import { createWeb } from '../web/index.js';
import type { ApiDeps, AppEnv } from './types.js';

export type { ApiDeps } from './types.js';

const MAX_BODY = 64 * 1024;

export function createApi(deps: ApiDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  const metrics = httpMetrics();
  app.use(metrics.middleware);
  // With tracing, the request id is the request's trace id (api/tracing.ts).
  app.use(deps.tracer ? traceRequests(deps.tracer) : requestId({ headerName: 'X-Request-Id' }));
  app.use(async (c, next) => {
    const started = performance.now();
    const log = deps.log.child({ requestId: c.get('requestId') });
    c.set('log', log);
    await next();
    // Route patterns, not paths, so logs carry ids only where a handler adds them deliberately.
    log.info({ method: c.req.method, route: c.req.routePath, status: c.res.status, ms: Math.round(performance.now() - started) }, 'request');
  });
  // Every request to a router that serves patient data appends one audit event (api/audit.ts);
  // mounted before the body limit, so that a refused oversized body is audited too.
  const audit = auditRequests(deps.sql, deps.secrets.jwt);
  for (const router of AUDITED_ROUTERS) app.use(`${router}/*`, audit);
  app.use(
    bodyLimit({
      maxSize: MAX_BODY,
      onError: (c) => problemResponse(c, new ApiProblem(413, 'too-large', 'Payload too large', `the body is over ${MAX_BODY} bytes`)),
    }),
  );
  app.onError(errorHandler(deps.log));
  // 404, or 405 with Allow when the path is served with other methods.
  app.notFound(unknownRoute(app));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  // Like /healthz, for the operators' network: open unless METRICS_TOKEN is set (api/metrics.ts).
  app.get('/metrics', metrics.handler(deps.metricsToken));
  app.get('/readyz', async (c) => {
    const checks = await deps.ready();
    const ok = checks.temporal && checks.postgres;
    return c.json({ status: ok ? 'ready' : 'not-ready', checks }, ok ? 200 : 503);
  });

  app.route('/v1/clinicians', clinicianRoutes(deps));
  app.route('/v1/patients', patientRoutes(deps));
  app.route('/v1/slots', slotRoutes(deps));
  app.route('/v1/pathways', pathwayRoutes(deps));
  app.route('/v1/journeys', journeyRoutes(deps));
  app.route('/v1/prescriptions', prescriptionRoutes(deps));
  app.route('/v1/tasks', taskRoutes(deps));
  app.route('/v1/webhooks', webhookRoutes(deps));
  app.route('/v1/drugs', drugRoutes(deps));
  app.route('/v1/exam-catalogue', examCatalogueRoutes(deps));
  app.route('/v1/facilities', facilityRoutes(deps));
  app.route('/v1/exams', examRoutes(deps));
  app.route('/v1/referrals', referralRoutes(deps));
  app.route('/v1/program-templates', programTemplateRoutes(deps));
  app.route('/v1/programs', programRoutes(deps));
  app.route('/v1/consultation-templates', consultationTemplateRoutes(deps));
  app.route('/v1/consultations', consultationRoutes(deps));
  app.route('/v1/mdt', mdtRoutes(deps));
  app.route('/v1/institutions', institutionRoutes(deps));
  app.route('/v1/remote-consultations', remoteRoutes(deps));
  app.route('/v1/board', boardRoutes(deps));
  app.route('/v1/audit', auditRoutes(deps));
  app.route('/v1/reconciliations', reconciliationRoutes(deps));
  app.route('/v1/prices', priceRoutes(deps));
  app.route('/v1/guide', guideRoutes(deps));
  app.route('/v1/information-changes', informationChangeRoutes(deps));
  app.route('/v1/payments', paymentRoutes(deps));
  if (deps.sandboxStatements !== false) app.route('/v1/sandbox/statement-faults', sandboxStatementRoutes(deps));
  if (deps.insurance && deps.sandboxStatements !== false) app.route('/v1/sandbox/insurance-rules', sandboxInsuranceRoutes(deps));
  if (deps.codecServer) app.route('/codec', codecRoutes(deps.secrets.jwt, deps.codecServer));
  app.route('/v1/stream', streamRoutes(deps, new ChangeFeed(deps.sql, deps.log)));

  // The dashboard, on this same API in this same process (web/index.ts).
  app.route('/app', createWeb({ api: (req) => app.fetch(req), jwtSecret: deps.secrets.jwt, ...deps.web }));
  app.get('/', (c) => c.redirect('/app'));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'HS256 JWT with `sub` and `role`. In production a token must carry `exp`, at most AUTH_TOKEN_MAX_TTL seconds (default 12 h) after its `iat`; otherwise 401.',
  });
  documentOperations(app.openAPIRegistry);
  documentCommonProblems(app.openAPIRegistry);
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'CarePath API',
      version: '1',
      description:
        'Care-pathway engine for internet hospitals. Errors are application/problem+json (RFC 9457). ' +
        'The POSTs that create something take an `Idempotency-Key` header: a retry with the same key and body gets the first answer. ' +
        'Notifications to the messaging gateway (`webhooks.notification`) are delivered at least once: a redelivery carries the same `id` and `Idempotency-Key`. ' +
        'Every request to a route that serves patient data (patients, journeys, prescriptions, exams, referrals, programs, tasks, the board, the stream, the webhooks, the audit log and the codec server) ' +
        'appends one event to an append-only audit log before it is answered, refused requests too (GET /v1/audit; a patient reads theirs at GET /v1/patients/{id}/access-log); ' +
        'an answer whose event cannot be stored is a 503 instead.',
    },
  });
  const swaggerDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const asset = (name: string) => readFileSync(join(swaggerDir, name));
  const assets: Record<string, { body: Buffer; type: string }> = {
    'swagger-ui.css': { body: asset('swagger-ui.css'), type: 'text/css' },
    'swagger-ui-bundle.js': { body: asset('swagger-ui-bundle.js'), type: 'text/javascript' },
  };
  app.get('/docs', (c) => c.html(DOCS_PAGE));
  app.get('/docs/:asset', (c) => {
    const a = assets[c.req.param('asset')];
    if (!a) return problemResponse(c, new ApiProblem(404, 'not-found', 'Not found', 'no such asset'));
    return c.body(new Uint8Array(a.body), 200, { 'content-type': a.type, 'cache-control': 'public, max-age=3600' });
  });
  return app;
}

// Served from the installed swagger-ui-dist, so the docs work without internet.
const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CarePath API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="ui"></div><script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#ui' });</script></body></html>`;
