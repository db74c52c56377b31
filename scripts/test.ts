// `npm test`: the type-check, the lint and the whole vitest suite.
//
// The files that spend minutes waiting in real time (LONG_WAITS, tests/support/long-waits.ts: a
// program's doses a minute apart, `npm start` stopped across a scheduled run) run in a vitest process of their
// own from the start, beside the type-check, the lint and the rest of the suite, which runs two files
// at a time as before. In one pool of two they held both workers for three minutes while the machine
// idled. Their output is printed once they end; the exit code is the first failure's.
//
// `npm test -- <vitest arguments>` runs only vitest with those arguments (a file, `-t name`…).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LONG_WAITS } from '../tests/support/long-waits.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name);

/** Runs a command to its end; its output to `out` (a file descriptor) or this process's. */
function run(cmd: string, args: string[], out: number | 'inherit' = 'inherit'): { child: ChildProcess; exited: Promise<number> } {
  const child = spawn(bin(cmd), args, { cwd: ROOT, stdio: ['ignore', out, out] });
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    child.on('error', (err) => {
      console.error(`[test] ${cmd}: ${err.message}`);
      resolve(1);
    });
  });
  return { child, exited };
}

const extra = process.argv.slice(2);
if (extra.length > 0) process.exit(await run('vitest', ['run', ...extra]).exited);

const dir = mkdtempSync(join(tmpdir(), 'carepath-test-'));
const logFile = join(dir, 'long-waits.log');
const log = openSync(logFile, 'w');
console.log(`[test] ${LONG_WAITS.join(', ')}: started beside the rest, output below once they end`);
const long = run('vitest', ['run', ...LONG_WAITS], log);

let code = 0;
const steps: [string, string[]][] = [
  ['tsc', ['--noEmit']],
  ['eslint', ['.']],
  ['vitest', ['run', ...LONG_WAITS.flatMap((f) => ['--exclude', f])]],
];
for (const [cmd, args] of steps) {
  code = await run(cmd, args).exited;
  if (code !== 0) break;
}
if (code !== 0) long.child.kill('SIGINT');
const longCode = await long.exited;
closeSync(log);
console.log(`\n[test] ${LONG_WAITS.join(', ')}:\n`);
process.stdout.write(readFileSync(logFile));
rmSync(dir, { recursive: true, force: true });
process.exit(code || longCode);
