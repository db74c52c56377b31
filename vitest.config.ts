import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Workflow and integration files each start their own Temporal server; two at a time fits 2 cores.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
