// postgres.js 3.4.9 can crash the whole process during a database outage: a small write deferred with
// setImmediate runs after the connection closed and calls write on a null socket, an uncaught
// TypeError no caller can catch (porsager/postgres#1154, #1208; the fix of #1168 is not released).
// `npm install` applies patches/postgres+3.4.9.patch (patch-package). The outage test
// (database-outage.integration.test.ts) hit the crash under load before the patch; this checks that the
// installed driver, ESM and CommonJS, carries it, so a driver upgrade that drops it fails here first.
//
// The same driver also drops the promise of its array-types query, the first statement of every new
// connection: when the connection is lost while that query runs, its rejection is unhandled and Node
// exits (porsager/postgres#1192, #1205, #1223, open). CI's outage test saw it as an unhandled
// ECONNREFUSED. The second test below plays that loss through a forwarder and counts unhandled rejections.
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createSql, type Sql } from '../activities/db.js';
import { TEST_DATABASE_URL } from './support/db.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'postgres');

/**
 * Runs `body` with a pool of one connection to PostgreSQL through `forwarder`, and answers the
 * rejections left unhandled meanwhile (reported once the microtasks drain: a few turns are given).
 */
async function unhandledThrough(forwarder: Server, body: (sql: Sql) => Promise<void>): Promise<unknown[]> {
  await new Promise<void>((r) => forwarder.listen(0, '127.0.0.1', r));
  const url = new URL(TEST_DATABASE_URL);
  url.hostname = '127.0.0.1';
  url.port = String((forwarder.address() as { port: number }).port);
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const sql = createSql(url.toString(), { max: 1 });
  try {
    await body(sql);
    await new Promise((r) => setTimeout(r, 200));
    return unhandled;
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await sql.end({ timeout: 1 });
    forwarder.close();
  }
}

describe('postgres.js, as installed', () => {
  it.each(['src/connection.js', 'cjs/src/connection.js'])('%s drops a deferred write whose socket has closed, and resets the write timer on close', (file) => {
    const source = readFileSync(join(root, file), 'utf8');
    const nextWrite = source.slice(source.indexOf('function nextWrite('), source.indexOf('function connectTimedOut('));
    expect(nextWrite).toMatch(/if \(socket === null\) \{[^}]*chunk = nextWriteTimer = null[^}]*return false/);
    // nextWrite's own two resets, then terminate() and closed(): 1 before the patch.
    expect(source.match(/clearImmediate\(nextWriteTimer\)\n\s+chunk = nextWriteTimer = null/g)).toHaveLength(4);
    // The array-types query's promise is handled (the tests below play both failures on the ESM build).
    expect(source).toContain('return fetchArrayTypes().catch(() => socket && end())');
  });
  it('survives a connection lost while it fetches the array types: the query fails, nothing is left unhandled', async () => {
    const upstream = new URL(TEST_DATABASE_URL);
    const sockets: Socket[] = [];
    let cut = 0;
    // Passes bytes to PostgreSQL until the client sends the array-types query; then cuts both sides and
    // stops listening, so the driver's reconnect is refused, as when the database stops at that moment.
    const forwarder = createServer((client) => {
      const server = connect(Number(upstream.port || 5432), upstream.hostname);
      sockets.push(client, server);
      server.on('data', (d) => client.write(d));
      client.on('data', (d) => {
        if (d.includes('pg_catalog.pg_type')) {
          cut += 1;
          forwarder.close();
          for (const s of sockets) s.destroy();
          return;
        }
        server.write(d);
      });
      client.on('error', () => {});
      server.on('error', () => {});
    });
    const unhandled = await unhandledThrough(forwarder, async (sql) => {
      await expect(sql`select 1 as one`).rejects.toMatchObject({ code: expect.stringMatching(/^(CONNECTION_CLOSED|CONNECTION_DESTROYED|ECONNREFUSED)$/) });
    });
    expect(cut).toBe(1);
    expect(unhandled).toEqual([]);
  });
  it('closes a live connection whose array-types query was refused, so the next one fetches the types: arrays still parse', async () => {
    const upstream = new URL(TEST_DATABASE_URL);
    let refused = 0;
    // Passes bytes to PostgreSQL, but answers the first connection's array-types query itself with an
    // ErrorResponse (57014, as a statement timeout would) and ReadyForQuery, keeping the connection up.
    const forwarder = createServer((client) => {
      const server = connect(Number(upstream.port || 5432), upstream.hostname);
      server.on('data', (d) => client.write(d));
      client.on('data', (d) => {
        if (refused === 0 && d.includes('pg_catalog.pg_type')) {
          refused += 1;
          const fields = Buffer.from('SERROR\0VERROR\0C57014\0Mcanceling statement due to statement timeout\0\0');
          const error = Buffer.alloc(5);
          error.write('E');
          error.writeInt32BE(4 + fields.length, 1);
          client.write(Buffer.concat([error, fields, Buffer.from([0x5a, 0, 0, 0, 5, 0x49])]));
          return;
        }
        server.write(d);
      });
      client.on('error', () => server.destroy());
      server.on('error', () => client.destroy());
      client.on('close', () => server.destroy());
    });
    const unhandled = await unhandledThrough(forwarder, async (sql) => {
      // The first query fails with the refusal, as it did before the patch (which then exited the process).
      await expect(sql`select 1 as one`).rejects.toMatchObject({ code: '57014' });
      // The next connection fetches the types: a text[] comes back as an array, and an array parameter binds.
      const [row] = await sql<{ v: string[]; n: number }[]>`select '{a,b}'::text[] as v, cardinality(${['x', 'y', 'z']}::text[]) as n`;
      expect(row).toEqual({ v: ['a', 'b'], n: 3 });
    });
    expect(refused).toBe(1);
    expect(unhandled).toEqual([]);
  });
  it('is the version the patch is for', () => {
    expect(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version).toBe('3.4.9');
  });
});
