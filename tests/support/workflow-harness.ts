// The shared harness of workflow tests on the time-skipping server: one environment per test file, a
// worker per test on fresh fakes and its own task queue, and cleanup that leaves the server's clock free.
import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll } from 'vitest';
import { FakeWorld } from './fake-activities.js';
import { timeSkippingEnv, workflowBundle } from './temporal.js';

export interface Harness {
  env(): TestWorkflowEnvironment;
  /** Workflows started in the current test: waited for (if ended) or terminated when it ends. */
  started: WorkflowHandle[];
  withWorker<T>(fn: (ctx: { world: FakeWorld; taskQueue: string }) => Promise<T>, opts?: { ended?: (h: WorkflowHandle) => Promise<boolean> }): Promise<T>;
}

/** Registers the file's beforeAll/afterAll and returns the harness. */
export function workflowHarness(): Harness {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await timeSkippingEnv();
    await workflowBundle();
  });
  afterAll(async () => {
    await env?.teardown();
  });
  const started: WorkflowHandle[] = [];
  return {
    env: () => env,
    started,
    async withWorker(fn, opts = {}) {
      const world = new FakeWorld();
      const taskQueue = `test-${randomUUID()}`;
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle: await workflowBundle(),
        activities: world.activities(),
      });
      try {
        return await worker.runUntil(async () => {
          const result = await fn({ world, taskQueue });
          // Let in-flight activities (background deliveries) finish: one cut off by the worker's
          // shutdown would keep the time-skipping server's clock locked for the tests after this one.
          for (const h of started) if (opts.ended && (await opts.ended(h).catch(() => false))) await h.result().catch(() => undefined);
          await waitFor(async () => {
            const pending = await Promise.all(started.map(async (h) => (await h.describe()).raw.pendingActivities?.length ?? 0));
            return pending.every((n) => n === 0);
          });
          return result;
        });
      } finally {
        // A failed test must not leave workflows behind: they would hold the test server's clock.
        for (const h of started.splice(0)) await h.terminate('test over').catch(() => undefined);
      }
    },
  };
}

export async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The `type` of the ApplicationFailure an update was refused with. */
export function refusal(err: unknown): string | undefined {
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) return err.cause.type ?? undefined;
  return undefined;
}
