// systemd time spans (systemd.time(7)), the one duration syntax of every zope-systemd config: "500ms", "30s",
// "2min", "1h 30min", "1.5s", ".5s", "2w". A component without a unit, and a plain number, are seconds, as
// for TimeoutStartSec= and friends. Units are case-sensitive as in systemd: `m` is a minute, `M` a month.
import { parsed, quoteValue, refused, type ParseResult, type Quote } from './parse-result.js';

/** Every unit spelling of a time span with its length in ms (as systemd.time(7) lists them). */
export const DURATION_UNIT_MS: ReadonlyArray<readonly [readonly string[], number]> = [
  // µs with the micro sign (U+00B5) and with the Greek mu (U+03BC), as systemd accepts both. Written as escapes:
  // one character above U+00FF in a bundled executable makes V8 keep its whole source as two bytes per character.
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
const UNIT_MS = new Map<string, number>(DURATION_UNIT_MS.flatMap(([names, ms]) => names.map((n) => [n, ms] as const)));

/** The unit spellings a message lists (the shortest of each). */
export const DURATION_UNITS = 'us, ms, s, min, h, d, w, M, y';

export const DURATION_HINT = `write a systemd time span such as 500ms, 30s, 2min, 1h 30min, or a number of seconds (units: ${DURATION_UNITS})`;

/**
 * The longest span a Node timer holds: setTimeout() and friends take a signed 32-bit count of milliseconds and
 * turn anything above it into 1 ms (with only a warning), so `stop.timeout: 30d` would SIGKILL 1 ms after the
 * stop signal. Every duration the wrapper reads drives one of its timers, so every one is held to it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The limit as a message states it. */
export const MAX_TIMER_TEXT = `at most ${MAX_TIMER_MS} ms, about 24.8 days`;

/**
 * The longest span of a duration no Node timer waits for: one written into a systemd setting (whose usec_t holds
 * far more) or compared with an uptime. Up to here a span counted in whole microseconds stays exact in a
 * JavaScript number (2^53 us, about 285 years).
 */
export const MAX_SPAN_MS = Math.floor(Number.MAX_SAFE_INTEGER / 1000);

/**
 * What consumes a duration, which sets its maximum: `timer`, a Node timer (MAX_TIMER_MS); `span`, a systemd
 * setting or a comparison (MAX_SPAN_MS).
 */
export type DurationCeiling = 'timer' | 'span';

/** Each ceiling's maximum in ms, and how an error states it. */
export const DURATION_MAX: Readonly<Record<DurationCeiling, { ms: number; text: string; fix: string }>> = {
  timer: { ms: MAX_TIMER_MS, text: `longer than a timer can hold: ${MAX_TIMER_TEXT}`, fix: 'use a shorter time span, such as 24d or less' },
  span: { ms: MAX_SPAN_MS, text: `longer than a time span can be: at most ${MAX_SPAN_MS} ms, about 285 years`, fix: 'use a shorter time span' },
};

// A number with digits after its point, if it has one: systemd refuses `5.s` and `1. 3`.
const COMPONENT = /\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z\u00b5\u03bc]*)\s*/y;

/**
 * A time span in milliseconds, kept to the microsecond (systemd's own resolution, and no floating-point
 * residue: `1.1s` is 1100, not 1100.0000000000002). Refused: anything else, negative values, NaN, `infinity`
 * (every timer of the wrapper must end) and spans longer than `ceiling` allows (a timer's, unless told).
 */
export function parseDuration(value: unknown, quote: Quote = quoteValue, ceiling: DurationCeiling = 'timer'): ParseResult<number> {
  const max = DURATION_MAX[ceiling];
  const tooLong = () => refused(`${quote(value)} is ${max.text}`, max.fix);
  let ms: number;
  if (typeof value === 'number') {
    if (value === Infinity) return tooLong();
    if (!Number.isFinite(value) || value < 0) return refused(`${quote(value)} is not a time span`, DURATION_HINT);
    ms = value * 1000;
  } else if (typeof value === 'string') {
    const r = spanOf(value.trim());
    if (typeof r === 'string') return refused(`${quote(value)} is not a time span${r}`, DURATION_HINT);
    ms = r;
  } else {
    return refused(`${quote(value)} is not a time span`, DURATION_HINT);
  }
  ms = Math.round(ms * 1000) / 1000;
  return ms > max.ms ? tooLong() : parsed(ms);
}

/**
 * The sum of the components in ms, or what is wrong (text appended to "is not a time span"). Each component is
 * counted in whole microseconds as systemd counts it: the integer part times the unit, then each fractional digit
 * times the unit divided by ten once more per digit, in integers, so what falls below a microsecond is dropped
 * digit by digit (`1.0005ms` is 1000us, `0.5us` is 0, `0.000000005d` is 430us, as `systemd-analyze timespan`).
 */
function spanOf(s: string): number | string {
  if (s === '') return '';
  let totalUs = 0;
  for (let pos = 0; pos < s.length;) {
    COMPONENT.lastIndex = pos;
    const m = COMPONENT.exec(s);
    if (!m || m[0] === '') return '';
    const unitMs = m[2] === '' ? 1000 : UNIT_MS.get(m[2]!);
    if (unitMs === undefined) return `: unknown unit ${JSON.stringify(m[2])}`;
    const unitUs = Math.round(unitMs * 1000);
    const [whole = '', fraction = ''] = m[1]!.split('.');
    totalUs += Number(whole || '0') * unitUs;
    let k = unitUs;
    for (const digit of fraction) {
      k = Math.floor(k / 10);
      totalUs += Number(digit) * k;
    }
    pos = COMPONENT.lastIndex;
  }
  return totalUs / 1000;
}

/** The unit a bare number after each unit most likely means (`1h30`: 30 minutes), by the unit's shortest spelling. */
const NEXT_SMALLER: Readonly<Record<string, string>> = { y: 'M', M: 'd', w: 'd', d: 'h', h: 'min', s: 'ms', ms: 'us' };
const UNIT_WORDS: Readonly<Record<string, string>> = { M: 'months', d: 'days', h: 'hours', min: 'minutes', s: 'seconds', ms: 'milliseconds', us: 'microseconds' };
const SHORTEST = new Map<string, string>(DURATION_UNIT_MS.flatMap(([names]) => names.map((n) => [n, names[names.length - 1]!] as const)));

/**
 * A warning for a valid span with a number without a unit after a number with one (`1h30`, `2d 12`): systemd
 * reads that number as seconds (`1h30` is 1h 30s), which is what is meant only after minutes (`1min 30`).
 * The message names what systemd reads; the fix, the span with the unit most likely meant. Undefined otherwise.
 */
export function bareNumberWarning(value: string): { message: string; fix: string } | undefined {
  const parts: Array<{ n: string; unit: string }> = [];
  for (let pos = 0, s = value.trim(); pos < s.length;) {
    COMPONENT.lastIndex = pos;
    const m = COMPONENT.exec(s);
    if (!m || m[0] === '') return undefined;
    parts.push({ n: m[1]!, unit: m[2]! });
    pos = COMPONENT.lastIndex;
  }
  const suspect = parts.findIndex((p, i) => i > 0 && p.unit === '' && parts[i - 1]!.unit !== '' && SHORTEST.get(parts[i - 1]!.unit) !== 'm');
  if (suspect < 0) return undefined;
  const before = SHORTEST.get(parts[suspect - 1]!.unit) ?? '';
  const meant = NEXT_SMALLER[before] ?? 's';
  const spell = (unitOf: (p: { unit: string }, i: number) => string) => parts.map((p, i) => `${p.n}${unitOf(p, i)}`).join(' ');
  const reads = spell((p) => p.unit || 's');
  const fixed = spell((p, i) => (i === suspect ? meant : p.unit || 's'));
  return {
    message: `${JSON.stringify(value)} is read as ${reads} (${formatTimeSpan(spanOf(value.trim()) as number)} in all), as systemd reads it: a number without a unit is seconds, also after ${JSON.stringify(parts[suspect - 1]!.unit)}`,
    fix: `write every unit: ${JSON.stringify(fixed)} if ${parts[suspect]!.n} ${UNIT_WORDS[meant]} is meant, ${JSON.stringify(reads)} to keep what it is`,
  };
}

/**
 * Milliseconds as one systemd time span in the largest unit that divides it (`10min`, `90s`, `500ms`, `1500us`),
 * as zunitgen writes durations into unit files and wrapper configs; parseDuration reads it back exactly.
 */
export function formatTimeSpan(ms: number): string {
  if (ms === 0) return '0';
  for (const [unit, n] of [['h', 3_600_000], ['min', 60_000], ['s', 1000], ['ms', 1]] as const) {
    if (ms % n === 0) return `${ms / n}${unit}`;
  }
  return `${Math.round(ms * 1000)}us`;
}
