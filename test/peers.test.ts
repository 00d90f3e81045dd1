// The peer harnesses against the real programs: haproxy (agent-check, httpchk, Runtime API), a throw-away
// PostgreSQL 15, and the process helper itself.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { haproxySkipReason, useHaproxy } from './harness/haproxy.js';
import { freePort, until } from './harness/net.js';
import { postgresSkipReason, sslRequest, usePostgres } from './harness/postgres.js';
import { peerEnv, REPO_ROOT, sampleSkipReason, startInstance, startPeer } from './harness/proc.js';

/**
 * A tiny HAProxy agent (agent-check protocol, configuration.txt): one line per connection, then close. served(line)
 * counts the connections answered with that line.
 */
async function agent(t: TestContext, initial: string): Promise<{ port: number; reply: (line: string) => void; served: (line: string) => number }> {
  let line = initial;
  const served = new Map<string, number>();
  const srv = net.createServer((s) => {
    s.on('error', () => {}); // haproxy may reset after reading the line
    served.set(line, (served.get(line) ?? 0) + 1);
    s.end(`${line}\n`);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => srv.close(() => r())));
  return { port: (srv.address() as net.AddressInfo).port, reply: (l) => { line = l; }, served: (l) => served.get(l) ?? 0 };
}

const hxSkip = haproxySkipReason();

describe('haproxy harness', { skip: hxSkip }, () => {
  it('agent-check: DOWN on `down #reason`, UP on `up ready 100%`; Runtime API drain/maint/ready', async (t) => {
    const a = await agent(t, 'down #warming up 1/2');
    const hx = await useHaproxy(t, {
      backends: [{ name: 'plone', servers: [{ name: 'client1', port: await freePort(), agentPort: a.port, agentInterMs: 100 }] }],
    });
    assert.match(hx.config, /server client1 127\.0\.0\.1:\d+ agent-check agent-port \d+ agent-inter 100ms/);

    await hx.waitForState('plone', 'client1', 'DOWN');
    const stat = async () => (await hx.showStat()).find((r) => r.pxname === 'plone' && r.svname === 'client1')!;
    assert.equal((await stat()).status, 'DOWN (agent)');
    assert.equal((await stat()).last_agt, 'via agent : down (warming up 1/2)');

    a.reply('up ready 100%');
    await hx.waitForState('plone', 'client1', 'UP');
    assert.equal((await stat()).status, 'no check', 'agent-check without `check` reads "no check" when up');

    // An agent that keeps saying `ready` would undo a Runtime API drain; a plain `up` keeps it.
    // Once HAProxy has fetched `up 100%` (HAProxy runs one agent check at a time per server, so no `ready` is still
    // on its way), the drain below cannot be undone by the agent.
    a.reply('up 100%');
    await until('HAProxy to fetch `up 100%` from the agent', () => (a.served('up 100%') >= 1 ? true : undefined));
    assert.equal(await hx.runtime('set server plone/client1 state drain'), '\n');
    assert.equal(await hx.waitForState('plone', 'client1', 'DRAIN'), 'DRAIN');
    assert.equal((await stat()).status, 'DRAIN (agent)');
    await hx.runtime('set server plone/client1 state maint');
    await hx.waitForState('plone', 'client1', 'MAINT');
    assert.equal((await stat()).status, 'MAINT');
    await hx.runtime('set server plone/client1 state ready');
    await hx.waitForState('plone', 'client1', 'UP');

    await hx.runtime('set server plone/client1 state drain');
    await hx.waitForState('plone', 'client1', 'DRAIN');
    a.reply('up ready 100%');
    await hx.waitForState('plone', 'client1', 'UP', { timeoutMs: 2_000 }); // `ready` cleared the drain

    a.reply('drain');
    await hx.waitForState('plone', 'client1', 'DRAIN');
    a.reply('down #db gone');
    await hx.waitForState('plone', 'client1', 'DOWN');
    await assert.rejects(hx.waitForState('plone', 'client1', 'UP', { timeoutMs: 300 }), /plone\/client1 is DOWN, not UP, after 300 ms/);
    await assert.rejects(hx.serverState('plone', 'nosuch'), /no server plone\/nosuch/);
    assert.match(hx.output(), /Server plone\/client1 is DOWN, reason: Layer7 wrong status, code: 0, info: "via agent : down \(db gone\)"/);
  });

  it('httpchk: a long request on a one-thread instance makes the HTTP check fail (the problem the wrapper solves)',
    { skip: sampleSkipReason() }, async (t) => {
      const port = await freePort();
      const inst = await startInstance({ port });
      t.after(() => inst.stop());
      const front = await freePort();
      const hx = await useHaproxy(t, {
        backends: [{ name: 'plone', frontendPort: front, httpCheck: { path: '/', host: 'www.example.org' },
          servers: [{ name: 'client1', port, check: true, interMs: 200, fall: 2, rise: 1 }] }],
      });
      await hx.waitForState('plone', 'client1', 'UP');
      const viaHaproxy = await new Promise<number>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: front, path: '/', agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0); })
          .on('error', reject);
      });
      assert.equal(viaHaproxy, 200);

      const slow = new Promise<number>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/slow?seconds=4', agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0); })
          .on('error', reject);
      });
      await hx.waitForState('plone', 'client1', 'DOWN', { timeoutMs: 4_000 });
      assert.equal(await slow, 200);
      await hx.waitForState('plone', 'client1', 'UP', { timeoutMs: 5_000 });
      assert.match(inst.stderr(), /"GET \/ HTTP\/1\.1" 200/); // the checks really went through waitress
    });

  // A start that never becomes ready is bounded: it fails naming what it waited for, stops HAProxy, removes its
  // files, and leaves nothing behind that keeps the test process running (run in a process of its own to see that).
  it('a HAProxy whose Runtime API never answers: start fails naming the wait, haproxy is stopped, nothing is left running', async (t) => {
    const tmp = mkdtempSync(join(tmpdir(), 'zs-hx-never-'));
    t.after(() => rmSync(tmp, { recursive: true, force: true }));
    const port = await freePort();
    // The stats socket on TCP: HAProxy runs, and the harness's unix-socket client never gets an answer.
    const script = join(tmp, 'start.mts');
    writeFileSync(script, `import { startHaproxy } from ${JSON.stringify(join(REPO_ROOT, 'test/harness/haproxy.ts'))};
try { await startHaproxy({ config: 'global\\n  stats socket ipv4@127.0.0.1:${port} level admin\\n', readyTimeoutMs: 1500 }); console.log('started'); }
catch (e) { console.log(e.message); }
`);
    const work = join(tmp, 'tmp');
    mkdirSync(work);
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: REPO_ROOT, env: { ...peerEnv(), TMPDIR: work }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.signal, null, `the process did not end by itself (killed by the hang guard): ${r.stdout}${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^haproxy did not start: haproxy \(pid \d+\) not ready: (timed out after 1500 ms|the Runtime API .* did not answer)/);
    assert.match(r.stdout, new RegExp(`waited for: the Runtime API ipv4@127\\.0\\.0\\.1:${port} to answer \`show info\` as haproxy's own pid \\(last try: .*ENOENT`));
    const pid = Number(/\(pid (\d+)\)/.exec(r.stdout)![1]);
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `haproxy (pid ${pid}) still runs`);
    assert.deepEqual(readdirSync(work).filter((n) => n.startsWith('zs-haproxy-')), [], 'the harness left its temp dir behind');
  });

  it('a config given as text gets the admin socket inserted into `global`; stop() removes the temp dir', async (t) => {
    const port = await freePort();
    const hx = await useHaproxy(t, {
      config: `global\n  maxconn 100\n\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\n`
        + `frontend fe\n  bind 127.0.0.1:${port}\n  http-request return status 204\n`,
    });
    assert.match(await hx.runtime('show info'), /^Name: HAProxy$/m);
    const res = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (r) => { r.resume(); resolve(r.statusCode ?? 0); }).on('error', reject);
    });
    assert.equal(res, 204);
    await hx.stop();
    assert.equal(existsSync(hx.dir), false);
    assert.notEqual(hx.peer.exitInfo, undefined);
  });
});

const pgSkip = postgresSkipReason();

describe('postgres harness', { skip: pgSkip }, () => {
  it('answers an SSLRequest with S or N, goes away on stop(), comes back on start(), down() removes it', async (t) => {
    const pg = await usePostgres(t);
    assert.ok(pg.pid && pg.running);
    assert.match(await sslRequest(pg.port), /^[SN]$/);
    assert.ok(existsSync(`${pg.socketDir}/.s.PGSQL.${pg.port}`), 'unix socket in the temp dir');

    const pid = pg.pid;
    await pg.stop();
    assert.equal(pg.running, false);
    assert.equal(pg.pid, undefined);
    assert.throws(() => process.kill(pid, 0), /ESRCH/);
    await assert.rejects(sslRequest(pg.port), /ECONNREFUSED/);

    await pg.start();
    assert.match(await sslRequest(pg.port), /^[SN]$/);
    assert.match(pg.output(), /database system is shut down[\s\S]*ready to accept connections/);

    await pg.down();
    assert.equal(existsSync(pg.dir), false);
    await assert.rejects(sslRequest(pg.port), /ECONNREFUSED/);
  });
});

describe('peer process harness', () => {
  it('a peer that exits before it is ready fails start with its output', async () => {
    await assert.rejects(
      startPeer([process.execPath, '-e', 'console.error("boom: no config"); process.exit(3)'],
        { name: 'early', ready: { output: 'never printed' } }),
      (e: Error & { code?: string }) => e.code === 'PEER_NOT_READY' && /early \(pid \d+\) not ready: exited with status 3/.test(e.message)
        && /boom: no config/.test(e.message),
    );
  });

  it('stop() escalates to SIGKILL when the stop signal is ignored', async () => {
    const p = await startPeer([process.execPath, '-e', 'process.on("SIGTERM", () => console.log("ignored")); console.log("up"); setInterval(() => {}, 1000)'],
      { ready: { output: 'up' }, stopTimeoutMs: 300 });
    const exit = await p.stop();
    assert.deepEqual(exit, { code: null, signal: 'SIGKILL' });
    assert.match(p.stdout(), /ignored/);
    assert.equal(p.signal('SIGTERM'), false, 'a stopped peer is not signalled again');
  });
});
