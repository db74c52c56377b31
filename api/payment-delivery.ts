// A payment taken for an order goes to the workflow that waits for it (its subject's: a journey's
// registration, a prescription, an exam or an online consultation). One whose workflow has closed is
// refunded durably by latePaymentRefund. Used by the payment webhook and by a medical-insurance
// settlement that covers the whole order.
import type { Logger } from 'pino';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { OrderSubject, PaymentOrder } from '../activities/payments.js';
import type { latePaymentRefund } from '../workflows/late-payment.js';
import {
  JOURNEY_TASK_QUEUE,
  LATE_PAYMENT_WORKFLOW,
  consultationWorkflowId,
  examWorkflowId,
  journeyWorkflowId,
  latePaymentWorkflowId,
  paymentUpdate,
  prescriptionWorkflowId,
  type LatePaymentInput,
  type PaymentReceived,
} from '../workflows/definitions.js';
import { isWorkflowClosed } from './problems.js';
import type { ApiDeps } from './types.js';

/** The workflow that waits for an order's payment: its subject's. */
const PAYMENT_WORKFLOW: Record<OrderSubject['type'], (id: string) => string> = {
  journey: journeyWorkflowId,
  prescription: prescriptionWorkflowId,
  exam: examWorkflowId,
  consultation: consultationWorkflowId,
};

/**
 * Starts latePaymentRefund for the order, or joins the one already running, and waits for its result:
 * it has refunded the order and projected it by then. One that has already completed is refused as
 * already started; its result is at hand.
 */
async function refundLatePayment(deps: ApiDeps, paid: LatePaymentInput): Promise<void> {
  const workflowId = latePaymentWorkflowId(paid.orderId);
  const handle = await deps.temporal.workflow
    .start<typeof latePaymentRefund>(LATE_PAYMENT_WORKFLOW, {
      taskQueue: JOURNEY_TASK_QUEUE,
      workflowId,
      args: [paid],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    })
    .catch((err: unknown) => {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return deps.temporal.workflow.getHandle<typeof latePaymentRefund>(workflowId);
      throw err;
    });
  await handle.result();
}

/**
 * Hands `payment` (for the order's whole amount) to the order's workflow, or refunds it when that
 * workflow has closed. Answers once the payment is projected, so a GET right after shows it. Every
 * call into the engine has a deadline: a stalled engine is a 503, not a hung request.
 */
export async function deliverPayment(deps: ApiDeps, order: PaymentOrder, payment: PaymentReceived, log: Logger): Promise<void> {
  const { subject } = order;
  await deps.temporal.withDeadline(Date.now() + (deps.engineTimeoutMs ?? 30_000), async () => {
    try {
      const handle = deps.temporal.workflow.getHandle(PAYMENT_WORKFLOW[subject.type](subject.id));
      const taken = await handle.executeUpdate(paymentUpdate, { args: [payment] });
      log.info({ orderId: order.orderId, outcome: taken.outcome }, 'payment taken');
    } catch (err) {
      if (!isWorkflowClosed(err)) throw err;
      // The subject's workflow has closed (a lapsed or cancelled journey, an expired or cancelled
      // prescription or exam): refund the money durably, and answer once it is refunded.
      await refundLatePayment(deps, { orderId: order.orderId, paidAt: payment.paidAt, channel: payment.channel });
    }
  });
}
