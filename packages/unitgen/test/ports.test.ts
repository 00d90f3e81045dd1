// Port clashes are decided by where a listener binds, not by how the address is spelled: every verdict of
// addressesClash is compared with the kernel's own (two real listeners on a free port), for addresses spelled
// in any of IPv6's ways (compressed, expanded, leading zeros, IPv4-mapped).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import fc from 'fast-check';
import { addressesClash, ConfigError, parseAddress, parseStack, type Address } from '../src/index.js';
import { freePort } from '../../../test/harness/net.js';
import { closeServer, listenAt, mappedInGroups, v6Spelling } from './helpers.js';

const loopback4 = fc.constantFrom(1, 2).map((last) => ({ v4: `127.0.0.${last}` }));
const bindable = fc.oneof(
  loopback4.map((x) => ({ spell: fc.constant(x.v4) })),
  loopback4.map((x) => ({ spell: fc.constant(`[::ffff:${x.v4}]`) })),
  loopback4.map((x) => ({ spell: mappedInGroups(x.v4) })),
  fc.constant({ spell: v6Spelling([0, 0, 0, 0, 0, 0, 0, 1]).map((s) => `[${s}]`) }),
  fc.constant({ spell: v6Spelling([0, 0, 0, 0, 0, 0, 0, 0]).map((s) => `[${s}]`) }),
  fc.constant({ spell: fc.constant('0.0.0.0') }),
).chain((x) => x.spell);

async function kernelClash(a: Address, b: Address, port: number): Promise<boolean> {
  const s1 = net.createServer(), s2 = net.createServer();
  try {
    assert.equal(await listenAt(s1, { ...a, port }), undefined, `cannot bind ${a.host} alone`);
    return (await listenAt(s2, { ...b, port })) !== undefined;
  } finally {
    await Promise.all([s1, s2].map(closeServer));
  }
}

test('addressesClash agrees with the kernel for any spelling of loopback, mapped and wildcard addresses', async () => {
  const port = await freePort();
  await fc.assert(fc.asyncProperty(bindable, bindable, async (x, y) => {
    const a = parseAddress(`${x}:${port}`), b = parseAddress(`${y}:${port}`);
    assert.ok(a.ok && b.ok, `${x} / ${y}`);
    const want = await kernelClash(a.value, b.value, port);
    assert.equal(addressesClash(a.value, b.value), want, `${x} then ${y}: the kernel says ${want ? '' : 'no '}clash`);
  }), { numRuns: Number(process.env.FC_RUNS ?? 150) });
});

test('a clash spelled differently is reported at validation, with both names', () => {
  const cfg = (http: string, agent: string) => `stack: site\nuser: plone\ndirectory: /srv/plone\nclients: { count: 1, command: /srv/plone/bin/c, http: "${http}", health: "${agent}" }\n`;
  for (const [http, agent] of [['[::1]:8081', '[0:0:0:0:0:0:0:1]:8081'], ['127.0.0.1:8081', '[::ffff:127.0.0.1]:8081'], ['127.0.0.1:8081', '[::]:8081']]) {
    assert.throws(() => parseStack(cfg(http!, agent!)), (e: unknown) => e instanceof ConfigError && /client1 health agent: .* is already used by client1 http/.test(e.issues[0]!.message), `${http} ${agent}`);
  }
  parseStack(cfg('127.0.0.1:8081', '[::1]:8081'));
});
