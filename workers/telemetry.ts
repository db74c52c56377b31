// OpenTelemetry traces, exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set and off
// otherwise. One trace follows a request: the API's server span (api/tracing.ts), the Temporal
// client's StartWorkflow/update spans, the workflow's RunWorkflow and StartActivity spans (exported
// from the sandbox through a sink), and the activities' RunActivity spans, linked through Temporal
// headers by @temporalio/interceptors-opentelemetry. Without an endpoint nothing is set up: no
// provider, no interceptors, and the workflow bundle holds no tracing code.
import { createRequire } from 'node:module';
import { trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  makeWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import type { WorkerOptions } from '@temporalio/worker';
import type { Config } from './config.js';

const require = createRequire(import.meta.url);
/** The workflow interceptors, bundled with the workflows only when tracing is on. */
export const TRACING_WORKFLOW_MODULES = [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')];

export interface Tracing {
  tracer: Tracer;
  resource: Resource;
  spanProcessor: SpanProcessor;
  /** Exports what is buffered, then stops. */
  shutdown(): Promise<void>;
}

/**
 * Registers the process's tracer provider (global: the Temporal interceptors use the global API)
 * exporting to `<endpoint>/v1/traces`; undefined, and nothing registered, without an endpoint.
 */
export function startTracing(cfg: Config['tracing'], defaultServiceName: string): Tracing | undefined {
  if (!cfg.otlpEndpoint) return undefined;
  const resource = new Resource({ 'service.name': cfg.serviceName ?? defaultServiceName });
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter({ url: `${cfg.otlpEndpoint}/v1/traces` }), { scheduledDelayMillis: 1000 });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register(); // AsyncLocalStorage context and W3C trace context propagation
  return {
    tracer: trace.getTracer('carepath'),
    resource,
    spanProcessor,
    async shutdown() {
      await provider.shutdown();
      trace.disable();
    },
  };
}

/** The API's (and the worker's) Temporal client: its calls start spans and carry the context in headers. */
export function tracingClientInterceptors(tracing: Tracing | undefined): WorkflowClientInterceptor[] {
  return tracing ? [new OpenTelemetryWorkflowClientInterceptor({ tracer: tracing.tracer })] : [];
}

/**
 * The worker's share: activity spans, and the sink through which the workflow sandbox exports its
 * spans. `bundled`: the workflow code comes prebuilt, so the workflow interceptors must be in that
 * bundle already (scripts/build-workflows.ts with tracing on); otherwise they are bundled at start.
 */
export function tracingWorkerOptions(tracing: Tracing | undefined, bundled: boolean): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  if (!tracing) return {};
  return {
    interceptors: {
      activity: [
        (ctx) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer: tracing.tracer }),
          outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
      ...(bundled ? {} : { workflowModules: TRACING_WORKFLOW_MODULES }),
    },
    sinks: { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) },
  };
}
