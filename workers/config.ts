// Configuration, parsed once from the environment with zod and frozen. A bad value stops the
// process with every bad field named; production refuses to run on development secrets.
import { z } from 'zod';
import { DEV_SIGNING_KEYS, type SigningKeyRing } from '../activities/signing.js';
import type { PayloadKeys } from './codec.js';

const DEV_SECRET = 'carepath-dev-only-secret-change-me';
/** The shortest secret production accepts (HS256 and HMAC-SHA256 keys: 32 bytes is the hash's own size). */
export const MIN_SECRET_BYTES = 32;
/**
 * The payload key of development and tests (public, like DEV_SECRET): `npm start` seals payloads with
 * no configuration; production refuses it.
 */
export const DEV_PAYLOAD_KEYS: PayloadKeys = Object.freeze({
  activeKeyId: 'dev',
  keys: Object.freeze([Object.freeze({ id: 'dev', key: Buffer.from('carepath-dev-only-payload-key-32', 'utf8') })]),
});

/** PAYLOAD_KEYS: `id:base64-of-32-bytes`, comma-separated; ids of letters, digits, `.`, `_`, `-`. */
const PayloadKeyList = z
  .string()
  .transform((v, ctx) => {
    const keys: { id: string; key: Buffer }[] = [];
    const entries = v.split(',').map((e) => e.trim()).filter(Boolean);
    if (entries.length === 0) ctx.addIssue({ code: 'custom', message: 'names no key' });
    for (const [i, entry] of entries.entries()) {
      const m = /^([\w.-]{1,64}):([A-Za-z0-9+/]+={0,2})$/.exec(entry);
      const key = m ? Buffer.from(m[2]!, 'base64') : undefined;
      if (!m || key?.length !== 32) {
        // Never echo the entry: it may be a key.
        ctx.addIssue({ code: 'custom', message: `entry ${i + 1} is not id:base64 of a 32-byte key` });
        continue;
      }
      if (keys.some((k) => k.id === m[1])) ctx.addIssue({ code: 'custom', message: `key id "${m[1]}" is listed twice` });
      keys.push({ id: m[1]!, key: key! });
    }
    return keys;
  });

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    DATABASE_URL: optionalString.pipe(z.url({ protocol: /^postgres(ql)?$/ }).optional()),
    TEMPORAL_ADDRESS: optionalString,
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    TEMPORAL_API_KEY: optionalString,
    TEMPORAL_TLS_CERT: optionalString,
    TEMPORAL_TLS_KEY: optionalString,
    AUTH_JWT_SECRET: optionalString,
    PAYMENT_WEBHOOK_SECRET: optionalString,
    COURIER_WEBHOOK_SECRET: optionalString,
    LAB_WEBHOOK_SECRET: optionalString,
    FACILITY_WEBHOOK_SECRET: optionalString,
    IDENTITY_WEBHOOK_SECRET: optionalString,
    SANDBOX_PARTNERS: z.enum(['auto', 'off']).default('off'),
    SANDBOX_COURIER_FAIL: z.enum(['none', 'first', 'all']).default('none'),
    SANDBOX_PAYMENT_FAIL: z.enum(['none', 'all']).default('none'),
    /** The local time (HH:MM, HOSPITAL_TIMEZONE) of the daily reconciliation, or `off`. Development default 06:00; production has no statement adapter yet. */
    RECONCILIATION_AT: optionalString.pipe(z.union([z.literal('off'), z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM (24 h) or off')]).optional()),
    HOSPITAL_TIMEZONE: z
      .string()
      .default('Asia/Shanghai')
      .refine((tz) => {
        try {
          new Intl.DateTimeFormat('en', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, 'an IANA time zone (Asia/Shanghai)'),
    NOTIFY_WEBHOOK_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
    NOTIFY_WEBHOOK_SECRET: optionalString,
    TEMPORAL_UI_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** The keys that seal Temporal payloads; PAYLOAD_KEY_ID names the one that encrypts (default: the first). */
    PAYLOAD_KEYS: optionalString.pipe(PayloadKeyList.optional()),
    PAYLOAD_KEY_ID: optionalString,
    /**
     * The keys that seal doctors' private signing keys in PostgreSQL (activities/signing.ts), in
     * PAYLOAD_KEYS' format; SIGNING_KEY_ID names the one that seals (default: the first). Only the API signs.
     */
    SIGNING_KEYS: optionalString.pipe(PayloadKeyList.optional()),
    SIGNING_KEY_ID: optionalString,
    // Metrics and traces: the API's GET /metrics (a bearer token when set), each worker's Temporal
    // runtime metrics on a port of its own (0: none), OTLP traces when an endpoint is set.
    METRICS_TOKEN: optionalString,
    WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
    OTEL_EXPORTER_OTLP_ENDPOINT: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
    OTEL_SERVICE_NAME: optionalString,
    /** Production refuses bearer tokens without `exp`, or living longer than this (seconds). */
    AUTH_TOKEN_MAX_TTL: z.coerce.number().int().min(60).max(30 * 86400).default(12 * 3600),
    /** The real payment provider's and courier's adapters (activities/partners.ts); required in production. */
    PAYMENT_PROVIDER_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
    COURIER_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
    /** `npm start` only: where it keeps its state, and its Temporal dev server's ports. */
    CAREPATH_DATA_DIR: optionalString,
    TEMPORAL_DEV_PORT: z.coerce.number().int().min(1).max(65535).default(7233),
    TEMPORAL_UI_PORT: z.coerce.number().int().min(1).max(65535).default(8233),
  })
  .superRefine((env, ctx) => {
    if (env.PAYLOAD_KEY_ID && !(env.PAYLOAD_KEYS ?? DEV_PAYLOAD_KEYS.keys).some((k) => k.id === env.PAYLOAD_KEY_ID)) {
      ctx.addIssue({ code: 'custom', path: ['PAYLOAD_KEY_ID'], message: 'names no key of PAYLOAD_KEYS' });
    }
    if (env.SIGNING_KEY_ID && !(env.SIGNING_KEYS ?? DEV_SIGNING_KEYS.keys).some((k) => k.id === env.SIGNING_KEY_ID)) {
      ctx.addIssue({ code: 'custom', path: ['SIGNING_KEY_ID'], message: 'names no key of SIGNING_KEYS' });
    }
    if (env.NODE_ENV !== 'production') return;
    // Without keys of its own, patient data would sit in Temporal's history readable by anyone with the repository.
    if (!env.PAYLOAD_KEYS) ctx.addIssue({ code: 'custom', path: ['PAYLOAD_KEYS'], message: 'required in production (the keys that encrypt Temporal payloads)' });
    else if (env.PAYLOAD_KEYS.some((k) => k.key.equals(DEV_PAYLOAD_KEYS.keys[0]!.key))) {
      ctx.addIssue({ code: 'custom', path: ['PAYLOAD_KEYS'], message: 'holds the development key; set keys of your own' });
    }
    // Doctors' private keys sealed with a key anyone with the repository has would sign for anyone.
    if (!env.SIGNING_KEYS) ctx.addIssue({ code: 'custom', path: ['SIGNING_KEYS'], message: "required in production (the keys that seal doctors' signing keys)" });
    else if (env.SIGNING_KEYS.some((k) => k.key.equals(DEV_SIGNING_KEYS.keys[0]!.key))) {
      ctx.addIssue({ code: 'custom', path: ['SIGNING_KEYS'], message: 'holds the development key; set keys of your own' });
    }
    const required = ['AUTH_JWT_SECRET', 'PAYMENT_WEBHOOK_SECRET', 'COURIER_WEBHOOK_SECRET', 'LAB_WEBHOOK_SECRET', 'FACILITY_WEBHOOK_SECRET', 'IDENTITY_WEBHOOK_SECRET'] as const;
    for (const key of required) {
      if (!env[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'required in production' });
    }
    // It signs notifications and the referrals POSTed to facilities' webhooks.
    if (!env.NOTIFY_WEBHOOK_SECRET) ctx.addIssue({ code: 'custom', path: ['NOTIFY_WEBHOOK_SECRET'], message: 'required in production' });
    // A secret someone could guess signs tokens and webhooks for anyone: at least 32 bytes, never the development one.
    for (const key of [...required, 'NOTIFY_WEBHOOK_SECRET'] as const) {
      const v = env[key];
      if (!v) continue;
      if (v === DEV_SECRET) ctx.addIssue({ code: 'custom', path: [key], message: 'is the development default; set a secret of your own' });
      else if (Buffer.byteLength(v, 'utf8') < MIN_SECRET_BYTES) ctx.addIssue({ code: 'custom', path: [key], message: `must be at least ${MIN_SECRET_BYTES} bytes in production` });
    }
    if (env.RECONCILIATION_AT && env.RECONCILIATION_AT !== 'off') {
      ctx.addIssue({ code: 'custom', path: ['RECONCILIATION_AT'], message: 'no settlement statement adapter for production yet: the sandbox statements are for development' });
    }
    if (env.SANDBOX_PARTNERS === 'auto') ctx.addIssue({ code: 'custom', path: ['SANDBOX_PARTNERS'], message: 'the sandbox partners never run in production' });
    // The ledger and the courier that tells nobody are development's stand-ins: production talks to the real partners.
    if (!env.PAYMENT_PROVIDER_URL) ctx.addIssue({ code: 'custom', path: ['PAYMENT_PROVIDER_URL'], message: 'required in production (the development ledger refunds nobody)' });
    if (!env.COURIER_URL) ctx.addIssue({ code: 'custom', path: ['COURIER_URL'], message: 'required in production (the development courier ships nothing)' });
    if (!env.DATABASE_URL) ctx.addIssue({ code: 'custom', path: ['DATABASE_URL'], message: 'required in production' });
    if (!env.TEMPORAL_ADDRESS) ctx.addIssue({ code: 'custom', path: ['TEMPORAL_ADDRESS'], message: 'required in production' });
    if (Boolean(env.TEMPORAL_TLS_CERT) !== Boolean(env.TEMPORAL_TLS_KEY)) {
      ctx.addIssue({ code: 'custom', path: ['TEMPORAL_TLS_KEY'], message: 'TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together' });
    }
  });

export interface Config {
  env: 'development' | 'test' | 'production';
  port: number;
  databaseUrl?: string;
  temporal: { address?: string; namespace: string; apiKey?: string; tlsCert?: string; tlsKey?: string };
  secrets: { jwt: string; paymentWebhook: string; courierWebhook: string; notifyWebhook: string; labWebhook: string; facilityWebhook: string; identityWebhook: string };
  /** The sandbox payment provider and courier call our webhooks on their own (`auto`), and can be told to fail. */
  sandbox: { partners: 'auto' | 'off'; courierFail: 'none' | 'first' | 'all'; paymentFail: 'none' | 'all' };
  notifyWebhookUrl?: string;
  /** The Temporal Web UI the dashboard links journeys to. */
  temporalUiUrl?: string;
  logLevel: string;
  /** The keys that encrypt every Temporal payload (workers/codec.ts). */
  payloadKeys: PayloadKeys;
  /** The keys that seal doctors' private signing keys (activities/signing.ts); the API's signer opens them. */
  signingKeys: SigningKeyRing;
  /** `token`: the bearer token GET /metrics requires (open when unset); `workerPort`: the worker's Temporal runtime metrics (0: off). */
  metrics: { token?: string; workerPort: number };
  /** OTLP/HTTP traces to `otlpEndpoint` (its /v1/traces); no endpoint, no tracing. */
  tracing: { otlpEndpoint?: string; serviceName?: string };
  /** Bearer tokens: production requires `exp` and at most this lifetime (seconds). */
  auth: { maxTokenTtlSeconds: number };
  /** The real partners' adapters; unset in development, where the ledger and the awaiting courier stand in. */
  partners: { paymentProviderUrl?: string; courierUrl?: string };
  /** `npm start`'s state directory (absolute or relative to the working directory; default `.data/` in the project). */
  dataDir?: string;
  /** The daily reconciliation's Schedule: its local time (HH:MM) in the hospital's time zone; unset: no Schedule. */
  reconciliation: { at?: string; timezone: string };
  /** `npm start`'s Temporal dev server: frontend and UI ports. */
  devServer: { port: number; uiPort: number };
}

export class ConfigError extends Error {
  constructor(readonly fields: string[]) {
    super(`invalid configuration:\n${fields.map((f) => `  - ${f}`).join('\n')}`);
  }
}

export function parseConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const r = schema.safeParse(env);
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  const e = r.data;
  return Object.freeze({
    env: e.NODE_ENV,
    port: e.PORT,
    ...(e.DATABASE_URL ? { databaseUrl: e.DATABASE_URL } : {}),
    temporal: Object.freeze({
      namespace: e.TEMPORAL_NAMESPACE,
      ...(e.TEMPORAL_ADDRESS ? { address: e.TEMPORAL_ADDRESS } : {}),
      ...(e.TEMPORAL_API_KEY ? { apiKey: e.TEMPORAL_API_KEY } : {}),
      ...(e.TEMPORAL_TLS_CERT ? { tlsCert: e.TEMPORAL_TLS_CERT } : {}),
      ...(e.TEMPORAL_TLS_KEY ? { tlsKey: e.TEMPORAL_TLS_KEY } : {}),
    }),
    secrets: Object.freeze({
      jwt: e.AUTH_JWT_SECRET ?? DEV_SECRET,
      paymentWebhook: e.PAYMENT_WEBHOOK_SECRET ?? DEV_SECRET,
      courierWebhook: e.COURIER_WEBHOOK_SECRET ?? DEV_SECRET,
      notifyWebhook: e.NOTIFY_WEBHOOK_SECRET ?? DEV_SECRET,
      labWebhook: e.LAB_WEBHOOK_SECRET ?? DEV_SECRET,
      facilityWebhook: e.FACILITY_WEBHOOK_SECRET ?? DEV_SECRET,
      identityWebhook: e.IDENTITY_WEBHOOK_SECRET ?? DEV_SECRET,
    }),
    sandbox: Object.freeze({ partners: e.SANDBOX_PARTNERS, courierFail: e.SANDBOX_COURIER_FAIL, paymentFail: e.SANDBOX_PAYMENT_FAIL }),
    reconciliation: Object.freeze({
      timezone: e.HOSPITAL_TIMEZONE,
      ...((e.RECONCILIATION_AT ?? (e.NODE_ENV === 'production' ? 'off' : '06:00')) !== 'off' ? { at: e.RECONCILIATION_AT ?? '06:00' } : {}),
    }),
    ...(e.NOTIFY_WEBHOOK_URL ? { notifyWebhookUrl: e.NOTIFY_WEBHOOK_URL } : {}),
    ...(e.TEMPORAL_UI_URL ? { temporalUiUrl: e.TEMPORAL_UI_URL.replace(/\/+$/, '') } : {}),
    logLevel: e.LOG_LEVEL,
    payloadKeys: e.PAYLOAD_KEYS
      ? Object.freeze({ activeKeyId: e.PAYLOAD_KEY_ID ?? e.PAYLOAD_KEYS[0]!.id, keys: Object.freeze(e.PAYLOAD_KEYS) })
      : DEV_PAYLOAD_KEYS,
    signingKeys: e.SIGNING_KEYS
      ? Object.freeze({ activeKeyId: e.SIGNING_KEY_ID ?? e.SIGNING_KEYS[0]!.id, keys: Object.freeze(e.SIGNING_KEYS) })
      : DEV_SIGNING_KEYS,
    metrics: Object.freeze({ ...(e.METRICS_TOKEN ? { token: e.METRICS_TOKEN } : {}), workerPort: e.WORKER_METRICS_PORT }),
    tracing: Object.freeze({
      ...(e.OTEL_EXPORTER_OTLP_ENDPOINT ? { otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '') } : {}),
      ...(e.OTEL_SERVICE_NAME ? { serviceName: e.OTEL_SERVICE_NAME } : {}),
    }),
    auth: Object.freeze({ maxTokenTtlSeconds: e.AUTH_TOKEN_MAX_TTL }),
    partners: Object.freeze({
      ...(e.PAYMENT_PROVIDER_URL ? { paymentProviderUrl: e.PAYMENT_PROVIDER_URL } : {}),
      ...(e.COURIER_URL ? { courierUrl: e.COURIER_URL } : {}),
    }),
    ...(e.CAREPATH_DATA_DIR ? { dataDir: e.CAREPATH_DATA_DIR } : {}),
    devServer: Object.freeze({ port: e.TEMPORAL_DEV_PORT, uiPort: e.TEMPORAL_UI_PORT }),
  });
}

/** For entry points: parse, or print every bad field and exit. */
export function loadConfigOrExit(): Readonly<Config> {
  try {
    return parseConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(1);
    }
    throw e;
  }
}
