// Mutation testing (`npm run mutate`, on demand, never in CI). docs/testing.md explains how to run and
// narrow it: `npm run mutate -- --mutate 'workflows/patient-journey.ts:100-200'`.
//
// Workflow code runs in Temporal's workflow sandbox: the tests bundle workflows/ with webpack and the
// worker evaluates that bundle in its own V8 context, in a worker thread. Stryker's instrumented code
// in the bundle therefore sees neither the active mutant nor the coverage object of the test process.
// tests/support/temporal.ts (workflowBundle) rebuilds the bundle for every mutant run and gives it the
// mutant's id through a banner at the top of the bundle: see docs/testing.md.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: {
    configFile: 'vitest.config.ts',
    // "related" picks test files through the import graph, and no test imports workflows/patient-journey.ts
    // as a value (the worker loads it from a bundle), so it would find no test for workflow mutants.
    related: false,
  },
  // Coverage analysis is off, for every file: Stryker's coverage counters in workflow code run inside the
  // sandbox and record into the sandbox's own global, which the vitest runner never reads. With
  // "perTest" (or "all") every mutant reached only through a workflow would be reported "NoCoverage"
  // without being run. So each mutant runs every test file below (vitest bails at the first failure).
  coverageAnalysis: 'off',
  mutate: [
    'workflows/**/*.ts',
    '!workflows/definitions.ts',
    '!workflows/index.ts',
    'activities/slots.ts',
    'activities/triage.ts',
  ],
  // The tests that exercise the mutated code without a Temporal dev server or PostgreSQL: the workflow
  // tests (time-skipping server, fake activities that use the real triage rules), the replay of the
  // committed histories, durations (config.test.ts), triage rules and the seat booking on PGlite.
  // The integration suites would add minutes to every mutant; name them with --testFiles for a run.
  testFiles: [
    'tests/*.workflow.test.ts',
    'tests/replay.test.ts',
    'tests/config.test.ts',
    'tests/triage.test.ts',
    'tests/pglite.test.ts',
  ],
  // Each test run starts a Temporal test server; the machines have 2 cores.
  concurrency: 1,
  // Not copied into the sandbox: tests find .tools/bin in the project above it (tests/support/temporal.ts).
  ignorePatterns: ['.tools', '.data', 'dist', 'coverage', 'reports', 'tests/.artifacts', '*.log'],
  tempDirName: '.stryker-tmp',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false },
};
