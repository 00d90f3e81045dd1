// generate's warnings about this machine: a tool the units run that is missing or not executable (with where
// `command -v` finds it), and a tool, config directory or stack directory the units' own sandbox hides
// (PrivateTmp=yes: /tmp, /var/tmp; ProtectHome=yes: /home, /root, /run/user). Real files in a temp directory;
// the built CLI for the lines as an operator sees them.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { builtinTemplates, parseStack, renderWith } from '../src/index.js';
import { formatWarning } from '../src/errors.js';
import { hiddenBy, hostPathWarnings, RECYCLE_SANDBOX, servicesSandbox } from '../src/host-paths.js';
import { tempDir, zunitgen } from './helpers.js';

function stack(tools: string, extra = ''): string {
  return `stack: site\nuser: plone\ndirectory: /srv/site\n${tools}clients:\n  count: 1\n  command: bin/client{n}\n  http: 127.0.0.1:18080\n  health: 127.0.0.1:18081\n${extra}`;
}

test('hiddenBy: what hardening.hbs hides, and nothing without hardening or under ProtectHome=read-only', () => {
  const m = servicesSandbox({ hardening: true, protectHome: 'yes' });
  assert.equal(hiddenBy(m, '/tmp/x/cli.js'), 'PrivateTmp=yes hides /tmp and /var/tmp');
  assert.equal(hiddenBy(m, '/var/tmp'), 'PrivateTmp=yes hides /tmp and /var/tmp');
  for (const p of ['/root/.nvm/node', '/home/ops/zs/cli.js', '/run/user/0/x']) assert.equal(hiddenBy(m, p), 'ProtectHome=yes hides /home, /root and /run/user', p);
  for (const p of ['/usr/bin/znotify', '/tmpfoo/x', '/rootfs/x', '/opt/zope-systemd/cli.js']) assert.equal(hiddenBy(m, p), undefined, p);
  assert.equal(hiddenBy(servicesSandbox({ hardening: true, protectHome: 'read-only' }), '/home/ops/zs/cli.js'), undefined);
  assert.equal(hiddenBy(servicesSandbox({ hardening: false, protectHome: 'yes' }), '/tmp/x'), undefined);
  for (const p of ['/tmp/x', '/var/tmp/x', '/home/ops/x', '/root/x']) assert.equal(hiddenBy(RECYCLE_SANDBOX, p), undefined, p);
});

test('generate warns, one warning per path at the key that gives it, with the fix: a missing tool (and where PATH has it), a tool under /tmp, the config directory under /tmp', (t) => {
  const dir = tempDir(t, 'host-paths-');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'znotify'), '#!/bin/sh\n');
  chmodSync(join(bin, 'znotify'), 0o755);
  const script = join(dir, 'cli.js');
  writeFileSync(script, '');
  const file = join(dir, 'site.yaml');

  // Each warning is at the key that gives the path (line 4: znotify), the output directory at --out.
  writeFileSync(file, stack(`znotify: /nonexistent/bin/znotify\n`));
  let r = zunitgen(['generate', file, '--out', join(dir, 'out1')], { PATH: `${bin}:/usr/bin:/bin` });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stderr.includes(`${file}:4:10: warning: /nonexistent/bin/znotify: the units run it (znotify:), but it is not executable here (ENOENT)\n  hint: set \`znotify:\` in the stack file to its path; \`command -v znotify\` finds ${bin}/znotify\n`), r.stderr);

  // The tool exists here (node and a script under /tmp), but PrivateTmp=yes hides it from the units; the output too.
  writeFileSync(file, stack(`znotify: [${process.execPath}, ${script}]\n`));
  r = zunitgen(['generate', file, '--out', join(dir, 'out2')]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  // znotify: [node, script]: the script is the list's second item, at its own column.
  const col = `znotify: [${process.execPath}, `.length + 1;
  assert.ok(r.stderr.includes(`${file}:4:${col}: warning: ${script}: the units run it (znotify:), but PrivateTmp=yes hides /tmp and /var/tmp from the stack's services\n  hint: install it elsewhere (npm install -g puts it in $(npm config get prefix)/bin) and set \`znotify:\` (or set hardening: false)\n`), r.stderr);
  assert.ok(r.stderr.includes(`--out: warning: ${join(dir, 'out2')}: the clients read their znotify configs from here, but PrivateTmp=yes hides /tmp and /var/tmp from the stack's services\n  hint: generate into /etc/systemd/system (or set hardening: false)\n`), r.stderr);
  assert.equal(lines.filter((l) => l.includes(process.execPath)).length, 0, 'node itself is visible');

  // hardening: false: nothing is hidden, and the tools are there: no warning.
  writeFileSync(file, stack(`znotify: [${process.execPath}, ${script}]\nhardening: false\n`));
  r = zunitgen(['generate', file, '--out', join(dir, 'out3')]);
  assert.equal(r.stderr, '');
});

test('hostPathWarnings: tools only when the units run them (zstack only with a recycle timer), and a stack directory under /var/tmp', () => {
  const m = parseStack(stack('znotify: /usr/bin/env\nzstack: /nonexistent/zstack\n').replace('/srv/site', '/var/tmp/site'), { file: '/etc/zope-systemd/site.yaml' });
  const files = renderWith(m, builtinTemplates(), { outDir: '/etc/systemd/system', configPath: '/etc/zope-systemd/site.yaml' });
  const w = hostPathWarnings(m, files, '/etc/systemd/system').map(formatWarning);
  assert.ok(!w.some((l) => l.includes('zstack')), w.join('\n'));
  assert.deepEqual(w, ['/etc/zope-systemd/site.yaml:3:12: warning: /var/tmp/site: it is the stack\'s directory (directory:), but PrivateTmp=yes hides /tmp and /var/tmp from the stack\'s services\n  hint: move the instance out of it (or set hardening: false)']);
});

test('zstack under /tmp with hardening: no PrivateTmp warning, since the recycle service that runs it has no PrivateTmp= (znotify there: warned)', (t) => {
  const dir = tempDir(t, 'host-paths-');
  const script = join(dir, 'cli.js');
  writeFileSync(script, '');
  const m = parseStack(stack(`znotify: [${process.execPath}, ${script}]\nzstack: [${process.execPath}, ${script}]\n`).replace('  health:', '  recycle: { memory: 1G, every: 1h }\n  health:'), { file: '/etc/zope-systemd/site.yaml' });
  const files = renderWith(m, builtinTemplates(), { outDir: '/etc/systemd/system', configPath: '/etc/zope-systemd/site.yaml' });
  const recycle = files.find((f) => f.name === 'site-recycle.service');
  assert.ok(recycle, files.map((f) => f.name).join(' '));
  assert.doesNotMatch(recycle.content, /^PrivateTmp=/m);
  assert.match(recycle.content, /^ProtectHome=read-only$/m);
  const w = hostPathWarnings(m, files, '/etc/systemd/system').map((i) => i.message);
  assert.ok(w.some((l) => l.includes('(znotify:)') && l.includes('PrivateTmp=yes')), w.join('\n'));
  assert.ok(!w.some((l) => l.includes('(zstack:)')), w.join('\n'));
});
