// The audit log's table and repository (db/migrations/010, activities/audit.ts): append-only in the
// database itself (UPDATE, DELETE and TRUNCATE refused, on PostgreSQL and on the embedded PGlite), the
// event's patient resolved from what the request named, and the admins' filters and pages.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAuditEvent, listAuditEvents, type AuditEventInput } from '../activities/audit.js';
import type { Sql } from '../activities/db.js';
import { createLogger } from '../workers/logger.js';
import { openDatabase, prepareDatabase, type Database } from '../workers/services.js';
import { testDb, type TestDb } from './support/db.js';

let db: TestDb;
beforeAll(async () => {
  db = await testDb();
}, 60_000);
afterAll(async () => {
  await db?.drop();
});

let seq = 0;
const base = (over: Partial<AuditEventInput> = {}): AuditEventInput => ({
  actor: 'coordinator-1',
  role: 'coordinator',
  action: 'GET /v1/journeys/{id}',
  resource: null,
  outcome: 'allowed',
  status: 200,
  requestId: `req-${++seq}`,
  ...over,
});

/** Appends `e` and reads back its row. */
async function appended(sql: Sql, e: AuditEventInput) {
  await appendAuditEvent(sql, e);
  const [row] = await sql<{ patient_id: string | null; patient_ids: string[] | null; resource: string | null; actor: string | null; role: string; outcome: string; status: number }[]>`
    select patient_id, patient_ids, resource, actor, role, outcome, status from audit_events where request_id = ${e.requestId}`;
  return row!;
}

/** UPDATE, DELETE and TRUNCATE are each refused, and the rows stay as they were. */
async function expectAppendOnly(sql: Sql): Promise<void> {
  await appendAuditEvent(sql, base({ requestId: 'kept' }));
  const before = await sql`select * from audit_events order by id`;
  expect(before.length).toBeGreaterThan(0);
  await expect(sql`update audit_events set outcome = 'refused' where request_id = 'kept'`).rejects.toThrow(/audit_events is append-only: UPDATE/);
  await expect(sql`delete from audit_events where request_id = 'kept'`).rejects.toThrow(/audit_events is append-only: DELETE/);
  await expect(sql`truncate audit_events`).rejects.toThrow(/audit_events is append-only: TRUNCATE/);
  expect(await sql`select * from audit_events order by id`).toEqual(before);
}

describe('on PostgreSQL', () => {
  it('the audit log is append-only', async () => {
    await expectAppendOnly(db.sql);
  });

  describe('the event names the patient the request concerned', () => {
    beforeAll(async () => {
      const sql = db.sql;
      await sql`insert into patients (id, name, phone, birth_date, sex) values ('pa', 'A', '+8613800000001', '1980-01-01', 'F'), ('pb', 'B', '+8613800000002', '1981-01-01', 'M')`;
      await sql`insert into facilities (id, name, kind) values ('f1', 'F', 'hospital')`;
      for (const [j, p] of [['ja', 'pa'], ['jb', 'pb']]) {
        await sql`insert into journeys (id, patient_id, mode, pathway_id, pathway_version, phase, status, step, snapshot)
                  values (${j!}, ${p!}, 'offline', 'standard-outpatient', 1, 'pre-visit', 'active', 'triage', '{}')`;
      }
      await sql`insert into prescriptions (id, journey_id, patient_id, prescriber_id, status, snapshot) values ('rx', 'ja', 'pa', 'd1', 'pending-review', '{}')`;
      await sql`insert into exams (id, journey_id, patient_id, doctor_id, status, snapshot) values ('ex', 'jb', 'pb', 'd1', 'awaiting-payment', '{}')`;
      await sql`insert into referrals (id, journey_id, patient_id, facility_id, status, snapshot) values ('rf', 'ja', 'pa', 'f1', 'sent', '{}')`;
      await sql`insert into programs (id, patient_id, condition, doctor_id, status, snapshot, version) values ('pg', 'pb', 'hypertension', 'd1', 'active', '{}', 1)`;
      await sql`insert into payments (order_id, journey_id, amount, status, due_by, subject_type, subject_id) values ('ord', 'jb', 800, 'pending', now(), 'journey', 'jb')`;
      await sql`insert into deliveries (delivery_id, prescription_id, attempt) values ('dl', 'rx', 1)`;
      await sql`insert into tasks (id, kind, role, status, journey_id, action, subject_type, subject_id, due_at)
                values ('tj', 'escalation', 'coordinator', 'open', 'ja', 'act', 'prescription', 'rx', now()),
                       ('tp', 'vital-alert', 'doctor', 'open', null, 'act', 'program', 'pg', now())`;
    });

    it.each([
      ['patient', 'pa', 'pa'],
      ['journey', 'jb', 'pb'],
      ['prescription', 'rx', 'pa'],
      ['exam', 'ex', 'pb'],
      ['referral', 'rf', 'pa'],
      ['program', 'pg', 'pb'],
      ['order', 'ord', 'pb'],
      ['delivery', 'dl', 'pa'],
      ['task', 'tj', 'pa'],
      ['task', 'tp', 'pb'],
    ] as const)("a %s's owner (%s → %s)", async (kind, id, patient) => {
      const row = await appended(db.sql, base({ resource: `${kind}:${id}`, owner: { kind, id } }));
      expect(row).toMatchObject({ patient_id: patient, patient_ids: null, resource: `${kind}:${id}` });
    });

    it('an id that names nothing: no patient', async () => {
      for (const kind of ['patient', 'journey', 'task', 'order'] as const) {
        expect((await appended(db.sql, base({ resource: `${kind}:nothing`, owner: { kind, id: 'nothing' } }))).patient_id).toBeNull();
      }
    });

    it("a named patient wins over the owner, if the patient exists; the query's patientId only when nothing else names one", async () => {
      expect((await appended(db.sql, base({ owner: { kind: 'journey', id: 'ja' }, patientId: 'pb' }))).patient_id).toBe('pb');
      expect((await appended(db.sql, base({ owner: { kind: 'journey', id: 'ja' }, patientId: 'nobody' }))).patient_id).toBe('pa');
      expect((await appended(db.sql, base({ owner: { kind: 'journey', id: 'ja' }, queriedPatientId: 'pb' }))).patient_id).toBe('pa');
      expect((await appended(db.sql, base({ queriedPatientId: 'pb' }))).patient_id).toBe('pb');
      expect((await appended(db.sql, base({ queriedPatientId: 'nobody' }))).patient_id).toBeNull();
      expect((await appended(db.sql, base({ patientId: 'nobody' }))).patient_id).toBeNull();
    });

    it("a list's patients: those named and the owners of what it showed, each once, in order", async () => {
      const row = await appended(
        db.sql,
        base({ resource: 'tasks', list: { patientIds: ['pb'], shows: [{ kind: 'prescription', id: 'rx' }, { kind: 'program', id: 'pg' }, { kind: 'exam', id: 'nothing' }] } }),
      );
      expect(row).toMatchObject({ patient_id: null, patient_ids: ['pa', 'pb'] });
      expect((await appended(db.sql, base({ list: { patientIds: [], shows: [] } }))).patient_ids).toEqual([]);
    });
  });

  describe('listing (GET /v1/audit)', () => {
    let own: TestDb;
    let sql: Sql;
    const ids: string[] = [];
    afterAll(async () => {
      await own?.drop();
    });
    beforeAll(async () => {
      own = await testDb();
      sql = own.sql;
      await sql`insert into patients (id, name, phone, birth_date, sex) values ('p1', 'A', '+8613800000001', '1980-01-01', 'F'), ('p2', 'B', '+8613800000002', '1981-01-01', 'M')`;
      await appendAuditEvent(sql, base({ requestId: 'l1', actor: 'doc-1', role: 'doctor', patientId: 'p1' }));
      await appendAuditEvent(sql, base({ requestId: 'l2', actor: 'coord-1', resource: 'journeys', list: { patientIds: ['p1', 'p2'], shows: [] } }));
      await appendAuditEvent(sql, base({ requestId: 'l3', actor: null, role: 'anonymous', patientId: 'p2', outcome: 'refused', status: 401 }));
      await appendAuditEvent(sql, base({ requestId: 'l4', actor: 'doc-1', role: 'doctor', patientId: 'p2', outcome: 'refused', status: 404 }));
      for (const r of await sql<{ id: bigint }[]>`select id from audit_events order by id`) ids.push(String(r.id));
    });

    it('newest first, every field', async () => {
      const { items, next } = await listAuditEvents(sql, { limit: 10 });
      expect(next).toBeUndefined();
      expect(items.map((e) => e.requestId)).toEqual(['l4', 'l3', 'l2', 'l1']);
      expect(items[2]).toEqual({
        id: ids[1], at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), actor: 'coord-1', role: 'coordinator', action: 'GET /v1/journeys/{id}',
        patientId: null, patientIds: ['p1', 'p2'], resource: 'journeys', outcome: 'allowed', status: 200, requestId: 'l2',
      });
      expect(items[1]).toMatchObject({ actor: null, role: 'anonymous', patientId: 'p2', outcome: 'refused', status: 401 });
      expect(items[1]).not.toHaveProperty('patientIds');
    });

    it("a patient's events are theirs and the lists that showed them", async () => {
      expect((await listAuditEvents(sql, { patientId: 'p1', limit: 10 })).items.map((e) => e.requestId)).toEqual(['l2', 'l1']);
      expect((await listAuditEvents(sql, { patientId: 'p2', limit: 10 })).items.map((e) => e.requestId)).toEqual(['l4', 'l3', 'l2']);
      expect((await listAuditEvents(sql, { patientId: 'p3', limit: 10 })).items).toEqual([]);
    });

    it('by actor, by time, and in pages', async () => {
      expect((await listAuditEvents(sql, { actor: 'doc-1', limit: 10 })).items.map((e) => e.requestId)).toEqual(['l4', 'l1']);
      const [{ at }] = (await sql`select at::text as at from audit_events where request_id = 'l1'`) as unknown as [{ at: string }];
      expect((await listAuditEvents(sql, { from: at, limit: 10 })).items).toHaveLength(4);
      expect((await listAuditEvents(sql, { to: at, limit: 10 })).items).toHaveLength(0);
      expect((await listAuditEvents(sql, { from: new Date(Date.now() + 60_000).toISOString(), limit: 10 })).items).toHaveLength(0);
      const first = await listAuditEvents(sql, { limit: 3 });
      expect(first.items.map((e) => e.requestId)).toEqual(['l4', 'l3', 'l2']);
      expect(first.next).toBe(ids[1]);
      const second = await listAuditEvents(sql, { limit: 3, before: first.next! });
      expect(second).toEqual({ items: [expect.objectContaining({ requestId: 'l1' })] });
    });
  });
});

describe('on the embedded PGlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'carepath-audit-'));
  let pg: Database | undefined;
  afterAll(async () => {
    await pg?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the audit log is append-only', async () => {
    pg = await openDatabase(undefined, dir, createLogger('silent'));
    await prepareDatabase(pg.sql, createLogger('silent'));
    await expectAppendOnly(pg.sql);
  }, 60_000);
});
