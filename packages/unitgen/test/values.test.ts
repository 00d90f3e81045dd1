// Scalar syntaxes and escaping, including a comparison with the real systemd-escape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { execArg, expandTemplate, formatDuration, parseAddress, parseDuration, parseSize, systemdEscape, systemdUnescape, didYouMean } from '../src/index.js';
import { have } from './helpers.js';

test('sizes: base 1024, exact decimals, percentages, infinity', () => {
  assert.deepEqual(parseSize('1.5G'), { ok: true, value: { bytes: 1610612736n } });
  assert.deepEqual(parseSize('512M'), { ok: true, value: { bytes: 536870912n } });
  assert.deepEqual(parseSize(4096), { ok: true, value: { bytes: 4096n } });
  assert.deepEqual(parseSize('80%', { percent: true }), { ok: true, value: { percent: 80 } });
  assert.equal(parseSize('80%').ok, false);
  assert.equal(parseSize('1.5g').ok, false);
  assert.equal(parseSize('0').ok, false);
  assert.deepEqual(parseSize('infinity'), { ok: true, value: 'infinity' });
});

test('durations: systemd spans and seconds, formatted in one unit', () => {
  assert.deepEqual(parseDuration('30s'), { ok: true, value: 30000 });
  assert.deepEqual(parseDuration('1min 30s'), { ok: true, value: 90000 });
  assert.deepEqual(parseDuration('500ms'), { ok: true, value: 500 });
  assert.deepEqual(parseDuration(2.5), { ok: true, value: 2500 });
  assert.equal(parseDuration('30 parsecs').ok, false);
  // What a timer holds (2^31-1 ms, the wrapper's own limit): beyond it Node fires after 1 ms.
  assert.deepEqual(parseDuration('24d'), { ok: true, value: 24 * 86_400_000 });
  assert.deepEqual(parseDuration(`${2 ** 31 - 1}ms`), { ok: true, value: 2 ** 31 - 1 });
  for (const tooLong of ['25d', '30d', `${2 ** 31}ms`, 2 ** 31 / 1000, Infinity]) {
    const r = parseDuration(tooLong);
    assert.ok(!r.ok && /is longer than a timer can hold: at most 2147483647 ms/.test(r.message) && /24d or less/.test(r.hint ?? ''), String(tooLong));
  }
  assert.equal(formatDuration(600_000), '10min');
  assert.equal(formatDuration(90_000), '90s');
  assert.equal(formatDuration(1500), '1500ms');
});

test('addresses: IPv4 and bracketed IPv6 literals only', () => {
  assert.deepEqual(parseAddress('127.0.0.1:8080'), { ok: true, value: { host: '127.0.0.1', port: 8080, family: 4 } });
  assert.deepEqual(parseAddress('[::1]:9080'), { ok: true, value: { host: '::1', port: 9080, family: 6 } });
  for (const bad of ['localhost:80', '127.0.0.1', '::1:80', '[::1]:0', '256.1.1.1:1', '[1:2:3:4:5:6:7:8:9]:1']) assert.equal(parseAddress(bad).ok, false, bad);
});

test('templates: {n}, {8080+n}, {n+8080}, literal braces', () => {
  assert.deepEqual(expandTemplate('127.0.0.1:{8080+n}', 3), { ok: true, value: '127.0.0.1:8083' });
  assert.deepEqual(expandTemplate('bin/client{n}', 2), { ok: true, value: 'bin/client2' });
  assert.deepEqual(expandTemplate('{ n + 10 }', 1), { ok: true, value: '11' });
  assert.deepEqual(expandTemplate('{{x}}', 1), { ok: true, value: '{x}' });
  assert.equal(expandTemplate('{m}', 1).ok, false);
  assert.equal(expandTemplate('{n', 1).ok, false);
  assert.equal(expandTemplate('a}', 1).ok, false);
});

test('did-you-mean', () => {
  assert.equal(didYouMean('theads', ['threads', 'health']), 'threads');
  assert.equal(didYouMean('cpu_weight', ['cpu-weight']), 'cpu-weight');
  assert.equal(didYouMean('zzzzzz', ['threads']), undefined);
});

test('execArg: the documented cases', () => {
  assert.equal(execArg('plain/arg-1.0'), 'plain/arg-1.0');
  assert.equal(execArg('100%'), '100%%');
  assert.equal(execArg('$HOME'), '"$$HOME"');
  assert.equal(execArg(';'), '\\;');
  assert.equal(execArg('a b'), '"a b"');
  assert.equal(execArg('say "hi"'), '"say \\"hi\\""');
  assert.equal(execArg('back\\slash'), '"back\\\\slash"');
  assert.equal(execArg(''), '""');
  assert.throws(() => execArg('a\nb'), /control character/);
});

test('systemdEscape agrees with systemd-escape(1)', { skip: have('systemd-escape') ? false : 'systemd-escape not installed' }, () => {
  const samples = ['plone', 'my-site', 'a/b', '.hidden', 'ä ö', 'x\\y', '100%', 'a:b_c.d', '-lead'];
  fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/[\u0000]/.test(s) && !/[\ud800-\udfff]/.test(s)), (s) => {
    samples.push(s);
  }), { numRuns: 60 });
  for (const s of samples) {
    const r = spawnSync('systemd-escape', ['--', s], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(systemdEscape(s), r.stdout.replace(/\n$/, ''), JSON.stringify(s));
    assert.equal(systemdUnescape(systemdEscape(s)), s);
  }
});
