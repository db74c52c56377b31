// Patients: registration (staff) and what hangs off a patient's record: the notification inbox,
// identity verification, consents and the access log. A patient reads only their own; another
// patient's record is 404.
import { createRoute, z } from '@hono/zod-openapi';
import { listAuditEvents } from '../../activities/audit.js';
import { changeConsent, currentConsents } from '../../activities/consent.js';
import { listNotifications } from '../../activities/notifications.js';
import { patientInvoices } from '../../activities/invoices.js';
import { patientRecords } from '../../activities/records.js';
import * as reference from '../../activities/reference.js';
import { identityVerification, recordIdentityVerification } from '../../activities/verification.js';
import { auditSubject } from '../audit.js';
import { idempotent } from '../idempotency.js';
import { authenticate, isStaff, requireRole, type User } from '../auth.js';
import { bearer, jsonBody, jsonResponse, newRouter, opaqueIds, problems } from '../openapi.js';
import { ApiProblem, notFound } from '../problems.js';
import * as s from '../schemas.js';
import { AccessLogEntry, AccessLogQuery, AuditPageSchema, auditPage, decodeAuditCursor, toAccessLogEntry } from './audit.js';
import type { ApiDeps } from '../types.js';

const staff = requireRole('admin', 'coordinator');

export function patientRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/', idempotent(deps.sql, deps.engineTimeoutMs));
  r.use('/:id/identity-verifications', idempotent(deps.sql, deps.engineTimeoutMs));
  r.use('/:id', opaqueIds('patient'));
  r.use('/:id/*', opaqueIds('patient'));
  r.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['reference data'],
      security: bearer,
      middleware: [staff] as const,
      request: { headers: s.IdempotencyHeaders, body: jsonBody(s.PatientInput) },
      responses: { 201: jsonResponse(s.Patient, 'Created'), ...problems(400, 401, 403, 413) },
    }),
    async (c) => {
      const patient = await reference.createPatient(deps.sql, c.req.valid('json'));
      auditSubject(c, { patientId: patient.id, resource: `patient:${patient.id}` });
      return c.json(patient, 201);
    },
  );
  /** The patient, for the patient themself and staff; doctors and pharmacists 403; another patient 404. */
  async function readablePatient(user: User, id: string) {
    if (user.role === 'doctor' || user.role === 'pharmacist') throw new ApiProblem(403, 'forbidden', 'Forbidden', 'only the patient and staff read a patient record');
    const patient = isStaff(user) || user.id === id ? await reference.getPatient(deps.sql, id) : undefined;
    if (!patient) throw notFound('patient');
    return patient;
  }
  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['reference data'],
      summary: 'One patient with their real-name verification (the patient, coordinators, admins)',
      security: bearer,
      request: { params: s.IdParam },
      responses: { 200: jsonResponse(s.PatientRecord, 'The patient'), ...problems(401, 403, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const patient = await readablePatient(c.get('user'), id);
      return c.json({ ...patient, identity: (await identityVerification(deps.sql, id)) ?? null }, 200);
    },
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/records',
      tags: ['reference data'],
      summary: "The patient's records: journeys, visit outcomes, prescriptions, exam results and referrals, newest first (the patient, coordinators, admins)",
      description: 'Each item links to its detail (`href`). Read from the read model. A patient reading another patient\'s records: 404.',
      security: bearer,
      request: { params: s.IdParam, query: s.RecordsQuery },
      responses: { 200: jsonResponse(z.object({ items: z.array(s.RecordItem) }), 'Newest first'), ...problems(400, 401, 403, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await readablePatient(c.get('user'), id);
      return c.json({ items: await patientRecords(deps.sql, id, c.req.valid('query').limit) }, 200);
    },
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/invoices',
      tags: ['reference data'],
      summary: "The patient's electronic invoices (电子发票), newest first: one per settled payment, voided on refund (the patient, coordinators, admins)",
      description:
        'Issued when an order is marked paid (registration, prescription, exam or online consultation), with its items and the amounts by payer; voided when it is refunded, and reissued for what remains when the refund was partial (`replaces`).',
      security: bearer,
      request: { params: s.IdParam, query: s.RecordsQuery },
      responses: { 200: jsonResponse(z.object({ items: z.array(s.Invoice) }), 'Newest first'), ...problems(400, 401, 403, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await readablePatient(c.get('user'), id);
      const items = await patientInvoices(deps.sql, id, c.req.valid('query').limit);
      auditSubject(c, { patientId: id });
      return c.json({ items }, 200);
    },
  );
  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/identity-verifications',
      tags: ['reference data'],
      summary: "A coordinator records the patient's real-name verification",
      description:
        'A record (method, who, when) is added, never replaced. Until one exists the patient cannot have an online consultation or pay a prescription (422 `patient-unverified`). ' +
        'An identity provider reports verifications on the signed `POST /v1/webhooks/identity`.',
      security: bearer,
      middleware: [staff] as const,
      request: { params: s.IdParam, headers: s.IdempotencyHeaders, body: jsonBody(s.IdentityVerificationInput) },
      responses: { 201: jsonResponse(s.IdentityVerification, 'Recorded'), ...problems(400, 401, 403, 404, 413) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      if (!(await reference.patientExists(deps.sql, id))) throw notFound('patient');
      const body = c.req.valid('json');
      const record = await recordIdentityVerification(deps.sql, {
        patientId: id,
        method: body.method,
        source: 'coordinator',
        verifiedBy: c.get('user').id,
        verifiedAt: new Date().toISOString(),
        ...(body.reference ? { reference: body.reference } : {}),
      });
      c.get('log').info({ patientId: id, verificationId: record.id }, 'patient identity verified (coordinator)');
      return c.json(record, 201);
    },
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/notifications',
      tags: ['notifications'],
      summary: "The patient's notification inbox (the patient, coordinators, admins)",
      security: bearer,
      request: { params: s.IdParam },
      responses: { 200: jsonResponse(z.object({ items: z.array(s.Notification) }), 'Inbox, newest first'), ...problems(400, 401, 403, 404) },
    }),
    async (c) => {
      const user = c.get('user');
      const { id } = c.req.valid('param');
      if (user.role === 'doctor' || user.role === 'pharmacist') throw new ApiProblem(403, 'forbidden', 'Forbidden', 'only the patient and staff read an inbox');
      if (!(isStaff(user) || user.id === id) || !(await reference.patientExists(deps.sql, id))) throw notFound('patient');
      return c.json({ items: await listNotifications(deps.sql, id) }, 200);
    },
  );
  // ---- consents (issue 10, rule 6; activities/consent.ts): the patient's own, or staff on their behalf ----
  const consentKeepers = requireRole('patient', 'coordinator', 'admin');
  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/consents',
      tags: ['consent'],
      summary: "The patient's consents now: record sharing and outreach (the patient, coordinators, admins)",
      description:
        'One entry per scope, `record-sharing` then `outreach`. A scope never changed is granted: consent is given at registration (`changedBy: registration`, `changedAt` the registration). ' +
        'Doctors and pharmacists are refused (403); another patient is 404.',
      security: bearer,
      middleware: [consentKeepers] as const,
      request: { params: s.IdParam },
      responses: { 200: jsonResponse(z.object({ items: z.array(s.Consent) }), 'Both scopes'), ...problems(401, 403, 404) },
    }),
    async (c) => {
      const user = c.get('user');
      const { id } = c.req.valid('param');
      const items = isStaff(user) || user.id === id ? await currentConsents(deps.sql, id) : undefined;
      if (!items) throw notFound('patient');
      return c.json({ items }, 200);
    },
  );
  r.openapi(
    createRoute({
      method: 'put',
      path: '/{id}/consents/{scope}',
      tags: ['consent'],
      summary: 'Give or withdraw one consent (the patient, or a coordinator or admin on their behalf)',
      description:
        'Every change is kept (who, when, why); the same state again records nothing and answers the state as it stands. Effects, from the answer on: ' +
        '`record-sharing` withdrawn: a referral not yet taken by its facility is not sent (at its next attempt it ends `cancelled`, its timeline naming `consent-withdrawn`), and an outcome with a referral is refused (422 `consent-withdrawn`); referrals the facility has are not recalled. ' +
        "`outreach` withdrawn: reminders (appointments, medication, measurements, follow-ups, refills) and education are no longer sent from the next one due (each workflow's timeline says `outreach.stopped` once, reason `consent-withdrawn`); " +
        "transactional notices (payments, cancellations, results, deliveries, a facility's answer, the queue) still are. Given again, the next ones due are sent (`outreach.resumed`); those due meanwhile are not sent late. " +
        'Doctors and pharmacists are refused (403); another patient is 404.',
      security: bearer,
      middleware: [consentKeepers] as const,
      request: { params: s.ConsentParams, body: jsonBody(s.ConsentInput) },
      responses: { 200: jsonResponse(s.Consent, 'The scope as it now stands'), ...problems(400, 401, 403, 404, 413) },
    }),
    async (c) => {
      const user = c.get('user');
      const { id, scope } = c.req.valid('param');
      const body = c.req.valid('json');
      if (user.role === 'patient' && user.id !== id) throw notFound('patient');
      const done = await changeConsent(deps.sql, { patientId: id, scope, granted: body.granted, changedBy: `${user.role}:${user.id}`, ...(body.reason ? { reason: body.reason } : {}) });
      if (!done) throw notFound('patient');
      c.get('log').info({ patientId: id, scope, granted: body.granted, changed: done.changed }, 'consent set');
      return c.json(done.consent, 200);
    },
  );
  // ---- the access log (api/audit.ts records it; api/routes/audit.ts is the admins' view) ----
  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/access-log',
      tags: ['audit'],
      summary: 'Who accessed the patient\'s data, newest first (the patient, admins)',
      description:
        "Every request that concerned the patient, allowed or refused (another patient's attempt, a 404 that hid the patient's journey from someone, a list that showed the patient): " +
        'when, who (user id and role, or the signing partner), what (method and route template), on what, and whether it was allowed. ' +
        "Doctors, pharmacists and coordinators are refused (403): the log is the patient's and the auditors' (admins, who also have GET /v1/audit). Reading it is audited too.",
      security: bearer,
      middleware: [requireRole('patient', 'admin')] as const,
      request: { params: s.IdParam, query: AccessLogQuery },
      responses: { 200: jsonResponse(AuditPageSchema(AccessLogEntry), 'A page, newest first'), ...problems(400, 401, 403, 404) },
    }),
    async (c) => {
      const user = c.get('user');
      const { id } = c.req.valid('param');
      const q = c.req.valid('query');
      if ((user.role === 'patient' && user.id !== id) || !(await reference.patientExists(deps.sql, id))) throw notFound('patient');
      const page = await listAuditEvents(deps.sql, { patientId: id, limit: q.limit, ...(q.cursor ? { before: decodeAuditCursor(q.cursor) } : {}) });
      return c.json(auditPage(page.items.map(toAccessLogEntry), page.next), 200);
    },
  );
  return r;
}
