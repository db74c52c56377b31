// Test servers from the project's tools folder (installed by `npm install`): the time-skipping test
// server for workflow tests and the Temporal CLI dev server for integration tests.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../workers/wiring.js';

// Worker and core logs above WARN only: test output stays readable.
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // installed already in this process
}

const TOOLS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.tools', 'bin');

function executable(name: string) {
  const path = join(TOOLS, name);
  // Where the pinned binary is absent (no Python), the SDK downloads its own when online.
  return existsSync(path) ? { type: 'existing-path' as const, path } : undefined;
}

export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const exe = executable('temporal-test-server');
  return TestWorkflowEnvironment.createTimeSkipping(exe ? { server: { executable: exe } } : {});
}

export async function devServerEnv(): Promise<TestWorkflowEnvironment> {
  const exe = executable('temporal');
  return TestWorkflowEnvironment.createLocal({
    server: { ...(exe ? { executable: exe } : {}), ip: '127.0.0.1', log: { format: 'pretty', level: 'warn' } },
  });
}

let bundle: Promise<WorkflowBundle> | undefined;
/** The workflow bundle, built once per test file. */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never });
  return bundle;
}
