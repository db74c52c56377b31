// Turning tracing on (OTEL_EXPORTER_OTLP_ENDPOINT) for workers whose journeys started without it: the
// workflow bundle then holds the OpenTelemetry workflow interceptors, and every committed history,
// recorded without them, still replays deterministically through that bundle.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Resource } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { makeWorkflowExporter } from '@temporalio/interceptors-opentelemetry';
import { Worker } from '@temporalio/worker';
import { expect, it } from 'vitest';
import { TRACING_WORKFLOW_MODULES } from '../workers/telemetry.js';
import { DATA_CONVERTER, workflowBundle } from './support/temporal.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'histories');
const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

it('bundles the tracing interceptors into the traced bundle only', async () => {
  const traced = (await workflowBundle({ workflowInterceptorModules: TRACING_WORKFLOW_MODULES })).code;
  const plain = (await workflowBundle()).code;
  expect(traced).toContain('OpenTelemetryInboundInterceptor');
  expect(plain).not.toContain('OpenTelemetryInboundInterceptor');
});

it.each(files)('%s replays with the tracing workflow interceptors', async (file) => {
  const history = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as { events: unknown[] };
  const exporter = new InMemorySpanExporter();
  await Worker.runReplayHistory(
    {
      workflowBundle: await workflowBundle({ workflowInterceptorModules: TRACING_WORKFLOW_MODULES }),
      dataConverter: DATA_CONVERTER,
      sinks: { exporter: makeWorkflowExporter(new SimpleSpanProcessor(exporter), new Resource({ 'service.name': 'replay' })) },
    },
    history,
    `replay-traced-${file}`,
  );
});
