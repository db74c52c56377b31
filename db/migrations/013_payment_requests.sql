-- The outbox carries a second kind of message (issue 11): a payment order the payment provider is to
-- be told of. A journey books its seat and stores its registration order in one transaction
-- (`journey-order-with-seat`); when a provider is configured, the same transaction queues the order
-- here, and the worker's outbox dispatcher tells the provider (at least once, keyed by the order id),
-- as it delivers notifications. A `notification` row's id is its notification's (written in the same
-- transaction, activities/notifications.ts); a `payment-request` row's id is `payment:<order id>`.
alter table outbox drop constraint outbox_id_fkey;
alter table outbox add column kind text not null default 'notification' check (kind in ('notification', 'payment-request'));
alter table outbox add column order_id text references payments (order_id);
alter table outbox add constraint outbox_kind_target check ((kind = 'payment-request') = (order_id is not null));
