// A visit as integration tests need it: a new patient booked and paid, through the API and the payment
// webhook, into a slot of the given doctor that starts 2.5 s from now, and checked in once it has begun.
import { expect } from 'vitest';
import type { Stack } from './stack.js';
import { json } from './http.js';
import { verifiedPatient } from './people.js';

export interface CheckedIn {
  journeyId: string;
  patientId: string;
  /** The patient's token. */
  patient: string;
  orderId: string;
}

export interface BookOptions {
  admin: string;
  doctorId: string;
  department?: string;
  pathwayId?: string;
  complaint?: string;
  /** Real-name verified unless false (an offline visit does not need it; paying a prescription does). */
  verified?: boolean;
  patient?: { name: string; phone: string; birthDate: string; sex: 'F' | 'M' };
  /** When the slot starts, epoch ms (default an hour from now). */
  startsAt?: number;
}

/** A new patient's journey booked into a new slot of the doctor: its registration order pending. */
export async function booked(stack: Stack, o: BookOptions): Promise<CheckedIn> {
  const department = o.department ?? 'respiratory';
  const body = o.patient ?? { name: '就诊患者', phone: '+8613800000001', birthDate: '1960-02-02', sex: 'F' };
  const p = o.verified === false ? await json(await stack.call('POST', '/v1/patients', { token: o.admin, body }), 201) : await verifiedPatient(stack, o.admin, body);
  const patient = await stack.token('patient', p.id);
  const start = new Date(o.startsAt ?? Date.now() + 3_600_000);
  const slot = await json(await stack.call('POST', '/v1/slots', {
    token: o.admin,
    body: { doctorId: o.doctorId, department, start: start.toISOString(), end: new Date(start.getTime() + 3600_000).toISOString(), capacity: 5, mode: 'offline' },
  }), 201);
  const j = await json(await stack.call('POST', '/v1/journeys', { token: patient, body: { patientId: p.id, mode: 'offline', complaint: o.complaint ?? '咳嗽三天', ...(o.pathwayId ? { pathwayId: o.pathwayId } : {}) } }), 201);
  const b = await json(await stack.call('POST', `/v1/journeys/${j.id}/appointment`, { token: patient, body: { slotId: slot.id } }), 200);
  return { journeyId: j.id, patientId: p.id, patient, orderId: b.payment.orderId };
}

export async function checkedIn(stack: Stack, o: BookOptions & { pathwayId: string; fee: number }): Promise<CheckedIn> {
  const startsAt = Date.now() + 2500; // time to start, book and pay before it begins, even on a loaded machine
  const visit = await booked(stack, { ...o, startsAt });
  const paid = await stack.payWebhook({ orderId: visit.orderId, status: 'paid', amount: o.fee, paidAt: new Date().toISOString(), channel: 'wechat' });
  expect(paid.status).toBe(204);
  await new Promise((r) => setTimeout(r, Math.max(0, startsAt - Date.now()) + 100));
  await json(await stack.call('POST', `/v1/journeys/${visit.journeyId}/check-in`, { token: visit.patient }), 200);
  return visit;
}
