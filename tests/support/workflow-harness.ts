// The shared harness of workflow tests on the time-skipping server: one environment per test file, a
// worker per test on fresh fakes and its own task queue, and cleanup that leaves the server's clock free.
import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll } from 'vitest';
import { FakeWorld } from './fake-activities.js';
import { DATA_CONVERTER, timeSkippingEnv, workflowBundle } from './temporal.js';

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
    env = await timeSkippingEnv({ dataConverter: DATA_CONVERTER });
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
        // Payloads sealed as in production: every workflow test runs through the codec.
        dataConverter: DATA_CONVERTER,
      });
      try {
        return await worker.runUntil(async () => {
          const result = await fn({ world, taskQueue });
          // Let in-flight activities (background deliveries) finish: one cut off by the worker's
          // shutdown would keep the time-skipping server's clock locked for the tests after this one.
          for (const h of started) if (opts.ended && (await opts.ended(h).catch(() => false))) await h.result().catch(() => undefined);
          for (const h of started) await quiet(h);
          // What ran must replay: a worker that lost its cache rebuilds each workflow from history, and
          // code whose commands come in another order on replay than they did live would fail there.
          for (const h of started) await replays(h);
          return result;
        });
      } finally {
        // A failed test must not leave workflows behind: they would hold the test server's clock.
        for (const h of started.splice(0)) await h.terminate('test over').catch(() => undefined);
      }
    },
  };
}

/**
 * Neither an activity nor a workflow task of `h` is outstanding, twice in a row (between two
 * activities of one transition there is a moment with neither). Terminating a workflow before that
 * can leave an activity completing for a workflow that is gone, which locks the test server's clock.
 */
export async function quiet(h: WorkflowHandle): Promise<void> {
  const idle = async () => {
    const d = (await h.describe()).raw;
    return (d.pendingActivities?.length ?? 0) === 0 && !d.pendingWorkflowTask;
  };
  await waitFor(async () => (await idle()) && (await new Promise((r) => setTimeout(r, 30)), await idle()));
}

/** Replays every run of `h` so far (from its first, through each continue-as-new) against the bundle. */
export async function replays(h: WorkflowHandle): Promise<void> {
  const client = h.client;
  let runId: string | undefined = (h as { firstExecutionRunId?: string }).firstExecutionRunId;
  let handle = runId ? client.getHandle(h.workflowId, runId) : h;
  for (;;) {
    const history = await handle.fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle(), dataConverter: DATA_CONVERTER }, history, `${h.workflowId}:${runId ?? 'latest'}`);
    runId = history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    if (!runId) return;
    handle = client.getHandle(h.workflowId, runId);
  }
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
