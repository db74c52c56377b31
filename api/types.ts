import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Sql } from '../activities/db.js';
import type { WebOptions } from '../web/index.js';
import type { User } from './auth.js';

export interface ApiDeps {
  temporal: Client;
  sql: Sql;
  log: Logger;
  secrets: { jwt: string; paymentWebhook: string; courierWebhook: string; labWebhook: string; facilityWebhook: string };
  /** Deadline for one call into the journey engine (default 30 s); past it the API answers 503. */
  engineTimeoutMs?: number;
  /** The dashboard's options (web/index.ts): demo users on the sign-in page, the Temporal UI to link to. */
  web?: Pick<WebOptions, 'demoUsers' | 'temporalUi' | 'secureCookies'>;
  /** Temporal and PostgreSQL reachable. */
  ready(): Promise<{ temporal: boolean; postgres: boolean }>;
}

export interface AppEnv {
  Variables: { user: User; requestId: string; log: Logger; idempotency?: { caller: string; key: string } };
}
