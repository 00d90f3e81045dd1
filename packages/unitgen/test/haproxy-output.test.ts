// What zunitgen writes for HAProxy, read by the real HAProxy: every time value in HAProxy's own units (us ms s
// m h d), so `haproxy -c` prints no warning whatever interval the stack config chose, and each value means the
// number of milliseconds the model holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { builtinTemplates, ConfigError, parseStack, renderWith } from '../src/index.js';
import { haproxyDuration } from '../src/haproxy-time.js';
import { have, tempDir } from './helpers.js';

/** HAProxy's parse of a time value (configuration.txt, "2.5. Time format"), to read our output back. */
function haproxyMs(s: string): number {
  const m = /^(\d+)(us|ms|s|m|h|d)?$/.exec(s);
  assert.ok(m, `not an HAProxy time: ${JSON.stringify(s)}`);
  const f = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms']!;
  return Number(m[1]) * f;
}

test('haproxyDuration: HAProxy units only, and the same number of milliseconds', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 2_147_483_647 }), (ms) => {
    assert.equal(haproxyMs(haproxyDuration(ms)), ms);
  }));
  assert.deepEqual([60_000, 90_000, 1500, 3_600_000, 86_400_000, 0].map(haproxyDuration), ['1m', '90s', '1500ms', '1h', '1d', '0']);
});

function stack(backend: string, interval: string, stopTimeout: string, port: number, stateFile: string): string {
  return `stack: ${backend}
user: zope
directory: /srv/${backend}
clients:
  count: 2
  command: /srv/${backend}/bin/client{n}
  http: 127.0.0.1:{${port}+n}
  health: { agent: "127.0.0.1:{${port + 100}+n}", http: "127.0.0.1:{${port + 200}+n}" }
  stop: { timeout: ${stopTimeout} }
haproxy: { backend: ${backend}, check-interval: ${interval}, frontend: "127.0.0.1:${port}", server-state-file: ${stateFile} }
`;
}

test('haproxy -c prints no warning on the generated files, for intervals in minutes, hours and odd milliseconds', { skip: have('haproxy') ? false : 'haproxy not installed' }, (t) => {
  const dir = tempDir(t);
  const cases = [['1min', '2min'], ['1h', '90s'], ['1500ms', '1h 30min'], ['90s', '10s'], ['2s', '1d']] as const;
  cases.forEach(([interval, stop], i) => {
    const name = `s${i}`;
    // The state file as the documented first-start step leaves it (HAProxy warns about a missing one).
    writeFileSync(join(dir, 'server-state'), '1\n');
    const m = parseStack(stack(name, interval, stop, 20000 + i * 1000, join(dir, 'server-state')), { file: `${name}.yaml` });
    const files = renderWith(m, builtinTemplates(), { outDir: '/etc/systemd/system' });
    const hap = files.filter((f) => f.kind === 'haproxy');
    assert.deepEqual(hap.map((f) => f.name).sort(), [`haproxy-${name}-httpchk.cfg`, `haproxy-${name}-standalone.cfg`, `haproxy-${name}.cfg`]);
    for (const f of hap) {
      const p = join(dir, f.name);
      writeFileSync(p, f.content);
      // The standalone file alone; the backend files after a minimal global/defaults, as they are included.
      const args = f.name.endsWith('-standalone.cfg') ? ['-c', '-f', p] : ['-c', '-f', join(dir, 'base.cfg'), '-f', p];
      writeFileSync(join(dir, 'base.cfg'), 'defaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n');
      const r = spawnSync('haproxy', args, { encoding: 'utf8' });
      // Exit 0 for a config that listens; 2 for a backend-only one ("will not start (no listener)").
      assert.ok(r.status === 0 || (r.status === 2 && !f.name.endsWith('-standalone.cfg')), `${f.name} (${interval}): exit ${r.status}\n${r.stdout}${r.stderr}`);
      assert.doesNotMatch(`${r.stdout}${r.stderr}`, /\[WARNING\]|\[ALERT\]/, `${f.name} (${interval}):\n${r.stdout}${r.stderr}\n${f.content}`);
      // Every inter/agent-inter/timeout says the model's milliseconds in HAProxy's units.
      for (const x of f.content.matchAll(/\b(?:inter|agent-inter) (\S+)/g)) assert.equal(haproxyMs(x[1]!), m.haproxy.checkInterMs, `${f.name}: ${x[0]}`);
      const server = /timeout server (\S+)/.exec(f.content);
      if (server) assert.equal(haproxyMs(server[1]!), Math.max(60_000, m.stop.timeoutMs), `${f.name}: ${server[0]}`);
    }
  });
});

test('haproxy.server-state-file without haproxy.frontend: refused at its position, with the fix', () => {
  const text = 'stack: site\nuser: zope\ndirectory: /srv/site\nclients: { count: 1, command: /srv/site/bin/i, http: "127.0.0.1:8081", health: "127.0.0.1:9081" }\nhaproxy: { server-state-file: /var/lib/haproxy/site }\n';
  assert.throws(() => parseStack(text, { file: 's.yaml' }), (e: unknown) => e instanceof ConfigError && e.issues.length === 1
    && e.issues[0]!.line === 5 && /only the standalone configuration \(haproxy\.frontend\) uses it/.test(e.issues[0]!.message) && /global section of your own HAProxy configuration/.test(e.issues[0]!.hint ?? ''));
});

test('every server has a maxconn: haproxy.maxconn, else clients.threads, else waitress\'s default of 4, and the comment says which', () => {
  const render = (clientLine: string, haproxyExtra: string) => {
    const text = stack('mc', '2s', '10s', 21000, '/var/lib/haproxy/server-state')
      .replace('  stop: { timeout: 10s }\n', `  stop: { timeout: 10s }\n${clientLine}`)
      .replace('server-state-file: /var/lib/haproxy/server-state }', `server-state-file: /var/lib/haproxy/server-state${haproxyExtra} }`);
    const m = parseStack(text, { file: 'mc.yaml' });
    const files = renderWith(m, builtinTemplates(), { outDir: '/etc/systemd/system' }).filter((f) => f.kind === 'haproxy');
    // Both backends (agent and httpchk) and the standalone configuration that embeds the first.
    assert.equal(files.length, 3);
    return files.map((f) => f.content);
  };
  const servers = (cfg: string) => cfg.split('\n').filter((l) => /^\s+server client/.test(l)).map((l) => / maxconn (\d+)$/.exec(l)?.[1]);

  for (const cfg of render('', '')) {
    assert.deepEqual(servers(cfg), ['4', '4'], cfg);
    assert.match(cfg, /^# maxconn 4 on every server: waitress's default of 4 worker threads, assumed since clients\.threads is not set\.$/m);
    assert.match(cfg, /^# etc\/zope\.ini has threads = 2\. If yours run another number, set clients\.threads to it \(or haproxy\.maxconn\)\.$/m);
  }
  for (const cfg of render('  threads: 1\n', '')) {
    assert.deepEqual(servers(cfg), ['1', '1'], cfg);
    assert.match(cfg, /^# maxconn 1 on every server: clients\.threads, the instances' worker threads\.$/m);
    assert.doesNotMatch(cfg, /assumed|plone-backend/);
  }
  for (const cfg of render('  threads: 1\n', ', maxconn: 3')) {
    assert.deepEqual(servers(cfg), ['3', '3'], cfg);
    assert.match(cfg, /^# maxconn 3 on every server: haproxy\.maxconn in the stack file\.$/m);
  }
});
