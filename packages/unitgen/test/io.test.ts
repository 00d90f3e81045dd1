// Layer 3: atomic generation, the manifest, stale-file removal, refusing to overwrite foreign or edited
// files, --dry-run and --diff; through the library and through the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { OutputConflictError, generate, readManifest, unifiedDiff } from '../src/index.js';
import { liveUnitsIn } from '../src/live-units.js';
import { REPO, tempDir, zunitgen } from './helpers.js';

const EXAMPLE = join(REPO, 'examples/stack/plone.yaml');

function config(dir: string, count: number): string {
  const p = join(dir, `plone-${count}.yaml`);
  writeFileSync(p, readFileSync(EXAMPLE, 'utf8').replace('count: 4', `count: ${count}`));
  return p;
}

test('a new output directory appears complete (temp sibling + rename), with a manifest', (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'units');
  const r = generate(config(dir, 2), { out });
  assert.equal(r.plan.create.length, r.files.length);
  const names = readdirSync(out).sort();
  assert.deepEqual(names, [...r.files.map((f) => f.name), '.zunitgen-plone.manifest.json'].sort());
  assert.deepEqual(readdirSync(dir).filter((n) => n.includes('tmp')), [], 'no temporary directory left behind');
  const m = readManifest(out, 'plone')!;
  assert.deepEqual(Object.keys(m.files).sort(), r.files.map((f) => f.name).sort());
  for (const n of ['plone-setup.service', 'plone.sysusers.conf', 'plone.tmpfiles.conf']) assert.ok(n in m.files, `${n} is not in the manifest`);
  // ExecStart refers to the znotify config by its final absolute path
  assert.match(readFileSync(join(out, 'plone-client1.service'), 'utf8'), new RegExp(`--config ${out}/plone-client1.znotify.yaml`));
  // The wrapper config's comments make sense on the host: the unit that reads it, the stack config (absolute) to
  // edit instead, the command that writes it again; no path of this repository.
  const wrapper = readFileSync(join(out, 'plone-client1.znotify.yaml'), 'utf8');
  const cfg = join(dir, 'plone-2.yaml');
  for (const line of [
    `# znotify's config for client1: plone-client1.service runs \`znotify run --config ${out}/plone-client1.znotify.yaml\`.`,
    `# To change it, edit the stack config "${cfg}" instead, then run \`zunitgen generate ${cfg} --out ${out}\`.`,
  ]) assert.ok(wrapper.includes(`${line}\n`), `${line}\n${wrapper}`);
  assert.doesNotMatch(wrapper, /docs\//);
});

test('regenerating: unchanged files stay, stale files it generated are removed, foreign files are kept', (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'units');
  generate(config(dir, 4), { out });
  writeFileSync(join(out, 'other.service'), '[Service]\nExecStart=/bin/true\n');
  const again = generate(config(dir, 4), { out });
  assert.equal(again.plan.unchanged.length, again.files.length);
  const fewer = generate(config(dir, 2), { out });
  assert.deepEqual(fewer.plan.remove.sort(), [
    'plone-client3-agent.socket', 'plone-client3-health.socket', 'plone-client3.service', 'plone-client3.znotify.yaml',
    'plone-client4-agent.socket', 'plone-client4-health.socket', 'plone-client4.service', 'plone-client4.znotify.yaml',
  ]);
  assert.ok(fewer.plan.update.includes('plone.target'));
  assert.equal(existsSync(join(out, 'plone-client3.service')), false);
  assert.equal(existsSync(join(out, 'other.service')), true);
  assert.deepEqual(Object.keys(readManifest(out, 'plone')!.files).length, fewer.files.length);
  assert.deepEqual(readdirSync(out).filter((n) => n.startsWith('.zunitgen-txn') || n.endsWith('.tmp')), [], 'a transaction left behind');
});

// Whether systemd runs a unit from a file to remove is asked of a real systemd in test/stack-e2e.test.ts (refused while
// it runs, not in a scratch directory). Here, where systemd is not PID 1, generation must go on as before.
const systemdRunsHere = existsSync('/run/systemd/system');

test('without systemd running, removing stale units is not held up: nothing is asked, or a failed question is only a warning', { skip: systemdRunsHere ? 'systemd runs this machine' : undefined }, (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'units');
  generate(config(dir, 2), { out });
  const names = ['plone-client2.service', 'plone-client2-agent.socket', 'plone-client2.znotify.yaml'];
  assert.deepEqual(liveUnitsIn(out, names, { systemctl: join(dir, 'no-such-systemctl') }), { live: [] }, 'not booted with systemd: systemctl is not even run');
  // Told systemd runs, the real systemctl cannot reach it here: no live unit, and why.
  const asked = liveUnitsIn(out, names, { booted: () => true });
  assert.deepEqual(asked.live, []);
  assert.match(asked.unknown ?? '', /^systemctl show failed: /);
  assert.deepEqual(liveUnitsIn(out, ['plone-client2.znotify.yaml'], { booted: () => true }), { live: [] }, 'no unit among the files: nothing to ask');
  const r = zunitgen(['generate', config(dir, 1), '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^remove .*\/plone-client2\.service$/m);
  assert.doesNotMatch(r.stderr, /could not ask systemd|refusing/);
});

test('refuses to overwrite a file it did not generate, and writes nothing at all', (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'units');
  mkdirSync(out);
  writeFileSync(join(out, 'plone-client2.service'), '# mine\n[Service]\nExecStart=/bin/true\n');
  assert.throws(() => generate(config(dir, 2), { out }), (e: unknown) => e instanceof OutputConflictError && /plone-client2\.service \(not generated by zunitgen/.test(e.message));
  assert.deepEqual(readdirSync(out), ['plone-client2.service']);
  assert.equal(readFileSync(join(out, 'plone-client2.service'), 'utf8'), '# mine\n[Service]\nExecStart=/bin/true\n');
  // --force takes it over
  generate(config(dir, 2), { out, force: true });
  assert.match(readFileSync(join(out, 'plone-client2.service'), 'utf8'), /^# Generated by zunitgen/);
});

test('refuses to overwrite or remove a generated file edited by hand since', (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'units');
  generate(config(dir, 3), { out });
  writeFileSync(join(out, 'plone-client3.service'), `${readFileSync(join(out, 'plone-client3.service'), 'utf8')}# local tweak\n`);
  const before = readdirSync(out).sort();
  assert.throws(() => generate(config(dir, 2), { out }), (e: unknown) => e instanceof OutputConflictError && /stale, but edited since/.test(e.message));
  assert.deepEqual(readdirSync(out).sort(), before);
});

test('--dry-run writes nothing; --diff shows the change', (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'units');
  const r0 = zunitgen(['generate', config(dir, 1), '--out', out, '--dry-run']);
  assert.equal(r0.code, 0, r0.stderr);
  assert.match(r0.stdout, /would create .*plone-client1\.service/);
  assert.equal(existsSync(out), false);
  assert.equal(zunitgen(['generate', config(dir, 1), '--out', out]).code, 0);
  const r1 = zunitgen(['generate', config(dir, 2), '--out', out, '--dry-run', '--diff']);
  assert.equal(r1.code, 0, r1.stderr);
  assert.match(r1.stdout, /^\+Wants=[^\n]*plone-zeo\.service plone-client1\.service plone-client2\.service$/m);
  assert.match(r1.stdout, /^-Wants=[^\n]*plone-zeo\.service plone-client1\.service$/m);
  assert.match(r1.stdout, /--- \/dev\/null\n\+\+\+ .*plone-client2\.service/);
  assert.match(r1.stdout, /would create .*plone-client2\.service/);
  assert.equal(existsSync(join(out, 'plone-client2.service')), false);
  // Nothing to change: one line says so (text), `changes: 0` with every file unchanged (--json).
  const files = readdirSync(out).filter((n) => !n.startsWith('.')).length;
  const same = zunitgen(['generate', config(dir, 1), '--out', out, '--dry-run']);
  assert.equal(same.code, 0, same.stderr);
  assert.equal(same.stdout, `nothing would change in ${out} (${files} files unchanged)\n`);
  const sameJson = zunitgen(['generate', config(dir, 1), '--out', out, '--dry-run', '--json']);
  assert.equal(sameJson.code, 0, sameJson.stderr);
  const j = JSON.parse(sameJson.stdout) as { dryRun: boolean; changes: number; directories: Array<{ dir: string; changes: number; create: string[]; unchanged: string[] }> };
  assert.deepEqual([j.dryRun, j.changes, j.directories.length, j.directories[0]!.dir, j.directories[0]!.changes, j.directories[0]!.unchanged.length], [true, 0, 1, out, 0, files]);
  const more = JSON.parse(zunitgen(['generate', config(dir, 2), '--out', out, '--dry-run', '--json', '--diff']).stdout) as typeof j & { diff: string };
  assert.ok(more.changes > 0 && more.directories[0]!.create.includes('plone-client2.service'), JSON.stringify(more));
  assert.match(more.diff, /\+\+\+ .*plone-client2\.service/, 'the diff inside the JSON, not beside it');
});

test('CLI: conflicts exit 73 and name the file', (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'units');
  mkdirSync(out);
  writeFileSync(join(out, 'plone.target'), '[Unit]\n');
  const r = zunitgen(['generate', config(dir, 1), '--out', out]);
  assert.equal(r.code, 73);
  assert.match(r.stderr, /plone\.target \(not generated by zunitgen for this stack\)/);
});

test('unifiedDiff: hunks with context', () => {
  const a = Array.from({ length: 20 }, (_, i) => `l${i}`).join('\n') + '\n';
  const b = a.replace('l3\n', 'L3\n').replace('l17\n', '');
  const d = unifiedDiff('a', 'b', a, b);
  assert.match(d, /@@ -1,7 \+1,7 @@\n l0\n l1\n l2\n-l3\n\+L3\n l4/);
  assert.match(d, /@@ -15,6 \+15,5 @@\n l14\n l15\n l16\n-l17\n l18\n l19\n$/);
  assert.equal(unifiedDiff('a', 'b', a, a), '');
});

// Run from the stack file's directory with a relative name, as an operator does: every generated file's header
// names the stack file by its absolute path, as the znotify configs' comments do, so it means something once the
// files are installed and read from elsewhere.
test('every generated file names the stack file by its absolute path, also when generate got a relative one', (t) => {
  const dir = tempDir(t);
  config(dir, 2);
  const r = spawnSync(process.execPath, [join(REPO, 'packages/unitgen/dist/cli.js'), 'generate', 'plone-2.yaml', '--out', 'units'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const abs = JSON.stringify(join(dir, 'plone-2.yaml'));
  const files = readdirSync(join(dir, 'units')).filter((n) => !n.startsWith('.'));
  assert.ok(files.length > 5, files.join(' '));
  for (const n of files) {
    const first = readFileSync(join(dir, 'units', n), 'utf8').split('\n')[0]!;
    assert.equal(first, `# Generated by zunitgen from ${abs}. Do not edit: change the source and generate again.`, n);
  }
});
