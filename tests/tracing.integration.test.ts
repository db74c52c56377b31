// Traces on the real stack: with OTLP configured (here an in-process OTLP/HTTP receiver), one
// POST /v1/journeys is one trace: the API's route span, the Temporal client's UpdateWithStartWorkflow
// span under it, the workflow's RunWorkflow span under that, and the activities' StartActivity and
// RunActivity spans under the workflow, each linked to its parent. The request's X-Request-Id and
// its log line carry the trace id.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../workers/logger.js';
import { startTracing, type Tracing } from '../workers/telemetry.js';
import { PATIENT_JOURNEY_WORKFLOW } from '../workflows/definitions.js';
import { json, waitFor } from './support/http.js';
import { startStack, type Stack } from './support/stack.js';

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  service: string;
}

/** An OTLP/HTTP receiver: POST /v1/traces, JSON encoding (the exporter's), spans flattened. */
async function otlpReceiver(): Promise<{ url: string; spans: Span[]; paths: string[]; close(): Promise<void> }> {
  const spans: Span[] = [];
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => {
      paths.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
      const body = JSON.parse(raw) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: { stringValue?: string } }[] };
          scopeSpans: { spans: (Omit<Span, 'attributes' | 'service'> & { attributes: { key: string; value: Record<string, unknown> }[] })[] }[];
        }[];
      };
      for (const rs of body.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            const attributes = Object.fromEntries(s.attributes.map((a) => [a.key, Object.values(a.value)[0]]));
            spans.push({ traceId: s.traceId, spanId: s.spanId, ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}), name: s.name, kind: s.kind, attributes, service });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, spans, paths, close: () => new Promise((r) => server.close(() => r())) };
}

let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
let tracing: Tracing;
let stack: Stack;
const logs: Record<string, unknown>[] = [];
beforeAll(async () => {
  receiver = await otlpReceiver();
  tracing = startTracing({ otlpEndpoint: receiver.url }, 'carepath-test')!;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  stack = await startStack({ tracing, log: createLogger('info', sink) });
});
afterAll(async () => {
  await stack?.stop();
  await tracing?.shutdown();
  await receiver?.close();
});

it('follows POST /v1/journeys from the route through the workflow to its activities in one trace', async () => {
  const admin = await stack.token('admin', 'admin-1');
  const p = await json(await stack.call('POST', '/v1/patients', { token: admin, body: { name: '追踪患者', phone: '+8613800000081', birthDate: '1970-08-08', sex: 'F' } }), 201);
  const patient = await stack.token('patient', p.id);
  const res = await stack.call('POST', '/v1/journeys', { token: patient, body: { patientId: p.id, mode: 'offline', complaint: '咳嗽三天' } });
  const journey = await json(res, 201);
  const traceId = res.headers.get('x-request-id')!;
  expect(traceId).toMatch(/^[0-9a-f]{32}$/);
  // The workflow's span ends (and is exported) when the workflow does: cancelled, in a trace of its own.
  const cancelled = await stack.call('POST', `/v1/journeys/${journey.id}/cancel`, { token: patient, body: { reason: 'test' } });
  await json(cancelled, 200);
  const cancelTrace = cancelled.headers.get('x-request-id')!;
  expect(cancelTrace).not.toBe(traceId);

  const inTrace = (id: string) => receiver.spans.filter((s) => s.traceId === id);
  const trace = await waitFor(async () => {
    await tracing.spanProcessor.forceFlush();
    const spans = inTrace(traceId);
    return spans.some((s) => s.name.startsWith('RunActivity:')) && spans.some((s) => s.name === `RunWorkflow:${PATIENT_JOURNEY_WORKFLOW}`) ? spans : undefined;
  }, 20_000);
  expect(receiver.paths[0]).toBe('POST /v1/traces application/json');

  const names = trace.map((s) => s.name);
  const one = (name: string | RegExp) => {
    const found = trace.filter((s) => (typeof name === 'string' ? s.name === name : name.test(s.name)));
    expect(found, `one ${String(name)} among ${names.join(', ')}`).toHaveLength(1);
    return found[0]!;
  };
  const route = one('POST /v1/journeys');
  expect(route.kind).toBe(2); // SERVER
  expect(route.parentSpanId).toBeUndefined(); // the trace's root
  expect(route.attributes).toMatchObject({ 'http.route': '/v1/journeys', 'http.request.method': 'POST', 'http.response.status_code': 201 });
  expect(route.service).toBe('carepath-test');
  // The API starts the journey (a plain start; it writes the start's transition itself), and the
  // workflow runs under that start, after the answer.
  const start = one(`StartWorkflow:${PATIENT_JOURNEY_WORKFLOW}`);
  expect(start.parentSpanId).toBe(route.spanId);
  const run = one(`RunWorkflow:${PATIENT_JOURNEY_WORKFLOW}`);
  expect(run.parentSpanId).toBe(start.spanId);
  expect(trace.filter((s) => s.name.startsWith('HandleUpdate:'))).toEqual([]);
  // Every activity the workflow ran in this trace: StartActivity under the workflow, RunActivity under that.
  const ran = trace.filter((s) => s.name.startsWith('RunActivity:'));
  // The start and its triage (done by the API at the door) are one projection: patch journey-one-transaction.
  expect(ran.map((s) => s.name)).toEqual(['RunActivity:recordTransition']);
  for (const activity of ran) {
    const scheduled = trace.find((s) => s.spanId === activity.parentSpanId);
    expect(scheduled?.name).toBe(activity.name.replace('RunActivity:', 'StartActivity:'));
    expect(scheduled?.parentSpanId).toBe(run.spanId);
  }

  // The cancel: its route template, its update under it, handled in the workflow.
  const cancel = await waitFor(async () => {
    await tracing.spanProcessor.forceFlush();
    const spans = inTrace(cancelTrace);
    return spans.some((s) => s.name.startsWith('HandleUpdate:')) ? spans : undefined;
  });
  const cancelRoute = cancel.find((s) => s.name === 'POST /v1/journeys/:id/cancel')!;
  expect(cancelRoute.attributes['http.route']).toBe('/v1/journeys/:id/cancel');
  const update = cancel.find((s) => s.parentSpanId === cancelRoute.spanId)!;
  expect(update.name).toMatch(/^StartWorkflowUpdate:/);
  expect(cancel.find((s) => s.name.startsWith('HandleUpdate:'))?.parentSpanId).toBe(update.spanId);
  // No concrete path in a span's name or route: the journey id appears nowhere.
  expect(receiver.spans.filter((s) => s.name.includes(journey.id as string) || String(s.attributes['http.route'] ?? '').includes(journey.id as string))).toEqual([]);

  // The requests' log lines carry their trace ids as request ids.
  const line = (route: string) => logs.find((l) => l.msg === 'request' && l.route === route && l.method === 'POST');
  expect(line('/v1/journeys')?.requestId).toBe(traceId);
  expect(line('/v1/journeys/:id/cancel')?.requestId).toBe(cancelTrace);
});

it("continues a caller's W3C trace: the route span is the caller's span's child", async () => {
  const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const res = await stack.call('GET', '/healthz', { headers: { traceparent: `00-${callerTrace}-00f067aa0ba902b7-01` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('x-request-id')).toBe(callerTrace);
  const span = await waitFor(async () => {
    await tracing.spanProcessor.forceFlush();
    return receiver.spans.find((s) => s.traceId === callerTrace);
  });
  expect(span).toMatchObject({ name: 'GET /healthz', parentSpanId: '00f067aa0ba902b7' });
});
