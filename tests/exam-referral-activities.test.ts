// The exam scheduler on the real PostgreSQL: earliest free time of an exam's daily schedule, once per
// exam, never one time for two exams under concurrent bookings.
import { DateTime } from 'luxon';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAM_DAY, dayStarts, examActivities, releaseExamBooking, scheduleExam } from '../activities/exams.js';
import type { ActivityDeps } from '../activities/deps.js';
import { recordItemTransition } from '../activities/items.js';
import { recordTransition } from '../activities/journeys.js';
import { ledgerPaymentProvider } from '../activities/payments.js';
import { awaitingCourier } from '../activities/prescriptions.js';
import { createPatient } from '../activities/reference.js';
import type { ExamSnapshot, JourneySnapshot } from '../workflows/definitions.js';
import { testDb, type TestDb } from './support/db.js';

let db: TestDb;
let deps: ActivityDeps;
let patientId: string;
const journeyId = 'j-post-visit';

beforeAll(async () => {
  db = await testDb({ max: 10 });
  deps = {
    sql: db.sql,
    log: pino({ level: 'silent' }),
    payments: ledgerPaymentProvider(db.sql),
    courier: awaitingCourier,
    async signalQueueAdvanced() {},
  };
  patientId = (await createPatient(db.sql, { name: '王芳', phone: '+8613800000042', birthDate: '1968-04-02', sex: 'F', timezone: 'Asia/Shanghai' })).id;
  const journey: JourneySnapshot = {
    id: journeyId,
    patientId,
    mode: 'offline',
    pathway: { id: 'standard-outpatient', version: 1 },
    phase: 'post-visit',
    status: 'active',
    step: 'follow-through',
    outcome: { diagnosis: { code: 'I20.0', text: 'unstable angina' }, notes: 'n', recordedBy: 'doc-1', recordedAt: new Date().toISOString() },
  };
  await recordTransition(db.sql, { version: 1, snapshot: journey, events: [] });
});
afterAll(async () => {
  await db?.drop();
});

/** An exam row (exam_bookings refers to it), as the workflow projects it when ordered. */
async function exam(id: string, code: string): Promise<string> {
  const snapshot: ExamSnapshot = { id, journeyId, patientId, doctorId: 'doc-1', code, name: code, status: 'scheduled' };
  await recordItemTransition(db.sql, { type: 'exam', version: 1, snapshot, events: [] });
  return id;
}

const shanghai = (s: string) => DateTime.fromISO(s, { zone: EXAM_DAY.timezone }).toJSDate();
const utc = (s: string) => shanghai(s).toISOString();

describe('scheduleExam', () => {
  it('splits 08:00–17:00 Shanghai time into daily_capacity equal start times', () => {
    const starts = dayStarts(DateTime.fromISO('2026-12-01', { zone: EXAM_DAY.timezone }), 24).map((ms) => DateTime.fromMillis(ms, { zone: EXAM_DAY.timezone }).toFormat('HH:mm:ss'));
    expect(starts).toHaveLength(24);
    expect(starts.slice(0, 3)).toEqual(['08:00:00', '08:22:30', '08:45:00']);
    expect(starts.at(-1)).toBe('16:37:30');
  });

  it('books the earliest free time at least an hour ahead, once per exam; a released time is free again', async () => {
    const now = shanghai('2026-12-01T10:20:00');
    // ecg: 24 a day, every 22.5 minutes: 11:00 is too soon, 11:22:30 is the first.
    const a = await scheduleExam(db.sql, { examId: await exam('ex-a', 'ecg'), code: 'ecg', now });
    expect(a).toEqual({ scheduledAt: utc('2026-12-01T11:22:30') });
    const b = await scheduleExam(db.sql, { examId: await exam('ex-b', 'ecg'), code: 'ecg', now });
    expect(b).toEqual({ scheduledAt: utc('2026-12-01T11:45:00') });
    // A retry (even later) returns the booking the exam has.
    expect(await scheduleExam(db.sql, { examId: 'ex-a', code: 'ecg', now: shanghai('2026-12-01T12:30:00') })).toEqual(a);
    // Another code has its own schedule.
    expect(await scheduleExam(db.sql, { examId: await exam('ex-u', 'urinalysis'), code: 'urinalysis', now })).toEqual({ scheduledAt: utc('2026-12-01T11:22:30') });

    await releaseExamBooking(db.sql, 'ex-a');
    await releaseExamBooking(db.sql, 'ex-a'); // twice changes nothing
    const c = await scheduleExam(db.sql, { examId: await exam('ex-c', 'ecg'), code: 'ecg', now });
    expect(c).toEqual(a);
    const rows = await db.sql<{ exam_id: string }[]>`select exam_id from exam_bookings where code = 'ecg' order by start_at`;
    expect(rows.map((r) => r.exam_id)).toEqual(['ex-c', 'ex-b']);
  });

  it('moves to the next day (at 08:00) when the rest of the day is too soon or taken', async () => {
    const late = shanghai('2026-12-01T16:00:00'); // chest X-ray: the last start is 16:26:15
    expect(await scheduleExam(db.sql, { examId: await exam('ex-x1', 'chest-xray'), code: 'chest-xray', now: late })).toEqual({ scheduledAt: utc('2026-12-02T08:00:00') });
    expect(await scheduleExam(db.sql, { examId: await exam('ex-x2', 'chest-xray'), code: 'chest-xray', now: late })).toEqual({ scheduledAt: utc('2026-12-02T08:33:45') });
  });

  it('never gives two exams the same time under concurrent bookings (20 exams, each booked twice at once, on a pool of 10)', async () => {
    const now = shanghai('2026-12-05T06:00:00'); // cbc: 40 a day, every 13.5 minutes from 08:00
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => exam(`ex-cbc-${i}`, 'cbc')));
    const calls = [...ids, ...ids].map((examId) => scheduleExam(db.sql, { examId, code: 'cbc', now }));
    const results = await Promise.all(calls);
    const byExam = new Map<string, string>();
    results.forEach((r, i) => {
      const examId = [...ids, ...ids][i]!;
      if (byExam.has(examId)) expect(r.scheduledAt, `${examId} booked twice`).toBe(byExam.get(examId));
      byExam.set(examId, r.scheduledAt);
    });
    const times = [...byExam.values()].sort();
    expect(new Set(times).size).toBe(20);
    // The first 20 times of the day, no gap left.
    const expected = dayStarts(DateTime.fromJSDate(now, { zone: EXAM_DAY.timezone }), 40).slice(0, 20).map((ms) => new Date(ms).toISOString());
    expect(times).toEqual(expected);
    const [count] = await db.sql<{ n: number }[]>`select count(*)::int as n from exam_bookings where code = 'cbc'`;
    expect(count!.n).toBe(20);
  });

  it('as an activity, books from the wall clock within the exam day', async () => {
    const before = Date.now();
    const { scheduledAt } = await examActivities(deps).scheduleExam({ examId: await exam('ex-now', 'lipid-panel'), code: 'lipid-panel' });
    expect(Date.parse(scheduledAt) - before).toBeGreaterThanOrEqual(60 * 60 * 1000);
    const local = DateTime.fromISO(scheduledAt, { zone: EXAM_DAY.timezone });
    expect(local.hour).toBeGreaterThanOrEqual(8);
    expect(local.hour).toBeLessThan(17);
    expect(await examActivities(deps).scheduleExam({ examId: 'ex-now', code: 'lipid-panel' })).toEqual({ scheduledAt });
  });
});
