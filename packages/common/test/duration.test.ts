// The one duration parser of both tools: systemd.time(7) spans, exact to the microsecond, bounded by what a
// timer holds. Where the two tools' parsers used to disagree (`.5s`, `w`, `M`, `y`, unit-less components),
// the properties below pin what both now accept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { bareNumberWarning, formatTimeSpan, MAX_TIMER_MS, parseDuration } from '../src/index.js';

const ms = (v: unknown) => { const r = parseDuration(v); return r.ok ? r.value : undefined; };

test('systemd time spans and plain seconds', () => {
  const cases: Array<[unknown, number]> = [
    ['500ms', 500], ['30s', 30_000], ['2min', 120_000], ['1h 30min', 5_400_000], ['1.5s', 1500], ['.5s', 500],
    ['90', 90_000], [5, 5000], [0.25, 250], [0, 0], ['0', 0], ['2 minutes', 120_000], ['1h30', 3_630_000], ['1 30', 31_000],
    ['2w', 1_209_600_000], ['1d 2h', 93_600_000], ['1.1s', 1100], ['  30 s  ', 30_000], ['1m', 60_000],
    ['500us', 0.5], ['500usec', 0.5], ['500\u00b5s', 0.5], ['500\u03bcs', 0.5], ['1us', 0.001],
  ];
  for (const [v, want] of cases) assert.equal(ms(v), want, String(v));
});

test('refused (as systemd-analyze timespan refuses them): not a span, a point without digits after it, negative, NaN, unknown or wrongly cased units, empty', () => {
  for (const bad of ['soon', '', '   ', '5.s', '1. 3', '3min 0.usec', '-5s', '5 parsecs', '30S', '1MIN', '1 h x', 'infinity', -1, NaN, null, undefined, true, [], {}, '1e3s', '0x10s']) {
    const r = parseDuration(bad);
    assert.equal(r.ok, false, `accepted ${String(bad)}`);
    if (!r.ok) assert.match(r.hint ?? '', /systemd time span/, String(bad));
  }
  const unit = parseDuration('2 parsecs');
  assert.deepEqual(unit, { ok: false, message: '"2 parsecs" is not a time span: unknown unit "parsecs"', hint: 'write a systemd time span such as 500ms, 30s, 2min, 1h 30min, or a number of seconds (units: us, ms, s, min, h, d, w, M, y)' });
});

test('longer than a timer holds: refused as too long (months and years always are), with the limit', () => {
  assert.equal(ms(`${MAX_TIMER_MS}ms`), MAX_TIMER_MS);
  assert.equal(ms('24d'), 24 * 86_400_000);
  for (const long of ['25d', '4w', '1M', '1y', `${MAX_TIMER_MS + 1}ms`, 3e6, Infinity]) {
    const r = parseDuration(long);
    assert.ok(!r.ok && /is longer than a timer can hold: at most 2147483647 ms, about 24\.8 days/.test(r.message) && /24d or less/.test(r.hint ?? ''), String(long));
  }
});

test('property: the sum of any components, in any of each unit\'s spellings, as systemd-analyze timespan reads it', () => {
  const unit = fc.constantFrom('us', 'usec', 'ms', 'msec', 's', 'sec', 'seconds', '', 'm', 'min', 'minutes', 'h', 'hr', 'hours', 'd', 'days', 'w');
  const component = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.stringMatching(/^[0-9]{1,10}$/), fc.boolean(), unit, fc.constantFrom('', ' '));
  const span = fc.tuple(fc.array(component, { minLength: 1, maxLength: 4 }), fc.constantFrom(' ', '', '  ')).map(([parts, sep]) =>
    // Unit-less components need a separator from the next number.
    parts.map(([n, digits, withFrac, u, gap]) => `${n}${withFrac ? `.${digits}` : ''}${gap}${u}`).join(sep || ' '));
  const texts = [...fc.sample(span, { numRuns: Number(process.env.FC_RUNS ?? 300) }), '1.84msec 0.50us', '0.000000005d', '0.0000000009h'];
  // systemd itself is the reference: one systemd-analyze for every span, each answered by a block with a "μs:" line.
  const out = execFileSync('systemd-analyze', ['timespan', ...texts], { encoding: 'utf8' });
  const us = [...out.matchAll(/^\s*\u03bcs: (\d+)$/gm)].map((m) => Number(m[1]));
  assert.equal(us.length, texts.length, out.slice(0, 2000));
  texts.forEach((text, i) => assert.equal(ms(text), us[i]! / 1000 > MAX_TIMER_MS ? undefined : us[i]! / 1000, text));
});

test('property: what zunitgen writes (formatTimeSpan) reads back exactly', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: MAX_TIMER_MS * 1000 }), (us) => {
    const v = us / 1000;
    assert.equal(ms(formatTimeSpan(v)), v, formatTimeSpan(v));
  }));
  assert.deepEqual([formatTimeSpan(600_000), formatTimeSpan(90_000), formatTimeSpan(1500), formatTimeSpan(0.5), formatTimeSpan(0)], ['10min', '90s', '1500ms', '500us', '0']);
});

test('a number without a unit after a unit other than minutes: a warning saying what systemd reads (checked with systemd) and the likely meaning', () => {
  const warned = ['1h30', '1h 30', '2d 12', '1w 3', '5s 500', '1h 30min 15s 2'];
  // What the warning says systemd reads is what systemd-analyze reads.
  const out = execFileSync('systemd-analyze', ['timespan', ...warned], { encoding: 'utf8' });
  const us = [...out.matchAll(/^\s*\u03bcs: (\d+)$/gm)].map((m) => Number(m[1]));
  warned.forEach((text, i) => {
    const w = bareNumberWarning(text);
    assert.ok(w, text);
    const reads = /is read as (.*?) \(/.exec(w.message)![1]!;
    assert.equal(parseDuration(reads).ok && (parseDuration(reads) as { value: number }).value, us[i]! / 1000, text);
    assert.ok(w.message.includes(JSON.stringify(text)), w.message);
  });
  assert.match(bareNumberWarning('1h30')!.message, /is read as 1h 30s \(3630s in all\)/);
  assert.match(bareNumberWarning('1h30')!.fix, /"1h 30min" if 30 minutes is meant/);
  assert.match(bareNumberWarning('2d 12')!.fix, /"2d 12h" if 12 hours is meant/);
  // Said as meant, or not a span at all: no warning (after minutes, seconds are what anyone means).
  for (const quiet of ['1h 30min', '1min 30', '1h 30min 15', '90', '30 1h', '1.5h', 'soon', '']) assert.equal(bareNumberWarning(quiet), undefined, quiet);
});
