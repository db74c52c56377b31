// The no-op baseline: its own worker and task queue on the same Temporal server as the journeys, fed
// through the same client (same payload codec), so the engine's own cost is measured in the same run.
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { Worker, bundleWorkflowCode, type NativeConnection } from '@temporalio/worker';
import type { LoadedDataConverter } from '@temporalio/common';
import { pingLocalUpdate, pingUpdate, type NoopActivities, type noop } from './workflows.js';

export const NOOP_TASK_QUEUE = 'carepath-bench-noop';
const WORKFLOWS = join(dirname(fileURLToPath(import.meta.url)), 'workflows.ts');
const QUIET = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };

export interface Noop {
  /** Starts a new no-op workflow together with an update that returns at once (as POST /v1/journeys starts a journey). */
  startWithUpdate(): Promise<void>;
  /** An update on one running no-op workflow (the first call starts it). */
  update(): Promise<void>;
  /** The same update, answered once one local activity that does nothing has run. */
  updateWithLocalActivity(): Promise<void>;
  stop(): Promise<void>;
}

export async function noopBaseline(o: { connection: NativeConnection; namespace: string; client: Client; dataConverter?: Partial<LoadedDataConverter> | { payloadCodecs: unknown[] } }): Promise<Noop> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS, logger: QUIET as never });
  const worker = await Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: NOOP_TASK_QUEUE,
    workflowBundle: { code },
    activities: { nothing: async (n: number) => n } satisfies NoopActivities,
    ...(o.dataConverter ? { dataConverter: o.dataConverter as never } : {}),
  });
  const running = worker.run();
  // The server ends every baseline workflow by itself: nothing to clean up on a shared server.
  const options = (workflowId: string) => ({ taskQueue: NOOP_TASK_QUEUE, workflowId, workflowExecutionTimeout: '15 minutes' });
  let target: Promise<string> | undefined;
  return {
    async startWithUpdate() {
      const startWorkflowOperation = new WithStartWorkflowOperation<typeof noop>('noop', {
        ...options(`bench-noop-${randomUUID()}`),
        workflowIdConflictPolicy: 'FAIL',
      });
      await o.client.workflow.executeUpdateWithStart(pingUpdate, { startWorkflowOperation });
    },
    async update() {
      target ??= o.client.workflow.start<typeof noop>('noop', options(`bench-noop-${randomUUID()}`)).then((h) => h.workflowId);
      await o.client.workflow.getHandle(await target).executeUpdate(pingUpdate);
    },
    async updateWithLocalActivity() {
      target ??= o.client.workflow.start<typeof noop>('noop', options(`bench-noop-${randomUUID()}`)).then((h) => h.workflowId);
      await o.client.workflow.getHandle(await target).executeUpdate(pingLocalUpdate);
    },
    async stop() {
      worker.shutdown();
      await running;
    },
  };
}
