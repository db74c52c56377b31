// One attempt at delivering an outbox row that is about an order (a payment request the provider is
// told of, an insured part the insurance gateway reverses): counted, its error kept on the row, and the
// row marked delivered once `deliver` has returned. A row delivered already is not delivered again.
import type { Sql } from './db.js';

export async function attemptOutboxRow(sql: Sql, outboxId: string, deliver: () => Promise<void>): Promise<boolean> {
  const [pending] = await sql`update outbox set attempts = attempts + 1 where id = ${outboxId} and delivered_at is null returning id`;
  if (!pending) return false;
  try {
    await deliver();
  } catch (err) {
    await sql`update outbox set last_error = ${String((err as Error).message ?? err)} where id = ${outboxId}`;
    throw err;
  }
  await sql`update outbox set delivered_at = now(), last_error = null where id = ${outboxId}`;
  return true;
}
