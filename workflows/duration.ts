// ISO 8601 durations (PT15M, P1D, P1DT2H, P2W) to milliseconds. Pure, so workflow code can use it.
// Years and months are refused: their length depends on the calendar, and pathway timings never need them.
const ISO_DURATION = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

export function isIsoDuration(value: string): boolean {
  return value !== 'P' && !value.endsWith('T') && ISO_DURATION.test(value);
}

export function durationMs(value: string): number {
  const m = isIsoDuration(value) ? ISO_DURATION.exec(value) : null;
  if (!m) throw new TypeError(`not an ISO 8601 duration of weeks, days, hours, minutes or seconds: ${value}`);
  const [, w, d, h, min, s] = m;
  const n = (x: string | undefined): number => (x === undefined ? 0 : Number(x));
  return Math.round(((((n(w) * 7 + n(d)) * 24 + n(h)) * 60 + n(min)) * 60 + n(s)) * 1000);
}
