// What `zstack try` refuses before it boots anything: the stack's paths its disposable systemd would hide (the box
// lays an empty /tmp over the host's, and shows zstack's own installation at its own path). Each refused path is
// named at the exact key the stack file gives it (the parser's positions, not a search of the text). Real files and
// links, the real parser; nothing is booted.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseStack, placeOf, renderWith, builtinTemplates } from '@zope-systemd/unitgen';
import { hiddenPaths, withOwnZstack } from '../src/try.js';

/** A stack whose every path the test chooses; line 1 is a comment that names the directory's path too. */
function stack(o: { directory: string; zstack?: string; znotify?: string; check?: string; recycle?: boolean; rw?: string; hardening?: boolean }): string {
  return [
    `# the site used to live in ${o.directory}; directory: ${o.directory}`,
    'stack: trial', 'user: plone', `directory: ${o.directory}`,
    ...(o.znotify ? [`znotify: [/usr/bin/node, "${o.znotify}"]`] : []),
    ...(o.zstack ? [`zstack: ${o.zstack}`] : []),
    ...(o.rw ? [`read-write-paths: [/srv/shared, ${o.rw}]`] : []), ...(o.hardening === false ? ['hardening: false'] : []),
    'clients:', '  count: 2', '  command: bin/client{n} console', '  http: "127.0.0.1:{8080+n}"', '  health: { agent: "127.0.0.1:{9080+n}" }',
    ...(o.check ? ['  checks:', '    - name: root', `    - { name: disk, type: command, command: [${o.check}, -w, var] }`] : []),
    ...(o.recycle ? ['  recycle: { max-age: 1d }'] : []), '',
  ].join('\n');
}

function tmpDir(t: TestContext, under: string): string {
  const d = fs.mkdtempSync(path.join(under, 'zstack-try-paths-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('the stack\'s zstack: is not among the paths try refuses: the box runs the stack with try\'s own zstack', (t) => {
  const other = tmpDir(t, '/tmp');
  const m = parseStack(stack({ directory: '/srv/trial', zstack: `${other}/bin/zstack`, recycle: true }), { file: '/etc/zope-systemd/trial.yaml' });
  assert.deepEqual(hiddenPaths(m, undefined), []);
  // What makes that true: the recycle service in the box runs the zstack given, not the stack file's.
  const own = ['/usr/bin/node', '/opt/zs/packages/stack/dist/cli.js'];
  const service = renderWith(withOwnZstack(m, own), builtinTemplates(), { outDir: '/etc/systemd/system', configPath: '/box/trial.yaml' })
    .find((f) => f.name === 'trial-recycle.service');
  assert.ok(service, 'the stack has a recycle service');
  assert.match(service.content, /^ExecStart=\/usr\/bin\/node \/opt\/zs\/packages\/stack\/dist\/cli\.js recycle \/box\/trial\.yaml$/m);
  assert.doesNotMatch(service.content, new RegExp(other));
});

test('each hidden path is named at its own key, also when a comment or another key has the same text first', (t) => {
  const site = tmpDir(t, '/tmp');
  const file = path.join(site, 'trial.yaml');
  const text = stack({ directory: site, znotify: `${site}/zs/cli.js`, check: `${site}/bin/check` });
  fs.writeFileSync(file, text);
  const m = parseStack(text, { file });
  const lines = text.split('\n');
  const at = (line: number, needle: string): string => `${file}:${line + 1}:${lines[line]!.indexOf(needle) + 1}`;
  const dirLine = lines.findIndex((l) => l.startsWith('directory:'));
  const zLine = lines.findIndex((l) => l.startsWith('znotify:'));
  const cLine = lines.findIndex((l) => l.includes('name: disk'));
  const cmdLine = lines.findIndex((l) => l.startsWith('  command:'));
  // The clients' command (relative, so below the directory) once per client: the number makes each path its own.
  assert.deepEqual(hiddenPaths(m, undefined).map((h) => [h.key, h.value, placeOf(m, h.key)]), [
    ['directory', site, at(dirLine, site)],
    ['znotify[1]', `${site}/zs/cli.js`, at(zLine, `"${site}`)],
    ['clients.command[0]', `${site}/bin/client1`, at(cmdLine, 'bin/')],
    ['clients.checks[name=disk].command[0]', `${site}/bin/check`, at(cLine, `${site}/bin/check`)],
    ['clients.command[0]', `${site}/bin/client2`, at(cmdLine, 'bin/')],
  ]);
  // zstack's own directory is shown in the box at its own path: what lies within it is not hidden.
  assert.deepEqual(hiddenPaths(m, path.join(site, 'zs')).map((h) => h.key), ['directory', 'clients.command[0]', 'clients.checks[name=disk].command[0]', 'clients.command[0]']);
});

test('a link outside /tmp to a file in it is hidden; so is a link in /tmp to zstack\'s own directory', (t) => {
  const inTmp = tmpDir(t, '/tmp');
  const outside = tmpDir(t, '/var/tmp');
  const visible = tmpDir(t, '/tmp');
  fs.mkdirSync(path.join(inTmp, 'site'));
  fs.symlinkSync(path.join(inTmp, 'site'), path.join(outside, 'site'));
  fs.symlinkSync(visible, path.join(inTmp, 'zs'));
  const m = parseStack(stack({ directory: path.join(outside, 'site'), znotify: path.join(inTmp, 'zs', 'cli.js') }), { file: '/etc/trial.yaml' });
  assert.deepEqual(hiddenPaths(m, visible).map((h) => h.value), [path.join(outside, 'site'), path.join(inTmp, 'zs', 'cli.js')]);
  // Not hidden: the same stack with the directory itself where the box shows it.
  const direct = parseStack(stack({ directory: visible, znotify: path.join(visible, 'cli.js') }), { file: '/etc/trial.yaml' });
  assert.deepEqual(hiddenPaths(direct, visible), []);
});

test('with hardening, a read-write path under /tmp is hidden too (ReadWritePaths= of a missing path fails the start); without, it is not used', (t) => {
  const site = tmpDir(t, '/tmp');
  const text = stack({ directory: '/srv/trial', rw: `${site}/uploads` });
  const m = parseStack(text, { file: '/etc/trial.yaml' });
  const line = text.split('\n').findIndex((l) => l.startsWith('read-write-paths:'));
  assert.deepEqual(hiddenPaths(m, undefined).map((h) => [h.key, h.value, placeOf(m, h.key)]), [['read-write-paths', `${site}/uploads`, `/etc/trial.yaml:${line + 1}:19`]]);
  assert.deepEqual(hiddenPaths(parseStack(stack({ directory: '/srv/trial', rw: `${site}/uploads`, hardening: false }), { file: '/etc/trial.yaml' }), undefined), []);
});
