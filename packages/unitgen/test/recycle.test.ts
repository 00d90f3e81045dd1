// clients.recycle: the thresholds of `zstack recycle` and the timer+service zunitgen generates to run it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtinTemplates, ConfigError, parseStack, renderWith } from '../src/index.js';
import { sampleStackConfig } from '../../../test/harness/sample-stack.js';
import { tempDir, zunitgen } from './helpers.js';

const base = (extra: string) => sampleStackConfig({ repo: '/srv/x', basePort: 20000, clients: 2 }).replace('clients:\n', `clients:\n${extra}`);

test('clients.recycle reaches the model; without it there is no timer', () => {
  const m = parseStack(base('  memory: { high: 1G, max: 2G }\n  recycle: { memory: 800M, max-age: 1d, every: 15min }\n'), { file: '/etc/zope-systemd/sample.yaml' });
  assert.deepEqual(m.recycle, { memory: { bytes: 800n * 1024n * 1024n }, maxAgeMs: 86_400_000, everyMs: 900_000 });
  assert.deepEqual(m.zstack, ['/usr/local/bin/zstack']);
  const plain = parseStack(base(''), { file: '/etc/zope-systemd/sample.yaml' });
  assert.equal(plain.recycle, undefined);
  assert.ok(!renderWith(plain, builtinTemplates(), { outDir: '/etc/systemd/system' }).some((f) => f.name.includes('recycle')));
});

test('the timer runs `zstack recycle <absolute stack file>` and starts and stops with the stack', () => {
  const m = parseStack(base('  recycle: { max-age: 12h }\n').replace('stack: "sample"', 'stack: "sample"\nzstack: [/usr/bin/node, /opt/zs/packages/stack/dist/cli.js]'), { file: 'sample.yaml' });
  const files = renderWith(m, builtinTemplates(), { outDir: '/etc/systemd/system', configPath: '/etc/zope-systemd/sample.yaml' });
  const svc = files.find((f) => f.name === 'sample-recycle.service')!.content;
  const timer = files.find((f) => f.name === 'sample-recycle.timer')!.content;
  assert.match(svc, /^Type=oneshot$/m);
  assert.match(svc, /^ExecStart=\/usr\/bin\/node \/opt\/zs\/packages\/stack\/dist\/cli\.js recycle \/etc\/zope-systemd\/sample\.yaml$/m);
  assert.match(svc, /^SuccessExitStatus=75$/m);
  assert.doesNotMatch(svc, /^User=/m, 'it drives systemctl and the admin socket: root');
  assert.match(timer, /^OnUnitInactiveSec=10min$/m);
  assert.match(timer, /^Unit=sample-recycle\.service$/m);
  assert.match(timer, /^PartOf=sample\.target$/m);
  assert.match(files.find((f) => f.name === 'sample.target')!.content, /^Wants=.*sample-recycle\.timer/m);
  assert.throws(() => renderWith(m, builtinTemplates(), { outDir: '/etc/systemd/system' }), /absolute path/);
});

test('the recycle service is bounded and sandboxed: TimeoutStartSec= covers every wait of one run, and the setup unit has one too', () => {
  const m = parseStack(base('  recycle: { max-age: 12h }\n'), { file: '/etc/zope-systemd/sample.yaml' });
  const files = renderWith(m, builtinTemplates(), { outDir: '/etc/systemd/system' });
  const unit = (n: string) => files.find((f) => f.name === n)!.content;
  const sec = (text: string, key: string): number => {
    const v = new RegExp(`^${key}=(\\d+)(s|min)$`, 'm').exec(text);
    assert.ok(v, `${key}= in\n${text}`);
    return Number(v[1]) * (v[2] === 'min' ? 60 : 1);
  };
  const svc = unit('sample-recycle.service'), client = unit('sample-client1.service');
  // Others UP (60 s) + drain (120 s) + the client's stop and start timeouts + UP (60 s) + a minute for zstack.
  assert.equal(sec(svc, 'TimeoutStartSec'), 60 + 120 + sec(client, 'TimeoutStopSec') + sec(client, 'TimeoutStartSec') + 60 + 60);
  for (const line of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=read-only', 'RuntimeDirectory=zope-systemd', 'RuntimeDirectoryPreserve=yes',
    'PrivateDevices=yes', 'SystemCallFilter=@system-service', 'CapabilityBoundingSet=CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_KILL', 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6']) {
    assert.ok(svc.split('\n').includes(line), `${line} missing from the recycle service`);
  }
  assert.doesNotMatch(svc, /^PrivateTmp=/m, 'a stats socket may live under /tmp');
  assert.match(unit('sample-setup.service'), /^TimeoutStartSec=2min$/m);
});

test('bad recycle settings: every problem at its position, memory below MemoryHigh/MemoryMax', () => {
  const text = base('  memory: { high: 1G, max: 2G }\n  recycle: { memory: 1G, max-age: 10s, evry: 1min }\n');
  const e = (() => { try { parseStack(text, { file: 'x.yaml' }); } catch (err) { return err as ConfigError; } return undefined; })();
  assert.ok(e instanceof ConfigError);
  const msgs = e.issues.map((i) => `${i.line}:${i.col} ${i.message}`).join('\n');
  assert.match(msgs, /clients\.recycle\.memory: 1073741824 bytes is not below clients\.memory\.high/);
  assert.match(msgs, /clients\.recycle\.max-age/);
  assert.match(msgs, /evry/);
  assert.throws(() => parseStack(base('  recycle: {}\n'), { file: 'x.yaml' }), /give memory, max-age or both/);
});

test('zunitgen generate writes the recycle units with the config\'s absolute path', (t) => {
  const dir = tempDir(t);
  const cfg = join(dir, 'sample.yaml');
  writeFileSync(cfg, base('  recycle: { memory: 500M }\n'));
  const r = zunitgen(['generate', cfg, '--out', join(dir, 'out'), '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /sample-recycle\.timer/);
  assert.match(r.stdout, /sample-recycle\.service/);
});
