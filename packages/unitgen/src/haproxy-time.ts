// HAProxy's own time format (configuration.txt, "2.5. Time format"): a number with one of the units us, ms, s,
// m, h, d. systemd's spellings are not all HAProxy's: "1min" is read as 1m followed by a stray "in", which
// HAProxy 2.6 warns about and later versions refuse. Every time value written into an HAProxy file goes
// through this function.

/** `ms` in HAProxy's units: the largest of d, h, m, s that divides it, else milliseconds; `0` for zero. */
export function haproxyDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`an HAProxy time is a whole number of milliseconds >= 0, got ${ms}`);
  if (ms === 0) return '0';
  for (const [unit, n] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % n === 0) return `${ms / n}${unit}`;
  }
  return `${ms}ms`;
}
