// Both tools report configuration problems in one shape (@zope-systemd/common, problem.ts): file, line, col,
// key, message, fix; `check --json` prints them with the aliases `where` (znotify's former field) and `hint`
// (zunitgen's), and the lines on stderr say the same. From the built executables, on the same kinds of mistakes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { REPO_ROOT } from './harness/proc.js';

const ZNOTIFY = path.join(REPO_ROOT, 'packages/notify/dist/znotify/cli.js');
const ZUNITGEN = path.join(REPO_ROOT, 'packages/unitgen/dist/cli.js');
const run = (cli: string, args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000 });

interface Record { file: string; line: number; col: number; key: string; message: string; fix?: string; where: string; hint?: string }

/** The output of `check --json`, every record held to the shared shape. */
function records(stdout: string): { ok: boolean; problems: Record[] } {
  const out = JSON.parse(stdout) as { ok: boolean; problems: Record[] };
  for (const p of out.problems) {
    const keys = ['file', 'line', 'col', 'key', 'message', 'where', ...(p.fix !== undefined ? ['fix', 'hint'] : [])];
    assert.deepEqual(Object.keys(p).sort(), keys.sort(), JSON.stringify(p));
    assert.equal(p.where, p.line > 0 ? `${p.file}:${p.line}:${p.col}` : p.file);
    assert.equal(p.hint, p.fix);
    assert.ok(Number.isInteger(p.line) && Number.isInteger(p.col) && typeof p.key === 'string' && p.message.length > 0);
  }
  return out;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'config-problems-'));
const write = (name: string, text: string) => { const f = path.join(dir, name); writeFileSync(f, text); return f; };

test('an unknown key: the same record in both tools, at its line and column, with its key path and the fix', () => {
  const z = write('client.yaml', 'name: client1\nwarmup:\n  budgte: 10min\n');
  const u = write('stack.yaml', 'stack: plone\nuser: plone\ndirectory: /srv/plone\nclients:\n  count: 2\n  comand: bin/client{n}\n');
  const zr = run(ZNOTIFY, ['check', '--json', '--config', z]);
  const ur = run(ZUNITGEN, ['check', '--json', u]);
  assert.equal(zr.status, 78, zr.stderr);
  assert.equal(ur.status, 78, ur.stderr);
  const zp = records(zr.stdout).problems.find((p) => p.key === 'warmup.budgte');
  const up = records(ur.stdout).problems.find((p) => p.key === 'clients.comand');
  assert.deepEqual(zp && [zp.file, zp.line, zp.col, zp.fix], [z, 3, 3, 'did you mean "budget"?']);
  assert.deepEqual(up && [up.file, up.line, up.col, up.fix], [u, 6, 3, 'did you mean "command"?']);
  // A missing required key is named as the key it is.
  assert.ok(records(ur.stdout).problems.some((p) => p.key === 'clients.command' && /missing required key "command"/.test(p.message)));
  // Without --json the same problems go to stderr as lines, and stdout stays empty.
  const zLines = run(ZNOTIFY, ['check', '--config', z]);
  assert.equal(zLines.stdout, '');
  assert.match(zLines.stderr, new RegExp(`${z}:3:3: warmup\\.budgte: unknown key "budgte"; did you mean "budget"\\?`));
  const uLines = run(ZUNITGEN, ['check', u]);
  assert.match(uLines.stderr, new RegExp(`${u}:6:3: error: clients: unknown key "comand"\\n  hint: did you mean "command"\\?`));
});

test('a file that cannot be read: one record without a position, exit 66, in both tools', () => {
  const missing = path.join(dir, 'missing.yaml');
  for (const [cli, args] of [[ZNOTIFY, ['check', '--json', '--config', missing]], [ZUNITGEN, ['check', '--json', missing]]] as const) {
    const r = run(cli, [...args]);
    assert.equal(r.status, 66, r.stderr);
    const { ok, problems } = records(r.stdout);
    assert.equal(ok, false);
    assert.equal(problems.length, 1);
    assert.deepEqual([problems[0]!.file, problems[0]!.line, problems[0]!.col, problems[0]!.key], [missing, 0, 0, '']);
    assert.match(problems[0]!.message, /ENOENT/);
  }
});

test('a valid config: ok, no problems, exit 0, in both tools', () => {
  const zr = run(ZNOTIFY, ['check', '--json', '--config', path.join(REPO_ROOT, 'examples/znotify/client1.yaml')]);
  const ur = run(ZUNITGEN, ['check', '--json', path.join(REPO_ROOT, 'examples/stack/plone.yaml')]);
  for (const r of [zr, ur]) {
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(records(r.stdout), { ok: true, problems: [] });
  }
});

test('a secret in a refused value stays out of the JSON as out of the lines', () => {
  const z = write('secret.yaml', 'name: client1\nchecks:\n  - { name: pg, type: postgresql, address: "postgresql://zope:s3cret@db:5432/plone" }\n');
  const r = run(ZNOTIFY, ['check', '--json', '--config', z]);
  assert.equal(r.status, 78, r.stderr);
  assert.ok(records(r.stdout).problems.length > 0);
  assert.doesNotMatch(r.stdout, /s3cret/);
});

test('a number without a unit after hours: a warning, not a problem, in both tools; exit 0 and the same fix', () => {
  const z = write('odd-client.yaml', 'name: client1\nwarmup:\n  budget: 1h30\n');
  const u = write('odd-stack.yaml', 'stack: plone\nuser: plone\ndirectory: /srv/plone\nclients:\n  count: 1\n  command: bin/client{n}\n  http: 127.0.0.1:8080\n  health: 127.0.0.1:9080\n  warmup: { budget: 1h30 }\n');
  const zr = run(ZNOTIFY, ['check', '--json', '--config', z]);
  const ur = run(ZUNITGEN, ['check', '--json', u]);
  for (const [r, where, key] of [[zr, `${z}:3:11`, 'warmup.budget'], [ur, `${u}:9:21`, 'clients.warmup.budget']] as const) {
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { ok: boolean; problems: unknown[]; warnings: Record[] };
    assert.deepEqual([out.ok, out.problems], [true, []]);
    assert.deepEqual(out.warnings.map((w) => [w.where, w.key, w.fix]), [[where, key, 'write every unit: "1h 30min" if 30 minutes is meant, "1h 30s" to keep what it is']]);
    assert.match(out.warnings[0]!.message, /"1h30" is read as 1h 30s \(3630s in all\)/);
  }
  // Without --json: a line on stderr, and the wrapper still says ok.
  const text = run(ZNOTIFY, ['check', '--config', z]);
  assert.equal(text.status, 0);
  assert.match(text.stderr, new RegExp(`znotify: ${z.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3:11: warning: warmup\\.budget: "1h30" is read as 1h 30s`));
});
