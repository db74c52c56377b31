// Timing and summaries shared by the measures.

/** A positive integer knob from the environment (`PROGRAMS=200`), or `fallback` when unset. */
export function knob(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, not ${v}`);
  return n;
}

/** Nearest-rank percentile (q in 0..1) of the values; NaN when there are none. */
export function pct(xs: readonly number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
}

/** Milliseconds `f` took. */
export async function time(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

/** `total` calls of `task`, `concurrency` at a time: each one's latency, and completed calls a second. */
export async function closedLoop(concurrency: number, total: number, task: (i: number) => Promise<unknown>): Promise<{ latencies: number[]; perSecond: number }> {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) latencies.push(await time(() => task(i)));
    }),
  );
  return { latencies, perSecond: total / ((performance.now() - t0) / 1000) };
}

/**
 * Latencies of `a` and `b` called one at a time, alternately (a, b, a, b…), `n` of each: a machine
 * that gets busier or quieter during the run weighs on both the same. `afterB`, untimed, runs after
 * each `b`.
 */
export async function alternate(n: number, a: (i: number) => Promise<unknown>, b: (i: number) => Promise<unknown>, afterB?: () => Promise<unknown>): Promise<[number[], number[]]> {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < n; i++) {
    xs.push(await time(() => a(i)));
    ys.push(await time(() => b(i)));
    // Untimed: what `b` left running finishes before the next measurement.
    if (afterB) await afterB();
  }
  return [xs, ys];
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(ms, 0)));
