import type { Tracer } from '@opentelemetry/api';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Sql } from '../activities/db.js';
import type { WebOptions } from '../web/index.js';
import type { AuditSubject } from './audit.js';
import type { TokenKey, User } from './auth.js';
import type { CodecServerOptions } from './codec.js';
import type { PrescriptionSigner } from '../activities/signing.js';
import type { InsuranceGateway } from '../activities/insurance.js';

export interface ApiDeps {
  temporal: Client;
  sql: Sql;
  log: Logger;
  /** `jwt`: the tokens' key; in production with the longest lifetime a token may have (api/auth.ts). */
  secrets: { jwt: TokenKey; paymentWebhook: string; courierWebhook: string; labWebhook: string; facilityWebhook: string; identityWebhook: string };
  /** Deadline for one call into the journey engine (default 30 s); past it the API answers 503. */
  engineTimeoutMs?: number;
  /** The dashboard's options (web/index.ts): demo users on the sign-in page, the Temporal UI to link to. */
  web?: Pick<WebOptions, 'demoUsers' | 'temporalUi' | 'secureCookies'>;
  /** The bearer token GET /metrics requires; unset, /metrics is open (like /healthz). */
  metricsToken?: string;
  /** Traces requests (api/tracing.ts) when OTLP tracing is configured (workers/telemetry.ts). */
  tracer?: Tracer;
  /** The codec server (api/codec.ts) at /codec: the Temporal UI and CLI open sealed payloads there. */
  codecServer?: CodecServerOptions;
  /**
   * Signs prescription versions in the prescriber's request (activities/signing.ts): the configured
   * adapter. Unset: CarePath's own keys sealed with the development key ring (development and tests).
   */
  signer?: PrescriptionSigner;
  /** The hospital's time zone: the days reconciliation counts in (default Asia/Shanghai). */
  hospitalTimezone?: string;
  /** The medical-insurance gateway (activities/insurance.ts); unset: the insurance routes answer 503. */
  insurance?: InsuranceGateway;
  /** The sandbox channels' statement faults route (development and tests); off in production. */
  sandboxStatements?: boolean;
  /** Temporal and PostgreSQL reachable. */
  ready(): Promise<{ temporal: boolean; postgres: boolean }>;
}

export interface AppEnv {
  Variables: {
    user: User;
    requestId: string;
    log: Logger;
    idempotency?: { caller: string; key: string };
    /** What the handler names for the request's audit event (api/audit.ts `auditSubject`). */
    audit?: AuditSubject;
    /** The partner whose signature a webhook carried (`payment-provider`, `lab`…): the audit's actor. */
    partner?: string;
    /** The institution whose signature a remote consultation request carried, and its agreement's template. */
    institution?: { id: string; templateId: string };
  };
}
