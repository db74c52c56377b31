// `npm test`: the type-check, the lint and the whole vitest suite.
//
// The files that spend minutes waiting in real time (LONG_WAITS, tests/support/long-waits.ts: a
// program's doses a minute apart, `npm start` stopped across a scheduled run) run in a vitest process
// of their own from the start. Beside them run the type-check and the lint (side by side), then the
// rest of the suite, two files at a time as before, at a lower priority than the long waits (BESIDE).
// In one pool of two, the long waits held both workers for three minutes while the machine idled. Their output is printed once they end; the exit
// code is the first failure's.
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
function run(cmd: string, args: string[], out: number | 'inherit' = 'inherit', group = false, nice = 0): { child: ChildProcess; exited: Promise<number> } {
  // `group`: in a process group of its own, so that stop() reaches vitest's workers and the servers they started.
  const child = spawn(bin(cmd), args, { cwd: ROOT, stdio: ['ignore', out, out], detached: group });
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

const extra = process.argv.slice(2);
if (extra.length > 0) process.exit(await run('vitest', ['run', ...extra]).exited);

/**
 * The priority of everything beside the long waits. Those mostly sleep, and what they do when they wake
 * is timed (a reminder within seconds of its dose): it goes first. The rest keeps the CPU they leave.
 */
const BESIDE = 5;

const dir = mkdtempSync(join(tmpdir(), 'carepath-test-'));
const logFile = join(dir, 'long-waits.log');
const log = openSync(logFile, 'w');
console.log(`[test] ${LONG_WAITS.join(', ')}: started beside the rest, output below once they end`);
const long = run('vitest', ['run', ...LONG_WAITS], log, true);
function signalLong(s: NodeJS.Signals): void {
  try {
    process.kill(-long.child.pid!, s);
  } catch {
    // the group has ended
  }
}
let stopped = false;
/** Stops the long waits: Ctrl-C to their whole process group, then (below, once vitest has ended) a kill of whatever is left of it. */
function stop(): void {
  stopped = true;
  signalLong('SIGINT');
  setTimeout(() => signalLong('SIGKILL'), 10_000).unref();
}
// Stopped with the script (Ctrl-C, or CI cancelling the run): the long waits stop with it.
for (const s of ['SIGINT', 'SIGTERM'] as const) {
  process.on(s, () => {
    stop();
    signalLong('SIGKILL');
    process.exit(130);
  });
}

// The type-check and the lint side by side (each takes one core for half a minute), each one's output
// kept until both end; then the rest of the suite.
const checks = (['tsc', 'eslint'] as const).map((cmd) => {
  const file = join(dir, `${cmd}.log`);
  const fd = openSync(file, 'w');
  return { cmd, file, fd, ...run(cmd, cmd === 'tsc' ? ['--noEmit'] : ['.'], fd, false, BESIDE) };
});
let code = 0;
for (const check of checks) {
  const exited = await check.exited;
  closeSync(check.fd);
  process.stdout.write(readFileSync(check.file));
  if (exited !== 0) console.log(`[test] ${check.cmd} failed (exit ${exited})`);
  code ||= exited;
}
if (code === 0) code = await run('vitest', ['run', ...LONG_WAITS.flatMap((f) => ['--exclude', f])], 'inherit', false, BESIDE).exited;
if (code !== 0) stop();
const longCode = await long.exited;
if (stopped) signalLong('SIGKILL');
closeSync(log);
console.log(`\n[test] ${LONG_WAITS.join(', ')}:\n`);
process.stdout.write(readFileSync(logFile));
rmSync(dir, { recursive: true, force: true });
process.exit(code || longCode);
