// Slots, seats and the per-slot queue. A seat is taken by one conditional UPDATE on the slot row,
// so a slot is never overbooked however many bookings race for it.
import { randomUUID } from 'node:crypto';
import type { Appointment, CheckInResult, Mode, VisitStandingInput } from '../workflows/definitions.js';
import { iso, type Sql } from './db.js';
import type { ActivityDeps } from './deps.js';
import { storeOrder } from './payments.js';
import { visitStanding } from './verification.js';

export interface Slot {
  id: string;
  doctorId: string;
  department: string;
  start: string;
  end: string;
  capacity: number;
  remaining: number;
  mode: Mode;
}

interface SlotRow {
  id: string;
  doctor_id: string;
  department: string;
  start_at: Date;
  end_at: Date;
  capacity: number;
  remaining: number;
  mode: Mode;
}

const slotView = (r: SlotRow): Slot => ({
  id: r.id,
  doctorId: r.doctor_id,
  department: r.department,
  start: iso(r.start_at)!,
  end: iso(r.end_at)!,
  capacity: r.capacity,
  remaining: r.remaining,
  mode: r.mode,
});

export async function createSlot(sql: Sql, s: Omit<Slot, 'id' | 'remaining'>): Promise<Slot> {
  const [row] = await sql<SlotRow[]>`
    insert into slots (id, doctor_id, department, start_at, end_at, capacity, remaining, mode)
    values (${randomUUID()}, ${s.doctorId}, ${s.department}, ${s.start}, ${s.end}, ${s.capacity}, ${s.capacity}, ${s.mode})
    returning *`;
  return slotView(row!);
}

export async function listSlots(sql: Sql, f: { department?: string; from?: string; to?: string; mode?: Mode }): Promise<Slot[]> {
  const rows = await sql<SlotRow[]>`
    select * from slots where true
      ${f.department ? sql`and department = ${f.department}` : sql``}
      ${f.from ? sql`and start_at >= ${f.from}` : sql``}
      ${f.to ? sql`and start_at < ${f.to}` : sql``}
      ${f.mode ? sql`and mode = ${f.mode}` : sql``}
    order by start_at, id
    limit 500`;
  return rows.map(slotView);
}

/** A journey's registration order, stored with its seat (`journey-order-with-seat`). */
export interface SeatOrder {
  orderId: string;
  amount: number;
  dueBy: string;
}

export type SeatResult =
  | { ok: true; appointment: Appointment }
  | { ok: false; reason: 'not-found' | 'full' | 'started' | 'mismatch'; message: string }
  /** The standing asked with the seat (`journey-one-transaction`) refused: `type` names the rule. */
  | { ok: false; reason: 'standing'; type: string; message: string };

/**
 * Takes one seat of the slot for the journey. Idempotent per journey: a retry after success returns
 * the same seat. The seat is taken by a single UPDATE … WHERE remaining > 0 on the slot row.
 */
export async function reserveSeat(
  sql: Sql,
  r: { journeyId: string; slotId: string; mode: Mode; department: string; standing?: VisitStandingInput; order?: SeatOrder },
  tellProvider = false,
): Promise<SeatResult> {
  return sql.begin(async (raw) => {
    const tx = raw as unknown as Sql;
    // The doctor's (and, online, the patient's) standing first, in the same transaction: a refusal takes no seat.
    if (r.standing) {
      const s = await visitStanding(tx, r.standing);
      if (!s.ok) return { ok: false as const, reason: 'standing' as const, type: s.type, message: s.detail };
    }
    const seat = await takeSeat(tx, r);
    // The registration order with its seat (journey-order-with-seat): one transaction, one local activity.
    if (seat.ok && r.order) await storeOrder(tx, { ...r.order, journeyId: r.journeyId }, tellProvider);
    return seat;
  }) as Promise<SeatResult>;
}

/** The journey's seat in the slot, held already (a retry) or taken now; else why not. */
async function takeSeat(tx: Sql, r: { journeyId: string; slotId: string; mode: Mode; department: string }): Promise<SeatResult> {
  const [held] = await tx<SlotRow[]>`
    select s.* from seats h join slots s on s.id = h.slot_id
    where h.journey_id = ${r.journeyId} and h.slot_id = ${r.slotId} and h.status = 'held'`;
  if (held) return { ok: true, appointment: appointmentOf(held) };
  const [taken] = await tx<SlotRow[]>`
    update slots set remaining = remaining - 1
    where id = ${r.slotId} and remaining > 0 and start_at > now() and mode = ${r.mode} and department = ${r.department}
    returning *`;
  if (taken) {
    await tx`
      insert into seats (journey_id, slot_id, status) values (${r.journeyId}, ${r.slotId}, 'held')
      on conflict (journey_id) do update set slot_id = excluded.slot_id, status = 'held', released_at = null, created_at = now()`;
    return { ok: true, appointment: appointmentOf(taken) };
  }
  const [slot] = await tx<SlotRow[]>`select * from slots where id = ${r.slotId}`;
  if (!slot) return { ok: false, reason: 'not-found', message: 'slot not found' };
  if (slot.mode !== r.mode) return { ok: false, reason: 'mismatch', message: `slot is ${slot.mode}, journey is ${r.mode}` };
  if (slot.department !== r.department) {
    return { ok: false, reason: 'mismatch', message: `slot is in ${slot.department}, journey was triaged to ${r.department}` };
  }
  if (slot.start_at.getTime() <= Date.now()) return { ok: false, reason: 'started', message: 'slot has already started' };
  return { ok: false, reason: 'full', message: 'slot is full' };
}

const appointmentOf = (s: SlotRow): Appointment => ({
  slotId: s.id,
  doctorId: s.doctor_id,
  start: iso(s.start_at)!,
  end: iso(s.end_at)!,
});

/** Gives the journey's held seat back to its slot, once. `noShow` keeps the seat marked as such. */
export async function releaseSeat(sql: Sql, r: { journeyId: string; noShow?: boolean }): Promise<void> {
  await sql.begin((tx) => releaseSeatIn(tx as unknown as Sql, r));
}

/** `releaseSeat` inside the caller's transaction (a journey's projection, `journey-one-transaction`). */
export async function releaseSeatIn(tx: Sql, r: { journeyId: string; noShow?: boolean }): Promise<void> {
  const [seat] = await tx<{ slot_id: string }[]>`
    update seats set status = ${r.noShow ? 'no-show' : 'released'}, released_at = now()
    where journey_id = ${r.journeyId} and status = 'held'
    returning slot_id`;
  if (seat) await tx`update slots set remaining = remaining + 1 where id = ${seat.slot_id}`;
}

/** Gives the next queue number of the slot; idempotent per journey. */
export async function checkIn(sql: Sql, r: { journeyId: string; slotId: string }): Promise<CheckInResult> {
  return sql.begin(async (tx) => {
    // The slot row lock orders concurrent check-ins of one slot.
    await tx`select id from slots where id = ${r.slotId} for update`;
    await tx`
      insert into queue_entries (journey_id, slot_id, queue_number, status)
      select ${r.journeyId}, ${r.slotId}, coalesce(max(queue_number), 0) + 1, 'waiting'
      from queue_entries where slot_id = ${r.slotId}
      on conflict (journey_id) do nothing`;
    const [row] = await tx<{ queue_number: number }[]>`select queue_number from queue_entries where journey_id = ${r.journeyId}`;
    return { queueNumber: row!.queue_number, ahead: await aheadOf(tx as unknown as Sql, r.journeyId) };
  });
}

async function aheadOf(sql: Sql, journeyId: string): Promise<number> {
  const [row] = await sql<{ ahead: number }[]>`
    select count(*)::int as ahead from queue_entries o
    join queue_entries me on me.journey_id = ${journeyId} and o.slot_id = me.slot_id
    where o.status = 'waiting' and o.queue_number < me.queue_number`;
  return row?.ahead ?? 0;
}

export async function queuePosition(sql: Sql, r: { journeyId: string }): Promise<{ ahead: number }> {
  return { ahead: await aheadOf(sql, r.journeyId) };
}

/** Marks the journey in consultation; returns the journeys still waiting behind it in that slot. */
export async function startConsultationInQueue(sql: Sql, r: { journeyId: string; slotId: string }): Promise<string[]> {
  await sql`update queue_entries set status = 'in-consultation' where journey_id = ${r.journeyId} and status = 'waiting'`;
  const rows = await sql<{ journey_id: string }[]>`
    select journey_id from queue_entries where slot_id = ${r.slotId} and status = 'waiting' order by queue_number`;
  return rows.map((x) => x.journey_id);
}

export async function finishConsultationInQueue(sql: Sql, r: { journeyId: string }): Promise<void> {
  await sql`update queue_entries set status = 'done' where journey_id = ${r.journeyId}`;
}

/**
 * A checked-in patient leaves the queue without being seen (the journey was ended by a coordinator);
 * returns the journeys still waiting in that slot, who may now be near their turn.
 */
export async function leaveQueue(sql: Sql, r: { journeyId: string; slotId: string }): Promise<string[]> {
  await sql`update queue_entries set status = 'done' where journey_id = ${r.journeyId} and status = 'waiting'`;
  const rows = await sql<{ journey_id: string }[]>`
    select journey_id from queue_entries where slot_id = ${r.slotId} and status = 'waiting' order by queue_number`;
  return rows.map((x) => x.journey_id);
}

/** Slot activities: seats and the per-slot queue; whoever the queue moves for is told. */
export function slotActivities(deps: ActivityDeps) {
  const { sql } = deps;
  return {
    reserveSeat: (r: Parameters<typeof reserveSeat>[1]) => reserveSeat(sql, r, deps.payments.requested !== undefined),
    releaseSeat: (r: Parameters<typeof releaseSeat>[1]) => releaseSeat(sql, r),
    checkIn: (r: Parameters<typeof checkIn>[1]) => checkIn(sql, r),
    queuePosition: (r: Parameters<typeof queuePosition>[1]) => queuePosition(sql, r),
    async startConsultationInQueue(r: Parameters<typeof startConsultationInQueue>[1]): Promise<void> {
      await deps.signalQueueAdvanced(await startConsultationInQueue(sql, r));
    },
    finishConsultationInQueue: (r: Parameters<typeof finishConsultationInQueue>[1]) => finishConsultationInQueue(sql, r),
    async leaveQueue(r: Parameters<typeof leaveQueue>[1]): Promise<void> {
      await deps.signalQueueAdvanced(await leaveQueue(sql, r));
    },
  };
}
