// The one address parser of the three tools. IP literals are held to their grammar under every rule set (the
// wrapper used to take `300.1.1.1` for a host name); names only where the tool resolves them at run time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatAddress, parseAddress, type AddressRules } from '../src/index.js';

const WRAPPER: AddressRules = { names: true, barePort: true };
const value = (v: unknown, rules: AddressRules = {}) => { const r = parseAddress(v, rules); return r.ok ? r.value : undefined; };

test('IP literals, with every rule set', () => {
  for (const rules of [{}, WRAPPER]) {
    assert.deepEqual(value('127.0.0.1:8080', rules), { host: '127.0.0.1', port: 8080, family: 4 });
    assert.deepEqual(value('[::1]:9080', rules), { host: '::1', port: 9080, family: 6 });
    assert.deepEqual(value('[FD00::A]:1', rules), { host: 'fd00::a', port: 1, family: 6 });
    for (const bad of ['127.0.0.1', '::1:80', '[::1]:0', '256.1.1.1:1', '300.1.1.1:80', '1.2.3:80', '[1:2:3:4:5:6:7:8:9]:1', '127.0.0.1:65536', ':80', '', 'http://x:80', '[::1]', '[x]:80']) {
      assert.equal(value(bad, rules), undefined, `${JSON.stringify(rules)} accepted ${bad}`);
    }
  }
});

test('names and bare ports only where allowed; port 0 only for listeners', () => {
  assert.deepEqual(value('localhost:80', WRAPPER), { host: 'localhost', port: 80, family: 0 });
  assert.deepEqual(value('db-1.example.org:5432', WRAPPER), { host: 'db-1.example.org', port: 5432, family: 0 });
  assert.deepEqual(value(9081, WRAPPER), { host: '127.0.0.1', port: 9081, family: 4 });
  assert.deepEqual(value('9081', WRAPPER), { host: '127.0.0.1', port: 9081, family: 4 });
  assert.deepEqual(value('[fe80::1%eth0]:80', WRAPPER), { host: 'fe80::1%eth0', port: 80, family: 6 });
  assert.deepEqual(value('0', { ...WRAPPER, zeroPort: true }), { host: '127.0.0.1', port: 0, family: 4 });
  for (const bad of ['-db:80', 'db_1:80', 'a..b:80', `${'a'.repeat(64)}:80`, '0', 'x y:80']) assert.equal(value(bad, WRAPPER), undefined, bad);
  for (const bad of ['localhost:80', 9081, '9081', '[fe80::1%eth0]:80']) assert.equal(value(bad), undefined, String(bad));
  const r = parseAddress('localhost:9999');
  assert.deepEqual(r, { ok: false, message: '"localhost:9999": "localhost" is a host name, not an IP address', hint: 'use an IP literal such as 127.0.0.1 (ListenStream= and HAProxy server lines do not resolve names at run time)' });
  assert.deepEqual(parseAddress('nowhere', WRAPPER), { ok: false, message: '"nowhere" is not an address', hint: 'write host:port such as 127.0.0.1:8080 or [::1]:8080, or a bare port for 127.0.0.1' });
  assert.deepEqual(parseAddress('127.0.0.1:65536'), { ok: false, message: '"127.0.0.1:65536": the port must be 1..65535, got 65536', hint: 'write IP:port such as 127.0.0.1:8080 or [::1]:8080 (IPv6 in brackets)' });
});

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
const ipv6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':'));
const port = fc.integer({ min: 1, max: 65535 });

test('property: every IP literal reads back from its formatted form, under both rule sets', () => {
  fc.assert(fc.property(fc.oneof(ipv4, ipv6), port, fc.boolean(), (host, p, wrapper) => {
    const text = formatAddress({ host, port: p });
    const a = value(text, wrapper ? WRAPPER : {});
    assert.ok(a, text);
    assert.equal(formatAddress(a), text);
  }));
});

test('property: digits and dots are an IPv4 literal or nothing, never a host name', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 999 }), { minLength: 1, maxLength: 6 }), port, (parts, p) => {
    const host = parts.join('.');
    const valid = parts.length === 4 && parts.every((x) => x <= 255);
    for (const rules of [{}, WRAPPER]) assert.equal(value(`${host}:${p}`, rules)?.family, valid ? 4 : undefined, host);
  }));
});

test('property: a host name is refused without `names` and taken as it is with it', () => {
  const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
  fc.assert(fc.property(fc.array(label, { minLength: 1, maxLength: 4 }), port, (labels, p) => {
    const text = `${labels.join('.')}:${p}`;
    assert.equal(value(text), undefined, text);
    assert.deepEqual(value(text, WRAPPER), { host: labels.join('.'), port: p, family: 0 });
  }));
});
