// The HTTP layer's Prometheus metrics: a request counter and a latency histogram labelled by method,
// route template (`/v1/journeys/:id`, never the concrete path) and status, beside the process's own
// Node metrics, served as GET /metrics in Prometheus' text format. The Temporal SDK's runtime metrics
// are served by each worker on a port of its own (workers/wiring.ts installRuntime).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { bearerToken, unauthorized } from './auth.js';
import { problemResponse } from './problems.js';
import type { AppEnv } from './types.js';

/** Seconds; up to the engine's 30 s deadline. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

// The process's metrics (CPU, memory, event loop lag, GC): one set per process, however many apps it serves.
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export interface HttpMetrics {
  /** Counts and times every request; put it first, so that every answer (a 404 or a 413 too) is counted. */
  middleware: MiddlewareHandler<AppEnv>;
  /** GET /metrics: the Prometheus text format; with `token`, only for `Authorization: Bearer <token>`. */
  handler(token?: string): (c: Context<AppEnv>) => Promise<Response>;
}

/** One app's HTTP metrics, in a registry of their own (several apps in one process count apart). */
export function httpMetrics(): HttpMetrics {
  const registry = new Registry();
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by method, route template and status', labelNames, registers: [registry] });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer an HTTP request (until its headers), by method, route template and status',
    labelNames,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  return {
    async middleware(c, next) {
      const stop = duration.startTimer();
      await next();
      // The template of the last route the request matched (the route even when a middleware answered, a
      // 401 say); `/*` when no route did, so unknown paths cannot grow the label set.
      const labels = { method: c.req.method, route: routePath(c, -1), status: String(c.res.status) };
      stop(labels);
      requests.inc(labels);
    },
    handler(token) {
      const expected = token === undefined ? undefined : digest(token);
      return async (c) => {
        if (expected) {
          const given = bearerToken(c);
          if (!given || !timingSafeEqual(digest(given), expected)) {
            c.header('WWW-Authenticate', 'Bearer');
            return problemResponse(c, unauthorized('the metrics token is required'));
          }
        }
        const merged = Registry.merge([processMetrics(), registry]);
        return c.body(await merged.metrics(), 200, { 'content-type': merged.contentType, 'cache-control': 'no-store' });
      };
    },
  };
}

// Compared as digests: equal lengths whatever the caller sends.
const digest = (s: string) => createHash('sha256').update(s).digest();
