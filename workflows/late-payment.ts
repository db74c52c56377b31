// latePaymentRefund: a payment that arrives after its journey's workflow has closed is refunded
// here, durably: the refund and its projection retry until done, then the patient is told. The input
// is passed to the refund as it is: a run started before it carried `paidAt` and `channel` schedules the
// same `{ orderId }` as before.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { DELIVERY, PARTNER_CALL, SHORT_WORK } from './activity-options.js';
import type { LatePaymentInput } from './definitions.js';

const act = proxyActivities<Activities>(SHORT_WORK);
const partner = proxyActivities<Activities>(PARTNER_CALL);
const delivery = proxyActivities<Activities>(DELIVERY);

export async function latePaymentRefund(input: LatePaymentInput): Promise<void> {
  const notification = await partner.refundClosedJourneyPayment(input);
  if (!notification) return;
  await act.notify(notification);
  await delivery.deliverNotification({ id: notification.id });
}
