// Signed partner webhooks: payments, courier, lab results and facilities' answers to referrals. The
// signature covers the raw body and is checked before anything else; a bad one is 401 and changes nothing.
import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { getItem } from '../../activities/items.js';
import { selfPayDue } from '../../activities/insurance.js';
import { findOrder } from '../../activities/payments.js';
import { deliverPayment } from '../payment-delivery.js';
import { findDelivery } from '../../activities/prescriptions.js';
import { patientExists } from '../../activities/reference.js';
import { SIGNATURE_HEADER, verifySignature } from '../../activities/signature.js';
import { recordIdentityVerification } from '../../activities/verification.js';
import {
  courierUpdate,
  examResultUpdate,
  examWorkflowId,
  prescriptionWorkflowId,
  referralAttendedUpdate,
  referralResponseUpdate,
  referralWorkflowId,
  type CourierReport,
  type ExamSnapshot,
  type ReferralSnapshot,
} from '../../workflows/definitions.js';
import { auditSubject } from '../audit.js';
import { jsonBody, newRouter, problems } from '../openapi.js';
import { ApiProblem, isWorkflowClosed, itemClosed, notFound, problemResponse, unprocessable } from '../problems.js';
import * as s from '../schemas.js';
import type { ApiDeps, AppEnv } from '../types.js';

/** Checks the partner's signature; once it holds, the partner is the request's actor (api/audit.ts). */
function signed(secret: string, partner: string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    // The bytes as sent: decoding first would turn a byte-order mark or invalid UTF-8 into other bytes.
    const raw = new Uint8Array(await c.req.arrayBuffer());
    if (!verifySignature(secret, raw, c.req.header(SIGNATURE_HEADER))) {
      return problemResponse(c, new ApiProblem(401, 'bad-signature', 'Unauthorized', `${SIGNATURE_HEADER} is missing or does not match the body`));
    }
    c.set('partner', partner);
    await next();
  };
}

/** Documents the signature header; the `signed` middleware checks it (401) before any validation. */
const SignatureHeader = z.object({
  [SIGNATURE_HEADER.toLowerCase()]: z.string().openapi({ description: 'sha256=<hex HMAC-SHA256 of the raw body>' }),
});

export function webhookRoutes(deps: ApiDeps) {
  const r = newRouter();
  /** Every call into the engine has a deadline: a stalled engine is a 503 (the partner retries), not a hung request. */
  const engine = <R>(fn: () => Promise<R>): Promise<R> => deps.temporal.withDeadline(Date.now() + (deps.engineTimeoutMs ?? 30_000), fn);

  r.openapi(
    createRoute({
      method: 'post',
      path: '/payments',
      tags: ['webhooks'],
      summary: 'The payment provider reports an order paid or failed',
      description:
        "The order pays for a journey's registration, a prescription, an exam or an online consultation (the `orderId` of that resource's `payment`); the payment goes to that resource's workflow. A payment nobody waits for any more is accepted and refunded, the resource's status unchanged. " +
        'A wrong amount is 422 and changes nothing; so is the payment of a prescription from a patient who is not real-name verified (422 `patient-unverified`) ' +
        'or for a prescription whose content no longer matches its signature (422 `signature-mismatch`): the provider keeps retrying, and a retry after the prescription expired is refunded.',
      middleware: [signed(deps.secrets.paymentWebhook, 'payment-provider')] as const,
      request: { headers: SignatureHeader, body: jsonBody(s.PaymentWebhook) },
      responses: { 204: { description: 'Taken (a duplicate changes nothing)' }, ...problems(400, 401, 404, 413, 422, 503) },
    }),
    async (c) => {
      const p = c.req.valid('json');
      auditSubject(c, { resource: `order:${p.orderId}` });
      const order = await findOrder(deps.sql, p.orderId);
      if (!order) throw notFound('order');
      // Of an order whose medical-insurance part has settled, the provider takes the self-paid rest.
      const due = await selfPayDue(deps.sql, deps.insurance, p.orderId, order.amount, p.status === 'paid' && (order.status === 'pending' || order.status === 'expired') ? p.amount : undefined);
      if (due === 'settling') throw new ApiProblem(503, 'insurance-settling', 'Service unavailable', "the order's insured part is being settled: try again in a moment");
      // A failure notice of the prepay order made before insurance settled carries the whole amount.
      const failedWhole = p.status === 'failed' && p.amount === order.amount;
      if (p.amount !== due.due && !failedWhole) throw unprocessable('amount-mismatch', `the order is for ${due.due} fen${due.due === order.amount ? '' : ` after insurance (of ${order.amount})`}, not ${p.amount}`);
      const { subject } = order;
      c.get('log').info({ orderId: p.orderId, journeyId: order.journeyId, subjectType: subject.type, subjectId: subject.id, status: p.status }, 'payment webhook');
      if (p.status === 'failed' || order.status === 'paid' || order.status === 'refunded') return c.body(null, 204);
      await deliverPayment(deps, order, { orderId: p.orderId, amount: order.amount, paidAt: p.paidAt, channel: p.channel }, c.get('log'));
      return c.body(null, 204);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/courier',
      tags: ['webhooks'],
      summary: 'The courier reports a delivery status',
      description:
        "The `deliveryId` is the prescription's `delivery.deliveryId`. A report for a replaced delivery id (after a failed delivery was re-ordered), one that would move the delivery backwards, a duplicate, or one for a prescription whose workflow has ended answers 204 and changes nothing.",
      middleware: [signed(deps.secrets.courierWebhook, 'courier')] as const,
      request: { headers: SignatureHeader, body: jsonBody(s.CourierWebhook) },
      responses: { 204: { description: 'Taken (or nothing to change)' }, ...problems(400, 401, 404, 413, 503) },
    }),
    async (c) => {
      const p = c.req.valid('json');
      auditSubject(c, { resource: `delivery:${p.deliveryId}` });
      const delivery = await findDelivery(deps.sql, p.deliveryId);
      if (!delivery) throw notFound('delivery');
      const log = c.get('log').child({ deliveryId: p.deliveryId, prescriptionId: delivery.prescriptionId, status: p.status });
      const report: CourierReport = { deliveryId: p.deliveryId, status: p.status, at: p.at };
      // Answered once the report is projected (or found to change nothing), so a GET right after shows it.
      await engine(async () => {
        try {
          const taken = await deps.temporal.workflow.getHandle(prescriptionWorkflowId(delivery.prescriptionId)).executeUpdate(courierUpdate, { args: [report] });
          log.info({ outcome: taken.outcome }, 'courier webhook');
        } catch (err) {
          if (!isWorkflowClosed(err)) throw err;
          // The prescription's workflow has ended (its course is over or stopped): nothing waits for
          // deliveries any more. The courier is told it was received, so it stops retrying.
          log.warn('courier webhook for a prescription whose workflow has ended: nothing changed');
        }
      });
      return c.body(null, 204);
    },
  );
  /** Runs an update on an item's workflow under the engine deadline; one that has ended is 409 `item-closed`. */
  const onItem = <R>(what: string, fn: () => Promise<R>): Promise<R> =>
    engine(fn).catch((err: unknown) => {
      throw isWorkflowClosed(err) ? itemClosed(what) : err;
    });

  r.openapi(
    createRoute({
      method: 'post',
      path: '/lab',
      tags: ['webhooks'],
      summary: "The lab reports an exam's result",
      description:
        'Signed with LAB_WEBHOOK_SECRET. The result completes the exam and the patient is told (`report.ready`); an abnormal one opens a task for the ordering doctor. An exam that cannot take a result (not scheduled yet, completed or cancelled) is 409.',
      middleware: [signed(deps.secrets.labWebhook, 'lab')] as const,
      request: { headers: SignatureHeader, body: jsonBody(s.LabWebhook) },
      responses: { 204: { description: 'Taken' }, ...problems(400, 401, 404, 409, 413, 503) },
    }),
    async (c) => {
      const p = c.req.valid('json');
      auditSubject(c, { resource: `exam:${p.examId}` });
      const exam = await getItem<ExamSnapshot>(deps.sql, 'exam', p.examId);
      if (!exam) throw notFound('exam');
      await onItem('exam', () =>
        deps.temporal.workflow.getHandle(examWorkflowId(p.examId)).executeUpdate(examResultUpdate, { args: [{ summary: p.summary, abnormal: p.abnormal, actor: 'lab' }] }),
      );
      c.get('log').info({ examId: p.examId, journeyId: exam.journeyId }, 'lab result taken');
      return c.body(null, 204);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/facility',
      tags: ['webhooks'],
      summary: 'A referred facility answers a referral, or reports that the patient attended',
      description:
        'Signed with FACILITY_WEBHOOK_SECRET. A response `{referralId, decision, appointmentAt?, note?}` accepts (with the appointment time; the patient is reminded before it) or declines (coordinators get a task to find another facility); an attendance `{referralId, summary}` closes an accepted referral. A referral whose state cannot take it is 409.',
      middleware: [signed(deps.secrets.facilityWebhook, 'facility')] as const,
      request: { headers: SignatureHeader, body: jsonBody(s.FacilityWebhook) },
      responses: { 204: { description: 'Taken' }, ...problems(400, 401, 404, 409, 413, 422, 503) },
    }),
    async (c) => {
      const p = c.req.valid('json');
      auditSubject(c, { resource: `referral:${p.referralId}` });
      const referral = await getItem<ReferralSnapshot>(deps.sql, 'referral', p.referralId);
      if (!referral) throw notFound('referral');
      const actor = `facility:${referral.facilityId}`;
      const handle = deps.temporal.workflow.getHandle(referralWorkflowId(p.referralId));
      const log = c.get('log').child({ referralId: p.referralId, journeyId: referral.journeyId, facilityId: referral.facilityId });
      if ('summary' in p) {
        await onItem('referral', () => handle.executeUpdate(referralAttendedUpdate, { args: [{ summary: p.summary, actor }] }));
        log.info('referral attended (facility)');
      } else {
        const answer = { decision: p.decision, actor, ...(p.appointmentAt ? { appointmentAt: p.appointmentAt } : {}), ...(p.note ? { note: p.note } : {}) };
        await onItem('referral', () => handle.executeUpdate(referralResponseUpdate, { args: [answer] }));
        log.info({ decision: p.decision }, 'referral answered (facility)');
      }
      return c.body(null, 204);
    },
  );
  r.openapi(
    createRoute({
      method: 'post',
      path: '/identity',
      tags: ['webhooks'],
      summary: "An identity provider reports a patient's real-name verification",
      description:
        'Signed with IDENTITY_WEBHOOK_SECRET. Adds an identity verification record (source `identity-provider`); a redelivery with the same `reference` adds nothing. An unknown patient is 404.',
      middleware: [signed(deps.secrets.identityWebhook, 'identity-provider')] as const,
      request: { headers: SignatureHeader, body: jsonBody(s.IdentityWebhook) },
      responses: { 204: { description: 'Taken' }, ...problems(400, 401, 404, 413) },
    }),
    async (c) => {
      const p = c.req.valid('json');
      auditSubject(c, { resource: `patient:${p.patientId}` });
      if (!(await patientExists(deps.sql, p.patientId))) throw notFound('patient');
      const record = await recordIdentityVerification(deps.sql, {
        patientId: p.patientId,
        method: p.method,
        source: 'identity-provider',
        verifiedBy: 'identity-provider',
        verifiedAt: p.verifiedAt,
        reference: p.reference,
      });
      c.get('log').info({ patientId: p.patientId, verificationId: record.id }, 'patient identity verified (provider)');
      return c.body(null, 204);
    },
  );

  return r;
}
