// latePaymentRefund: a payment that arrives after its journey's workflow has closed is refunded
// here, durably: the refund and its projection retry until done, then the patient is told.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { LatePaymentInput } from './definitions.js';

const act = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 ms', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function latePaymentRefund(input: LatePaymentInput): Promise<void> {
  const notification = await act.refundClosedJourneyPayment({ orderId: input.orderId });
  if (!notification) return;
  await act.notify(notification);
  await act.deliverNotification({ id: notification.id });
}
