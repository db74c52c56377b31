// `npm test`: the type-check, the lint and the whole vitest suite.
//
// The files that spend minutes waiting in real time (LONG_WAITS, tests/support/long-waits.ts: a
// program's doses a minute apart, `npm start` stopped across a scheduled run) run in a vitest process
// of their own from the start. Beside them run the type-check and the lint (side by side), then the
// rest of the suite, two files at a time as before, at a lower priority than the long waits (BESIDE).
// In one pool of two, the long waits held both workers for three minutes while the machine idled.
// Their output is printed once they end; the exit code is the first failure's.
//
// `npm test -- <vitest arguments>` runs only vitest with those arguments (a file, `-t name`…).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, openSync, closeSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LONG_WAITS } from '../tests/support/long-waits.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name);

/** Runs a command to its end; its output to `out` (a file descriptor) or this process's. */
function run(cmd: string, args: string[], out: number | 'inherit' = 'inherit', nice = 0): { child: ChildProcess; exited: Promise<number> } {
  // In a process group of its own, so that a signal reaches vitest's workers and the servers they started (signalGroup).
  const child = spawn(bin(cmd), args, { cwd: ROOT, stdio: ['ignore', out, out], detached: true });
  // `nice`: a lower priority, which the processes it starts inherit.
  if (nice && child.pid) {
    try {
      setPriority(child.pid, nice);
    } catch {
      // not allowed here: the same priority, as before
    }
  }
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    child.on('error', (err) => {
      console.error(`[test] ${cmd}: ${err.message}`);
      resolve(1);
    });
  });
  return { child, exited };
}

/** Signals a step's whole process group. */
function signalGroup(child: ChildProcess, s: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, s);
  } catch {
    // the group has ended
  }
}

/** Every step started, to stop with the script; the folder of their logs, to remove. */
const steps: ChildProcess[] = [];
const scratch: { dir?: string } = {};
// Stopped itself (Ctrl-C, or CI cancelling the run): every step's whole group is killed at once. vitest's
// workers ignore SIGINT and SIGTERM meant for their parent (they outlived it, with their Temporal
// servers), a terminal's Ctrl-C does not reach groups of their own, and npm does not wait for this script.
for (const [s, number] of [['SIGINT', 2], ['SIGTERM', 15]] as const) {
  process.on(s, () => {
    for (const child of steps) signalGroup(child, 'SIGKILL');
    if (scratch.dir !== undefined) rmSync(scratch.dir, { recursive: true, force: true });
    process.exit(128 + number);
  });
}

const extra = process.argv.slice(2);
if (extra.length > 0) {
  const only = run('vitest', ['run', ...extra]);
  steps.push(only.child);
  process.exit(await only.exited);
}

/**
 * The priority of everything beside the long waits. Those mostly sleep, and what they do when they wake
 * is timed (a reminder within seconds of its dose): it goes first. The rest keeps the CPU they leave.
 */
const BESIDE = 5;

const dir = mkdtempSync(join(tmpdir(), 'carepath-test-'));
scratch.dir = dir;
const logFile = join(dir, 'long-waits.log');
const log = openSync(logFile, 'w');
console.log(`[test] ${LONG_WAITS.join(', ')}: started beside the rest, output below once they end`);
const long = run('vitest', ['run', ...LONG_WAITS], log);
steps.push(long.child);

// The type-check and the lint side by side (each takes one core for half a minute), each one's output
// kept until both end; then the rest of the suite.
const checks = (['tsc', 'eslint'] as const).map((cmd) => {
  const file = join(dir, `${cmd}.log`);
  const fd = openSync(file, 'w');
  const step = run(cmd, cmd === 'tsc' ? ['--noEmit'] : ['.'], fd, BESIDE);
  steps.push(step.child);
  return { cmd, file, fd, ...step };
});
let code = 0;
for (const check of checks) {
  const exited = await check.exited;
  closeSync(check.fd);
  process.stdout.write(readFileSync(check.file));
  if (exited !== 0) console.log(`[test] ${check.cmd} failed (exit ${exited})`);
  code ||= exited;
}
if (code === 0) {
  const rest = run('vitest', ['run', ...LONG_WAITS.flatMap((f) => ['--exclude', f])], 'inherit', BESIDE);
  steps.push(rest.child);
  code = await rest.exited;
} else {
  // The long waits are left to finish (3 minutes at most), so that they stop what they started themselves.
  console.log(`[test] waiting for ${LONG_WAITS.join(', ')} to finish`);
}
const longCode = await long.exited;
closeSync(log);
console.log(`\n[test] ${LONG_WAITS.join(', ')}:\n`);
process.stdout.write(readFileSync(logFile));
rmSync(dir, { recursive: true, force: true });
process.exit(code || longCode);
