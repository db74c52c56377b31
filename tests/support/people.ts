// The people of a visit as the rules of online care want them: clinicians with a verified licence and
// real-name verified patients, created and verified through the API like a hospital's staff would.
import type { Stack } from './stack.js';
import { json } from './http.js';

type Body = Record<string, unknown>;

/** A clinician (doctor unless `role` says otherwise) whose licence an admin has verified. */
export async function verifiedClinician(stack: Stack, admin: string, body: Body, yearsOfPractice = 10): Promise<Record<string, any>> {
  const c = await json(await stack.call('POST', '/v1/clinicians', { token: admin, body: { role: 'doctor', ...body } }), 201);
  await verifyClinicianId(stack, admin, c.id, yearsOfPractice);
  return { ...c, verified: true };
}

/** A patient whose real-name identity a coordinator (or admin) has verified. */
export async function verifiedPatient(stack: Stack, staff: string, body: Body): Promise<Record<string, any>> {
  const p = await json(await stack.call('POST', '/v1/patients', { token: staff, body }), 201);
  await verifyPatientId(stack, staff, p.id);
  return p;
}

/** Verifies an existing clinician's licence (admin). */
export async function verifyClinicianId(stack: Stack, admin: string, id: string, yearsOfPractice = 10): Promise<void> {
  await json(await stack.call('POST', `/v1/clinicians/${id}/verification`, { token: admin, body: { licenceNumber: `LIC-${id.slice(0, 8)}`, yearsOfPractice } }), 200);
}

/** Records an existing patient's real-name verification (coordinator or admin). */
export async function verifyPatientId(stack: Stack, staff: string, id: string): Promise<void> {
  await json(await stack.call('POST', `/v1/patients/${id}/identity-verifications`, { token: staff, body: { method: 'id-card' } }), 201);
}

/** A verified pharmacist's token (and id): pharmacists review only with a verified licence. */
export async function pharmacistToken(stack: Stack, admin: string, name = 'Pharmacist'): Promise<string> {
  const ph = await verifiedClinician(stack, admin, { name, role: 'pharmacist' });
  return stack.token('pharmacist', ph.id);
}
