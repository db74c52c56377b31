import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../workers/config.js';
import { durationMs, isIsoDuration } from '../workflows/duration.js';
import { sign, verifySignature } from '../activities/signature.js';

describe('configuration', () => {
  it('has development defaults', () => {
    const c = parseConfig({});
    expect(c).toMatchObject({ env: 'development', port: 3000, temporal: { namespace: 'default' }, logLevel: 'info' });
    expect(c.databaseUrl).toBeUndefined();
    expect(c.secrets.jwt.length).toBeGreaterThan(10);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('names every bad field at once', () => {
    const err = (() => {
      try {
        parseConfig({ PORT: 'abc', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', NOTIFY_WEBHOOK_URL: 'not a url' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    const fields = (err as ConfigError).fields.map((f) => f.split(':')[0]);
    expect(fields).toEqual(expect.arrayContaining(['PORT', 'DATABASE_URL', 'LOG_LEVEL', 'NOTIFY_WEBHOOK_URL']));
  });

  it('refuses production without secrets', () => {
    expect(() => parseConfig({ NODE_ENV: 'production' })).toThrow(
      /AUTH_JWT_SECRET[\s\S]*PAYMENT_WEBHOOK_SECRET[\s\S]*COURIER_WEBHOOK_SECRET[\s\S]*LAB_WEBHOOK_SECRET[\s\S]*FACILITY_WEBHOOK_SECRET[\s\S]*IDENTITY_WEBHOOK_SECRET/,
    );
    const secret = (c: string) => c.repeat(32);
    const prod = {
      NODE_ENV: 'production',
      AUTH_JWT_SECRET: secret('a'),
      PAYMENT_WEBHOOK_SECRET: secret('b'),
      COURIER_WEBHOOK_SECRET: secret('c'),
      LAB_WEBHOOK_SECRET: secret('d'),
      FACILITY_WEBHOOK_SECRET: secret('e'),
      IDENTITY_WEBHOOK_SECRET: secret('g'),
      NOTIFY_WEBHOOK_SECRET: secret('f'),
      DATABASE_URL: 'postgres://u@db/carepath',
      TEMPORAL_ADDRESS: 'temporal:7233',
      PAYLOAD_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
      SIGNING_KEYS: `s1:${Buffer.alloc(32, 9).toString('base64')}`,
      PAYMENT_PROVIDER_URL: 'https://pay.example/v1',
      COURIER_URL: 'https://courier.example',
    };
    const ok = parseConfig(prod);
    expect(ok.secrets).toMatchObject({ jwt: secret('a'), paymentWebhook: secret('b'), courierWebhook: secret('c'), labWebhook: secret('d'), facilityWebhook: secret('e') });
    // Too short (31 bytes), or the development default: refused, naming the variable.
    expect(() => parseConfig({ ...prod, COURIER_WEBHOOK_SECRET: 'c'.repeat(31) })).toThrow(/COURIER_WEBHOOK_SECRET: must be at least 32 bytes/);
    expect(() => parseConfig({ ...prod, AUTH_JWT_SECRET: 'carepath-dev-only-secret-change-me' })).toThrow(/AUTH_JWT_SECRET: is the development default/);
    // Counted in bytes: 11 characters of 3 bytes pass, 10 do not.
    expect(parseConfig({ ...prod, NOTIFY_WEBHOOK_SECRET: '密'.repeat(11) }).secrets.notifyWebhook).toBe('密'.repeat(11));
    expect(() => parseConfig({ ...prod, NOTIFY_WEBHOOK_SECRET: '密'.repeat(10) })).toThrow(/NOTIFY_WEBHOOK_SECRET: must be at least 32 bytes/);
    // Development takes short secrets as they are.
    expect(parseConfig({ AUTH_JWT_SECRET: 'a' }).secrets.jwt).toBe('a');
    expect(ok.sandbox).toEqual({ partners: 'off', courierFail: 'none', paymentFail: 'none' });
    const { NOTIFY_WEBHOOK_SECRET: _notify, ...unsigned } = prod;
    expect(() => parseConfig(unsigned)).toThrow(/NOTIFY_WEBHOOK_SECRET/);
    expect(() => parseConfig({ ...prod, SANDBOX_PARTNERS: 'auto' })).toThrow(/SANDBOX_PARTNERS/);
  });
});

describe('production refusals', () => {
  const prod: Record<string, string> = {
    NODE_ENV: 'production',
    AUTH_JWT_SECRET: 'a'.repeat(32),
    PAYMENT_WEBHOOK_SECRET: 'b'.repeat(32),
    COURIER_WEBHOOK_SECRET: 'c'.repeat(32),
    LAB_WEBHOOK_SECRET: 'd'.repeat(32),
    FACILITY_WEBHOOK_SECRET: 'e'.repeat(32),
    IDENTITY_WEBHOOK_SECRET: 'g'.repeat(32),
    NOTIFY_WEBHOOK_SECRET: 'f'.repeat(32),
    DATABASE_URL: 'postgres://u@db/carepath',
    TEMPORAL_ADDRESS: 'temporal:7233',
    PAYLOAD_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
    SIGNING_KEYS: `s1:${Buffer.alloc(32, 9).toString('base64')}`,
    PAYMENT_PROVIDER_URL: 'https://pay.example/v1',
    COURIER_URL: 'https://courier.example',
  };
  /** Every field the configuration refuses, as `FIELD: message`, or [] when it is accepted. */
  const refusals = (env: Record<string, string>) => {
    try {
      parseConfig(env);
      return [];
    } catch (e) {
      return (e as ConfigError).fields;
    }
  };

  it('accepts a complete production configuration, with the real partners and a 12 h token limit', () => {
    expect(refusals(prod)).toEqual([]);
    const c = parseConfig(prod);
    expect(c.partners).toEqual({ paymentProviderUrl: 'https://pay.example/v1', courierUrl: 'https://courier.example' });
    expect(c.auth.maxTokenTtlSeconds).toBe(12 * 3600);
    expect(parseConfig({ ...prod, AUTH_TOKEN_MAX_TTL: '900' }).auth.maxTokenTtlSeconds).toBe(900);
  });

  it.each([
    ['no payment provider: the development ledger would stand in', { PAYMENT_PROVIDER_URL: '' }, 'PAYMENT_PROVIDER_URL: required in production (the development ledger refunds nobody)'],
    ['no courier: the courier that tells nobody would stand in', { COURIER_URL: '' }, 'COURIER_URL: required in production (the development courier ships nothing)'],
    ['a payment provider URL that is not http(s)', { PAYMENT_PROVIDER_URL: 'ftp://pay.example' }, 'PAYMENT_PROVIDER_URL: Invalid URL'],
    ['the sandbox partners', { SANDBOX_PARTNERS: 'auto' }, 'SANDBOX_PARTNERS: the sandbox partners never run in production'],
    ['a token signing secret shorter than 32 bytes', { AUTH_JWT_SECRET: 'a'.repeat(31) }, 'AUTH_JWT_SECRET: must be at least 32 bytes in production'],
    ['the development secret', { LAB_WEBHOOK_SECRET: 'carepath-dev-only-secret-change-me' }, 'LAB_WEBHOOK_SECRET: is the development default; set a secret of your own'],
    ['a missing webhook secret', { FACILITY_WEBHOOK_SECRET: '' }, 'FACILITY_WEBHOOK_SECRET: required in production'],
    ['a missing identity-provider secret', { IDENTITY_WEBHOOK_SECRET: '' }, 'IDENTITY_WEBHOOK_SECRET: required in production'],
    ['no DATABASE_URL (no embedded database)', { DATABASE_URL: '' }, 'DATABASE_URL: required in production'],
    ['no TEMPORAL_ADDRESS (no dev server)', { TEMPORAL_ADDRESS: '' }, 'TEMPORAL_ADDRESS: required in production'],
    ['a TLS certificate without its key', { TEMPORAL_TLS_CERT: '/etc/tls/client.pem' }, 'TEMPORAL_TLS_KEY: TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together'],
    ['a token lifetime limit under a minute', { AUTH_TOKEN_MAX_TTL: '59' }, 'AUTH_TOKEN_MAX_TTL: Too small: expected number to be >=60'],
    ['a token lifetime limit over 30 days', { AUTH_TOKEN_MAX_TTL: String(30 * 86400 + 1) }, 'AUTH_TOKEN_MAX_TTL: Too big: expected number to be <=2592000'],
  ])('refuses %s', (_name, change, refusal) => {
    expect(refusals({ ...prod, ...change })).toEqual([refusal]);
  });

  it('development runs on the ledger and the awaiting courier, on the embedded services', () => {
    expect(parseConfig({}).partners).toEqual({});
    expect(parseConfig({ COURIER_URL: 'http://127.0.0.1:9000' }).partners).toEqual({ courierUrl: 'http://127.0.0.1:9000' });
  });

  it('a production process refused its configuration exits 1 naming the variable', async () => {
    const { spawnSync } = await import('node:child_process');
    const { dirname, join } = await import('node:path');
    const { fileURLToPath } = await import('node:url');
    const root = join(dirname(fileURLToPath(import.meta.url)), '..');
    const { COURIER_URL: _courier, ...env } = prod;
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'workers/worker.ts'], { cwd: root, env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('COURIER_URL: required in production (the development courier ships nothing)');
  });
});

describe('ISO 8601 durations', () => {
  it.each([
    ['PT15M', 900_000],
    ['P1D', 86_400_000],
    ['PT1H', 3_600_000],
    ['P1DT2H30M', 95_400_000],
    ['PT0.5S', 500],
    ['P2W', 1_209_600_000],
  ])('%s = %d ms', (d, ms) => expect(durationMs(d)).toBe(ms));

  it.each(['', 'P', 'PT', '15M', 'P1M', 'P1Y', 'PT-1S', '1 day'])('refuses %j', (d) => {
    expect(isIsoDuration(d)).toBe(false);
    expect(() => durationMs(d)).toThrow();
  });
});

describe('webhook signatures', () => {
  it('verifies sha256=<hex HMAC> of the raw body, and nothing else', () => {
    const body = '{"orderId":"o1"}';
    const header = sign('secret', body);
    expect(header).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature('secret', body, header)).toBe(true);
    expect(verifySignature('other', body, header)).toBe(false);
    expect(verifySignature('secret', body + ' ', header)).toBe(false);
    expect(verifySignature('secret', body, undefined)).toBe(false);
    expect(verifySignature('secret', body, 'sha256=00')).toBe(false);
  });
});

describe('Temporal connection options', () => {
  it('uses mTLS from PEM text or files, or an API key over TLS', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { temporalConnectionOptions } = await import('../workers/wiring.js');
    const pemText = '-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n';
    const dir = mkdtempSync(join(tmpdir(), 'pem-'));
    writeFileSync(join(dir, 'client.key'), '-----BEGIN PRIVATE KEY-----\nxyz\n-----END PRIVATE KEY-----\n');
    const mtls = temporalConnectionOptions({ namespace: 'ns.acct', tlsCert: pemText, tlsKey: join(dir, 'client.key') }, 'ns.acct.tmprl.cloud:7233');
    expect(mtls.tls).toMatchObject({ clientCertPair: { crt: Buffer.from(pemText) } });
    expect(String((mtls.tls as unknown as { clientCertPair: { key: Buffer } }).clientCertPair.key)).toContain('PRIVATE KEY');
    const keyed = temporalConnectionOptions({ namespace: 'ns.acct', apiKey: 'k' }, 'eu-west-1.aws.api.temporal.io:7233');
    expect(keyed).toMatchObject({ tls: true, apiKey: 'k', metadata: { 'temporal-namespace': 'ns.acct' } });
    expect(temporalConnectionOptions({ namespace: 'default' }, 'localhost:7233').tls).toBeUndefined();
  });
});

describe('payload keys', () => {
  const b64 = (fill: number) => Buffer.alloc(32, fill).toString('base64');
  const prod = {
    NODE_ENV: 'production',
    ...Object.fromEntries(['AUTH_JWT', 'PAYMENT_WEBHOOK', 'COURIER_WEBHOOK', 'LAB_WEBHOOK', 'FACILITY_WEBHOOK', 'NOTIFY_WEBHOOK'].map((k, i) => [`${k}_SECRET`, String(i).repeat(32)])),
    DATABASE_URL: 'postgres://u@db/carepath',
    TEMPORAL_ADDRESS: 'temporal:7233',
    PAYMENT_PROVIDER_URL: 'https://pay.example',
    COURIER_URL: 'https://courier.example',
  };
  /** The messages naming PAYLOAD_KEYS or PAYLOAD_KEY_ID, or [] when the configuration is accepted. */
  const keyProblems = (env: Record<string, string>) => {
    try {
      parseConfig(env);
      return [];
    } catch (e) {
      return (e as ConfigError).fields.filter((f) => f.startsWith('PAYLOAD_'));
    }
  };

  it('development seals with the public development key, with no configuration', () => {
    const c = parseConfig({});
    expect(c.payloadKeys.activeKeyId).toBe('dev');
    expect(c.payloadKeys.keys.map((k) => [k.id, k.key.length])).toEqual([['dev', 32]]);
  });

  it('parses id:base64 lists; the first key encrypts unless PAYLOAD_KEY_ID names another', () => {
    const two = `2026-11:${b64(1)}, 2025-01:${b64(2)}`;
    const c = parseConfig({ PAYLOAD_KEYS: two });
    expect(c.payloadKeys.activeKeyId).toBe('2026-11');
    expect(c.payloadKeys.keys.map((k) => k.id)).toEqual(['2026-11', '2025-01']);
    expect(c.payloadKeys.keys[1]!.key.equals(Buffer.alloc(32, 2))).toBe(true);
    expect(parseConfig({ PAYLOAD_KEYS: two, PAYLOAD_KEY_ID: '2025-01' }).payloadKeys.activeKeyId).toBe('2025-01');
  });

  it('refuses malformed keys without echoing them', () => {
    const short = Buffer.alloc(16, 3).toString('base64');
    expect(keyProblems({ PAYLOAD_KEYS: `k1:${short}` })).toEqual(['PAYLOAD_KEYS: entry 1 is not id:base64 of a 32-byte key']);
    expect(keyProblems({ PAYLOAD_KEYS: b64(4) })).toEqual(['PAYLOAD_KEYS: entry 1 is not id:base64 of a 32-byte key']);
    expect(keyProblems({ PAYLOAD_KEYS: `k1:${b64(1)},k1:${b64(2)}` })).toEqual(['PAYLOAD_KEYS: key id "k1" is listed twice']);
    expect(keyProblems({ PAYLOAD_KEYS: ' , ' })).toEqual(['PAYLOAD_KEYS: names no key']);
    expect(keyProblems({ PAYLOAD_KEYS: `k1:${b64(1)}`, PAYLOAD_KEY_ID: 'k2' })).toEqual(['PAYLOAD_KEY_ID: names no key of PAYLOAD_KEYS']);
  });

  it('production refuses to start without a key of its own', () => {
    expect(keyProblems(prod)).toEqual(['PAYLOAD_KEYS: required in production (the keys that encrypt Temporal payloads)']);
    const dev = Buffer.from('carepath-dev-only-payload-key-32').toString('base64');
    expect(keyProblems({ ...prod, PAYLOAD_KEYS: `k1:${b64(1)},old:${dev}` })).toEqual(['PAYLOAD_KEYS: holds the development key; set keys of your own']);
    expect(keyProblems({ ...prod, PAYLOAD_KEYS: `k1:${b64(1)}` })).toEqual([]);
  });
});

describe('signing keys (the seal of doctors\' private signing keys)', () => {
  const b64 = (fill: number) => Buffer.alloc(32, fill).toString('base64');
  const signingProblems = (env: Record<string, string>) => {
    try {
      parseConfig(env);
      return [];
    } catch (e) {
      return (e as ConfigError).fields.filter((f) => f.startsWith('SIGNING_'));
    }
  };

  it('development seals with the public development key; a list of its own seals with the first unless SIGNING_KEY_ID names another', () => {
    expect(parseConfig({}).signingKeys.activeKeyId).toBe('dev');
    const c = parseConfig({ SIGNING_KEYS: `s2:${b64(1)},s1:${b64(2)}` });
    expect(c.signingKeys.activeKeyId).toBe('s2');
    expect(c.signingKeys.keys.map((k) => k.id)).toEqual(['s2', 's1']);
    expect(parseConfig({ SIGNING_KEYS: `s2:${b64(1)},s1:${b64(2)}`, SIGNING_KEY_ID: 's1' }).signingKeys.activeKeyId).toBe('s1');
    expect(signingProblems({ SIGNING_KEYS: `s1:${b64(1)}`, SIGNING_KEY_ID: 's9' })).toEqual(['SIGNING_KEY_ID: names no key of SIGNING_KEYS']);
    expect(signingProblems({ SIGNING_KEYS: `s1:${Buffer.alloc(16).toString('base64')}` })).toEqual(['SIGNING_KEYS: entry 1 is not id:base64 of a 32-byte key']);
  });

  it('production refuses to start without a key of its own', () => {
    expect(signingProblems({ NODE_ENV: 'production' })).toEqual(["SIGNING_KEYS: required in production (the keys that seal doctors' signing keys)"]);
    const dev = Buffer.from('carepath-dev-only-signing-key-32').toString('base64');
    expect(signingProblems({ NODE_ENV: 'production', SIGNING_KEYS: `s1:${b64(1)},old:${dev}` })).toEqual(['SIGNING_KEYS: holds the development key; set keys of your own']);
    expect(signingProblems({ NODE_ENV: 'production', SIGNING_KEYS: `s1:${b64(1)}` })).toEqual([]);
  });
});

describe('metrics and tracing configuration', () => {
  it('serves worker metrics on 9464 with /metrics open and tracing off by default', () => {
    const c = parseConfig({});
    expect(c.metrics).toEqual({ workerPort: 9464 });
    expect(c.tracing).toEqual({});
  });

  it('reads the metrics token, the worker port (0: none) and the OTLP endpoint without its trailing slash', () => {
    const c = parseConfig({ METRICS_TOKEN: 'scrape-me', WORKER_METRICS_PORT: '0', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/', OTEL_SERVICE_NAME: 'carepath-eu' });
    expect(c.metrics).toEqual({ token: 'scrape-me', workerPort: 0 });
    expect(c.tracing).toEqual({ otlpEndpoint: 'http://collector:4318', serviceName: 'carepath-eu' });
  });

  it('refuses a port out of range and an endpoint that is not an http(s) URL', () => {
    expect(() => parseConfig({ WORKER_METRICS_PORT: '70000' })).toThrow(/WORKER_METRICS_PORT/);
    expect(() => parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(() => parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  });
});
