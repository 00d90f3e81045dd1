// listenFds(): in a spawned child with real inherited fds at 3 and 4, LISTEN_PID being the child's own pid
// (sh sets it to $$ and execs node, which keeps the pid), exactly as systemd hands them over.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { listenFds, listenServer, acceptedSocket, NotifyError } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = path.join(here, 'fixtures', 'listen-child.mjs');

interface ChildResult {
  code: number | null;
  lines: Array<Record<string, any>>;
  stderr: string;
}

/** Spawns the fixture with `fds` at 3, 4, ...; LISTEN_PID is the child's pid unless env sets it. */
function spawnChild(args: string[], fds: number[], env: NodeJS.ProcessEnv, opts: { ownPid?: boolean; onLine?: (line: Record<string, any>) => void } = {}): Promise<ChildResult> {
  const ownPid = opts.ownPid ?? true;
  const argv = ownPid ? ['/bin/sh', ['-c', 'LISTEN_PID=$$ exec "$0" "$@"', process.execPath, fixture, ...args]] as const : [process.execPath, [fixture, ...args]] as const;
  const child = spawn(argv[0], [...argv[1]], {
    stdio: ['ignore', 'pipe', 'pipe', ...fds],
    env: { PATH: process.env.PATH, ...env },
  });
  const lines: Array<Record<string, any>> = [];
  let stderr = '';
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = JSON.parse(buf.slice(0, i)) as Record<string, any>;
      buf = buf.slice(i + 1);
      lines.push(line);
      opts.onLine?.(line);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, lines, stderr });
    });
  });
}

/** The fd of a bound UDP socket (closed after the test). */
async function udpSocket(t: { after(fn: () => void): void }): Promise<number> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  t.after(() => sock.close());
  return (sock as unknown as { _handle: { fd: number } })._handle.fd;
}

async function tcpServer(): Promise<{ server: net.Server; fd: number; port: number }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  assert.ok(fd > 2);
  return { server, fd, port: (server.address() as net.AddressInfo).port };
}

describe('listenFds() in a socket-activated child', () => {
  test('names from LISTEN_FDNAMES, fds 3 and 4, FD_CLOEXEC set, taken once, environment unset', async (t) => {
    const a = await tcpServer();
    const b = await tcpServer();
    t.after(() => {
      a.server.close();
      b.server.close();
    });
    const r = await spawnChild(['report', 'unset'], [a.fd, b.fd], { LISTEN_FDS: '2', LISTEN_FDNAMES: 'http:agent' });
    assert.equal(r.code, 0, r.stderr);
    const [report] = r.lines;
    assert.ok(report && !report.error, JSON.stringify(report));
    assert.deepEqual(report.fds, [
      { fd: 3, name: 'http' },
      { fd: 4, name: 'agent' },
    ]);
    assert.deepEqual(report.cloexec, [true, true]);
    assert.deepEqual(report.envAfter, {}, 'unsetEnvironment deleted LISTEN_*');
    assert.deepEqual(report.again, [], 'a second call finds nothing');
  });

  test('without unsetEnvironment the variables stay, and the same env still hands the fds out only once', async (t) => {
    const a = await tcpServer();
    t.after(() => a.server.close());
    const r = await spawnChild(['report'], [a.fd], { LISTEN_FDS: '1', LISTEN_FDNAMES: 'web' });
    const [report] = r.lines;
    assert.deepEqual(report?.fds, [{ fd: 3, name: 'web' }]);
    assert.deepEqual(Object.keys(report?.envAfter ?? {}).sort(), ['LISTEN_FDNAMES', 'LISTEN_FDS', 'LISTEN_PID']);
    assert.deepEqual(report?.again, []);
  });

  test('names as sd_listen_fds_with_names: "unknown" without LISTEN_FDNAMES, "" for an empty slot', async (t) => {
    const a = await tcpServer();
    const b = await tcpServer();
    t.after(() => {
      a.server.close();
      b.server.close();
    });
    const r1 = await spawnChild(['report'], [a.fd, b.fd], { LISTEN_FDS: '2' });
    assert.deepEqual(r1.lines[0]?.fds, [
      { fd: 3, name: 'unknown' },
      { fd: 4, name: 'unknown' },
    ]);
    const r2 = await spawnChild(['report'], [a.fd, b.fd], { LISTEN_FDS: '2', LISTEN_FDNAMES: ':agent' });
    assert.deepEqual(r2.lines[0]?.fds, [
      { fd: 3, name: '' },
      { fd: 4, name: 'agent' },
    ]);
    const c = await tcpServer();
    t.after(() => c.server.close());
    const r3 = await spawnChild(['report'], [a.fd, b.fd, c.fd], { LISTEN_FDS: '3', LISTEN_FDNAMES: 'a::c' });
    assert.deepEqual(r3.lines[0]?.fds, [
      { fd: 3, name: 'a' },
      { fd: 4, name: '' },
      { fd: 5, name: 'c' },
    ]);
  });

  test('a count beyond the fds passed runs into Node\'s own fds: ERR_LISTEN_FDS_NOT_PASSED, no FD_CLOEXEC changed', async (t) => {
    // Nothing passed at all: fd 3 is Node's own (its event loop), open, and libsystemd would hand it out.
    const none = await spawnChild(['report'], [], { LISTEN_FDS: '1' });
    assert.equal(none.lines[0]?.error?.code, 'ERR_LISTEN_FDS_NOT_PASSED', JSON.stringify(none.lines));
    assert.match(none.lines[0]!.error.message, /LISTEN_FDS=1 announces fds 3-3, but fd 3 \(anon_inode:\[eventpoll\]\) was opened by Node itself, not passed to it/);
    // One passed, two announced: fd 4 is refused, and fd 3 keeps its flags (no FD_CLOEXEC set on it).
    const a = await tcpServer();
    t.after(() => a.server.close());
    const short = await spawnChild(['report'], [a.fd], { LISTEN_FDS: '2', LISTEN_FDNAMES: 'web:agent' });
    assert.equal(short.lines[0]?.error?.code, 'ERR_LISTEN_FDS_NOT_PASSED', JSON.stringify(short.lines));
    assert.match(short.lines[0]!.error.message, /but fd 4 /);
    assert.equal(short.lines[0]!.cloexec3, true, 'fd 3 as Node left it');
  });

  test('LISTEN_PID of another process: [] (inherited, not meant for us)', async (t) => {
    const a = await tcpServer();
    t.after(() => a.server.close());
    const r = await spawnChild(['report'], [a.fd], { LISTEN_PID: '1', LISTEN_FDS: '1', LISTEN_FDNAMES: 'web' }, { ownPid: false });
    assert.deepEqual(r.lines[0]?.fds, []);
  });

  for (const [what, env, message] of [
    ['LISTEN_FDS not a number', { LISTEN_FDS: 'two' }, /LISTEN_FDS="two" is not a positive decimal integer/],
    ['LISTEN_FDS=0', { LISTEN_FDS: '0' }, /LISTEN_FDS="0"/],
    ['too many names', { LISTEN_FDS: '1', LISTEN_FDNAMES: 'a:b' }, /LISTEN_FDNAMES="a:b" has 2 names but LISTEN_FDS="1"; expected exactly 1/],
    ['an empty LISTEN_FDNAMES (no names, as libsystemd splits it)', { LISTEN_FDS: '1', LISTEN_FDNAMES: '' }, /LISTEN_FDNAMES="" has 0 names but LISTEN_FDS="1"/],
  ] as const) {
    test(`malformed: ${what} -> ERR_LISTEN_FDS_MALFORMED`, async (t) => {
      const a = await tcpServer();
      t.after(() => a.server.close());
      const r = await spawnChild(['report'], [a.fd], env);
      const err = r.lines[0]?.error;
      assert.equal(err?.code, 'ERR_LISTEN_FDS_MALFORMED', JSON.stringify(r.lines));
      assert.match(err.message, message);
    });
  }

  test('listenServer() on an inherited fd really accepts connections', async (t) => {
    const web = await tcpServer();
    const agent = await tcpServer();
    t.after(() => {
      web.server.close();
      agent.server.close();
    });
    let reply = '';
    const r = await spawnChild(['serve', 'agent'], [web.fd, agent.fd], { LISTEN_FDS: '2', LISTEN_FDNAMES: 'web:agent' }, {
      onLine: (line) => {
        if (!line.listening) return;
        // Only the child holds the listening socket now: whoever answers on the port is the child.
        agent.server.close();
        const s = net.connect(agent.port, '127.0.0.1');
        s.setEncoding('utf8').on('data', (d: string) => (reply += d));
      },
    });
    assert.equal(r.code, 0, r.stderr + JSON.stringify(r.lines));
    assert.deepEqual(r.lines[0], { listening: true, fd: 4 });
    assert.match(reply, /^hello from \d+ on fd 4 \(agent\)\n$/);
  });

  test('acceptedSocket() turns an Accept=yes connection fd into a working net.Socket', async (t) => {
    // pauseOnConnect: this process never reads from the connection, so whatever the client sends is
    // there for the child (as with systemd's Accept=yes, where the manager never reads either).
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => server.close());
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const conn = await accepted;
    const connFd = (conn as unknown as { _handle: { fd: number } })._handle.fd;
    const child = spawnChild(['accepted'], [connFd], { LISTEN_FDS: '1' });
    conn.destroy(); // the child holds its own copy from here on
    let reply = '';
    client.setEncoding('utf8').on('data', (d: string) => (reply += d));
    const ended = new Promise((r) => client.once('end', r));
    client.write('ping');
    await ended;
    const r = await child;
    assert.equal(r.code, 0, r.stderr + JSON.stringify(r.lines));
    assert.equal(reply, 'child got "ping"\n');
  });
});

describe('listenFds() in-process (env and pid injected; no fds adopted)', () => {
  test('unset: []', () => {
    assert.deepEqual(listenFds({ env: {} }), []);
    assert.deepEqual(listenFds({ env: { LISTEN_FDS: '2' } }), [], 'no LISTEN_PID');
    assert.deepEqual(listenFds({ env: { LISTEN_PID: '42' }, pid: 42 }), [], 'no LISTEN_FDS');
  });

  test('pid mismatch: [] and unsetEnvironment still deletes the variables', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '42', LISTEN_FDS: '1', LISTEN_FDNAMES: 'x', OTHER: 'kept' };
    assert.deepEqual(listenFds({ env, pid: 43, unsetEnvironment: true }), []);
    assert.deepEqual(env, { OTHER: 'kept' });
  });

  const malformed: Array<[NodeJS.ProcessEnv, RegExp]> = [
    [{ LISTEN_PID: 'abc', LISTEN_FDS: '1' }, /LISTEN_PID="abc" is not a process id/],
    [{ LISTEN_PID: '-42', LISTEN_FDS: '1' }, /LISTEN_PID="-42"/],
    [{ LISTEN_PID: '42', LISTEN_FDS: '' }, /LISTEN_FDS=""/],
    [{ LISTEN_PID: '42', LISTEN_FDS: '1.5' }, /LISTEN_FDS="1.5"/],
    [{ LISTEN_PID: '42', LISTEN_FDS: ' 1' }, /LISTEN_FDS=" 1"/],
    [{ LISTEN_PID: '42', LISTEN_FDS: '3', LISTEN_FDNAMES: 'a:b' }, /has 2 names but LISTEN_FDS="3"/],
  ];
  for (const [env, message] of malformed) {
    test(`malformed ${JSON.stringify(env)} -> ERR_LISTEN_FDS_MALFORMED, also with unsetEnvironment`, () => {
      const copy = { ...env };
      assert.throws(() => listenFds({ env: copy, pid: 42, unsetEnvironment: true }), (err: unknown) => {
        assert.ok(err instanceof NotifyError);
        assert.equal(err.code, 'ERR_LISTEN_FDS_MALFORMED');
        assert.match(err.message, message);
        return true;
      });
      assert.deepEqual(copy, {}, 'variables deleted even on error, as sd_listen_fds does');
    });
  }

  test('in-process: a count that runs into Node\'s own fds is ERR_LISTEN_FDS_NOT_PASSED', () => {
    // The test runner got no fds: fd 3 is Node's own.
    const env = { LISTEN_PID: '42', LISTEN_FDS: '1' };
    assert.throws(() => listenFds({ env, pid: 42 }), { code: 'ERR_LISTEN_FDS_NOT_PASSED', message: /fd 3 \(anon_inode:\[eventpoll\]\) was opened by Node itself/ });
    assert.deepEqual(Object.keys(env), ['LISTEN_PID', 'LISTEN_FDS'], 'kept without unsetEnvironment');
  });

  test('listenServer / acceptedSocket: bad fds and non-sockets are ERR_NOTIFY_INVALID_ARGUMENT; a socket that cannot listen is ERR_LISTEN_FAILED', async (t) => {
    await assert.rejects(listenServer(-1), { code: 'ERR_NOTIFY_INVALID_ARGUMENT', message: /got -1/ });
    await assert.rejects(listenServer(100_000), { code: 'ERR_NOTIFY_INVALID_ARGUMENT', message: /fd 100000 is not open/ });
    assert.throws(() => acceptedSocket(1.5), { code: 'ERR_NOTIFY_INVALID_ARGUMENT' });
    assert.throws(() => acceptedSocket(100_000), { code: 'ERR_NOTIFY_INVALID_ARGUMENT', message: /fd 100000 is not open/ });
    const fd = fs.openSync('/dev/null', 'r');
    t.after(() => fs.closeSync(fd));
    await assert.rejects(listenServer(fd), { code: 'ERR_NOTIFY_INVALID_ARGUMENT', message: /fd \d+ is a character device, not a listening socket/ });
    assert.throws(() => acceptedSocket(fd), (err: unknown) => err instanceof NotifyError && err.code === 'ERR_NOTIFY_INVALID_ARGUMENT' && /a character device, not a connected socket/.test(err.message));
    // A UDP socket is a socket, but no stream server can listen on it.
    const udp = await udpSocket(t);
    await assert.rejects(listenServer(udp), { code: 'ERR_LISTEN_FAILED', message: new RegExp(`cannot listen on fd ${udp}`) });
  });

  test('listenServer keeps the type of the server it is given', async (t) => {
    const udp = await udpSocket(t);
    const given = http.createServer();
    // Typed as http.Server, not net.Server: the test typecheck (part of pnpm test) holds this line.
    const typed: Promise<http.Server> = listenServer(udp, given);
    await assert.rejects(typed, (err: unknown) => err instanceof NotifyError && err.code === 'ERR_LISTEN_FAILED');
  });
});
