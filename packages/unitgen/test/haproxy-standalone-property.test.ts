// Property test of the standalone HAProxy configuration (haproxy.frontend): for any stack the parser accepts
// (stack and backend names, client counts, client, agent, frontend and stats-socket addresses in their various
// spellings, check intervals, stop timeouts, balance, maxconn, threads), the generated file passes the real
// `haproxy -c` with exit 0 and no warning or alert. A handful of runs: each one starts haproxy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { builtinTemplates, ConfigError, parseStack, renderWith } from '../src/index.js';
import { checkProperty, have, tempDir } from './helpers.js';

const RUNS = Number(process.env.FC_RUNS_HAPROXY ?? process.env.FC_RUNS ?? 15);

const name = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/), fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), fc.string({ minLength: 1, maxLength: 10 }));
const host = fc.constantFrom('127.0.0.1', '127.0.0.2', '10.0.0.5', '0.0.0.0', '[::1]', '[::]', '[fd00::5]', '[::ffff:127.0.0.1]', '[0:0:0:0:0:0:0:1]', '[FD00:0:0::0005]');
const port = fc.integer({ min: 1024, max: 60000 });
const duration = fc.oneof(
  fc.integer({ min: 1, max: 3_600_000 }).map((n) => `${n}ms`),
  fc.integer({ min: 1, max: 86_400 }).map((n) => `${n}s`),
  fc.integer({ min: 1, max: 1440 }).map((n) => `${n}min`),
  fc.tuple(fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 59 })).map(([h, m]) => `${h}h ${m}min`),
);

const stackArb = fc.record({
  stack: name,
  backend: fc.option(name, { nil: undefined }),
  count: fc.integer({ min: 1, max: 6 }),
  httpHost: host, httpPort: port,
  agentHost: host, agentPort: port,
  healthHttp: fc.boolean(),
  frontend: fc.tuple(host, port).map(([h, p]) => `${h}:${p}`),
  statsSocket: fc.option(fc.oneof(fc.constant('path'), fc.tuple(fc.constantFrom('127.0.0.1', '[::1]'), port).map(([h, p]) => `${h}:${p}`)), { nil: undefined }),
  interval: fc.option(duration, { nil: undefined }),
  stop: fc.option(duration, { nil: undefined }),
  balance: fc.option(fc.constantFrom('leastconn', 'roundrobin', 'first', 'source'), { nil: undefined }),
  maxconn: fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
  threads: fc.option(fc.integer({ min: 1, max: 16 }), { nil: undefined }),
});

function config(s: typeof stackArb extends fc.Arbitrary<infer T> ? T : never, dir: string): string {
  const haproxy: Record<string, unknown> = { frontend: s.frontend, 'server-state-file': join(dir, 'server-state') };
  if (s.backend !== undefined) haproxy.backend = s.backend;
  if (s.statsSocket !== undefined) haproxy['stats-socket'] = s.statsSocket === 'path' ? join(dir, 'admin.sock') : s.statsSocket;
  if (s.interval !== undefined) haproxy['check-interval'] = s.interval;
  if (s.balance !== undefined) haproxy.balance = s.balance;
  if (s.maxconn !== undefined) haproxy.maxconn = s.maxconn;
  const clients: Record<string, unknown> = {
    count: s.count, command: '/srv/plone/bin/client{n}', http: `${s.httpHost}:{${s.httpPort}+n}`,
    health: { agent: `${s.agentHost}:{${s.agentPort}+n}`, ...(s.healthHttp ? { http: `127.0.0.1:{${s.agentPort}+100+n}` } : {}) },
  };
  if (s.stop !== undefined) clients.stop = { timeout: s.stop };
  if (s.threads !== undefined) clients.threads = s.threads;
  // A user whose group exists here: the wrappers' socket line names it, and haproxy -c resolves it.
  return JSON.stringify({ stack: s.stack, user: 'www-data', directory: '/srv/plone', clients, haproxy });
}

test('for any accepted stack, the standalone HAProxy configuration passes haproxy -c with no warning', { skip: have('haproxy') ? false : 'haproxy not installed' }, (t) => {
  const dir = tempDir(t);
  // The state file as the documented first-start step leaves it (HAProxy warns about a missing one).
  writeFileSync(join(dir, 'server-state'), '1\n');
  const cfgPath = join(dir, 'standalone.cfg');
  let refused = 0;
  checkProperty(() => fc.assert(fc.property(stackArb, (s) => {
    const text = config(s, dir);
    let files;
    try {
      files = renderWith(parseStack(text, { file: 'stack.yaml' }), builtinTemplates(), { outDir: '/etc/systemd/system' });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      refused++;
      fc.pre(false);
      return;
    }
    const standalone = files.filter((f) => f.name.endsWith('-standalone.cfg'));
    assert.equal(standalone.length, 1, `${text}: ${files.map((f) => f.name).join(' ')}`);
    writeFileSync(cfgPath, standalone[0]!.content);
    const r = spawnSync('haproxy', ['-c', '-f', cfgPath], { encoding: 'utf8' });
    const out = `${r.stdout}${r.stderr}`;
    assert.ok(r.status === 0 && !/\[WARNING\]|\[ALERT\]/.test(out), `${text}\nhaproxy -c: exit ${r.status}\n${out}\n${standalone[0]!.content}`);
  }), { numRuns: RUNS, maxSkipsPerRun: 50 }));
  t.diagnostic(`${RUNS} configurations checked, ${refused} drawn stacks refused by the parser`);
});
