// Payment orders and medical insurance (医保, issue 13). An order (a journey's registration, a
// prescription, an exam, an online consultation) is read with both of its parts; the patient (or a
// coordinator or admin at the desk) may have medical insurance cover part of it: the pre-settlement
// says how much, the settlement settles it, and the payment provider then takes the self-paid rest
// (the payment webhook carries that amount). A settlement that covers the whole order pays it.
// In development the sandbox gateway's coverage rules can be changed.
import { createRoute, z } from '@hono/zod-openapi';
import { DEFAULT_COVERAGE_RULES, SettlementRefused, coverageRules, preSettle, setCoverageRules, settle, type InsuranceGateway } from '../../activities/insurance.js';
import { paymentDetail, type PaymentDetail } from '../../activities/payments.js';
import { auditSubject } from '../audit.js';
import { authenticate, isStaff, requireRole, type User } from '../auth.js';
import { idempotent } from '../idempotency.js';
import { bearer, jsonBody, jsonResponse, newRouter, opaqueIds, problems } from '../openapi.js';
import { deliverPayment } from '../payment-delivery.js';
import { ApiProblem, conflict, notFound, unprocessable } from '../problems.js';
import * as s from '../schemas.js';
import type { ApiDeps } from '../types.js';

const Fen = z.number().int().openapi({ description: 'fen' });
const SettlementStatus = z.enum(['pre-settled', 'settling', 'settled', 'reversed', 'voided']);
const InsuranceSettlement = z
  .object({
    orderId: z.string(),
    status: SettlementStatus.openapi({ description: '`voided`: the order was paid in full another way, or closed before insurance settled' }),
    total: Fen,
    insured: Fen.openapi({ description: 'What medical insurance covers (fen)' }),
    self: Fen.openapi({ description: 'What the patient pays through WeChat Pay or Alipay (fen)' }),
    items: z.array(z.object({ kind: z.string(), code: z.string(), name: z.string(), amount: Fen, insured: Fen })),
    preSettledAt: s.Timestamp,
    settledAt: s.Timestamp.optional(),
    reversedAt: s.Timestamp.optional(),
    reversalReason: z.string().optional().openapi({ description: '`cancelled`, `expired`, `late-payment`…; `paid-in-full`: the provider took the whole amount after all' }),
    counted: z.boolean().openapi({ description: "Whether the insured part counts toward the order's payment (false once reversed as `paid-in-full`)" }),
  })
  .openapi('InsuranceSettlement');
const Part = z
  .object({
    payer: z.enum(['insurance', 'self']),
    amount: Fen,
    status: z.string().openapi({ description: "insurance: pre-settled|settling|settled|reversed; self: the order's pending|paid|expired|refunded" }),
    channel: z.enum(['wechat', 'alipay', 'insurance']).optional(),
  })
  .openapi('PaymentPart');
const Payment = z
  .object({
    orderId: z.string(),
    subject: z.object({ type: z.enum(['journey', 'prescription', 'exam', 'consultation']), id: z.string() }),
    journeyId: z.string().nullable(),
    amount: Fen.openapi({ description: "The order's whole amount (fen), both parts" }),
    currency: z.literal('CNY'),
    status: z.enum(['pending', 'paid', 'expired', 'refunded']),
    dueBy: s.Timestamp,
    paidAt: s.Timestamp.optional(),
    channel: z.enum(['wechat', 'alipay', 'insurance']).optional(),
    due: Fen.openapi({ description: 'What the payment provider is to take while the order is pending (the self-paid part once insurance has settled); 0 otherwise' }),
    parts: z.array(Part).openapi({ description: "Who pays what: medical insurance's part (when one was asked for) and the patient's own" }),
    insurance: InsuranceSettlement.optional(),
  })
  .openapi('Payment');
const CoverageRules = z
  .strictObject({
    ratios: z.record(z.string().min(1).max(40), z.number().min(0).max(1)).openapi({ description: 'Covered share per item kind (registration, consultation, exam, drug)' }),
    excludedCodes: z.array(s.Id).max(1000).default([]),
    deductible: z.number().int().min(0).max(s.INT4_MAX).default(0),
    cap: z.number().int().min(0).max(s.INT4_MAX),
    uninsuredPatients: z.array(s.Id).max(1000).default([]),
  })
  .openapi('InsuranceCoverageRules');

const view = (p: PaymentDetail) => {
  const { patientId: _patientId, ...rest } = p;
  return rest;
};

const REFUSED: Record<SettlementRefused['reason'], (detail: string) => ApiProblem> = {
  'order-not-pending': (d) => conflict('order-not-pending', d),
  'insurance-settled': (d) => conflict('insurance-settled', d),
  'not-pre-settled': (d) => conflict('not-pre-settled', d),
  'not-insured': (d) => unprocessable('not-insured', d),
  'no-items': (d) => unprocessable('no-items', d),
};

export function paymentRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.use('/:id', opaqueIds('order'));
  r.use('/:id/*', opaqueIds('order'));
  r.use('/:id/insurance/*', idempotent(deps.sql, deps.engineTimeoutMs));

  /** The order, if the caller may see it (its patient, coordinators, admins); anyone else is told it does not exist. */
  async function visibleOrder(user: User, id: string): Promise<PaymentDetail> {
    const p = await paymentDetail(deps.sql, id);
    if (!p || !(isStaff(user) || (user.role === 'patient' && user.id === p.patientId))) throw notFound('order');
    return p;
  }
  const gateway = (): InsuranceGateway => {
    if (!deps.insurance) throw new ApiProblem(503, 'no-insurance-gateway', 'Service unavailable', 'no medical-insurance gateway is configured');
    return deps.insurance;
  };
  const refused = (err: unknown): never => {
    if (err instanceof SettlementRefused) throw REFUSED[err.reason](err.message);
    throw err;
  };

  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['payments'],
      summary: 'An order with who pays what: medical insurance and the patient (the patient, coordinators, admins)',
      security: bearer,
      request: { params: s.IdParam },
      responses: { 200: jsonResponse(Payment, 'The order'), ...problems(401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const p = await visibleOrder(c.get('user'), id);
      auditSubject(c, { resource: `order:${id}`, ...(p.patientId ? { patientId: p.patientId } : {}) });
      return c.json(view(p) as never, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/insurance/pre-settlement',
      tags: ['payments'],
      summary: 'Ask medical insurance what it covers of a pending order (the patient, coordinators, admins)',
      description:
        "The gateway's split of the order into its insured part and the patient's own. Asked again before settlement, it replaces the split (the coverage may have changed). " +
        '409 `order-not-pending` when the order is paid, expired or refunded; 409 `insurance-settled` once the insured part is settled; 422 `not-insured` when the gateway knows no insurance of the patient; 503 `no-insurance-gateway` when none is configured.',
      security: bearer,
      request: { params: s.IdParam, headers: s.IdempotencyHeaders },
      responses: { 200: jsonResponse(InsuranceSettlement, 'The split'), ...problems(401, 404, 409, 422, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const p = await visibleOrder(c.get('user'), id);
      auditSubject(c, { resource: `order:${id}`, ...(p.patientId ? { patientId: p.patientId } : {}) });
      const split = await preSettle(deps.sql, gateway(), id, p.patientId ?? '').catch(refused);
      c.get('log').info({ orderId: id, insured: split.insured, self: split.self }, 'insurance pre-settled');
      return c.json(split as never, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/insurance/settlement',
      tags: ['payments'],
      summary: "Settle the pre-settled insured part of a pending order (the patient, coordinators, admins)",
      description:
        "After it, the payment provider takes the self-paid rest: the payment webhook's `amount` is the order's `due`. When insurance covers the whole order, the order is paid by this call (channel `insurance`). " +
        'Settling again changes nothing. A refund of the order reverses the insured part and refunds the rest; an order that expires unpaid has its insured part reversed. ' +
        '409 `not-pre-settled` without a pre-settlement; 409 `order-not-pending` when the order was paid in full, expired or refunded first.',
      security: bearer,
      request: { params: s.IdParam, headers: s.IdempotencyHeaders },
      responses: { 200: jsonResponse(Payment, 'The order with its parts'), ...problems(401, 404, 409, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const p = await visibleOrder(c.get('user'), id);
      auditSubject(c, { resource: `order:${id}`, ...(p.patientId ? { patientId: p.patientId } : {}) });
      const { settlement } = await settle(deps.sql, gateway(), id).catch(refused);
      c.get('log').info({ orderId: id, insured: settlement.insured, self: settlement.self }, 'insurance settled');
      // Insurance covered it all: the order is paid (again, when a first call was cut short before this;
      // the workflow takes a repeated payment as a duplicate).
      if (settlement.self === 0 && p.status === 'pending') {
        await deliverPayment(deps, p, { orderId: id, amount: p.amount, paidAt: settlement.settledAt!, channel: 'insurance' }, c.get('log'));
      }
      return c.json(view((await paymentDetail(deps.sql, id))!) as never, 200);
    },
  );
  return r;
}

/** The sandbox insurance gateway's coverage rules (development and tests; absent in production). */
export function sandboxInsuranceRoutes(deps: ApiDeps) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['payments'],
      summary: "The sandbox insurance gateway's coverage rules (admin; development only)",
      security: bearer,
      middleware: [requireRole('admin')] as const,
      responses: { 200: jsonResponse(CoverageRules, 'The rules'), ...problems(401, 403) },
    }),
    async (c) => c.json(await coverageRules(deps.sql), 200),
  );
  r.openapi(
    createRoute({
      method: 'put',
      path: '/',
      tags: ['payments'],
      summary: "Set the sandbox insurance gateway's coverage rules (admin; development only)",
      description: `Each item is covered at its kind's ratio (rounded down to the fen), none for an excluded code; the order's insured part is their sum less the deductible, at most the cap. Uninsured patients are refused (422 \`not-insured\`). Default: ${JSON.stringify(DEFAULT_COVERAGE_RULES)}.`,
      security: bearer,
      middleware: [requireRole('admin')] as const,
      request: { body: jsonBody(CoverageRules) },
      responses: { 200: jsonResponse(CoverageRules, 'The rules now'), ...problems(400, 401, 403, 413) },
    }),
    async (c) => c.json(await setCoverageRules(deps.sql, c.req.valid('json')), 200),
  );
  return r;
}
