// Property test of the manifest's trust: a manifest is only a list of names and hashes, and anyone who can write
// the output directory can forge one. For any forged entries (names of foreign files beside the stack's, paths
// out of the directory, absolute paths, odd strings), each with the very hash of the file it points at, an update
// either is refused or succeeds, and in both cases every file that is not the stack's, inside the output
// directory or outside it, is still there with its content; after a success the stack's files are the new set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { manifestName, OutputError, write, type GeneratedFile } from '../src/index.js';
import { checkProperty, tempDir } from './helpers.js';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const PREFIX = 'site';
const meta = { stack: PREFIX, source: '/etc/zunitgen/site.yaml' };

/** A unit set of the stack: names it generates, random contents. */
const setArb = fc.uniqueArray(fc.record({
  name: fc.constantFrom(...['.target', '.slice', '-zeo.service', '-client1.service', '-client2.service', '-client1-agent.socket', '.sysusers.conf'].map((s) => PREFIX + s), `haproxy-${PREFIX}.cfg`),
  content: fc.string({ maxLength: 30 }).map((s) => `# generated\n${s}\n`),
}), { selector: (f) => f.name, minLength: 1, maxLength: 6 }).map((fs) => fs.map((f): GeneratedFile => ({ name: f.name, kind: 'unit', content: f.content })));

/** Names of files that are not the stack's: other units, other stacks (some sharing the first letters), their manifests. */
const foreignName = fc.oneof(
  fc.constantFrom('sshd.service', 'site2.target', 'sitex-client1.service', 'siteclient1.service', 'haproxy-other.cfg', 'haproxy-site2.cfg', 'getty@.service', '.zunitgen-other.manifest.json', 'Site-zeo.service'),
  fc.stringMatching(/^[a-gi-rt-z0-9][A-Za-z0-9@._:-]{0,20}$/),
);

/** A forged entry: a foreign file's name, or a path that leads out of the directory to the victim, or any string. */
const forged = fc.oneof(
  foreignName.map((n) => ({ kind: 'foreign' as const, n })),
  fc.constantFrom('../victim', '../other/x', `${PREFIX}/../../victim`, `${PREFIX}-x/../../victim`, './../victim', '.', '..', '').map((n) => ({ kind: 'path' as const, n })),
  fc.constant({ kind: 'absolute' as const, n: '' }),
  fc.string({ maxLength: 16 }).map((n) => ({ kind: 'any' as const, n })),
);

/** Every regular file under `dir` but the lock: path -> content. */
function files(dir: string, skip: (name: string) => boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (skip(n)) continue;
    if (statSync(p).isDirectory()) Object.assign(out, files(p, () => false));
    else out[p] = readFileSync(p, 'utf8');
  }
  return out;
}

test('property: a forged manifest entry never removes or changes a file that is not the stack\'s', (t) => {
  const root = tempDir(t);
  let runs = 0, refused = 0, done = 0;
  checkProperty(() => fc.assert(fc.property(setArb, setArb, fc.uniqueArray(foreignName, { maxLength: 4 }), fc.array(forged, { maxLength: 4 }), (oldSet, newSet, foreign, entries) => {
    const base = join(root, `r${runs++}`), out = join(base, 'out');
    mkdirSync(join(base, 'other'), { recursive: true });
    writeFileSync(join(base, 'victim'), 'precious\n');
    writeFileSync(join(base, 'other', 'x'), 'other\n');
    write(out, PREFIX, oldSet, meta);
    for (const n of foreign) writeFileSync(join(out, n), `foreign ${n}\n`);
    // The forged entries, each with the hash of the file it would name, as a forger able to read it would write.
    const mpath = join(out, manifestName(PREFIX));
    const m = JSON.parse(readFileSync(mpath, 'utf8')) as { files: Record<string, string> };
    for (const e of entries) {
      const n = e.kind === 'absolute' ? join(base, 'victim') : e.kind === 'foreign' && foreign.length ? foreign[e.n.length % foreign.length]! : e.n;
      const target = resolve(out, n);
      m.files[n] = existsSync(target) && statSync(target).isFile() ? sha(readFileSync(target)) : sha(n);
    }
    writeFileSync(mpath, JSON.stringify(m));
    const isStack = (n: string) => oldSet.some((f) => f.name === n) || newSet.some((f) => f.name === n) || n.startsWith('.zunitgen-');
    const before = files(base, (n) => n === 'out');
    const foreignBefore = files(out, isStack);
    let ok = true;
    try { write(out, PREFIX, newSet, meta, { lockTimeoutMs: 0 }); } catch (e) {
      if (!(e instanceof OutputError)) throw e;
      ok = false;
    }
    ok ? done++ : refused++;
    const what = `forged ${JSON.stringify(entries.map((e) => e.kind === 'absolute' ? '<abs victim>' : e.n))} beside ${JSON.stringify(foreign)}: ${ok ? 'accepted' : 'refused'}`;
    assert.deepEqual(files(base, (n) => n === 'out'), before, `${what}: a file outside the output directory changed`);
    assert.deepEqual(files(out, isStack), foreignBefore, `${what}: a foreign file in the output directory changed`);
    if (ok) for (const f of newSet) assert.equal(readFileSync(join(out, f.name), 'utf8'), f.content, `${what}: ${f.name}`);
  }), { numRuns: Number(process.env.FC_RUNS ?? 30) }));
  t.diagnostic(`${done} updates went through, ${refused} were refused`);
});
