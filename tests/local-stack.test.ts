// What `npm start` finds in its data directory after a `kill -9` or a crash, with real processes
// standing in for a previous run: a pid file whose process is gone or is something else is replaced,
// one naming a live runner is left alone; a socket nobody serves is removed, a served one refused; a
// Temporal dev server on this data directory is stopped, one on another directory is not.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { createLogger } from '../workers/logger.js';
import { claimDataDir, portInUse, stopOrphanedDevServer } from '../workers/local-stack.js';
import { removeStaleSocket } from '../workers/services.js';

const children: ChildProcess[] = [];
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'carepath-local-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** A live node process whose command line ends with `args` (what the code under test looks at). */
async function live(...args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', 'process.stdout.write("up"); setInterval(() => {}, 1000)', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(child);
  await new Promise((r) => child.stdout!.once('data', r));
  return child;
}

const exited = (child: ChildProcess) => new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
const pidFile = () => join(dir, 'carepath.pid');

it('claims a free data directory and gives it back on release', () => {
  const claim = claimDataDir(dir);
  expect('release' in claim).toBe(true);
  expect(readFileSync(pidFile(), 'utf8')).toBe(`${process.pid}\n`);
  if ('release' in claim) claim.release();
  expect(existsSync(pidFile())).toBe(false);
});

it('replaces a pid file whose process is gone, or is not a CarePath', async () => {
  const gone = await live('workers/start.ts');
  gone.kill('SIGKILL');
  await exited(gone);
  writeFileSync(pidFile(), `${gone.pid}\n`);
  expect('release' in claimDataDir(dir)).toBe(true);
  expect(readFileSync(pidFile(), 'utf8')).toBe(`${process.pid}\n`);

  const other = await live('something-else.js'); // the pid reused by another program
  writeFileSync(pidFile(), `${other.pid}\n`);
  expect('release' in claimDataDir(dir)).toBe(true);
  writeFileSync(pidFile(), 'not a pid\n');
  expect('release' in claimDataDir(dir)).toBe(true);
  expect(readFileSync(pidFile(), 'utf8')).toBe(`${process.pid}\n`);
});

it('leaves a running copy its pid file and names it', async () => {
  const running = await live('workers/start.ts');
  writeFileSync(pidFile(), `${running.pid}\n`);
  expect(claimDataDir(dir)).toEqual({ runningPid: running.pid });
  expect(readFileSync(pidFile(), 'utf8')).toBe(`${running.pid}\n`);
});

it('removes a socket nobody serves and refuses one that is served', async () => {
  const path = join(dir, '.s.PGSQL.5432');
  expect(await removeStaleSocket(path)).toBe(false); // none there
  const server = spawn(process.execPath, ['-e', `require('node:net').createServer(() => {}).listen(${JSON.stringify(path)}, () => process.stdout.write('up'))`], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(server);
  await new Promise((r) => server.stdout!.once('data', r));
  await expect(removeStaleSocket(path)).rejects.toThrow(`${path} is served by another process`);
  expect(existsSync(path)).toBe(true);
  server.kill('SIGKILL'); // as a kill -9 leaves it: the file stays, nobody answers
  await exited(server);
  expect(existsSync(path)).toBe(true);
  expect(await removeStaleSocket(path)).toBe(true);
  expect(existsSync(path)).toBe(false);
});

it('stops the dev server left on this data directory, and only that one', async () => {
  const ours = await live('server', 'start-dev', '--port', '7233', '--db-filename', join(dir, 'temporal.db'), '--ui-port', '8233');
  const theirs = await live('server', 'start-dev', '--port', '7234', '--db-filename', join(dir, 'other', 'temporal.db'));
  await stopOrphanedDevServer(join(dir, 'temporal.db'), createLogger('silent'));
  await Promise.race([exited(ours), new Promise((r) => setTimeout(r, 2000))]);
  expect(ours.signalCode).toBe('SIGTERM');
  expect(theirs.exitCode).toBeNull();
  expect(theirs.signalCode).toBeNull();
});

it('tells a port in use from a free one', async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  expect(await portInUse(port, '127.0.0.1')).toBe(true);
  expect(await portInUse(port, '0.0.0.0')).toBe(true); // the API listens on every interface
  await new Promise((r) => server.close(r));
  expect(await portInUse(port, '127.0.0.1')).toBe(false);
});
