// Seat booking under contention: CarePath's single conditional UPDATE against a baseline that locks
// the slot row first (SELECT … FOR UPDATE, then UPDATE), both in this process on the same PostgreSQL.
// Prints throughput and the ratio. `npm run bench` (DATABASE_URL or the machine's PostgreSQL).
import { randomUUID } from 'node:crypto';
import type { Sql } from '../activities/db.js';
import { createClinician } from '../activities/reference.js';
import { createSlot, reserveSeat } from '../activities/slots.js';
import { testDb } from '../tests/support/db.js';

const SLOTS = 40;
const REQUESTS_PER_SLOT = 50;
const CAPACITY = 10;
const ROUNDS = 3;

async function lockingBaseline(sql: Sql, r: { journeyId: string; slotId: string }): Promise<boolean> {
  return sql.begin(async (tx) => {
    const [slot] = await tx<{ remaining: number }[]>`select remaining from slots where id = ${r.slotId} for update`;
    if (!slot || slot.remaining <= 0) return false;
    await tx`update slots set remaining = remaining - 1 where id = ${r.slotId}`;
    await tx`insert into seats (journey_id, slot_id, status) values (${r.journeyId}, ${r.slotId}, 'held')`;
    return true;
  });
}

async function run(sql: Sql, doctorId: string, book: (slotId: string, journeyId: string) => Promise<boolean>): Promise<{ perSecond: number; booked: number }> {
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
  return { perSecond: results.length / seconds, booked };
}

const db = await testDb({ max: 10 });
try {
  const doctor = await createClinician(db.sql, { name: 'Bench', role: 'doctor', department: 'cardiology' });
  const ours = (slotId: string, journeyId: string) =>
    reserveSeat(db.sql, { journeyId, slotId, mode: 'offline', department: 'cardiology' }).then((r) => r.ok);
  const baseline = (slotId: string, journeyId: string) => lockingBaseline(db.sql, { journeyId, slotId });
  await run(db.sql, doctor.id, ours); // warm-up
  await run(db.sql, doctor.id, baseline);
  const samples: { ours: number; baseline: number }[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const b = await run(db.sql, doctor.id, baseline);
    const o = await run(db.sql, doctor.id, ours);
    samples.push({ ours: o.perSecond, baseline: b.perSecond });
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const o = median(samples.map((s) => s.ours));
  const b = median(samples.map((s) => s.baseline));
  console.log(`booking requests/s (${SLOTS} slots × ${REQUESTS_PER_SLOT} concurrent requests, capacity ${CAPACITY}, median of ${ROUNDS})`);
  console.log(`  baseline (lock row, then update): ${b.toFixed(0)}`);
  console.log(`  carepath (one conditional UPDATE): ${o.toFixed(0)}`);
  console.log(`  ratio carepath / baseline: ${(o / b).toFixed(2)}x`);
} finally {
  await db.drop();
}
