// Seat booking under contention: CarePath's single conditional UPDATE against a baseline that locks
// the slot row first (SELECT … FOR UPDATE, then UPDATE), both in this process on the same PostgreSQL
// (a schema of its own). Throughput, median of ROUNDS, the baseline and ours alternating.
import { randomUUID } from 'node:crypto';
import type { Sql } from '../../activities/db.js';
import { createClinician } from '../../activities/reference.js';
import { createSlot, reserveSeat } from '../../activities/slots.js';
import { testDb } from '../../tests/support/db.js';
import { row, type Row } from '../report.js';

export const SLOTS = 40;
export const REQUESTS_PER_SLOT = 50;
export const CAPACITY = 10;
export const ROUNDS = 3;

async function lockingBaseline(sql: Sql, r: { journeyId: string; slotId: string }): Promise<boolean> {
  return sql.begin(async (tx) => {
    const [slot] = await tx<{ remaining: number }[]>`select remaining from slots where id = ${r.slotId} for update`;
    if (!slot || slot.remaining <= 0) return false;
    await tx`update slots set remaining = remaining - 1 where id = ${r.slotId}`;
    await tx`insert into seats (journey_id, slot_id, status) values (${r.journeyId}, ${r.slotId}, 'held')`;
    return true;
  });
}

async function run(sql: Sql, doctorId: string, book: (slotId: string, journeyId: string) => Promise<boolean>): Promise<number> {
  const start = new Date(Date.now() + 86_400_000).toISOString();
  const end = new Date(Date.now() + 90_000_000).toISOString();
  const slots = await Promise.all(
    Array.from({ length: SLOTS }, () => createSlot(sql, { doctorId, department: 'cardiology', start, end, capacity: CAPACITY, mode: 'offline' })),
  );
  const t0 = performance.now();
  const results = await Promise.all(slots.flatMap((s) => Array.from({ length: REQUESTS_PER_SLOT }, () => book(s.id, randomUUID()))));
  const seconds = (performance.now() - t0) / 1000;
  const booked = results.filter(Boolean).length;
  if (booked !== SLOTS * CAPACITY) throw new Error(`overbooked or underbooked: ${booked}`);
  return results.length / seconds;
}

/** Booking requests a second: ours and the lock-then-update baseline's (medians). */
export async function booking(): Promise<{ ours: number; baseline: number; row: Row }> {
  const db = await testDb({ max: 10 });
  try {
    const doctor = await createClinician(db.sql, { name: 'Bench', role: 'doctor', department: 'cardiology' });
    const ours = (slotId: string, journeyId: string) => reserveSeat(db.sql, { journeyId, slotId, mode: 'offline', department: 'cardiology' }).then((r) => r.ok);
    const baseline = (slotId: string, journeyId: string) => lockingBaseline(db.sql, { journeyId, slotId });
    await run(db.sql, doctor.id, ours); // warm-up
    await run(db.sql, doctor.id, baseline);
    const o: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      b.push(await run(db.sql, doctor.id, baseline));
      o.push(await run(db.sql, doctor.id, ours));
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const r = { ours: median(o), baseline: median(b) };
    return {
      ...r,
      row: row({
        id: 'booking',
        measure: `seat booking, ${SLOTS} slots × ${REQUESTS_PER_SLOT} concurrent requests (capacity ${CAPACITY}): throughput`,
        unit: '/s',
        today: r.ours,
        baseline: r.baseline,
        baselineWhat: 'lock row, then update',
        goal: null,
        detail: { rounds: ROUNDS, ours: o, baseline: b },
      }),
    };
  } finally {
    await db.drop();
  }
}
