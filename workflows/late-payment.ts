// latePaymentRefund: a payment that arrives after its journey's workflow has closed is refunded
// here, durably: the refund and its projection retry until done, then the patient is told. The input
// is passed to the refund as it is: a run started before it carried `paidAt` and `channel` schedules the
// same `{ orderId }` as before.
import type { LatePaymentInput } from './definitions.js';
import { act, delivery, partner } from './kernel.js';

export async function latePaymentRefund(input: LatePaymentInput): Promise<void> {
  const notification = await partner.refundClosedJourneyPayment(input);
  if (!notification) return;
  await act.notify(notification);
  await delivery.deliverNotification({ id: notification.id });
}
