// What lets `npm start` start again on the same data directory after Ctrl-C, `kill -9` or a crash:
// a pid file that says whether a CarePath already runs there, and the clean-up of what a killed copy
// left behind (its orphaned Temporal dev server). The embedded database's stale socket is handled
// where it is opened (services.ts).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';

export const PID_FILE = 'carepath.pid';

/** The command line of a live process, or undefined when there is none (or only its zombie). */
function commandLine(pid: number): string | undefined {
  if (existsSync('/proc')) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return undefined;
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      return undefined;
    }
  }
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it lives, under another user.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  try {
    return execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
  } catch {
    return ''; // alive, but its command line is not to be had
  }
}

/** Every live process as pid and command line (Linux: /proc; elsewhere: ps). */
function processes(): { pid: number; args: string }[] {
  if (existsSync('/proc')) {
    return readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .flatMap((d) => {
        try {
          return [{ pid: Number(d), args: readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ') }];
        } catch {
          return []; // it ended meanwhile
        }
      });
  }
  let out: string;
  try {
    out = execFileSync('ps', ['-axo', 'pid=,args='], { encoding: 'utf8' });
  } catch {
    return []; // no ps (Windows): nothing to find
  }
  return out.split('\n').flatMap((line) => {
    const m = line.trim().match(/^(\d+)\s+(.*)$/);
    return m ? [{ pid: Number(m[1]), args: m[2]! }] : [];
  });
}

/** A CarePath runner (`workers/start.ts`) lives as `pid`: not a dead pid, nor a pid since reused by something else. */
export function isCarePath(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  const args = commandLine(pid);
  // Where the command line cannot be read, a live process counts as a running copy: better refuse than share a data directory.
  return args !== undefined && (args === '' ? !existsSync('/proc') : args.includes('start.ts'));
}

/**
 * Claims `dataDir` for this process with `carepath.pid` (created exclusively). A pid file whose process
 * is gone, or is no CarePath, is stale and replaced. Returns the running copy's pid when there is one.
 */
export function claimDataDir(dataDir: string): { release(): void } | { runningPid: number } {
  const path = join(dataDir, PID_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      return {
        release() {
          try {
            if (Number(readFileSync(path, 'utf8').trim()) === process.pid) unlinkSync(path);
          } catch {
            // gone already
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: number;
    try {
      holder = Number(readFileSync(path, 'utf8').trim());
    } catch {
      continue; // removed meanwhile: try again
    }
    if (isCarePath(holder)) return { runningPid: holder };
    try {
      unlinkSync(path);
    } catch {
      // removed meanwhile
    }
  }
  throw new Error(`could not claim ${path}`);
}

const exited = (pid: number) => commandLine(pid) === undefined;

/**
 * Stops a Temporal dev server a killed runner left behind on this data directory (the dev server is
 * the runner's child and outlives a `kill -9` of it, holding its ports and `temporal.db`). Recognised
 * by its command line: `temporal server start-dev … --db-filename <dbFilename>`. Call it only while
 * holding the data directory (claimDataDir), so that it never touches a running copy's server.
 */
export async function stopOrphanedDevServer(dbFilename: string, log: Logger): Promise<void> {
  const orphans = processes().filter((p) => p.pid !== process.pid && p.args.includes('start-dev') && p.args.includes(`--db-filename ${dbFilename}`));
  for (const { pid } of orphans) {
    log.info({ pid }, 'stopping the Temporal dev server a previous run left behind');
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      continue;
    }
    for (let i = 0; i < 50 && !exited(pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (!exited(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // it ended
      }
      for (let i = 0; i < 20 && !exited(pid); i++) await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The parent of a live process (Linux: /proc; elsewhere: ps), or undefined. */
function parentOf(pid: number): number | undefined {
  try {
    if (existsSync('/proc')) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    }
    return Number(execFileSync('ps', ['-o', 'ppid=', '-p', String(pid)], { encoding: 'utf8' }).trim()) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The processes this one lives under, up to the `npm start` (or npx) that started it: `npm start` runs
 * sh, which runs tsx, which runs this file in a node of its own. Without npm in the chain, the parent.
 */
export function launchers(): number[] {
  const chain: number[] = [];
  for (let pid: number | undefined = process.ppid; pid && pid > 1 && chain.length < 6; pid = parentOf(pid)) {
    chain.push(pid);
    if (/^npm(\s|$)|npm-cli\.js|(^|\/)npx(\s|$)/.test(commandLine(pid) ?? '')) return chain;
  }
  return [process.ppid];
}

/**
 * Calls `onOrphaned` once when a process this one was launched by goes away: a `kill -9` of npm or tsx
 * would otherwise leave the stack running with nothing to stop it (Ctrl-C reaches it no more) and
 * holding the data directory.
 */
export function watchLaunchers(onOrphaned: () => void, everyMs = 1000): void {
  const watched = launchers();
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent || watched.some((pid) => commandLine(pid) === undefined)) {
      clearInterval(timer);
      onOrphaned();
    }
  }, everyMs);
  timer.unref();
}

/** Whether something already listens on `host:port` (a port this process is about to listen on). */
export async function portInUse(port: number, host: string): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRINUSE'));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve(false)));
  });
}
