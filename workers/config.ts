// Configuration, parsed once from the environment with zod and frozen. A bad value stops the
// process with every bad field named; production refuses to run on development secrets.
import { z } from 'zod';

const DEV_SECRET = 'carepath-dev-only-secret-change-me';
/** The shortest secret production accepts (HS256 and HMAC-SHA256 keys: 32 bytes is the hash's own size). */
export const MIN_SECRET_BYTES = 32;

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
    SANDBOX_PARTNERS: z.enum(['auto', 'off']).default('off'),
    SANDBOX_COURIER_FAIL: z.enum(['none', 'first', 'all']).default('none'),
    SANDBOX_PAYMENT_FAIL: z.enum(['none', 'all']).default('none'),
    NOTIFY_WEBHOOK_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
    NOTIFY_WEBHOOK_SECRET: optionalString,
    TEMPORAL_UI_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV !== 'production') return;
    const required = ['AUTH_JWT_SECRET', 'PAYMENT_WEBHOOK_SECRET', 'COURIER_WEBHOOK_SECRET', 'LAB_WEBHOOK_SECRET', 'FACILITY_WEBHOOK_SECRET'] as const;
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
    if (env.SANDBOX_PARTNERS === 'auto') ctx.addIssue({ code: 'custom', path: ['SANDBOX_PARTNERS'], message: 'the sandbox partners never run in production' });
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
  secrets: { jwt: string; paymentWebhook: string; courierWebhook: string; notifyWebhook: string; labWebhook: string; facilityWebhook: string };
  /** The sandbox payment provider and courier call our webhooks on their own (`auto`), and can be told to fail. */
  sandbox: { partners: 'auto' | 'off'; courierFail: 'none' | 'first' | 'all'; paymentFail: 'none' | 'all' };
  notifyWebhookUrl?: string;
  /** The Temporal Web UI the dashboard links journeys to. */
  temporalUiUrl?: string;
  logLevel: string;
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
    }),
    sandbox: Object.freeze({ partners: e.SANDBOX_PARTNERS, courierFail: e.SANDBOX_COURIER_FAIL, paymentFail: e.SANDBOX_PAYMENT_FAIL }),
    ...(e.NOTIFY_WEBHOOK_URL ? { notifyWebhookUrl: e.NOTIFY_WEBHOOK_URL } : {}),
    ...(e.TEMPORAL_UI_URL ? { temporalUiUrl: e.TEMPORAL_UI_URL.replace(/\/+$/, '') } : {}),
    logLevel: e.LOG_LEVEL,
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
