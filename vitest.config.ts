import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';
import { LONG_WAITS } from './tests/support/long-waits.js';

/**
 * The files that wait in real time, started first when vitest runs the whole suite by itself, so that
 * the rest runs beside them (`npm test` runs them in a process of their own, scripts/test.ts). A clean
 * clone has no timing cache, and vitest would otherwise start them whenever their size says.
 */
class LongWaitsFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONG_WAITS.findIndex((p) => f.moduleId.endsWith(p));
      return i === -1 ? LONG_WAITS.length : i;
    };
    return sorted.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map(({ f }) => f);
  }
}

export default defineConfig({
  test: {
    pool: 'forks',
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Workflow and integration files each start their own Temporal server; two at a time fits 2 cores.
    maxWorkers: 2,
    fileParallelism: true,
    sequence: { sequencer: LongWaitsFirst },
  },
});
