// systemd-style time spans, as systemd.time(7) defines them: "500ms", "30s", "2min", "1h 30min", "1.5s".
// A bare number (in YAML or as a string) means seconds, as it does for TimeoutStartSec= and friends.

const UNITS: ReadonlyArray<readonly [string[], number]> = [
  // µs with the micro sign (U+00B5) and with the Greek mu (U+03BC), as systemd accepts both. Written as escapes:
  // one character above U+00FF in the bundled cli.js makes V8 keep its whole source as two bytes per character.
  [['usec', 'us', '\u00b5s', '\u03bcs'], 0.001],
  [['msec', 'ms'], 1],
  [['seconds', 'second', 'sec', 's'], 1000],
  [['minutes', 'minute', 'min', 'm'], 60_000],
  [['hours', 'hour', 'hr', 'h'], 3_600_000],
  [['days', 'day', 'd'], 86_400_000],
  [['weeks', 'week', 'w'], 604_800_000],
  [['months', 'month', 'M'], 2_629_800_000],
  [['years', 'year', 'y'], 31_557_600_000],
];
const UNIT_MS = new Map<string, number>(UNITS.flatMap(([names, ms]) => names.map((n) => [n, ms] as const)));

export const DURATION_HINT = 'write a systemd time span such as 500ms, 30s, 2min, 1h 30min, or a number of seconds';

/**
 * The longest span a Node timer holds: setTimeout() and friends take a signed 32-bit count of milliseconds and
 * turn anything above it into 1 ms (with only a warning), so `stop.timeout: 30d` would SIGKILL 1 ms after the
 * stop signal. Every configured duration drives a timer or a comparison with one, so every duration key is
 * held to it (config.ts, Validator.duration).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The limit as a config error states it. */
export const MAX_TIMER_TEXT = `at most ${MAX_TIMER_MS} ms, about 24.8 days`;

/**
 * Parses a time span into milliseconds. Returns undefined when the value is not a time span (the caller
 * reports it with the file position). Negative values, NaN and infinity are rejected; `infinity` is not
 * accepted because every timer of the wrapper must end.
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  if (typeof value !== 'string') return undefined;
  const s = value.trim();
  if (s === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const re = /\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z\u00b5\u03bc]+)\s*/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return undefined;
    const unit = UNIT_MS.get(m[2]!);
    if (unit === undefined) return undefined;
    total += Number(m[1]) * unit;
    pos = re.lastIndex;
  }
  return total;
}

/** Human form for logs and STATUS=: "850 ms", "4.1 s", "2 min 5 s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(Math.round(ms / 100) / 10).toFixed(1)} s`;
  const min = Math.floor(ms / 60_000);
  const sec = Math.round((ms - min * 60_000) / 1000);
  return sec ? `${min} min ${sec} s` : `${min} min`;
}

/** Milliseconds to the microseconds systemd wants in WATCHDOG_USEC= / EXTEND_TIMEOUT_USEC=. */
export function msToUsec(ms: number): bigint {
  return BigInt(Math.max(0, Math.round(ms * 1000)));
}
