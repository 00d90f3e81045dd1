// Every code example in the package README runs as written: each ```ts block becomes a program (the README's
// import line, the few names the block takes from its surroundings, the block itself, then the clean-up of what
// it opened) run under systemd's conditions: a real notify receiver, two passed listening sockets at fds 3 and 4
// (LISTEN_PID being the program's own pid), a watchdog. What reaches the receiver is checked too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDgramReceiver } from '../../../test/harness/dgram-receiver.js';
import { freePort } from '../../../test/harness/net.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const README = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const BLOCKS = [...README.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
const IMPORTS = BLOCKS[0]!;

const NODE_IMPORTS = "import http from 'node:http'; import net from 'node:net'; import { spawn } from 'node:child_process';";
const app = "const app = (req: http.IncomingMessage, res: http.ServerResponse) => res.end('ok');";

interface Example {
  /** A line that identifies the block. */
  marker: string;
  /** The names the block uses from its surroundings. */
  given: string;
  /** Closes what the block opened, so the program ends. */
  cleanup: string;
  /** What the receiver must get, in order (MAINPID's value varies: a regular expression). */
  datagrams: RegExp[];
  /** fd 3 is a connected socket instead of a listening one (Accept=yes). */
  accepted?: boolean;
}

const EXAMPLES: Example[] = [
  { marker: "import { notify, barrier,", given: '', cleanup: '', datagrams: [] },
  {
    marker: "notify({ type: 'extend-timeout', usec: 30_000_000 });",
    given: `const child = spawn('true'); const peerSide: net.Socket[] = [];
      const peer = net.createServer((c) => peerSide.push(c)); await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
      const conn = net.connect((peer.address() as net.AddressInfo).port, '127.0.0.1'); await new Promise((r) => conn.once('connect', r));`,
    // The receiver holds a copy of conn's fd (as systemd's fd store would): end the peer's side too.
    cleanup: 'conn.destroy(); for (const c of peerSide) c.destroy(); peer.close();',
    datagrams: [/^READY=1$/, /^READY=1\nSTATUS=Serving on :8080\nMAINPID=\d+$/, /^EXTEND_TIMEOUT_USEC=30000000$/, /^FDSTORE=1\nFDNAME=db\nFDPOLL=0$/, /^X_WARMUP=\/Plone 200$/],
  },
  {
    marker: 'const server = http.createServer(app);',
    given: app,
    cleanup: "await new Promise((r) => server.once('listening', r)); await new Promise((r) => setTimeout(r, 50)); server.close();",
    datagrams: [/^FDSTORE=1\nFDNAME=web\nREADY=1$/],
  },
  { marker: 'await barrier(', given: '', cleanup: '', datagrams: [/^STATUS=draining$/, /^BARRIER=1$/] },
  { marker: 'const fds = listenFds(', given: '', cleanup: "if (!web || fds.length !== 2) throw new Error('listenFds: ' + JSON.stringify(fds));", datagrams: [] },
  {
    marker: 'const server = await listenServer(',
    given: `${app} const web = listenFds().find((f) => f.name === 'http')!;`,
    cleanup: 'server.close();',
    datagrams: [],
  },
  { marker: 'const socket = acceptedSocket(3);', given: '', cleanup: '', datagrams: [], accepted: true },
  { marker: 'const wd = watchdogEnabled();', given: 'const shutdown = new AbortController();', cleanup: "if (!wd) throw new Error('no watchdog'); shutdown.abort();", datagrams: [] },
  { marker: 'spawn(cmd, args, { env: childEnv() });', given: "const cmd = 'true'; const args: string[] = [];", cleanup: '', datagrams: [] },
];

test('every ts example in packages/notify/README.md has a test, and no test lacks its example', () => {
  for (const block of BLOCKS) {
    const matching = EXAMPLES.filter((e) => block.includes(e.marker));
    assert.equal(matching.length, 1, `README block matched by ${matching.length} examples:\n${block}`);
  }
  for (const e of EXAMPLES) assert.ok(BLOCKS.some((b) => b.includes(e.marker)), `no README block holds ${JSON.stringify(e.marker)}`);
});

/** Runs a program as a socket-activated service would start: fds at 3 and 4, LISTEN_PID its own pid. */
function runService(file: string, fds: number[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  const child = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$ exec "$0" "$@"', process.execPath, '--import', 'tsx', file], {
    cwd: REPO, stdio: ['ignore', 'ignore', 'pipe', ...fds], env,
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => { clearTimeout(timer); resolve({ code, stderr }); });
  });
}

async function listening(t: { after(fn: () => void): void }): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return (server as unknown as { _handle: { fd: number } })._handle.fd;
}

for (const example of EXAMPLES.slice(1)) {
  test(`README example runs as written: ${example.marker}`, async (t) => {
    const block = BLOCKS.find((b) => b.includes(example.marker))!;
    const rx = await startDgramReceiver();
    t.after(() => rx.close());
    // Programs live inside the repository (its ignored tmp/), so '@zope-systemd/notify' resolves as for a user.
    mkdirSync(join(REPO, 'tmp'), { recursive: true });
    const dir = mkdtempSync(join(REPO, 'tmp', 'readme-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'example.mts');
    writeFileSync(file, [IMPORTS, NODE_IMPORTS, example.given, block, example.cleanup, ''].join('\n'));
    let fd3: number;
    if (example.accepted) {
      const server = net.createServer({ pauseOnConnect: true });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      t.after(() => server.close());
      const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
      const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      t.after(() => client.destroy());
      const conn = await accepted;
      t.after(() => conn.destroy());
      fd3 = (conn as unknown as { _handle: { fd: number } })._handle.fd;
      let reply = '';
      client.setEncoding('utf8').on('data', (d: string) => (reply += d));
      t.after(() => assert.equal(reply, 'hello\n', 'what the example wrote to the accepted connection'));
    } else {
      fd3 = await listening(t);
    }
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH, HOME: process.env.HOME, ...rx.env(), LISTEN_FDS: '2', LISTEN_FDNAMES: 'http:agent',
      WATCHDOG_USEC: '30000000', PORT: String(await freePort()),
    };
    const r = await runService(file, [fd3, await listening(t)], env);
    assert.equal(r.code, 0, `the example failed:\n${r.stderr}\n--- program ---\n${readFileSync(file, 'utf8')}`);
    await rx.waitForCount(example.datagrams.length);
    assert.equal(rx.received.length, example.datagrams.length, rx.received.map((d) => d.text).join(' | '));
    example.datagrams.forEach((re, i) => assert.match(rx.received[i]!.text, re));
    for (const d of rx.received) for (const fd of d.fds) rx.closeFd(fd);
  });
}
