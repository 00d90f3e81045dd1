// Port clashes are decided by where a listener binds, not by how the address is spelled: every verdict of
// addressesClash is compared with the kernel's own (two real listeners on a free port), for addresses spelled
// in any of IPv6's ways (compressed, expanded, leading zeros, IPv4-mapped).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import fc from 'fast-check';
import { addressesClash, ConfigError, parseAddress, parseStack, type Address } from '../src/index.js';
import { freePort } from '../../../test/harness/net.js';

/** An IPv6 spelling of 8 groups: some groups zero-padded, the longest zero run (maybe) compressed. */
const v6Spelling = (groups: number[]) => fc.record({ pad: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }), compress: fc.boolean(), upper: fc.boolean() })
  .map(({ pad, compress, upper }) => {
    let parts = groups.map((g, i) => (pad[i] ? g.toString(16).padStart(4, '0') : g.toString(16)));
    if (compress) {
      let best = -1, len = 0;
      for (let i = 0; i < 8; i++) { let j = i; while (j < 8 && groups[j] === 0) j++; if (j - i > len) { best = i; len = j - i; } }
      if (len > 0) { const head = parts.slice(0, best).join(':'), tail = parts.slice(best + len).join(':'); parts = [`${head}::${tail}`]; }
    }
    const t = parts.join(':');
    return upper ? t.toUpperCase() : t;
  });

const loopback4 = fc.constantFrom(1, 2).map((last) => ({ v4: `127.0.0.${last}` }));
const bindable = fc.oneof(
  loopback4.map((x) => ({ spell: fc.constant(x.v4) })),
  loopback4.map((x) => ({ spell: fc.constant(`[::ffff:${x.v4}]`) })),
  loopback4.map((x) => { const [a, b, c, d] = x.v4.split('.').map(Number) as [number, number, number, number]; return { spell: v6Spelling([0, 0, 0, 0, 0, 0xffff, (a << 8) | b, (c << 8) | d]).map((s) => `[${s}]`) }; }),
  fc.constant({ spell: v6Spelling([0, 0, 0, 0, 0, 0, 0, 1]).map((s) => `[${s}]`) }),
  fc.constant({ spell: v6Spelling([0, 0, 0, 0, 0, 0, 0, 0]).map((s) => `[${s}]`) }),
  fc.constant({ spell: fc.constant('0.0.0.0') }),
).chain((x) => x.spell);

async function kernelClash(a: Address, b: Address, port: number): Promise<boolean> {
  const s1 = net.createServer(), s2 = net.createServer();
  const listen = (s: net.Server, x: Address) => new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.listen({ host: x.host, port, exclusive: true, ...(x.family === 6 ? { ipv6Only: false } : {}) }, () => resolve(true));
  });
  try {
    assert.ok(await listen(s1, a), `cannot bind ${a.host} alone`);
    return !(await listen(s2, b));
  } finally {
    await Promise.all([s1, s2].map((s) => new Promise((r) => (s.listening ? s.close(r) : r(undefined)))));
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
