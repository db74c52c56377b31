// The real payment provider's and courier's adapters: signed HTTP POSTs to the partner, like our
// notifications (activities/signature.ts), each with an `Idempotency-Key` so that a retried activity
// never refunds, bills or ships twice. The partner answers later through our signed webhooks, as the
// sandbox partners do; a request's own answer only says whether the partner took it (any 2xx).
// Anything else (a non-2xx, no answer within PARTNER_REQUEST_MS, a refused connection) throws a plain
// error, which the activity's retry policy retries.
import type { PaymentProvider } from './payments.js';
import type { Courier } from './prescriptions.js';
import { signedPost } from './signature.js';

export interface PartnerEndpoint {
  /** The partner's base URL: requests go to `<url>/<path>`. */
  url: string;
  /** Signs each request body (HMAC-SHA256, `X-Signature: sha256=<hex>`): the secret shared with this partner. */
  secret: string;
  timeoutMs?: number;
}

/** POSTs `body` as signed JSON to `<url>/<path>`; resolves on a 2xx, throws (retryably) on anything else. */
async function post(partner: PartnerEndpoint, name: string, path: string, idempotencyKey: string, body: unknown): Promise<void> {
  const raw = JSON.stringify(body);
  let status: number;
  try {
    status = await signedPost(`${partner.url.replace(/\/+$/, '')}/${path}`, partner.secret, idempotencyKey, raw, partner.timeoutMs);
  } catch (err) {
    const code = (err as { cause?: { code?: unknown } }).cause?.code;
    throw new Error(`${name} unreachable (${path}, ${idempotencyKey}): ${(err as Error).name}${typeof code === 'string' ? ` ${code}` : ''}`, { cause: err });
  }
  if (status < 200 || status > 299) throw new Error(`${name} answered ${status} (${path}, ${idempotencyKey})`);
}

/**
 * The payment provider: `POST <url>/refunds` `{orderId, amount, reason}` (key `refund:<orderId>`) and
 * `POST <url>/orders` `{orderId, amount, currency, dueBy}` (key `<orderId>`), the prepay order the
 * patient pays; the provider reports payments on `POST /v1/webhooks/payments`.
 */
export function httpPaymentProvider(partner: PartnerEndpoint): PaymentProvider {
  return {
    refund: (r) => post(partner, 'payment provider', 'refunds', `refund:${r.orderId}`, { orderId: r.orderId, amount: r.amount, reason: r.reason }),
    requested: (o) => post(partner, 'payment provider', 'orders', o.orderId, { orderId: o.orderId, amount: o.amount, currency: 'CNY', dueBy: o.dueBy }),
  };
}

/**
 * The courier: `POST <url>/deliveries` `{deliveryId, prescriptionId}` (key `<deliveryId>`); the courier
 * reports each step on `POST /v1/webhooks/courier`.
 */
export function httpCourier(partner: PartnerEndpoint): Courier {
  return {
    order: (d) => post(partner, 'courier', 'deliveries', d.deliveryId, { deliveryId: d.deliveryId, prescriptionId: d.prescriptionId }),
  };
}
