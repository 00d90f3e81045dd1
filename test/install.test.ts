// Installed as a user installs it: the packages packed with pnpm (as they would be published), installed with
// plain npm into empty directories outside the workspace (no pnpm, no workspace links), then used through the
// bin links npm creates and by the files' real paths. The test command builds first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const EXAMPLE = join(REPO, 'examples/stack/plone.yaml');
const WORKSPACE_CLI = join(REPO, 'packages/unitgen/dist/cli.js');

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

const skip = !have('npm') ? 'npm is not on PATH' : !have('pnpm') ? 'pnpm is not on PATH' : undefined;

/**
 * The environment of a user's shell: no npm_config_* or pnpm variables that `pnpm test` sets for its children,
 * and the test's own Node first on PATH. HOME stays, so npm's cache makes the install fast.
 */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_|PNPM_|NODE_OPTIONS$|NODE_PATH$|INIT_CWD$)/i.test(k)) continue;
    env[k] = v;
  }
  env.PATH = `${join(process.execPath, '..')}:${process.env.PATH ?? ''}`;
  return env;
}

function run(cmd: string, args: string[], cwd: string, env = userEnv()): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Every file under dir, relative, with its bytes. */
function tree(dir: string, prefix = ''): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = join(prefix, e.name);
    if (e.isDirectory()) for (const [k, v] of tree(dir, rel)) out.set(k, v);
    else out.set(rel, readFileSync(join(dir, rel)));
  }
  return out;
}

const NPM_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];

/** `npm install ARGS` in dir (created), without blocking: the test's independent installs run side by side. */
function npmInstall(dir: string, args: string[]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const child = spawn('npm', ['install', ...NPM_FLAGS, ...args], { cwd: dir, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`npm install ${args.join(' ')} in ${dir} exited ${code}:\n${output}`));
    });
  });
}

test('packed with pnpm, installed with npm: bins through their links, the library from ESM and CommonJS', { skip }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'zope-systemd-install-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const packs = join(work, 'packs');
  mkdirSync(packs);
  // The README's command: every workspace package (the root is private, so not packed).
  ok(run('pnpm', ['-r', 'pack', '--pack-destination', packs], REPO), 'pnpm -r pack');
  const notifyTgz = join(packs, 'zope-systemd-notify-0.1.0.tgz');
  const unitgenTgz = join(packs, 'zope-systemd-unitgen-0.1.0.tgz');
  const stackTgz = join(packs, 'zope-systemd-stack-0.1.0.tgz');
  // What both tools share; zunitgen loads it at run time (znotify and the generator carry it bundled).
  const commonTgz = join(packs, 'zope-systemd-common-0.1.0.tgz');

  await t.test('the tarballs carry no build leftovers', () => {
    for (const tgz of [notifyTgz, unitgenTgz, stackTgz, commonTgz]) {
      const files = ok(run('tar', ['tzf', tgz], work), 'tar').split('\n').filter(Boolean);
      const leftovers = files.filter((f) => /\.tsbuildinfo$|\.d\.ts\.map$|^package\/src\/|^package\/test\/|template-compiler|^package\/dist\/znotify\/(?!cli\.js)/.test(f));
      assert.deepEqual(leftovers, [], tgz);
    }
  });

  await t.test('each tarball holds its own package only: built from its own sources, no tests, a README without links into the repository', () => {
    // Files built from something other than the package's src/<name>.ts: the bundles and what the build writes.
    const built: Record<string, RegExp> = {
      notify: /^dist\/znotify\/cli\.js(\.map)?$/,
      stack: /^dist\/(cli\.js|cli\.cjs(\.map)?|zstack(-parser)?\.cjs(\.map|\.cache)?|box\.js)$/,
      unitgen: /^dist\/(compiled-templates\.js|zope-systemd-generator\.(cjs|lib\.cjs|cache))$/,
      common: /^$/,
    };
    for (const [name, tgz] of [['notify', notifyTgz], ['unitgen', unitgenTgz], ['stack', stackTgz], ['common', commonTgz]] as const) {
      const files = ok(run('tar', ['tzf', tgz], work), 'tar').split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
      const foreign = files.filter((f) => {
        if (f === 'package.json' || f === 'README.md' || /^schema\/[a-z-]+\.schema\.json$/.test(f) || built[name]!.test(f)) return false;
        if (name === 'unitgen' && /^templates\/[a-z-.]+\.hbs$/.test(f)) return false;
        const m = /^dist\/(.+)\.(js|d\.ts)$/.exec(f);
        return !m || !existsSync(join(REPO, 'packages', name, 'src', `${m[1]}.ts`));
      });
      assert.deepEqual(foreign, [], `${name}: files that are not the package's own build`);
      assert.deepEqual(files.filter((f) => /(^|\/)(test|tests|__tests__|fixtures)\/|\.test\./.test(f)), [], `${name}: tests`);
      assert.ok(files.includes('README.md'), `${name} has a README`);
      const readme = ok(run('tar', ['xzf', tgz, '-O', 'package/README.md'], work), 'tar');
      assert.deepEqual(readme.match(/\]\((?!https?:)[^)]*\)/g) ?? [], [], `${name}: README links that break outside the repository`);
    }
  });

  await t.test('the bundles\' source maps name files and lines but carry no sources (theirs or their dependencies\')', () => {
    for (const [tgz, map] of [[notifyTgz, 'package/dist/znotify/cli.js.map'], [stackTgz, 'package/dist/zstack.cjs.map']] as const) {
      const parsed = JSON.parse(ok(run('tar', ['xzf', tgz, '-O', map], work), 'tar')) as { sources: string[]; sourcesContent?: unknown[]; mappings: string };
      assert.ok(parsed.sources.some((s) => /commander/.test(s)) && parsed.mappings.length > 0, `${map} maps the bundle`);
      assert.ok((parsed.sourcesContent ?? []).every((c) => c === null), `${map} embeds ${parsed.sourcesContent?.filter((c) => c !== null).length} sources`);
    }
  });

  await t.test('each tool\'s JSON Schema is in its tarball, where the docs point editors', () => {
    const listing = (tgz: string) => ok(run('tar', ['tzf', tgz], work), 'tar').split('\n');
    assert.ok(listing(notifyTgz).includes('package/schema/znotify.schema.json'), 'znotify.schema.json');
    assert.ok(listing(unitgenTgz).includes('package/schema/stack.schema.json'), 'stack.schema.json');
  });

  const lib = join(work, 'lib-only');
  const app = join(work, 'app');
  const prefix = join(work, 'global');
  // The library alone; both packages into an application; all of them globally (the README's command) into a
  // prefix, zstack with the shared package it needs at run time.
  await Promise.all([
    npmInstall(lib, [notifyTgz]),
    npmInstall(app, [notifyTgz, unitgenTgz, commonTgz]),
    npmInstall(work, ['-g', '--prefix', prefix, notifyTgz, unitgenTgz, stackTgz, commonTgz]),
  ]);

  await t.test('the library alone installs koffi and its platform package, nothing else', () => {
    const names = ok(run('npm', ['ls', '--all', '--parseable'], lib), 'npm ls').split('\n').filter(Boolean)
      .map((p) => p.slice(realpathSync(lib).length + 1)).filter((p) => p !== '').sort();
    assert.deepEqual(names, [
      'node_modules/@koromix/koffi-' + `${process.platform}-${process.arch}`,
      'node_modules/@zope-systemd/notify',
      'node_modules/koffi',
    ].sort());
  });

  const bin = join(app, 'node_modules', '.bin');
  const zunitgen = (args: string[]) => run(join(bin, 'zunitgen'), args, app);

  await t.test('zunitgen through its bin link: --help, --version, generate, verify, check', () => {
    assert.ok(readFileSync(join(bin, 'zunitgen')) && realpathSync(join(bin, 'zunitgen')) !== join(bin, 'zunitgen'), 'a symlink');
    assert.match(ok(zunitgen(['--help']), 'zunitgen --help'), /Usage: zunitgen[\s\S]*generate/);
    assert.equal(ok(zunitgen(['--version']), 'zunitgen --version').trim(), '0.1.0');
    const out = join(app, 'out');
    assert.match(ok(zunitgen(['generate', EXAMPLE, '--out', out]), 'zunitgen generate'), /create .*plone-client1\.service/);
    if (have('systemd-analyze')) assert.match(ok(zunitgen(['verify', out, '--stub-exec']), 'zunitgen verify'), /^ok: verified the \d+ units of stack [^ ]+ in /);
    const missing = zunitgen(['check', join(work, 'no-such-stack.yaml')]);
    assert.notEqual(missing.status, 0, 'check of a missing file fails');
    assert.match(missing.stderr, /no-such-stack\.yaml/);
  });

  await t.test('an empty config: the hint names no file an npm user lacks, and its example passes check', () => {
    const empty = join(work, 'empty.yaml');
    writeFileSync(empty, '');
    const r = zunitgen(['check', empty]);
    assert.equal(r.status, 78, r.stderr);
    assert.doesNotMatch(r.stderr, /examples\//);
    const example = /^ {2}hint: .* e\.g\. (\{.*\})$/m.exec(r.stderr)?.[1];
    assert.ok(example, r.stderr);
    writeFileSync(join(work, 'minimal.yaml'), `${example}\n`);
    ok(zunitgen(['check', join(work, 'minimal.yaml')]), 'check of the hint\'s example');
  });

  await t.test('the installed zunitgen generate writes the same bytes as the workspace\'s', () => {
    const out = join(work, 'same');
    ok(zunitgen(['generate', EXAMPLE, '--out', out]), 'installed generate');
    renameSync(out, `${out}.installed`);
    ok(run(process.execPath, [WORKSPACE_CLI, 'generate', EXAMPLE, '--out', out], REPO), 'workspace generate');
    const installed = tree(`${out}.installed`), workspace = tree(out);
    assert.deepEqual([...installed.keys()].sort(), [...workspace.keys()].sort());
    for (const [name, bytes] of workspace) assert.ok(bytes.equals(installed.get(name)!), `${name} differs`);
  });

  await t.test('--templates without handlebars installed: one clear line, exit 78', () => {
    const tpl = join(work, 'tpl');
    mkdirSync(tpl);
    writeFileSync(join(tpl, 'slice.hbs'), readFileSync(join(REPO, 'templates/slice.hbs')));
    const r = zunitgen(['generate', EXAMPLE, '--out', join(work, 'custom'), '--templates', tpl]);
    assert.equal(r.status, 78, r.stderr);
    assert.match(r.stderr, /^zunitgen: custom templates \(--templates\) need the handlebars package.*npm install handlebars/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(existsSync(join(work, 'custom')), false, 'nothing written');
  });

  await t.test('npm install -g (the README\'s command, into a prefix of its own): bins through PREFIX/bin', () => {
    const env = { ...userEnv(), PATH: `${join(prefix, 'bin')}:${userEnv().PATH}` };
    const out = join(work, 'global-out');
    assert.match(ok(run('zunitgen', ['generate', EXAMPLE, '--out', out], work, env), 'global zunitgen generate'), /create /);
    ok(run('znotify', ['check', '--config', join(out, 'plone-client2.znotify.yaml')], work, env), 'global znotify check');
    // zstack finds @zope-systemd/unitgen beside it in the prefix; without a systemd here it gets as far as asking.
    assert.match(ok(run('zstack', ['--help'], work, env), 'global zstack --help'), /Usage: zstack[\s\S]*rollout/);
    assert.equal(ok(run('zstack', ['--version'], work, env), 'global zstack --version').trim(), '0.1.0');
    const bad = run('zstack', ['status', join(work, 'no-such-stack.yaml')], work, env);
    assert.notEqual(bad.status, 0, 'zstack status of a missing file fails');
    assert.match(bad.stderr, /no-such-stack\.yaml/);
    // The shipped example names HAProxy's admin socket, so a rollout of it gets past its own checks to asking
    // systemd, which this machine's PID 1 is not (or, where it is, the example's units are not installed): 69.
    const runDir = join(work, 'run');
    const rollout = run('zstack', ['--run-dir', runDir, 'rollout', EXAMPLE], work, env);
    assert.equal(rollout.status, 69, rollout.stderr);
    assert.match(rollout.stderr, /^zstack: (systemd on this machine is not reachable|units not installed on this machine): /, rollout.stderr);
    assert.doesNotMatch(rollout.stderr, /stats socket/);
    // The bin link points at the CommonJS launcher of the bundle (commander inside, the parser a bundle beside it).
    const real = realpathSync(join(prefix, 'bin', 'zstack'));
    assert.match(real, /@zope-systemd\/stack\/dist\/cli\.cjs$/);
    assert.doesNotMatch(readFileSync(real, 'utf8'), /from ["'](commander|yaml|@zope-systemd\/unitgen)["']/);
  });

  await t.test('bins by their real paths, and znotify check of a generated wrapper config', () => {
    for (const entry of ['bin.js', 'cli.js']) {
      const real = join(app, 'node_modules/@zope-systemd/unitgen/dist', entry);
      assert.match(ok(run(process.execPath, [real, '--help'], app), `${entry} --help`), /Usage: zunitgen/);
      const missing = run(process.execPath, [real, 'check', join(work, 'no-such-stack.yaml')], app);
      assert.notEqual(missing.status, 0, `${entry} check of a missing file`);
    }
    const config = join(app, 'out', 'plone-client1.znotify.yaml');
    ok(run(join(bin, 'znotify'), ['check', '--config', config], app), 'znotify check (bin link)');
    const znotifyReal = join(app, 'node_modules/@zope-systemd/notify/dist/znotify/cli.js');
    ok(run(process.execPath, [znotifyReal, 'check', '--config', config], app), 'znotify check (real path)');
    assert.match(ok(run(join(bin, 'znotify'), ['--help'], app), 'znotify --help'), /Usage: znotify/);
  });

  await t.test('install-generator and the installed generator; wait-tcp', async () => {
    const gens = join(work, 'generators');
    assert.match(ok(zunitgen(['install-generator', '--dir', gens]), 'install-generator'), /installed .*zope-systemd-generator/);
    const etc = join(work, 'etc-zope-systemd');
    mkdirSync(etc);
    writeFileSync(join(etc, 'plone.yaml'), readFileSync(EXAMPLE));
    const normal = join(work, 'generator-out');
    mkdirSync(normal);
    const env = { ...userEnv(), ZUNITGEN_CONFIG_DIR: etc, ZUNITGEN_KMSG: join(work, 'kmsg') };
    // The installed wrapper runs the package's bundled generator (its built-in templates compiled in).
    ok(run(join(gens, 'zope-systemd-generator'), [normal, normal, normal], work, env), 'the installed generator');
    assert.ok(readdirSync(normal).includes('plone-client1.service'), readdirSync(normal).join(' '));
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as net.AddressInfo).port;
      ok(run(join(bin, 'zunitgen'), ['wait-tcp', `127.0.0.1:${port}`, '--timeout', '30s'], app), 'wait-tcp');
    } finally {
      server.close();
    }
  });

  await t.test('npx finds the installed bin', () => {
    assert.match(ok(run('npx', ['--no-install', 'zunitgen', '--version'], app), 'npx zunitgen'), /^0\.1\.0$/m);
  });

  await t.test('the type declarations compile for a TypeScript user (skipLibCheck off, handlebars absent)', () => {
    writeFileSync(join(app, 'use.ts'), [
      "import http from 'node:http';",
      "import { notify, listenServer, type NotifyState } from '@zope-systemd/notify';",
      "import { parseStack, builtinTemplates, renderWith, type StackModel } from '@zope-systemd/unitgen';",
      "const server: Promise<http.Server> = listenServer(3, http.createServer());",
      "const state: NotifyState = { type: 'ready' };",
      "export const used = [server, state, notify, parseStack, builtinTemplates, renderWith] as const;",
      'export type Model = StackModel;',
    ].join('\n'));
    const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
    ok(run(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
      '--skipLibCheck', 'false', '--typeRoots', join(REPO, 'node_modules/@types'), '--types', 'node', 'use.ts'], app), 'tsc');
  });

  await t.test('--templates with handlebars installed beside it (the optional peer dependency)', () => {
    ok(run('npm', ['install', ...NPM_FLAGS, 'handlebars@4'], app), 'npm install handlebars');
    const tpl = join(work, 'tpl-hb');
    mkdirSync(tpl);
    writeFileSync(join(tpl, 'slice.hbs'), `${readFileSync(join(REPO, 'templates/slice.hbs'), 'utf8')}# custom slice template\n`);
    const out = join(work, 'custom-hb');
    ok(zunitgen(['generate', EXAMPLE, '--out', out, '--templates', tpl]), 'generate --templates');
    assert.match(readFileSync(join(out, 'plone.slice'), 'utf8'), /# custom slice template\n$/);
  });

  await t.test('the library: import from ESM, require from CommonJS', () => {
    writeFileSync(join(app, 'esm.mjs'), [
      "import { notify, listenFds, NotifyError } from '@zope-systemd/notify';",
      "import { parseStack, builtinTemplates } from '@zope-systemd/unitgen';",
      "console.log(notify({ type: 'ready' }, { env: {} }), listenFds({ env: {} }).length, typeof NotifyError, typeof parseStack, typeof builtinTemplates().target);",
    ].join('\n'));
    assert.equal(ok(run(process.execPath, ['esm.mjs'], app), 'esm').trim(), 'false 0 function function function');
    writeFileSync(join(app, 'cjs.cjs'), [
      "const { notify, NotifyError } = require('@zope-systemd/notify');",
      "const { parseStack } = require('@zope-systemd/unitgen');",
      "console.log(notify({ type: 'ready' }, { env: {} }), typeof NotifyError, typeof parseStack);",
    ].join('\n'));
    assert.equal(ok(run(process.execPath, ['cjs.cjs'], app), 'cjs').trim(), 'false function function');
  });

  await t.test('a broken installation: one line, exit 69, through the bin link', () => {
    rmSync(join(app, 'node_modules/@zope-systemd/unitgen/dist/compiled-templates.js'));
    const r = zunitgen(['--help']);
    assert.equal(r.status, 69, r.stderr);
    assert.match(r.stderr, /^zunitgen: incomplete installation in .*\/@zope-systemd\/unitgen\/dist: ERR_MODULE_NOT_FOUND: .*compiled-templates\.js.*reinstall @zope-systemd\/unitgen\)\n$/);
  });
});
