// HMAC-SHA256 signatures for partner webhooks (inbound) and notifications (outbound):
// `X-Signature: sha256=<hex of HMAC-SHA256(raw body)>`.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { PARTNER_REQUEST_MS } from '../workflows/activity-options.js';

export const SIGNATURE_HEADER = 'X-Signature';

/** Signs the body's bytes: a string is signed as its UTF-8 encoding, bytes exactly as they are. */
export function sign(secret: string, body: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Inbound webhooks pass the raw request bytes, so a byte-order mark or invalid UTF-8 verifies exactly as signed. */
export function verifySignature(secret: string, body: string | Uint8Array, header: string | undefined | null): boolean {
  if (!header) return false;
  const expected = Buffer.from(sign(secret, body));
  const given = Buffer.from(header.trim());
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/**
 * POSTs `raw` to a partner as signed JSON with an `Idempotency-Key`, giving up after `timeoutMs`, and
 * resolves to the answer's status (its body is not ours to read, nor to log: discarded). A connection
 * that fails or times out throws.
 */
export async function signedPost(url: string, secret: string, idempotencyKey: string, raw: string, timeoutMs = PARTNER_REQUEST_MS): Promise<number> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: sign(secret, raw), 'Idempotency-Key': idempotencyKey },
    body: raw,
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.body?.cancel();
  return res.status;
}
