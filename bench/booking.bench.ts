// Seat booking under contention on its own (bench/measures/booking.ts; `npm run bench` runs it too):
// CarePath's single conditional UPDATE against a lock-then-update baseline on the same PostgreSQL.
// `npm run bench:booking` (DATABASE_URL or the machine's PostgreSQL).
import { booking, CAPACITY, REQUESTS_PER_SLOT, ROUNDS, SLOTS } from './measures/booking.js';

const { ours: o, baseline: b } = await booking();
console.log(`booking requests/s (${SLOTS} slots × ${REQUESTS_PER_SLOT} concurrent requests, capacity ${CAPACITY}, median of ${ROUNDS})`);
console.log(`  baseline (lock row, then update): ${b.toFixed(0)}`);
console.log(`  carepath (one conditional UPDATE): ${o.toFixed(0)}`);
console.log(`  ratio carepath / baseline: ${(o / b).toFixed(2)}x`);
