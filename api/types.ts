import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Sql } from '../activities/db.js';
import type { User } from './auth.js';

export interface ApiDeps {
  temporal: Client;
  sql: Sql;
  log: Logger;
  secrets: { jwt: string; paymentWebhook: string; courierWebhook: string; labWebhook: string; facilityWebhook: string };
  /** Deadline for one call into the journey engine (default 30 s); past it the API answers 503. */
  engineTimeoutMs?: number;
  /** Temporal and PostgreSQL reachable. */
  ready(): Promise<{ temporal: boolean; postgres: boolean }>;
}

export interface AppEnv {
  Variables: { user: User; requestId: string; log: Logger };
}
