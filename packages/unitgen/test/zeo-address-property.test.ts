// Property test of the ZEO address written twice (zeo.address and runzeo's -a/--address in zeo.command): for any
// pair of addresses, in any of their spellings (IPv6 compressed, expanded, zero-padded, upper case, IPv4-mapped,
// wildcards) and any of the option's forms, the config is accepted exactly when both mean the same endpoint. The
// kernel decides what "the same" is: a real listener on each address, and which loopback addresses reach it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import fc from 'fast-check';
import { ConfigError, parseAddress, parseStack, type Address } from '../src/index.js';
import { connects, freePort } from '../../../test/harness/net.js';
import { checkProperty, closeServer, listenAt, mappedInGroups, v6Spelling } from './helpers.js';

const v4 = fc.constantFrom('127.0.0.1', '127.0.0.2', '0.0.0.0');
/** A host as written in an address: IPv4, IPv4-mapped IPv6 (dotted or in groups), ::1, ::. */
const host = fc.oneof(
  v4,
  v4.map((a) => `[::ffff:${a}]`),
  v4.chain(mappedInGroups),
  v6Spelling([0, 0, 0, 0, 0, 0, 0, 1]).map((x) => `[${x}]`),
  v6Spelling([0, 0, 0, 0, 0, 0, 0, 0]).map((x) => `[${x}]`),
);
/** How the command passes the address: runzeo's short and long options, separate or joined. */
const option = fc.constantFrom((a: string) => ['-a', a], (a: string) => ['--address', a], (a: string) => [`--address=${a}`], (a: string) => [`-a${a}`]);

const PROBES = ['127.0.0.1', '127.0.0.2', '::1'];

/** Which loopback addresses reach a real listener bound to `a` (dual-stack for IPv6, as ZEO binds): "probe:port" strings. */
async function reach(a: Address): Promise<string> {
  const srv = net.createServer((s) => s.destroy());
  const refused = await listenAt(srv, a);
  if (refused) throw refused;
  try {
    const ok = await Promise.all(PROBES.map((p) => connects(a.port, p)));
    return PROBES.filter((_, i) => ok[i]).map((p) => `${p}:${a.port}`).join(' ');
  } finally {
    await closeServer(srv);
  }
}

function config(zeoAddress: string, argv: string[]): string {
  return JSON.stringify({
    stack: 'site', user: 'plone', directory: '/srv/plone',
    zeo: { command: ['/srv/plone/bin/runzeo', ...argv, '-f', 'var/Data.fs'], address: zeoAddress },
    clients: { count: 1, command: '/srv/plone/bin/client{n}', http: '127.0.0.1:{7000+n}', health: '127.0.0.1:{7100+n}' },
  });
}

test('zeo.command -a/--address is accepted exactly when the kernel binds it where zeo.address binds', async () => {
  const ports = [await freePort(), await freePort()];
  const endpoint = fc.record({ host, port: fc.constantFrom(...ports) }).map(({ host: h, port }) => `${h}:${port}`);
  let same = 0, differ = 0;
  await checkProperty(() => fc.assert(fc.asyncProperty(endpoint, endpoint, option, async (zeoAddress, given, form) => {
    const a = parseAddress(zeoAddress), b = parseAddress(given);
    assert.ok(a.ok && b.ok, `${zeoAddress} / ${given} do not parse`);
    const [ra, rb] = [await reach(a.value), await reach(b.value)];
    const want = ra === rb;
    want ? same++ : differ++;
    const argv = form(given);
    let accepted = true;
    try {
      parseStack(config(zeoAddress, argv), { file: 'stack.yaml' });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      accepted = false;
      const i = e.issues[0]!;
      assert.ok(e.issues.length === 1 && /zeo\.command/.test(i.message) && i.message.includes(given) && (i.hint ?? '').length > 0 && i.line >= 1 && i.col >= 1,
        `zeo.address ${zeoAddress}, command ${argv.join(' ')}: refused, but not with one zeo.command issue naming ${given} and a fix: ${e.message}`);
    }
    assert.equal(accepted, want, `zeo.address ${zeoAddress} (reached from ${ra || 'nothing'}), command ${argv.join(' ')} (reached from ${rb || 'nothing'}): ${accepted ? 'accepted' : 'refused'}`);
  }), { numRuns: Number(process.env.FC_RUNS ?? 120) }));
  assert.ok(same > 5 && differ > 5, `same endpoint ${same} times, different ${differ} times: the pairs did not cover both outcomes`);
});

test('an -a value that is no address at all (a socket path, a host name, garbage) is refused', async () => {
  await checkProperty(async () => fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('/run/zeo.sock', 'localhost:8100', '8100')), option, (given, form) => {
    fc.pre(!parseAddress(given).ok);
    assert.throws(() => parseStack(config('127.0.0.1:8100', form(given)), { file: 'stack.yaml' }), (e: unknown) => e instanceof ConfigError && /zeo\.command/.test(e.issues[0]!.message),
      `-a ${JSON.stringify(given)} accepted`);
  }), { numRuns: Number(process.env.FC_RUNS ?? 120) }));
});
