// One OpenTelemetry server span per request, named by its route template (`POST /v1/journeys`), and
// active while the request is handled: the Temporal client's interceptor (workers/telemetry.ts)
// starts its StartWorkflow and update spans under it and carries the context into the workflow and
// its activities. The request id (X-Request-Id, and every log line of the request) is the trace id.
// A caller's W3C `traceparent` continues the caller's trace.
import { SpanKind, SpanStatusCode, context, propagation, trace, type Tracer } from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { AppEnv } from './types.js';

export function traceRequests(tracer: Tracer): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const parent = propagation.extract(context.active(), Object.fromEntries(c.req.raw.headers));
    // Named by the method until a route matched; then by the route's template, never the concrete path.
    const span = tracer.startSpan(c.req.method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': c.req.method } }, parent);
    const traceId = span.spanContext().traceId;
    c.set('requestId', traceId);
    c.header('X-Request-Id', traceId);
    try {
      await context.with(trace.setSpan(parent, span), next);
    } finally {
      const route = routePath(c, -1); // as in api/metrics.ts
      span.updateName(`${c.req.method} ${route}`);
      span.setAttributes({ 'http.route': route, 'http.response.status_code': c.res.status });
      if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
  };
}
