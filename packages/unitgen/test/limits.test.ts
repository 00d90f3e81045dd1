// Values systemd would refuse are refused here first, with a position and the fix; malformed files (not UTF-8,
// too large, nested too deep) are configuration errors with a message, never a crash or a silent change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, MAX_DEPTH, parseStack } from '../src/index.js';
import { tempDir, zunitgen } from './helpers.js';

const GOOD = 'stack: site\ndescription: Site\nuser: plone\ndirectory: /srv/plone\nclients: { count: 1, command: /srv/plone/bin/client1, http: "127.0.0.1:8081", health: "127.0.0.1:9081" }\n';

function issues(text: string) {
  try { parseStack(text, { file: 'l.yaml' }); } catch (e) { assert.ok(e instanceof ConfigError, String(e)); return e.issues; }
  assert.fail('config was accepted');
}

test('Unicode noncharacters are refused (systemd rejects them as invalid UTF-8 and the unit would not load)', () => {
  for (const cp of [0xfffe, 0xffff, 0xfdd0, 0xfdef, 0x1fffe, 0x10ffff]) {
    const ch = String.fromCodePoint(cp);
    const i = issues(GOOD.replace('description: Site', `description: "Site ${ch}"`));
    assert.equal(i.length, 1, cp.toString(16));
    assert.deepEqual([i[0]!.line, i[0]!.col], [2, 14]);
    assert.match(i[0]!.message, new RegExp(`noncharacter U\\+${cp.toString(16).toUpperCase()}`));
  }
  // their neighbours are ordinary characters
  for (const cp of [0xfdcf, 0xfdf0, 0xfffd, 0x1fffd, 0x10000]) parseStack(GOOD.replace('description: Site', `description: "Site ${String.fromCodePoint(cp)}"`));
});

test('a value longer than 4096 characters is refused at its position; a file over 1 MiB before it is parsed', () => {
  const i = issues(GOOD.replace('description: Site', `description: ${'x'.repeat(4097)}`));
  assert.deepEqual([i[0]!.line, i[0]!.col], [2, 14]);
  assert.match(i[0]!.message, /description: 4097 characters, more than the 4096/);
  const huge = issues(GOOD.replace('description: Site', `description: ${'x'.repeat(50 << 20)}`));
  assert.deepEqual([huge[0]!.line, huge[0]!.col], [1, 1]);
  assert.match(huge[0]!.message, /more than the 1048576 a stack config may have/);
});

test('bytes that are not UTF-8 are an error at their position, not a silent U+FFFD', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'latin1.yaml');
  writeFileSync(file, Buffer.concat([Buffer.from('stack: site\ndescription: Caf'), Buffer.from([0xe9]), Buffer.from(GOOD.slice(GOOD.indexOf('\nuser')))]));
  const r = zunitgen(['check', file]);
  assert.equal(r.code, 78);
  assert.match(r.stderr, new RegExp(`${file}:2:17: error: byte 0xe9 at offset 28 is not UTF-8\\n  hint: save the file as UTF-8`));
});

test('deep nesting: a bounded error at the node, and a clear message where the YAML reader itself gives up', (t) => {
  const deep = issues(`${GOOD}limits: ${'['.repeat(MAX_DEPTH + 5)}1${']'.repeat(MAX_DEPTH + 5)}\n`);
  assert.match(deep[0]!.message, new RegExp(`nests more than ${MAX_DEPTH} levels deep`));
  assert.equal(deep[0]!.line, 6);
  const dir = tempDir(t);
  const file = join(dir, 'deep.yaml');
  writeFileSync(file, `${GOOD}limits: ${'['.repeat(200_000)}\n`);
  const r = zunitgen(['check', file]);
  assert.equal(r.code, 78, r.stderr);
  assert.doesNotMatch(r.stderr, /Maximum call stack/);
  assert.match(r.stderr, new RegExp(`deep.yaml:6:${8 + MAX_DEPTH + 1}: error: the config nests more than ${MAX_DEPTH} levels deep`));
});

test('an unquoted placeholder inside a flow mapping gets the fix, not only the YAML library\'s message', () => {
  const i = issues(GOOD.replace('health: "127.0.0.1:9081"', 'health: { agent: 127.0.0.1:{9080+n} }'));
  assert.ok(i.length >= 1);
  assert.equal(i[0]!.hint, 'quote values holding a placeholder inside { ... }: agent: "127.0.0.1:{9080+n}"');
});

test('a missing config file: exit 66 naming it', (t) => {
  const dir = tempDir(t);
  const r = zunitgen(['generate', join(dir, 'nope.yaml'), '--out', join(dir, 'out')]);
  assert.equal(r.code, 66);
  assert.match(r.stderr, /cannot read .*nope\.yaml: does not exist \(ENOENT\)\n  hint: give the path of a stack config/);
});

test('the ZEO address is written once: a -a/--address in zeo.command must be zeo.address', () => {
  const cfg = (command: string) => `${GOOD}zeo: { command: ${JSON.stringify(command)}, address: "127.0.0.1:8100" }\n`;
  for (const c of ['bin/runzeo -a 127.0.0.1:8101 -f var/Data.fs', 'bin/runzeo --address=0.0.0.0:8100', 'bin/runzeo -a /run/zeo.sock', 'bin/runzeo -a127.0.0.2:8100']) {
    const i = issues(cfg(c));
    assert.equal(i.length, 1, c);
    assert.match(i[0]!.message, /zeo\.command: the server is told to listen on .*, but zeo\.address is 127\.0\.0\.1:8100/, c);
    assert.match(i[0]!.hint!, /write the address once/);
    assert.equal(i[0]!.line, 6);
  }
  for (const c of ['bin/runzeo -a 127.0.0.1:8100', 'bin/runzeo --address [::ffff:127.0.0.1]:8100', 'bin/zeoserver fg']) parseStack(cfg(c));
});

test('block sequences nested thousands deep on one line ("- - - x"): the nesting error with the fix, not the reader\'s stack overflow', () => {
  const i = issues(`${'- '.repeat(50_000)}x\n`);
  assert.ok(i.every((x) => !/call stack/i.test(x.message)), JSON.stringify(i));
  const deep = i.find((x) => x.message === 'the config nests too deeply to be read');
  assert.ok(deep, JSON.stringify(i));
  assert.match(deep.hint ?? '', /look for a run of "- ", \[ or \{ that never ends/);
  assert.equal(deep.line, 1);
});
