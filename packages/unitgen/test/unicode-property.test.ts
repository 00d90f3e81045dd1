// Property test of the characters a value may hold, with systemd itself as the judge: for any printable code
// point (drawn across all planes, with extra weight at each plane's end and around U+FDD0..U+FDEF), a stack whose
// description holds it is accepted exactly when `systemd-analyze verify` loads a unit with that Description=
// cleanly; an accepted one's generated Description= line loads cleanly too, and a refused one is refused at the
// value's position naming the code point.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { builtinTemplates, ConfigError, parseStack, renderWith } from '../src/index.js';
import { checkProperty, have, tempDir } from './helpers.js';

const RUNS = Number(process.env.FC_RUNS_SYSTEMD ?? process.env.FC_RUNS ?? 30);
const printable = (cp: number) => cp >= 0xa0 && !(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff;
const codePoint = fc.oneof(
  fc.integer({ min: 0xa0, max: 0x10ffff }),
  // The last code points of each plane, and their neighbours.
  { arbitrary: fc.tuple(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0xfff8, max: 0x1_0003 })).map(([plane, low]) => plane * 0x10000 + low), weight: 3 },
  { arbitrary: fc.integer({ min: 0xfdc0, max: 0xfdff }), weight: 3 },
).filter(printable);

/** Whether systemd loads a service whose [Unit] holds `line`, without a complaint about it. */
function systemdLoads(dir: string, line: string): { ok: boolean; out: string } {
  const unit = join(dir, 'probe.service');
  writeFileSync(unit, `[Unit]\n${line}\n[Service]\nExecStart=/bin/true\n`);
  const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  const out = `${r.stdout}${r.stderr}`;
  return { ok: r.status === 0 && !/probe\.service/.test(out), out };
}

test('a code point in a value is accepted exactly when systemd loads a unit holding it', { skip: have('systemd-analyze') ? false : 'systemd-analyze not installed' }, (t) => {
  const dir = tempDir(t);
  let accepted = 0, refused = 0;
  checkProperty(() => fc.assert(fc.property(codePoint, (cp) => {
    const ch = String.fromCodePoint(cp), hex = cp.toString(16).toUpperCase().padStart(4, '0');
    const text = `stack: site\ndescription: "Site ${ch} here"\nuser: plone\ndirectory: /srv/plone\nclients: { count: 1, command: /srv/plone/bin/client1, http: "127.0.0.1:8081", health: "127.0.0.1:9081" }\n`;
    const judge = systemdLoads(dir, `Description=Site ${ch} here`);
    let files;
    try {
      files = renderWith(parseStack(text, { file: 's.yaml' }), builtinTemplates(), { outDir: '/etc/systemd/system' });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      refused++;
      assert.ok(!judge.ok, `U+${hex} refused (${e.message}), but systemd loads it`);
      const i = e.issues[0]!;
      assert.ok(e.issues.length === 1 && i.line === 2 && i.col === 14 && i.message.includes(`U+${hex}`), `U+${hex}: ${e.message}`);
      return;
    }
    accepted++;
    assert.ok(judge.ok, `U+${hex} accepted, but systemd refuses a unit holding it:\n${judge.out}`);
    const target = files.find((f) => f.name === 'site.target')!;
    const line = target.content.split('\n').find((l) => l.startsWith('Description='))!;
    assert.ok(line.includes(ch), `U+${hex}: ${line}`);
    const generated = systemdLoads(dir, line);
    assert.ok(generated.ok, `U+${hex}: the generated ${line} does not load:\n${generated.out}`);
  }), { numRuns: RUNS }));
  t.diagnostic(`${accepted} accepted, ${refused} refused`);
  assert.ok(accepted > 0 && refused > 0, `accepted ${accepted}, refused ${refused}: both outcomes must be reached`);
});
