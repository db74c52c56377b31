// The people, pathways and slots the measures need, made through the API as a hospital's staff would
// (verified doctors and patients: the rules of online care), and a journey's steps over HTTP.
import { randomBytes } from 'node:crypto';
import { json } from '../tests/support/http.js';
import { verifiedClinician, verifiedPatient } from '../tests/support/people.js';
import type { Stack } from '../tests/support/stack.js';
import type { Target } from './target.js';

export const DEPARTMENT = 'cardiology';
/** Triaged to cardiology, routine. */
export const COMPLAINT = '高血压，最近头晕';
export const FEE = 1500;
export const OUTCOME = { diagnosis: { code: 'I10', text: 'Essential hypertension' }, notes: 'Lifestyle advice; recheck in 4 weeks.' };

export interface Patient {
  id: string;
  token: string;
}

export interface World {
  t: Target;
  admin: string;
  doctor: string;
  /** This run's pathway with `k` appointment reminders (k = 0, 2, 4), offsets k…1 seconds before the start. */
  pathway(k: 0 | 2 | 4): string;
  patients(n: number): Promise<Patient[]>;
  /** A slot of the world's doctor starting `inMs` from now, one hour long. */
  slot(inMs: number, capacity: number): Promise<{ id: string; start: string }>;
}

// The people helpers read only `call` from a stack.
const asStack = (t: Target) => t as unknown as Stack;

export async function world(t: Target): Promise<World> {
  const run = randomBytes(3).toString('hex');
  const admin = await t.token('admin', `bench-admin-${run}`);
  const d = await verifiedClinician(asStack(t), admin, { name: 'Bench Doctor', department: DEPARTMENT });
  const pathways = new Map<number, string>();
  for (const k of [0, 2, 4]) {
    const id = `bench-${run}-r${k}`;
    await json(
      await t.call('POST', '/v1/pathways', {
        token: admin,
        body: {
          id,
          version: 1,
          name: `Bench pathway, ${k} reminders`,
          modes: ['offline', 'online'],
          fees: { registration: FEE },
          paymentWindow: 'PT15M',
          appointmentReminders: Array.from({ length: k }, (_, i) => `PT${k - i}S`),
          nearTurnAhead: 1,
          noShowGrace: 'PT30M',
          consultStartSla: 'PT30M',
          pharmacistReviewSla: 'PT30M',
          prescriptionValidity: 'P3D',
        },
      }),
      201,
    );
    pathways.set(k, id);
  }
  const w: World = {
    t,
    admin,
    doctor: await t.token('doctor', d.id),
    pathway: (k) => pathways.get(k)!,
    async patients(n) {
      const out: Patient[] = [];
      for (let i = 0; i < n; i += 8) {
        const batch = Array.from({ length: Math.min(8, n - i) }, async () => {
          const p = await verifiedPatient(asStack(t), admin, { name: '测试患者', phone: '+8613800000000', birthDate: '1970-01-01', sex: 'M' });
          return { id: p.id as string, token: await t.token('patient', p.id) };
        });
        out.push(...(await Promise.all(batch)));
      }
      return out;
    },
    async slot(inMs, capacity) {
      const start = new Date(Date.now() + inMs);
      return json(
        await t.call('POST', '/v1/slots', {
          token: admin,
          body: { doctorId: d.id, department: DEPARTMENT, start: start.toISOString(), end: new Date(start.getTime() + 3_600_000).toISOString(), capacity, mode: 'offline' },
        }),
        201,
      );
    },
  };
  return w;
}

/** POST /v1/journeys (triage included); the journey's id. */
export async function createJourney(w: World, p: Patient, pathwayId?: string): Promise<string> {
  const body = { patientId: p.id, mode: 'offline', complaint: COMPLAINT, ...(pathwayId ? { pathwayId } : {}) };
  return (await json(await w.t.call('POST', '/v1/journeys', { token: p.token, body }), 201)).id;
}

/** Books the slot and pays the registration fee through the signed payment webhook. */
export async function bookAndPay(w: World, p: Patient, journeyId: string, slotId: string): Promise<void> {
  const booked = await json(await w.t.call('POST', `/v1/journeys/${journeyId}/appointment`, { token: p.token, body: { slotId } }), 200);
  const paid = await w.t.payWebhook({ orderId: booked.payment.orderId, status: 'paid', amount: FEE, paidAt: new Date().toISOString(), channel: 'wechat' });
  if (paid.status !== 204) throw new Error(`payment webhook answered ${paid.status}: ${await paid.text()}`);
}

export async function checkIn(w: World, p: Patient, journeyId: string): Promise<void> {
  await json(await w.t.call('POST', `/v1/journeys/${journeyId}/check-in`, { token: p.token }), 200);
}

export async function startConsultation(w: World, journeyId: string): Promise<void> {
  await json(await w.t.call('POST', `/v1/journeys/${journeyId}/consultation`, { token: w.doctor }), 200);
}

export async function recordOutcome(w: World, journeyId: string): Promise<void> {
  await json(await w.t.call('POST', `/v1/journeys/${journeyId}/outcome`, { token: w.doctor, body: OUTCOME }), 200);
}
