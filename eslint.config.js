// Lint (run by `npm test`): typescript-eslint's type-aware rules for promises, and a fence around
// workflows/: workflow code runs in Temporal's deterministic sandbox, where Node built-ins and I/O
// packages must never be imported (activities do the I/O).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = [
  'assert', 'async_hooks', 'buffer', 'child_process', 'cluster', 'crypto', 'dgram', 'dns', 'events', 'fs', 'fs/promises', 'http', 'http2',
  'https', 'net', 'os', 'path', 'perf_hooks', 'process', 'readline', 'stream', 'timers', 'tls', 'url', 'util', 'v8', 'vm', 'worker_threads', 'zlib',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.tools/**', '.data/**', '.stryker-tmp/**', 'reports/**', 'tests/.artifacts/**', 'web/assets/**', 'coverage/**'] },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // An explicit `any` is a visible, reviewed opt-out (tests reading loose JSON); the implicit one is a type error.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...NODE_BUILTINS.flatMap((m) => [
              { name: m, message: 'workflow code runs in the deterministic sandbox: no Node built-ins (do it in an activity)' },
              { name: `node:${m}`, message: 'workflow code runs in the deterministic sandbox: no Node built-ins (do it in an activity)' },
            ]),
          ],
          patterns: [
            { group: ['node:*'], message: 'workflow code runs in the deterministic sandbox: no Node built-ins (do it in an activity)' },
            {
              group: ['postgres', 'pg', '@electric-sql/*', 'pino', 'hono', 'hono/*', '@hono/*', '@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@temporalio/testing', 'luxon', '**/activities/**', '**/api/**', '**/workers/**', '**/web/**'],
              message: 'workflow code does no I/O: only @temporalio/workflow, @temporalio/common and other workflow modules',
              // `import type` (an activity's signature for proxyActivities) compiles away.
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
);
