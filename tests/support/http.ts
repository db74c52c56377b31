// Helpers of the HTTP integration tests: read a JSON answer with its expected status, and wait for
// something the system does on its own (a projection, a webhook, a timer) to show.
import { expect } from 'vitest';

/** The body of `res`, parsed, after asserting its status (the body is the failure message). */
export async function json<T = Record<string, any>>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** An RFC 9457 problem answer of `status`, served as application/problem+json. */
export async function problem<T = { type: string; title: string; status: number; detail: string; errors?: { path: string; message: string }[] }>(
  res: Response,
  status: number,
): Promise<T> {
  const p = await json<T>(res, status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return p;
}

/** Polls `probe` until it returns a value (not undefined), or fails after `ms`. */
export async function waitFor<T>(probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
