// postgres.js 3.4.9 can crash the whole process during a database outage: a small write deferred with
// setImmediate runs after the connection closed and calls write on a null socket, an uncaught
// TypeError no caller can catch (porsager/postgres#1154, #1208; the fix of #1168 is not released).
// `npm install` applies patches/postgres+3.4.9.patch (patch-package). The outage test
// (database-outage.integration.test.ts) hit the crash under load before the patch; this checks that the
// installed driver, ESM and CommonJS, carries it, so a driver upgrade that drops it fails here first.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'postgres');

describe('postgres.js, as installed', () => {
  it.each(['src/connection.js', 'cjs/src/connection.js'])('%s drops a deferred write whose socket has closed, and resets the write timer on close', (file) => {
    const source = readFileSync(join(root, file), 'utf8');
    const nextWrite = source.slice(source.indexOf('function nextWrite('), source.indexOf('function connectTimedOut('));
    expect(nextWrite).toMatch(/if \(socket === null\) \{[^}]*chunk = nextWriteTimer = null[^}]*return false/);
    // nextWrite's own two resets, then terminate() and closed(): 1 before the patch.
    expect(source.match(/clearImmediate\(nextWriteTimer\)\n\s+chunk = nextWriteTimer = null/g)).toHaveLength(4);
  });
  it('is the version the patch is for', () => {
    expect(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version).toBe('3.4.9');
  });
});
