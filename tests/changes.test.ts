// The change feed on the real PostgreSQL: every timeline append (a journey's, an item's, a program's)
// becomes one change naming who may see it; changes are read in the order transactions finish, so one
// committed late is read late and never skipped; the stream's reader fans out to its listeners in order,
// and a listener resuming from a position gets exactly what came after it.
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presentPosition, readChanges, parsePosition, type Change, type Position } from '../activities/changes.js';
import { recordItemTransition } from '../activities/items.js';
import { recordTransition } from '../activities/journeys.js';
import { createPatient } from '../activities/reference.js';
import { ChangeFeed, maySee } from '../api/stream.js';
import type { JourneySnapshot, PrescriptionSnapshot } from '../workflows/definitions.js';
import { testDb, type TestDb } from './support/db.js';
import { waitFor } from './support/http.js';
import { journeySnapshot, timelineEvent } from './support/read-model.js';

let db: TestDb;
let patientId: string;
beforeAll(async () => {
  db = await testDb({ max: 4 });
  patientId = (await createPatient(db.sql, { name: 'C', phone: '+8613800000021', birthDate: '1970-01-01', sex: 'M', timezone: 'Asia/Shanghai' })).id;
});
afterAll(async () => {
  await db?.drop();
});

const event = timelineEvent;
const journey = (id: string, doctorId?: string): JourneySnapshot =>
  doctorId
    ? journeySnapshot(id, patientId, 'awaiting-payment', { appointment: { slotId: 's', doctorId, start: new Date().toISOString(), end: new Date().toISOString() } })
    : journeySnapshot(id, patientId, 'booking');
const all = async (from: Position): Promise<Change[]> => readChanges(db.sql, from, { limit: 1000 });
/**
 * The changes of `id` once `n` are readable: the feed reads only below the cluster's oldest running
 * transaction, so another test's transaction on the same PostgreSQL (files run side by side) may hold
 * them back for a moment; they are read late, never skipped.
 */
const changesOf = (from: Position, id: string, n: number): Promise<Change[]> =>
  waitFor(async () => {
    const found = (await all(from)).filter((c) => c.id === id);
    return found.length >= n ? found : undefined;
  }, 10_000);

describe('the change feed', () => {
  it('records one change per appended event, with the journey, patient and doctor, and none for an event appended twice', async () => {
    const from = await presentPosition(db.sql);
    const id = `ch-${randomUUID()}`;
    await recordTransition(db.sql, { version: 1, snapshot: journey(id), events: [event('journey.started'), event('triage.completed')] });
    await recordTransition(db.sql, { version: 2, snapshot: journey(id, 'doc-7'), events: [event('appointment.booked')] });
    await recordTransition(db.sql, { version: 2, snapshot: journey(id, 'doc-7'), events: [event('appointment.booked')] }); // retried
    const changes = await changesOf(from, id, 3);
    expect(changes.map((c) => [c.kind, c.type, c.seq, c.journeyId, c.patientId, c.doctorId])).toEqual([
      ['journey', 'journey.started', 1, id, patientId, null],
      ['journey', 'triage.completed', 2, id, patientId, null],
      ['journey', 'appointment.booked', 3, id, patientId, 'doc-7'],
    ]);

    const rxId = `rx-${randomUUID()}`;
    const rx = { id: rxId, journeyId: id, patientId, prescriberId: 'doc-7', status: 'pending-review' } as unknown as PrescriptionSnapshot;
    await recordItemTransition(db.sql, { type: 'prescription', version: 1, snapshot: rx, events: [event('prescription.created')] });
    const item = await changesOf(from, rxId, 1);
    expect(item.map((c) => [c.kind, c.type, c.seq, c.journeyId, c.patientId, c.doctorId])).toEqual([['prescription', 'prescription.created', 1, id, patientId, 'doc-7']]);
  });

  it('holds back what a running transaction wrote and reads it once it commits, after what committed before it', async () => {
    const from = await presentPosition(db.sql);
    const [early, late] = [`early-${randomUUID()}`, `late-${randomUUID()}`];
    let commit!: () => void;
    const held = new Promise<void>((r) => (commit = r));
    let inserted!: () => void;
    const wrote = new Promise<void>((r) => (inserted = r));
    const slow = db.sql.begin(async (tx) => {
      await tx`insert into changes (kind, subject_id, seq, type) values ('journey', ${early}, 1, 'journey.started')`;
      inserted();
      await held;
    });
    await wrote;
    await db.sql`insert into changes (kind, subject_id, seq, type) values ('journey', ${late}, 1, 'journey.started')`;
    // The early row (a lower id) is still uncommitted: nothing at or after its transaction is read yet.
    const first = await all(from);
    expect(first.map((c) => c.id)).not.toContain(early);
    expect(first.map((c) => c.id)).not.toContain(late);
    commit();
    await slow;
    const second = await waitFor(async () => {
      const ids = (await all(from)).map((c) => c.id).filter((id) => id === early || id === late);
      return ids.length === 2 ? ids : undefined;
    }, 10_000);
    expect(second).toEqual([early, late]);
  });

  it('fans out in order to each listener; one resuming from a position gets what came after it, once', async () => {
    const feed = new ChangeFeed(db.sql, pino({ level: 'silent' }), { pollMs: 20 });
    const seen: Change[] = [];
    const stop = await feed.subscribe(undefined, (cs) => seen.push(...cs));
    const ids = Array.from({ length: 5 }, () => `fan-${randomUUID()}`);
    for (const id of ids) await recordTransition(db.sql, { version: 1, snapshot: journey(id), events: [event('journey.started')] });
    await waitFor(async () => (ids.every((id) => seen.some((c) => c.id === id)) ? true : undefined), 5000);
    expect(seen.filter((c) => ids.includes(c.id)).map((c) => c.id)).toEqual(ids);

    // Resume after the second: the third to fifth, read from the database, then the live ones.
    const resumed: Change[] = [];
    const second = seen.find((c) => c.id === ids[1])!;
    const stop2 = await feed.subscribe(parsePosition(second.position), (cs) => resumed.push(...cs));
    const more = `fan-${randomUUID()}`;
    await recordTransition(db.sql, { version: 1, snapshot: journey(more), events: [event('journey.started')] });
    await waitFor(async () => (resumed.some((c) => c.id === more) ? true : undefined), 5000);
    expect(resumed.map((c) => c.id).filter((id) => ids.includes(id) || id === more)).toEqual([...ids.slice(2), more]);
    expect(new Set(resumed.map((c) => c.position)).size).toBe(resumed.length);
    expect(feed.listeners).toBe(2);
    stop();
    stop2();
    expect(feed.listeners).toBe(0);
  });

  it('shows each role what its read routes show', () => {
    const c = (kind: Change['kind'], patient: string, doctor: string | null): Change => ({ position: '1-1', kind, id: 'x', journeyId: 'j', patientId: patient, doctorId: doctor, seq: 1, type: 't', at: '2026-11-30T00:00:00.000Z' });
    const j = c('journey', 'p1', 'd1');
    const rx = c('prescription', 'p1', 'd1');
    expect([maySee({ role: 'coordinator', id: 'c' }, j), maySee({ role: 'admin', id: 'a' }, rx)]).toEqual([true, true]);
    expect([maySee({ role: 'patient', id: 'p1' }, j), maySee({ role: 'patient', id: 'p2' }, j)]).toEqual([true, false]);
    expect([maySee({ role: 'doctor', id: 'd1' }, j), maySee({ role: 'doctor', id: 'd2' }, j), maySee({ role: 'doctor', id: 'd2' }, c('journey', 'p1', null))]).toEqual([true, false, false]);
    expect([maySee({ role: 'pharmacist', id: 'ph' }, rx), maySee({ role: 'pharmacist', id: 'ph' }, j)]).toEqual([true, false]);
  });
});
