// HMAC-SHA256 signatures for partner webhooks (inbound) and notifications (outbound):
// `X-Signature: sha256=<hex of HMAC-SHA256(raw body)>`.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Signature';

/** Signs the body's bytes: a string is signed as its UTF-8 encoding, bytes exactly as they are. */
export function sign(secret: string, body: string | Uint8Array): string {
  const hmac = createHmac('sha256', secret);
  if (typeof body === 'string') hmac.update(body, 'utf8');
  else hmac.update(body);
  return `sha256=${hmac.digest('hex')}`;
}

/** Inbound webhooks pass the raw request bytes, so a byte-order mark or invalid UTF-8 verifies exactly as signed. */
export function verifySignature(secret: string, body: string | Uint8Array, header: string | undefined | null): boolean {
  if (!header) return false;
  const expected = Buffer.from(sign(secret, body));
  const given = Buffer.from(header.trim());
  return expected.length === given.length && timingSafeEqual(expected, given);
}
