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
      /AUTH_JWT_SECRET[\s\S]*PAYMENT_WEBHOOK_SECRET[\s\S]*COURIER_WEBHOOK_SECRET[\s\S]*LAB_WEBHOOK_SECRET[\s\S]*FACILITY_WEBHOOK_SECRET/,
    );
    const secret = (c: string) => c.repeat(32);
    const prod = {
      NODE_ENV: 'production',
      AUTH_JWT_SECRET: secret('a'),
      PAYMENT_WEBHOOK_SECRET: secret('b'),
      COURIER_WEBHOOK_SECRET: secret('c'),
      LAB_WEBHOOK_SECRET: secret('d'),
      FACILITY_WEBHOOK_SECRET: secret('e'),
      NOTIFY_WEBHOOK_SECRET: secret('f'),
      DATABASE_URL: 'postgres://u@db/carepath',
      TEMPORAL_ADDRESS: 'temporal:7233',
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
