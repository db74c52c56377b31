/**
 * The test files that spend minutes waiting in real time (a program's doses a minute apart, `npm start`
 * stopped across a scheduled run). `npm test` (scripts/test.ts) runs them in a vitest process of their
 * own beside the rest of the suite; run alone with `npx vitest run`, vitest.config.ts starts them first.
 */
export const LONG_WAITS = ['tests/programs-downtime.integration.test.ts', 'tests/stack-restart.integration.test.ts'];
