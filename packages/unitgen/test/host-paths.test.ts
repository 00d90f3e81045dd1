// generate's warnings about this machine: a tool the units run that is missing or not executable (with where
// `command -v` finds it), and a tool, config directory or stack directory the units' own sandbox hides
// (PrivateTmp=yes: /tmp, /var/tmp; ProtectHome=yes: /home, /root, /run/user). Real files in a temp directory;
// the built CLI for the lines as an operator sees them.
import assert from 'node:assert/strict';
import { chmodSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { builtinTemplates, parseStack, renderWith } from '../src/index.js';
import { formatWarning } from '../src/errors.js';
import { hiddenBy, hostPathWarnings, RECYCLE_SANDBOX, servicesSandbox, type HostFs } from '../src/host-paths.js';
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

  // hardening: false: nothing is hidden, and the tools and the clients' program are there: no warning.
  mkdirSync(join(dir, 'site', 'bin'), { recursive: true });
  writeFileSync(join(dir, 'site', 'bin', 'client1'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(file, stack(`znotify: [${process.execPath}, ${script}]\nhardening: false\n`).replace('/srv/site', join(dir, 'site')));
  r = zunitgen(['generate', file, '--out', join(dir, 'out3')]);
  assert.equal(r.stderr, '');
});

test('hostPathWarnings: tools only when the units run them (zstack only with a recycle timer), and a stack directory under /var/tmp', () => {
  const m = parseStack(stack('znotify: /usr/bin/env\nzstack: /nonexistent/zstack\n').replace('/srv/site', '/var/tmp/site'), { file: '/etc/zope-systemd/site.yaml' });
  const files = renderWith(m, builtinTemplates(), { outDir: '/etc/systemd/system', configPath: '/etc/zope-systemd/site.yaml' });
  const w = hostPathWarnings(m, files, '/etc/systemd/system').map(formatWarning);
  assert.ok(!w.some((l) => l.includes('zstack')), w.join('\n'));
  assert.deepEqual(w, ['/etc/zope-systemd/site.yaml:8:12: warning: /var/tmp/site/bin/client1: the units run it (clients.command), but it is not executable here (ENOENT)\n  hint: install or build it there, or set `clients.command` to where it is',
    '/etc/zope-systemd/site.yaml:3:12: warning: /var/tmp/site: it is the stack\'s directory (directory:), but PrivateTmp=yes hides /tmp and /var/tmp from the stack\'s services\n  hint: move the instance out of it (or set hardening: false)']);
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

/** A machine of the given files for hostPathWarnings: `x` executable, `r` readable only; links resolved by `links`. */
function fakeHost(files: Record<string, 'x' | 'r'>, links: Record<string, string> = {}): HostFs & { asked: string[] } {
  const asked: string[] = [];
  const enoent = (p: string): Error => Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
  return {
    asked, path: '/usr/bin:/bin',
    access(p, mode) {
      asked.push(p);
      const kind = files[links[p] ?? p];
      if (!kind) throw enoent(p);
      if (mode & constants.X_OK && kind !== 'x') throw Object.assign(new Error(`EACCES: ${p}`), { code: 'EACCES' });
    },
    realpath(p) { if (!files[links[p] ?? p]) throw enoent(p); return links[p] ?? p; },
  };
}

const CMD_STACK = [
  'stack: site', 'user: plone', 'directory: /srv/site', 'znotify: /usr/bin/znotify', 'zunitgen: /usr/bin/zunitgen',
  'zeo:', '  command: /root/site/zeo.sh --host 127.0.0.1 --port 8100', '  address: 127.0.0.1:8100',
  'clients:', '  count: 3',
  '  command: [/usr/bin/python3, /root/site/instance.py, --site, /Plone, --conf, "/home/ops/zope{n}.conf", --log, /home/ops/new.log]',
  '  http: 127.0.0.1:{18080+n}', '  health: 127.0.0.1:{18180+n}',
  '  checks:', '    - { name: disk, type: command, command: [/srv/site/bin/check, "/var/tmp/blobs{n}"] }', '',
].join('\n');
/** `file:line:col` of the first `needle` on line `line` of `text` (1-based, as the parser's positions). */
const placeIn = (text: string, line: number, needle: string): string => `/etc/zope-systemd/site.yaml:${line}:${text.split('\n')[line - 1]!.indexOf(needle) + 1}`;
const TOOLS = { '/usr/bin/znotify': 'x', '/usr/bin/zunitgen': 'x', '/usr/bin/python3': 'x' } as const;

function cmdWarnings(text: string, host: HostFs): string[] {
  const m = parseStack(text, { file: '/etc/zope-systemd/site.yaml' });
  const files = renderWith(m, builtinTemplates(), { outDir: '/etc/systemd/system', configPath: '/etc/zope-systemd/site.yaml' });
  return hostPathWarnings(m, files, '/etc/systemd/system', host).map(formatWarning);
}

test('the stack\'s own commands: each absolute word the services\' sandbox hides, at its key, once per key with the other clients\' paths; arguments that are no file here unchecked', () => {
  const host = fakeHost({ ...TOOLS, '/root/site/zeo.sh': 'x', '/root/site/instance.py': 'r', '/home/ops/zope2.conf': 'r', '/home/ops/zope3.conf': 'r', '/srv/site/bin/check': 'x', '/var/tmp/blobs1': 'r' });
  const HOME = 'ProtectHome=yes hides /home, /root and /run/user from the stack\'s services';
  const moveHome = (key: string): string => `\n  hint: move it out of /home, /root and /run/user (for example under /srv) and point \`${key}\` there (or set hardening: false)`;
  assert.deepEqual(cmdWarnings(CMD_STACK, host), [
    // A command given as one string: each word at the string (positionOf's nearest written key).
    `/etc/zope-systemd/site.yaml:7:12: warning: /root/site/zeo.sh: the units run it (zeo.command), but ${HOME}${moveHome('zeo.command')}`,
    // A list: each word at its own column; zope{n}.conf exists for clients 2 and 3 only: one warning, naming both.
    `${placeIn(CMD_STACK, 11, '/root/site/instance.py')}: warning: /root/site/instance.py: clients.command names it, but ${HOME}${moveHome('clients.command')}`,
    `${placeIn(CMD_STACK, 11, '"/home/ops/zope{n}')}: warning: /home/ops/zope2.conf: clients.command names it, but ${HOME} (also /home/ops/zope3.conf)${moveHome('clients.command')}`,
    `${placeIn(CMD_STACK, 15, '"/var/tmp/blobs')}: warning: /var/tmp/blobs1: clients.checks[name=disk].command names it, but PrivateTmp=yes hides /tmp and /var/tmp from the stack's services\n  hint: move it out of /tmp and /var/tmp (for example under /srv) and point \`clients.checks[name=disk].command\` there (or set hardening: false)`,
  ]);
  // `--host`, 127.0.0.1, 8100 are no paths; /Plone and /home/ops/new.log (no file here) are asked about, not warned.
  for (const word of ['--host', '127.0.0.1', '8100', '--site']) assert.ok(!host.asked.includes(word), word);
  assert.ok(host.asked.includes('/Plone'));

  // Without hardening nothing is hidden: no warning, the files being there.
  assert.deepEqual(cmdWarnings(CMD_STACK.replace('directory:', 'hardening: false\ndirectory:'), host), []);
});

test('the stack\'s own commands: a missing or non-executable program is warned (with where PATH has it), even without hardening; a link into /root as hidden', () => {
  const host = fakeHost({ ...TOOLS, '/root/site/zeo.sh': 'x', '/srv/site/bin/check': 'r', '/usr/bin/instance': 'x' }, { '/srv/site/bin/zeo': '/root/site/zeo.sh' });
  const text = CMD_STACK.replace('/root/site/zeo.sh', 'bin/zeo').replace('/usr/bin/python3, /root/site/instance.py', '"/srv/site/bin/client{n}", /root/site/instance.py').replace('directory:', 'hardening: true\ndirectory:');
  const w = cmdWarnings(text, host);
  assert.deepEqual(w.slice(0, 2), [
    // A relative executable is the directory's: the link to /root is named with what it leads to.
    '/etc/zope-systemd/site.yaml:8:12: warning: /srv/site/bin/zeo (/root/site/zeo.sh): the units run it (zeo.command), but ProtectHome=yes hides /home, /root and /run/user from the stack\'s services\n  hint: move it out of /home, /root and /run/user (for example under /srv) and point `zeo.command` there (or set hardening: false)',
    '/etc/zope-systemd/site.yaml:12:13: warning: /srv/site/bin/client1: the units run it (clients.command), but it is not executable here (ENOENT) (also /srv/site/bin/client2, /srv/site/bin/client3)\n  hint: install or build it there, or set `clients.command` to where it is',
  ]);
  // Readable but not executable: EACCES, at the check's key. /root/site/instance.py is no file here: not warned.
  assert.ok(w.some((l) => l.startsWith('/etc/zope-systemd/site.yaml:16:') && l.includes('/srv/site/bin/check: the units run it (clients.checks[name=disk].command), but it is not executable here (EACCES)')), w.join('\n'));
  assert.ok(!w.some((l) => l.includes('instance.py')), w.join('\n'));
  // Missing whatever the sandbox: and PATH's program of that name is offered.
  const bare = cmdWarnings(text.replace('hardening: true', 'hardening: false').replace('"/srv/site/bin/client{n}"', '/opt/site/instance'), host);
  assert.ok(bare.some((l) => l.includes('/opt/site/instance: the units run it (clients.command), but it is not executable here (ENOENT)\n  hint: install or build it there, or set `clients.command` to where it is; `command -v instance` finds /usr/bin/instance')), bare.join('\n'));
  assert.ok(!bare.some((l) => l.includes('ProtectHome')), bare.join('\n'));
});
