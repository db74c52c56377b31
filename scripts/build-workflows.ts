// Prebuilds the workflow bundles for production workers: dist/workflow-bundle.js, and
// dist/workflow-bundle.traced.js with the OpenTelemetry workflow interceptors, which a worker with
// OTEL_EXPORTER_OTLP_ENDPOINT set loads instead (workers/telemetry.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { TRACING_WORKFLOW_MODULES } from '../workers/telemetry.js';
import { WORKFLOWS_PATH } from '../workers/wiring.js';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
mkdirSync(dist, { recursive: true });
for (const [name, workflowInterceptorModules] of [['workflow-bundle.js', []], ['workflow-bundle.traced.js', TRACING_WORKFLOW_MODULES]] as const) {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules: [...workflowInterceptorModules] });
  writeFileSync(join(dist, name), code);
  console.log(`workflow bundle written to ${join(dist, name)} (${(code.length / 1024).toFixed(0)} KiB)`);
}
