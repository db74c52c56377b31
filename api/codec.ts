// The codec server: POST /codec/decode and /codec/encode, the remote codec the Temporal UI and CLI
// call to show (and to write) the payloads the PayloadCodec (workers/codec.ts) seals, e.g.
// `temporal workflow show -w journey:<id> --codec-endpoint http://localhost:3000/codec --codec-auth "Bearer <token>"`.
// Staff only (coordinator, admin): a bearer token, or the dashboard's session cookie, which the UI
// sends when its codec setting "Include cross-origin credentials" is on. CORS for the UI's origins
// only. docs/architecture.md ("Payload encryption") says why and how `npm start`'s UI decodes.
import type { IncomingMessage } from 'node:http';
import { createRoute, z } from '@hono/zod-openapi';
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { cors } from 'hono/cors';
import { SESSION_COOKIE } from '../web/index.js';
import { bearerToken, isStaff, unauthorized, verifyToken, type TokenKey } from './auth.js';
import { bearer, jsonBody, jsonResponse, newRouter, problems } from './openapi.js';
import { ApiProblem, forbidden, problemResponse, unprocessable } from './problems.js';
import type { AppEnv } from './types.js';

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** The Temporal UI's origins (`http://localhost:8233`): browsers there may call, with credentials. */
  uiOrigins: string[];
  /**
   * Development on the public development key only (`npm start` sets it): a request from one of
   * `uiOrigins` over the loopback interface needs no token, so the local UI decodes with no setup.
   * Everything else, and always in production, needs a staff token.
   */
  trustLocalUi?: boolean;
}

/** Protobuf JSON's bytes: base64, standard or URL-safe, padded or not. */
const Base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'base64').openapi({ format: 'byte', example: 'anNvbi9wbGFpbg==' });
const PayloadIn = z
  .object({
    metadata: z.record(z.string().max(200), Base64).nullish().openapi({ description: 'Metadata values, base64' }),
    data: Base64.nullish().openapi({ description: 'The data, base64' }),
  })
  .openapi('CodecPayloadIn');
const PayloadOut = z
  .object({ metadata: z.record(z.string(), Base64), data: Base64 })
  .openapi('CodecPayload', { description: 'A temporal.api.common.v1.Payload as protobuf JSON' });
// Protobuf JSON leaves an empty list out: the CLI sends `{}` for no payloads.
const PayloadsIn = z.object({ payloads: z.array(PayloadIn).max(1000).default([]) }).openapi('CodecPayloadsIn');
const PayloadsOut = z.object({ payloads: z.array(PayloadOut) }).openapi('CodecPayloads');

const fromJson = (p: z.infer<typeof PayloadIn>): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): z.infer<typeof PayloadOut> => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
function fromLocalUi(c: Context, origins: string[]): boolean {
  const origin = c.req.header('origin');
  const remote = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket.remoteAddress;
  return origin !== undefined && origins.includes(origin) && remote !== undefined && LOOPBACK.has(remote);
}

/** A coordinator's or admin's bearer token, or their dashboard session cookie. */
function staffOnly(jwtSecret: TokenKey, opts: CodecServerOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearerToken(c) ?? getCookie(c, SESSION_COOKIE);
    if (!token) {
      if (opts.trustLocalUi && fromLocalUi(c, opts.uiOrigins)) return next();
      c.header('WWW-Authenticate', 'Bearer');
      return problemResponse(c, unauthorized('a staff Bearer token (coordinator or admin) is required'));
    }
    const user = await verifyToken(jwtSecret, token);
    if (typeof user === 'string') {
      c.header('WWW-Authenticate', 'Bearer error="invalid_token"');
      return problemResponse(c, unauthorized('the token is invalid or expired'));
    }
    // Set before the role check: a refused caller is audited by name (api/audit.ts).
    c.set('user', user);
    if (!isStaff(user)) throw forbidden('the codec server is for coordinators and admins');
    await next();
  };
}

/**
 * The body must be JSON: without a JSON Content-Type the validator would see `{}`, which the protocol
 * reads as no payloads (the CLI sends `{}` for none), and a request with no body would get a 200.
 */
const jsonOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!/^application\/([\w.-]+\+)?json\s*(;|$)/i.test(c.req.header('content-type') ?? '')) {
    return problemResponse(c, new ApiProblem(415, 'unsupported-media-type', 'Unsupported media type', 'the body must be JSON (Content-Type: application/json)'));
  }
  await next();
};

export function codecRoutes(jwtSecret: TokenKey, opts: CodecServerOptions) {
  const r = newRouter();
  // Before authentication: a preflight carries no credentials.
  r.use(
    '*',
    cors({
      origin: (origin) => (opts.uiOrigins.includes(origin) ? origin : null),
      allowMethods: ['POST', 'OPTIONS'],
      allowHeaders: ['Authorization', 'Authorization-Extras', 'Content-Type', 'X-Namespace'],
      credentials: true,
      maxAge: 600,
    }),
  );
  const staff = staffOnly(jwtSecret, opts);
  const description =
    'The Temporal remote codec protocol (protobuf JSON payloads; the X-Namespace header is accepted and ignored: one key set serves the namespace). ' +
    'For coordinators and admins: a Bearer token, or the dashboard session cookie from the Temporal UI with cross-origin credentials. ' +
    'Opened payloads are patient data: every call is audited (GET /v1/audit), and one that cannot be is a 503.';

  r.openapi(
    createRoute({
      method: 'post',
      path: '/decode',
      tags: ['codec'],
      summary: 'Open sealed Temporal payloads (payloads without the encryption encoding come back as they are)',
      description,
      security: bearer,
      middleware: [staff, jsonOnly] as const,
      request: { body: jsonBody(PayloadsIn) },
      responses: {
        200: jsonResponse(PayloadsOut, 'The payloads, opened, in order'),
        ...problems(400, 401, 403, 413, 415, 422, 503),
      },
    }),
    async (c) => {
      let opened: Payload[];
      try {
        opened = await opts.codec.decode(c.req.valid('json').payloads.map(fromJson));
      } catch (err) {
        // The codec's message names the key id only (wrong key, unknown id, altered data).
        throw unprocessable('undecodable-payload', (err as Error).message);
      }
      return c.json({ payloads: opened.map(toJson) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/encode',
      tags: ['codec'],
      summary: 'Seal Temporal payloads with the active key (for the UI and CLI sending signals or starting workflows)',
      description,
      security: bearer,
      middleware: [staff, jsonOnly] as const,
      request: { body: jsonBody(PayloadsIn) },
      responses: {
        200: jsonResponse(PayloadsOut, 'The payloads, sealed, in order'),
        ...problems(400, 401, 403, 413, 415, 503),
      },
    }),
    async (c) => c.json({ payloads: (await opts.codec.encode(c.req.valid('json').payloads.map(fromJson))).map(toJson) }, 200),
  );
  return r;
}
