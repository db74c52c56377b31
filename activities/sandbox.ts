// Sandbox partners for development and the demo: a payment provider and a courier that behave like
// the real ones — they answer through our signed webhooks, asynchronously, a moment after they are
// asked — and can be told to fail. With SANDBOX_PARTNERS=off (the default) nothing calls back and the
// real partners' webhooks drive the workflows. Never used in production (config refuses it).
import type { Logger } from 'pino';
import type { Sql } from './db.js';
import { ledgerPaymentProvider, type PaymentProvider } from './payments.js';
import type { Courier } from './prescriptions.js';
import { SIGNATURE_HEADER, sign } from './signature.js';

export interface SandboxOptions {
  /** Where our API listens (known only once it is up). */
  apiUrl(): string;
  secrets: { paymentWebhook: string; courierWebhook: string };
  /** `first`: every first courier order fails (the retry is delivered); `all`: every order fails. */
  courierFail: 'none' | 'first' | 'all';
  /** `all`: the provider reports every payment failed (the order stays pending and lapses). */
  paymentFail: 'none' | 'all';
  /** Between two partner calls (default 300 ms). */
  stepMs?: number;
  log: Logger;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** POSTs a signed webhook to our API, retrying a few times like a partner would; gives up quietly. */
async function callBack(o: SandboxOptions, path: string, secret: string, body: unknown): Promise<void> {
  const raw = JSON.stringify(body);
  for (let attempt = 1; attempt <= 5; attempt++) {
    try {
      const res = await fetch(o.apiUrl() + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: sign(secret, raw) },
        body: raw,
        signal: AbortSignal.timeout(35_000),
      });
      if (res.status < 500) {
        o.log.debug({ path, status: res.status }, 'sandbox partner called back');
        return;
      }
    } catch {
      // our API is not up yet, or restarting: try again
    }
    await wait(1000 * attempt);
  }
  o.log.warn({ path }, 'sandbox partner gave up calling back');
}

/** Refunds go to the ledger like the reference provider; a requested payment is paid (or failed) a moment later. */
export function sandboxPaymentProvider(sql: Sql, o: SandboxOptions): PaymentProvider {
  const ledger = ledgerPaymentProvider(sql);
  return {
    refund: (r) => ledger.refund(r),
    async requested(order) {
      const status = o.paymentFail === 'all' ? 'failed' : 'paid';
      void wait(o.stepMs ?? 300).then(() =>
        callBack(o, '/v1/webhooks/payments', o.secrets.paymentWebhook, {
          orderId: order.orderId,
          status,
          amount: order.amount,
          paidAt: new Date().toISOString(),
          channel: 'wechat',
        }),
      );
    },
  };
}

/** Picks up, carries and delivers (or fails) each order, one webhook at a time. */
export function sandboxCourier(o: SandboxOptions): Courier {
  return {
    async order({ deliveryId }) {
      const attempt = Number(deliveryId.slice(deliveryId.lastIndexOf('-d') + 2));
      const fails = o.courierFail === 'all' || (o.courierFail === 'first' && attempt === 1);
      const steps = ['picked-up', 'in-transit', fails ? 'failed' : 'delivered'];
      void (async () => {
        for (const status of steps) {
          await wait(o.stepMs ?? 300);
          await callBack(o, '/v1/webhooks/courier', o.secrets.courierWebhook, { deliveryId, status, at: new Date().toISOString() });
        }
      })();
    },
  };
}
