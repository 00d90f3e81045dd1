// The generated wrapper configs (<stack>-clientN.znotify.yaml), read back by the real wrapper (the built
// `znotify check --print`): what the stack config says is what the wrapper runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTemplates, parseStack, render, type GeneratedFile } from '../src/index.js';
import { tempDir, ZNOTIFY_CLI, znotifyCheck, type WrapperConfig } from './helpers.js';

const STACK = `stack: site
user: zope
directory: /srv/site
clients:
  count: 2
  command: bin/instance{n} console
  http: 127.0.0.1:{8080+n}
  health: 127.0.0.1:{9080+n}
`;

function generate(text: string): GeneratedFile[] {
  return render(parseStack(text, { file: 'stack.yaml' }), loadTemplates(), { outDir: '/etc/systemd/system' });
}

/** Every generated wrapper config through the built `znotify check`; the configs as the wrapper read them. */
function wrapperRead(t: { after(fn: () => void): void }, files: GeneratedFile[]): WrapperConfig[] {
  assert.ok(existsSync(ZNOTIFY_CLI), `${ZNOTIFY_CLI} is missing: run pnpm build first`);
  const dir = tempDir(t);
  return files.filter((f) => f.kind === 'znotify').map((f) => {
    const p = join(dir, f.name);
    writeFileSync(p, f.content);
    const r = znotifyCheck(p);
    assert.equal(r.code, 0, `znotify check refused ${f.name}:\n${r.stderr}\n${f.content}`);
    return r.config!;
  });
}

test('clients.watchdog: every value reaches the wrapper, 0 and false included', (t) => {
  const [c1] = wrapperRead(t, generate(`${STACK}  watchdog: { database-grace: 0, hang-timeout: 0, dump-stacks: false }\n`));
  assert.deepEqual(c1!.watchdog, { databaseGraceMs: 0, hangTimeoutMs: 0, dumpStacks: false });
  const [d1] = wrapperRead(t, generate(`${STACK}  watchdog: { database-grace: 5min, hang-timeout: 90s }\n`));
  assert.deepEqual(d1!.watchdog, { databaseGraceMs: 300_000, hangTimeoutMs: 90_000, dumpStacks: true });
});
