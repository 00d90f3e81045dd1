// `pnpm example`: the main job on the built-in example, end to end.
//   1. zunitgen generates the unit set of examples/stack/plone.yaml and verifies it (systemd-analyze).
//   2. As root: a disposable systemd 252 boots in private namespaces; zunitgen generates the sample stack
//      (a ZEO-like server and three waitress instances that start cold, each wrapped by znotify) into it;
//      `systemctl start sample.target` brings them up in order, each client after the previous is READY;
//      the health answers HAProxy would get are shown; client2 is stopped gracefully (drain first); then
//      everything is torn down, also on Ctrl-C or an error.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { hiddenBy, servicesSandbox } from '../packages/unitgen/src/host-paths.js';
import { sampleStackConfig } from '../test/harness/sample-stack.js';
import { BOX_NODE, BOX_USER, bootBox, boxSkipReason, type Box } from '../test/harness/box.js';
import { agentLine, freePort } from '../test/harness/net.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const zunitgen = path.join(repo, 'packages/unitgen/dist/cli.js');
const say = (s: string) => process.stdout.write(`${s}\n`);
const heading = (s: string) => say(`\n== ${s}`);

function run(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

/** One line from an agent-check port, as HAProxy reads it; the error code when nothing answers. */
async function agentAnswer(port: number): Promise<string> {
  return (await agentLine(port).catch((e: NodeJS.ErrnoException) => `(${e.code ?? 'timeout'})`)).trim() || '(closed)';
}

async function basePortWithRoom(): Promise<number> {
  // The sample stack uses base, base+n, base+100+n, base+200+n: pick a base whose ports are all free now.
  for (let i = 0; i < 20; i++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    const ports = [base, base + 1, base + 2, base + 3, base + 101, base + 102, base + 103, base + 201, base + 202, base + 203];
    const free = await Promise.all(ports.map((p) => new Promise<boolean>((res) => {
      const srv = net.createServer().once('error', () => res(false)).listen(p, '127.0.0.1', () => srv.close(() => res(true)));
    })));
    if (free.every(Boolean)) return base;
  }
  return await freePort();
}

async function part1(): Promise<void> {
  heading('1. zunitgen: examples/stack/plone.yaml -> units');
  // Not under /tmp: PrivateTmp=yes hides it from the units, and generate would rightly say so. The example's tools
  // are this checkout's (an argv prefix, as for a checkout without bin links): what the units run exists here.
  fs.mkdirSync(path.join(repo, '.cache'), { recursive: true });
  const out = fs.mkdtempSync(path.join(repo, '.cache', 'example-'));
  try {
    const units = path.join(out, 'units');
    const stack = path.join(out, 'plone.yaml');
    const tool = (rel: string) => `[${process.execPath}, ${path.join(repo, rel)}]`;
    fs.writeFileSync(stack, `${fs.readFileSync(path.join(repo, 'examples/stack/plone.yaml'), 'utf8')}\nznotify: ${tool('packages/notify/dist/znotify/cli.js')}\nzunitgen: ${tool('packages/unitgen/dist/cli.js')}\n`);
    say(`  (${path.relative(repo, stack)}: examples/stack/plone.yaml with znotify: and zunitgen: set to this checkout's;`);
    say('   the example describes a buildout in /srv/plone, which is not installed here: generate warns that its programs are missing)');
    // A checkout where the units' sandbox hides it (a clone under /tmp or /root): generate says so, rightly, for
    // these units; the boot in part 2 runs the sample's own units, which do not read from here.
    const hidden = hiddenBy(servicesSandbox({ hardening: true, protectHome: 'yes' }), repo);
    if (hidden) say(`  (this checkout is in ${repo}, where ${hidden}: the warnings below are what generate tells an operator whose tools sit there; part 2 does not use these units)`);
    run([process.execPath, zunitgen, 'generate', stack, '--out', units]);
    for (const f of fs.readdirSync(units).sort()) say(`  ${f}`);
    say('\n--- plone-client2.service ---');
    say(fs.readFileSync(path.join(units, 'plone-client2.service'), 'utf8').trimEnd());
    heading('zunitgen verify (systemd-analyze verify; warnings fail too; --stub-exec: /srv/plone is not installed here)');
    const v = spawnSync(process.execPath, [zunitgen, 'verify', units, '--stub-exec'], { encoding: 'utf8' });
    say((v.stdout + v.stderr).trimEnd() || '(no output)');
    if (v.status !== 0) throw new Error(`zunitgen verify exited ${v.status}`);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

async function part2(box: Box): Promise<void> {
  const base = await basePortWithRoom();
  heading(`2. the sample stack in a disposable systemd 252 (booted in ${Math.round(box.bootMs)} ms), ports from ${base}`);
  const cfg = path.join(box.shared, 'sample.yaml');
  fs.writeFileSync(cfg, sampleStackConfig({ repo: box.repo, basePort: base, clients: 3, user: BOX_USER, node: BOX_NODE, warmupSeconds: 2 }));
  await box.exec([BOX_NODE, `${box.repo}/packages/unitgen/dist/cli.js`, 'generate', cfg, '--out', '/etc/systemd/system']);
  await box.systemctl('daemon-reload');
  const units = ['sample-zeo.service', 'sample-client1.service', 'sample-client2.service', 'sample-client3.service'];

  say('systemctl start sample.target   (blocks until every client has warmed up and sent READY=1)');
  const t0 = Date.now();
  const watcher = (async () => {                    // what HAProxy's agent-check sees on client3 meanwhile
    const seen: string[] = [];
    for (let i = 0; i < 300; i++) {
      const a = await agentAnswer(base + 103);
      if (seen.at(-1) !== a) { seen.push(a); say(`  +${((Date.now() - t0) / 1000).toFixed(1)} s  client3 agent: ${a}`); }
      if (a.startsWith('up')) break;
      await sleep(100);
    }
  })();
  await box.exec(['systemctl', 'start', 'sample.target'], { timeoutMs: 120_000 });
  await watcher;
  say(`started in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  heading('start order (monotonic seconds since boot): each client starts only after the previous one is READY');
  say('  unit                      started    READY/active');
  for (const u of units) {
    const p = await box.show(u, ['ExecMainStartTimestampMonotonic', 'ActiveEnterTimestampMonotonic', 'StatusText']);
    const s = (Number(p.ExecMainStartTimestampMonotonic) / 1e6).toFixed(2);
    const a = (Number(p.ActiveEnterTimestampMonotonic) / 1e6).toFixed(2);
    say(`  ${u.padEnd(24)}  ${s.padStart(8)}  ${a.padStart(8)}   ${p.StatusText ?? ''}`);
  }

  heading('health answers, served by znotify (no Zope thread spent)');
  for (let n = 1; n <= 3; n++) say(`  client${n} agent-check (127.0.0.1:${base + 100 + n}): ${await agentAnswer(base + 100 + n)}`);
  const h = await fetch(`http://127.0.0.1:${base + 201}/health`);
  say(`  client1 GET /health -> ${h.status} ${(await h.text()).trim()}`);

  heading('systemctl stop sample-client2.service: drain first, then the instance gets its stop signal');
  const t1 = Date.now();
  const stop = box.exec(['systemctl', 'stop', 'sample-client2.service'], { timeoutMs: 60_000 });
  let last = '';
  for (let i = 0; i < 100; i++) {
    const a = await agentAnswer(base + 102);
    if (a !== last) { last = a; say(`  +${((Date.now() - t1) / 1000).toFixed(1)} s  client2 agent: ${a}`); }
    if (a.startsWith('(')) break;                    // the socket went away with the service (PartOf=)
    await sleep(100);
  }
  await stop;
  say('  (like Zope 5 on waitress, the instance ends at once on SIGTERM and cuts what is in flight, so the wrapper');
  say('  drains first: here a fixed stop.drain, as there is no HAProxy; with haproxy.stats-socket it waits until');
  say('  HAProxy reports no session on the client)');
  say((await box.journal('sample-client2.service')).split('\n').filter((l) => /drain|STOPPING|stop|exit/i.test(l)).slice(-6).map((l) => `  ${l}`).join('\n'));
  const p = await box.show('sample-client2.service', ['ActiveState', 'Result']);
  say(`  client2: ${p.ActiveState} (result ${p.Result}); client1 and client3 keep serving: ${await agentAnswer(base + 101)} / ${await agentAnswer(base + 103)}`);
}

async function main(): Promise<void> {
  await part1();
  const reason = boxSkipReason();
  if (reason) {
    heading(`2. skipped: ${reason}`);
    return;
  }
  const box = await bootBox();
  try {
    await part2(box);
  } finally {
    await box.down();
    say('\nthe disposable systemd is gone (processes, mounts, cgroups).');
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`example failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
