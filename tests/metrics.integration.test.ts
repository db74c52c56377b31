// Metrics on the real stack: the API's GET /metrics (behind its token here) counts requests by
// method, route template and status, exactly, with latency histograms; the worker's own port serves
// the Temporal runtime's metrics once a journey has run. Both are scraped and parsed here.
import { temporalMetricsUrl } from './support/runtime-metrics.js'; // first: it installs the Temporal runtime
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DURATION_BUCKETS } from '../api/metrics.js';
import { JOURNEY_TASK_QUEUE, PATIENT_JOURNEY_WORKFLOW } from '../workflows/definitions.js';
import { json, waitFor } from './support/http.js';
import { startStack, type Stack } from './support/stack.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus' text format: `name{label="value",...} number` lines; comments (# HELP, # TYPE) skipped. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, ch: string) => (ch === 'n' ? '\n' : ch));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

const TOKEN = 'metrics-test-token';
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ metricsToken: TOKEN });
});
afterAll(async () => {
  await stack?.stop();
});

async function scrape(): Promise<Sample[]> {
  const res = await stack.call('GET', '/metrics', { token: TOKEN });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parse(await res.text());
}
const value = (samples: Sample[], name: string, labels: Record<string, string>) =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length)?.value;

describe('GET /metrics', () => {
  it('answers 401 without its token, or with another', async () => {
    expect((await stack.call('GET', '/metrics')).status).toBe(401);
    expect((await stack.call('GET', '/metrics', { token: 'wrong' })).status).toBe(401);
  });

  it('counts requests by method, route template and status, with latency histograms', async () => {
    const admin = await stack.token('admin', 'admin-1');
    for (let i = 0; i < 3; i++) expect((await stack.call('GET', '/healthz')).status).toBe(200);
    // Two journeys that do not exist, under one template, and one without a token.
    for (const id of ['j-missing-1', 'j-missing-2']) expect((await stack.call('GET', `/v1/journeys/${id}`, { token: admin })).status).toBe(404);
    expect((await stack.call('GET', '/v1/journeys/j-missing-3')).status).toBe(401);
    expect((await stack.call('GET', '/no/such/path/123')).status).toBe(404);

    const samples = await scrape();
    expect(value(samples, 'http_requests_total', { method: 'GET', route: '/healthz', status: '200' })).toBe(3);
    expect(value(samples, 'http_requests_total', { method: 'GET', route: '/v1/journeys/:id', status: '404' })).toBe(2);
    expect(value(samples, 'http_requests_total', { method: 'GET', route: '/v1/journeys/:id', status: '401' })).toBe(1);
    expect(value(samples, 'http_requests_total', { method: 'GET', route: '/*', status: '404' })).toBe(1);
    // The earlier test's two refused scrapes; this scrape is counted once it has answered.
    expect(value(samples, 'http_requests_total', { method: 'GET', route: '/metrics', status: '401' })).toBe(2);
    // No concrete path ever becomes a label.
    expect(samples.filter((s) => s.labels.route?.includes('missing') || s.labels.route?.includes('such'))).toEqual([]);

    const healthz = { method: 'GET', route: '/healthz', status: '200' };
    expect(value(samples, 'http_request_duration_seconds_count', healthz)).toBe(3);
    const buckets = samples.filter((s) => s.name === 'http_request_duration_seconds_bucket' && s.labels.route === '/healthz');
    expect(buckets.map((b) => b.labels.le)).toEqual([...DURATION_BUCKETS.map(String), '+Inf']);
    // Cumulative: never decreasing, all three in +Inf.
    expect(buckets.map((b) => b.value)).toEqual([...buckets.map((b) => b.value)].sort((a, b) => a - b));
    expect(buckets.at(-1)!.value).toBe(3);
    expect(value(samples, 'http_request_duration_seconds_sum', healthz)).toBeGreaterThan(0);

    // Scraped again: the first scrape now counted, the others unchanged.
    const again = await scrape();
    expect(value(again, 'http_requests_total', { method: 'GET', route: '/metrics', status: '200' })).toBe(1);
    expect(value(again, 'http_requests_total', { method: 'GET', route: '/healthz', status: '200' })).toBe(3);
    // The process's own metrics beside them.
    expect(again.some((s) => s.name === 'process_resident_memory_bytes')).toBe(true);
    expect(again.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
  });
});

describe("the worker's Temporal runtime metrics", () => {
  it('serves workflow task and local activity latencies, schedule-to-start and sticky cache metrics once a journey has run', async () => {
    const admin = await stack.token('admin', 'admin-1');
    const p = await json(await stack.call('POST', '/v1/patients', { token: admin, body: { name: '指标患者', phone: '+8613800000071', birthDate: '1970-07-07', sex: 'M' } }), 201);
    const patient = await stack.token('patient', p.id);
    await json(await stack.call('POST', '/v1/journeys', { token: patient, body: { patientId: p.id, mode: 'offline', complaint: '咳嗽三天' } }), 201);

    // The answer does not wait for the journey's first workflow task: the metrics are read once it has run.
    const samples = await waitFor(async () => {
      const res = await fetch(temporalMetricsUrl);
      expect(res.status).toBe(200);
      const all = parse(await res.text());
      const ran = (name: string) => all.some((x) => x.name === name && x.labels.workflow_type === PATIENT_JOURNEY_WORKFLOW);
      return ran('temporal_local_activity_execution_latency_count') && ran('temporal_workflow_task_execution_latency_count') ? all : undefined;
    });
    const queue = { namespace: 'default', service_name: 'temporal-core-sdk', task_queue: JOURNEY_TASK_QUEUE };
    const journey = { ...queue, workflow_type: PATIENT_JOURNEY_WORKFLOW };
    const executed = value(samples, 'temporal_workflow_task_execution_latency_count', journey)!;
    expect(executed).toBeGreaterThanOrEqual(1);
    // In seconds (as the API's histograms), cumulative up to +Inf.
    expect(value(samples, 'temporal_workflow_task_execution_latency_bucket', { ...journey, le: '+Inf' })).toBe(executed);
    const les = samples.filter((x) => x.name === 'temporal_workflow_task_execution_latency_bucket' && x.labels.workflow_type === PATIENT_JOURNEY_WORKFLOW).map((x) => x.labels.le);
    expect(les).toContain('0.001'); // a millisecond, in seconds
    expect(value(samples, 'temporal_workflow_task_schedule_to_start_latency_count', queue)).toBeGreaterThanOrEqual(1);
    // The journey now waits for its appointment, in the worker's sticky cache.
    expect(value(samples, 'temporal_sticky_cache_size', queue)).toBeGreaterThanOrEqual(1);
    expect(value(samples, 'temporal_worker_start', queue)).toBe(1);
    // The journey's one projection of its start and triage (triaged by the API at the door), timed as a
    // local activity of the journey (its short work runs inside the workflow task: patch
    // journey-one-transaction); no triage activity ran.
    expect(value(samples, 'temporal_local_activity_execution_latency_count', { ...journey, activity_type: 'recordTransition' })).toBe(1);
    expect(value(samples, 'temporal_local_activity_execution_latency_count', { ...journey, activity_type: 'triage' })).toBeUndefined();
  });
});
