// The embedded database `npm start` uses when DATABASE_URL is unset: PGlite on a local socket takes
// the same migrations and keeps the same guarantees (one connection).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { presentPosition, readChanges } from '../activities/changes.js';
import { recordTransition } from '../activities/journeys.js';
import { createSlot, reserveSeat } from '../activities/slots.js';
import { createClinician, createPatient } from '../activities/reference.js';
import { createLogger } from '../workers/logger.js';
import { openDatabase, prepareDatabase, type Database } from '../workers/services.js';

const dir = mkdtempSync(join(tmpdir(), 'carepath-pglite-'));
let db: Database | undefined;
afterAll(async () => {
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('migrates, seeds and books a seat on the embedded PGlite', async () => {
  db = await openDatabase(undefined, dir, createLogger('silent'));
  expect(db.embedded).toBe(true);
  await prepareDatabase(db.sql, createLogger('silent'));
  await prepareDatabase(db.sql, createLogger('silent')); // idempotent
  const [{ count }] = (await db.sql`select count(*)::int as count from pathway_templates`) as unknown as [{ count: number }];
  expect(count).toBe(2);
  const doc = await createClinician(db.sql, { name: 'Dr. P', role: 'doctor', department: 'cardiology' });
  const slot = await createSlot(db.sql, { doctorId: doc.id, department: 'cardiology', start: new Date(Date.now() + 3_600_000).toISOString(), end: new Date(Date.now() + 7_200_000).toISOString(), capacity: 1, mode: 'offline' });
  const first = await reserveSeat(db.sql, { journeyId: 'j1', slotId: slot.id, mode: 'offline', department: 'cardiology' });
  const second = await reserveSeat(db.sql, { journeyId: 'j2', slotId: slot.id, mode: 'offline', department: 'cardiology' });
  expect(first.ok).toBe(true);
  expect(second).toMatchObject({ ok: false, reason: 'full' });
});

it('feeds the change stream on PGlite too (xid8 positions, the timeline trigger)', async () => {
  const from = await presentPosition(db!.sql);
  const patient = await createPatient(db!.sql, { name: 'P', phone: '+8613800000041', birthDate: '1980-01-01', sex: 'F', timezone: 'Asia/Shanghai' });
  await recordTransition(db!.sql, {
    version: 1,
    snapshot: { id: 'pg-j1', patientId: patient.id, mode: 'offline', pathway: { id: 'standard-outpatient', version: 1 }, phase: 'pre-visit', status: 'active', step: 'triage' },
    events: [{ key: 'journey.started', at: new Date().toISOString(), type: 'journey.started', actor: 'system', data: {} }],
  });
  const changes = await readChanges(db!.sql, from, { limit: 10 });
  expect(changes.map((c) => [c.kind, c.id, c.type, c.patientId])).toEqual([['journey', 'pg-j1', 'journey.started', patient.id]]);
});
