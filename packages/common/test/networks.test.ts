import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inNetworks, LOOPBACK_NETWORKS, parseNetwork, type Network } from '../src/index.js';

const nets = (...xs: string[]): Network[] => xs.map((x) => { const r = parseNetwork(x); assert.ok(r.ok, x); return r.value; });

test('networks: CIDR or one address, IPv4 and IPv6, normalized with a prefix length; refusals name the value and the fix', () => {
  assert.deepEqual(['10.0.0.0/24', '10.0.0.5', '::1', 'fd00::/64', '::ffff:10.0.0.0/120'].map((x) => { const r = parseNetwork(x); return r.ok && r.value.text; }),
    ['10.0.0.0/24', '10.0.0.5/32', '::1/128', 'fd00::/64', '::ffff:10.0.0.0/120']);
  assert.deepEqual(parseNetwork('10.0.0.0/33'), { ok: false, message: '"10.0.0.0/33": /33 is longer than an IPv4 address (32 bits)', hint: 'write an address (10.0.0.5, ::1) or a CIDR (10.0.0.0/24, fd00::/64)' });
  for (const bad of ['localhost', '10.0.0/8', '10.0.0.0/', ' 10.0.0.1', 'fd00::/129', 42, null]) assert.equal(parseNetwork(bad).ok, false, String(bad));
});

test('networks: membership by prefix, an IPv4 peer seen through a dual-stack socket, loopback by default', () => {
  const lan = nets('10.0.0.0/24', 'fd00:1::/64', '192.0.2.7');
  for (const yes of ['10.0.0.1', '10.0.0.255', '::ffff:10.0.0.9', 'fd00:1::abcd', '192.0.2.7']) assert.equal(inNetworks(yes, lan), true, yes);
  for (const no of ['10.0.1.1', '192.0.2.8', 'fd00:2::1', '::1', '127.0.0.1', undefined, '', 'not-an-ip']) assert.equal(inNetworks(no, lan), false, String(no));
  const lo = nets(...LOOPBACK_NETWORKS);
  for (const yes of ['127.0.0.1', '127.9.8.7', '::1', '::ffff:127.0.0.1']) assert.equal(inNetworks(yes, lo), true, yes);
  for (const no of ['10.0.0.1', '::2', '128.0.0.1']) assert.equal(inNetworks(no, lo), false, no);
  assert.equal(inNetworks('203.0.113.9', nets('0.0.0.0/0')), true);
});
