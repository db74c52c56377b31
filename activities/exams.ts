// Exams: booking an exam at the earliest free time of its daily schedule, and releasing it. Each exam
// code runs `daily_capacity` equal start times from 08:00 to 17:00 (Shanghai time), every day; one
// exam per time, made safe under concurrent bookings by the unique (code, start_at) of exam_bookings.
import { DateTime } from 'luxon';
import { iso, type Sql } from './db.js';
import { activityLog, type ActivityDeps } from './deps.js';

/** The exam department's day, in its own timezone. */
export const EXAM_DAY = { timezone: 'Asia/Shanghai', opens: 8, closes: 17 } as const;
/** The patient needs time to get there: no exam is booked sooner than this after the booking. */
export const EXAM_LEAD_MS = 60 * 60 * 1000;
/** How far ahead a free time is looked for before giving up (the activity then retries). */
const SEARCH_DAYS = 366;

/** The start times of one day's schedule for an exam of `capacity` per day, in ms since the epoch. */
export function dayStarts(day: DateTime, capacity: number): number[] {
  const open = day.setZone(EXAM_DAY.timezone).startOf('day').set({ hour: EXAM_DAY.opens }).toMillis();
  const step = ((EXAM_DAY.closes - EXAM_DAY.opens) * 3_600_000) / capacity;
  return Array.from({ length: capacity }, (_, i) => open + Math.round(i * step));
}

/**
 * Books the exam at the earliest start time at least `EXAM_LEAD_MS` after `now` that no other exam of
 * its code holds. Idempotent per exam: a retry returns the booking it already has.
 */
export async function scheduleExam(sql: Sql, r: { examId: string; code: string; now: Date }): Promise<{ scheduledAt: string }> {
  const existing = async () => {
    const [row] = await sql<{ start_at: Date }[]>`select start_at from exam_bookings where exam_id = ${r.examId}`;
    return row ? { scheduledAt: iso(row.start_at)! } : undefined;
  };
  const booked = await existing();
  if (booked) return booked;
  const [exam] = await sql<{ daily_capacity: number }[]>`select daily_capacity from exam_catalogue where code = ${r.code}`;
  if (!exam) throw new Error(`exam code ${r.code} is not in the catalogue`);

  const earliest = r.now.getTime() + EXAM_LEAD_MS;
  // Times already taken are skipped without a round trip; one taken meanwhile just fails its insert.
  const taken = new Set(
    (await sql<{ start_at: Date }[]>`select start_at from exam_bookings where code = ${r.code} and start_at >= ${new Date(earliest)}`).map((b) =>
      b.start_at.getTime(),
    ),
  );
  let day = DateTime.fromMillis(earliest, { zone: EXAM_DAY.timezone }).startOf('day');
  for (let d = 0; d < SEARCH_DAYS; d++, day = day.plus({ days: 1 })) {
    for (const start of dayStarts(day, exam.daily_capacity)) {
      if (start < earliest || taken.has(start)) continue;
      const rows = await sql`
        insert into exam_bookings (exam_id, code, start_at) values (${r.examId}, ${r.code}, ${new Date(start)})
        on conflict do nothing returning exam_id`;
      if (rows.length === 1) return { scheduledAt: new Date(start).toISOString() };
      // Either that time went to another exam, or this exam was booked by a concurrent retry.
      const mine = await existing();
      if (mine) return mine;
    }
  }
  throw new Error(`no free time for exam ${r.code} within ${SEARCH_DAYS} days`);
}

/** Frees the exam's time for others. Idempotent: releasing twice changes nothing. */
export async function releaseExamBooking(sql: Sql, examId: string): Promise<void> {
  await sql`delete from exam_bookings where exam_id = ${examId}`;
}

/** Exam activities: booking and releasing an exam's time. */
export function examActivities(deps: ActivityDeps) {
  const { sql } = deps;
  return {
    async scheduleExam(r: { examId: string; code: string }): Promise<{ scheduledAt: string }> {
      const booking = await scheduleExam(sql, { ...r, now: new Date() });
      activityLog(deps).info({ examId: r.examId, code: r.code, scheduledAt: booking.scheduledAt }, 'exam scheduled');
      return booking;
    },
    async releaseExamBooking(r: { examId: string }): Promise<void> {
      await releaseExamBooking(sql, r.examId);
      activityLog(deps).info({ examId: r.examId }, 'exam booking released');
    },
  };
}
