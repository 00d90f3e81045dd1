// The service user and the writable paths (setup-files.ts), applied by the real systemd-sysusers and
// systemd-tmpfiles (systemd 252) to a throw-away root (--root): what the generated setup unit does on a host.
// Examples for each rule, then a property over every user name, group name and path the parser accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { builtinTemplates, ConfigError, parseStack, renderWith, type GeneratedFile } from '../src/index.js';
import { have, tempDir } from './helpers.js';

const skip = !have('systemd-sysusers') || !have('systemd-tmpfiles') ? 'systemd-sysusers/systemd-tmpfiles not installed'
  : process.getuid?.() !== 0 ? 'needs root (systemd-tmpfiles --root sets owners)' : false;

function stackYaml(o: { user: string; group?: string; directory: string; rw?: string[] }): string {
  return stringify({
    stack: 'site', user: o.user, ...(o.group !== undefined ? { group: o.group } : {}), directory: o.directory,
    ...(o.rw?.length ? { 'read-write-paths': o.rw } : {}),
    clients: { count: 1, command: '/srv/zope/bin/instance', http: '127.0.0.1:8080', health: '127.0.0.1:9080' },
  });
}

function files(text: string): Map<string, GeneratedFile> {
  return new Map(renderWith(parseStack(text, { file: 'site.yaml' }), builtinTemplates(), { outDir: '/etc/systemd/system' }).map((f) => [f.name, f]));
}

/** Runs what site-setup.service runs, with --root: the generated files written outside the root. */
function applySetup(root: string, fs_: Map<string, GeneratedFile>, work: string): { sysusers: string; tmpfiles: string } {
  const su = join(work, 'site.sysusers.conf'), tf = join(work, 'site.tmpfiles.conf');
  writeFileSync(su, fs_.get('site.sysusers.conf')!.content);
  writeFileSync(tf, fs_.get('site.tmpfiles.conf')!.content);
  const a = spawnSync('systemd-sysusers', [`--root=${root}`, su], { encoding: 'utf8' });
  assert.equal(a.status, 0, `systemd-sysusers: ${a.stderr}\n${fs_.get('site.sysusers.conf')!.content}`);
  const b = spawnSync('systemd-tmpfiles', [`--root=${root}`, '--create', tf], { encoding: 'utf8' });
  assert.equal(b.status, 0, `systemd-tmpfiles: ${b.stderr}\n${fs_.get('site.tmpfiles.conf')!.content}`);
  return { sysusers: a.stderr, tmpfiles: b.stderr };
}

/** name -> [id, primary gid, home] of an /etc/passwd; name -> gid of an /etc/group. */
function accounts(root: string): { users: Map<string, [number, number, string]>; groups: Map<string, number> } {
  const read = (f: string) => (existsSync(join(root, f)) ? readFileSync(join(root, f), 'utf8').split('\n').filter(Boolean).map((l) => l.split(':')) : []);
  return {
    users: new Map(read('etc/passwd').map((p) => [p[0]!, [Number(p[2]), Number(p[3]), p[5]!]])),
    groups: new Map(read('etc/group').map((g) => [g[0]!, Number(g[2])])),
  };
}

function owner(path: string): [number, number, string] {
  const st = statSync(path);
  return [st.uid, st.gid, (st.mode & 0o7777).toString(8)];
}

test('a fresh host: the user, its group and var/ are created; a second run changes nothing', { skip }, (t) => {
  const root = tempDir(t), work = tempDir(t);
  mkdirSync(join(root, 'etc'));
  const f = files(stackYaml({ user: 'plone', directory: '/srv/plone' }));
  applySetup(root, f, work);
  const a = accounts(root);
  const [uid, gid, home] = a.users.get('plone')!;
  assert.equal(gid, a.groups.get('plone'), 'the primary group is the one named like the user');
  assert.equal(home, '/srv/plone');
  assert.deepEqual(owner(join(root, 'srv/plone/var')), [uid, gid, '750']);
  const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
  applySetup(root, f, work);
  assert.equal(readFileSync(join(root, 'etc/passwd'), 'utf8'), passwd, 'the second run created nothing');
});

test('an existing user keeps its ids and primary group; var/ (created by root, say) is given to it; read-write-paths are created only when missing', { skip }, (t) => {
  const root = tempDir(t), work = tempDir(t);
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\nzope:x:1500:1600::/home/zope:/bin/sh\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nwww:x:1600:\n');
  mkdirSync(join(root, 'srv/site/var'), { recursive: true });
  mkdirSync(join(root, 'srv/shared'), { recursive: true, mode: 0o755 });
  const f = files(stackYaml({ user: 'zope', group: 'www', directory: '/srv/site', rw: ['/srv/shared', '/srv/blobs/site'] }));
  applySetup(root, f, work);
  const a = accounts(root);
  assert.deepEqual(a.users.get('zope'), [1500, 1600, '/home/zope']);
  assert.deepEqual(owner(join(root, 'srv/site/var')), [1500, 1600, '750'], 'var/ handed to the service user');
  assert.deepEqual(owner(join(root, 'srv/shared')), [0, 0, '755'], 'an existing read-write path is left as it is');
  assert.deepEqual(owner(join(root, 'srv/blobs/site')), [1500, 1600, '750'], 'a missing one is created for the user');
});

test('user without group: a group named like the user is declared, so var/ has a group that exists', { skip }, (t) => {
  const root = tempDir(t), work = tempDir(t);
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/passwd'), 'zope:x:1500:1600::/home/zope:/bin/sh\n');
  writeFileSync(join(root, 'etc/group'), 'www:x:1600:\n');
  const f = files(stackYaml({ user: 'zope', directory: '/srv/site' }));
  applySetup(root, f, work);
  const a = accounts(root);
  assert.deepEqual(a.users.get('zope'), [1500, 1600, '/home/zope'], 'the user is not changed');
  assert.deepEqual(owner(join(root, 'srv/site/var')), [1500, a.groups.get('zope')!, '750']);
});

// Names the parser takes must be names sysusers takes (it refuses more than 31 characters, the utmp limit),
// and paths with every character the parser allows (% is a specifier in both formats) must land where they say.
const nameChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789_-');
const nameArb = fc.tuple(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz_'), fc.oneof({ arbitrary: fc.array(nameChar, { maxLength: 8 }), weight: 5 }, { arbitrary: fc.array(nameChar, { minLength: 29, maxLength: 32 }), weight: 1 }))
  .map(([first, rest]) => first + rest.join(''));
const segArb = fc.stringMatching(/^[A-Za-z0-9_+@,:=~%-][A-Za-z0-9._+@,:=~%-]{0,8}$/);
const pathArb = fc.array(segArb, { minLength: 1, maxLength: 3 }).map((s) => `/${s.join('/')}`);

test('property: every accepted user, group and path is created by the real tools as written', { skip }, (t) => {
  let accepted = 0;
  const refused: string[] = [];
  fc.assert(fc.property(nameArb, fc.option(nameArb, { nil: undefined }), pathArb, fc.array(pathArb, { maxLength: 2 }), (user, group, directory, rw) => {
    let f: Map<string, GeneratedFile>;
    try {
      f = files(stackYaml({ user, ...(group !== undefined ? { group } : {}), directory, rw }));
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      refused.push(e.issues.map((i) => i.message).join('; '));
      return;
    }
    assert.ok(user.length <= 31 && (group ?? '').length <= 31, `accepted a name sysusers refuses: ${user} / ${group}`);
    accepted++;
    const root = tempDir(t, 'unitgen-root-'), work = tempDir(t, 'unitgen-work-');
    mkdirSync(join(root, 'etc'));
    applySetup(root, f, work);
    const a = accounts(root);
    const [uid, gid] = a.users.get(user)!;
    assert.equal(gid, a.groups.get(group ?? user));
    assert.deepEqual(owner(join(root, directory, 'var')), [uid, gid, '750'], `${directory}/var`);
    for (const p of rw) if (!(`${p}/`.startsWith(`${directory}/var/`))) assert.ok(statSync(join(root, p)).isDirectory(), p);
  }), { numRuns: Number(process.env.FC_RUNS ?? 30) });
  assert.ok(accepted >= refused.length, `${accepted} configs accepted, ${refused.length} refused: the generator is too narrow:\n${refused.join('\n')}`);
});

const unshareSkip = skip || (spawnSync('unshare', ['-m', '--propagation', 'private', 'true']).status !== 0 ? 'unshare -m does not work here' : false);

test('var/ is optional, as ReadWritePaths=- says: under a read-only directory tmpfiles says why and still succeeds', { skip: unshareSkip }, (t) => {
  const root = tempDir(t), work = tempDir(t);
  mkdirSync(join(root, 'etc'));
  mkdirSync(join(root, 'srv/site'), { recursive: true });
  const f = files(stackYaml({ user: 'plone', directory: '/srv/site' }));
  const tf = join(work, 'site.tmpfiles.conf');
  writeFileSync(tf, f.get('site.tmpfiles.conf')!.content);
  writeFileSync(join(root, 'etc/passwd'), 'plone:x:990:990::/srv/site:/usr/sbin/nologin\n');
  writeFileSync(join(root, 'etc/group'), 'plone:x:990:\n');
  const ro = join(root, 'srv/site');
  // The code directory read-only (a bind mount in a private mount namespace, gone when the command ends).
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec systemd-tmpfiles --root="$2" --create "$3"', 'sh', ro, root, tf], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /var.*ignoring: Read-only file system/);
  assert.ok(!existsSync(join(ro, 'var')));
});
