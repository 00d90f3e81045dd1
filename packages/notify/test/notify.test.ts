// notify(): the exact bytes a real AF_UNIX datagram socket receives, for every state kind, at a path and at
// an abstract address; fds that work on the other side; every bad input as a NotifyError with its code.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startDgramReceiver, type DgramReceiver } from '../../../test/harness/dgram-receiver.js';
import { notify, formatStates, closeNotifySockets, descriptorOf, parseNotifySocket, NotifyError, type NotifyState } from '../src/index.js';
import { monotonicUsec } from '../src/libc.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

// Every state kind and the exact text it must produce (sd_notify(3)).
const CASES: Array<[NotifyState, string]> = [
  [{ type: 'ready' }, 'READY=1'],
  [{ type: 'reloading', monotonicUsec: 123456789n }, 'RELOADING=1\nMONOTONIC_USEC=123456789'],
  [{ type: 'stopping' }, 'STOPPING=1'],
  [{ type: 'status', text: 'Warming up: 3/10 URLs, ünïcødé' }, 'STATUS=Warming up: 3/10 URLs, ünïcødé'],
  [{ type: 'status', text: '' }, 'STATUS='],
  [{ type: 'errno', errno: 2 }, 'ERRNO=2'],
  [{ type: 'buserror', name: 'org.freedesktop.DBus.Error.TimedOut' }, 'BUSERROR=org.freedesktop.DBus.Error.TimedOut'],
  [{ type: 'exit-status', status: 3 }, 'EXIT_STATUS=3'],
  [{ type: 'exit-status', status: 'SIGTERM' }, 'EXIT_STATUS=SIGTERM'],
  [{ type: 'mainpid', pid: 4242 }, 'MAINPID=4242'],
  [{ type: 'watchdog' }, 'WATCHDOG=1'],
  [{ type: 'watchdog-trigger' }, 'WATCHDOG=trigger'],
  [{ type: 'watchdog-usec', usec: 30_000_000 }, 'WATCHDOG_USEC=30000000'],
  [{ type: 'watchdog-usec', usec: 18446744073709551615n }, 'WATCHDOG_USEC=18446744073709551615'],
  [{ type: 'extend-timeout', usec: 5_000_000n }, 'EXTEND_TIMEOUT_USEC=5000000'],
  [{ type: 'fdstore-remove', name: 'db-conn' }, 'FDSTOREREMOVE=1\nFDNAME=db-conn'],
  [{ type: 'custom', key: 'X_WARMUP', value: '/Plone 200 OK' }, 'X_WARMUP=/Plone 200 OK'],
];

for (const kind of ['path', 'abstract'] as const) {
  describe(`notify() to a ${kind} NOTIFY_SOCKET`, () => {
    let rx: DgramReceiver;
    before(async () => {
      rx = await startDgramReceiver({ abstract: kind === 'abstract' });
      assert.equal(rx.address[0], kind === 'abstract' ? '@' : '/');
    });
    after(async () => {
      closeNotifySockets();
      await rx.close();
    });

    for (const [state, expected] of CASES) {
      test(`${JSON.stringify(state, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))} -> ${JSON.stringify(expected)}`, async () => {
        assert.equal(notify(state, { env: rx.env() }), true);
        const d = await rx.next();
        assert.deepEqual(d.bytes, Buffer.from(expected, 'utf8'));
        assert.deepEqual(d.fds, []);
        assert.equal(d.pid, process.pid, 'the kernel attributes the datagram to this process');
      });
    }

    test('several states travel in ONE datagram, in the order given', async () => {
      notify(
        [
          { type: 'ready' },
          { type: 'status', text: 'Serving' },
          { type: 'mainpid', pid: 77 },
          { type: 'custom', key: 'X_A', value: '1' },
          { type: 'custom', key: 'X_B', value: '2' },
        ],
        { env: rx.env() },
      );
      const d = await rx.next();
      assert.equal(d.text, 'READY=1\nSTATUS=Serving\nMAINPID=77\nX_A=1\nX_B=2');
      await assert.rejects(rx.next(100), /no datagram/);
    });

    test('RELOADING without monotonicUsec carries CLOCK_MONOTONIC now', async () => {
      const before = monotonicUsec();
      notify({ type: 'reloading' }, { env: rx.env() });
      const afterUsec = monotonicUsec();
      const d = await rx.next();
      const m = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(d.text);
      assert.ok(m, d.text);
      const usec = BigInt(m[1]!);
      assert.ok(usec >= before && usec <= afterUsec, `${usec} within [${before}, ${afterUsec}]`);
    });

    test('FDSTORE passes fds that work on the other side', async (t) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zsd-fdstore-'));
      t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
      const file = path.join(dir, 'stored');
      const a = fs.openSync(file, 'w+');
      const b = fs.openSync(path.join(dir, 'second'), 'w+');
      t.after(() => {
        fs.closeSync(a);
        fs.closeSync(b);
      });
      notify([{ type: 'fdstore', fds: [a, b], name: 'session-db', poll: false }, { type: 'status', text: 'stored' }], { env: rx.env() });
      const d = await rx.next();
      assert.equal(d.text, 'FDSTORE=1\nFDNAME=session-db\nFDPOLL=0\nSTATUS=stored');
      assert.equal(d.fds.length, 2);
      const [ra, rb] = d.fds as [number, number];
      assert.notEqual(ra, a, 'the receiver got its own fd numbers');
      // Same open file: same inode, and what the receiver writes shows up in the file.
      assert.equal(fs.fstatSync(ra).ino, fs.fstatSync(a).ino);
      assert.equal(fs.fstatSync(rb).ino, fs.fstatSync(b).ino);
      fs.writeSync(ra, 'written through the received fd\n');
      rx.closeFd(ra);
      rx.closeFd(rb);
      assert.equal(fs.readFileSync(file, 'utf8'), 'written through the received fd\n');
    });

    test('FDSTORE without name or poll sends just FDSTORE=1', async (t) => {
      const fd = fs.openSync('/dev/null', 'r');
      t.after(() => fs.closeSync(fd));
      notify({ type: 'fdstore', fds: [fd] }, { env: rx.env() });
      const d = await rx.next();
      assert.equal(d.text, 'FDSTORE=1');
      assert.equal(d.fds.length, 1);
      assert.equal(fs.fstatSync(d.fds[0]!).rdev, fs.fstatSync(fd).rdev);
      rx.closeFd(d.fds[0]!);
    });
  });
}

describe('notify() transport', () => {
  after(() => closeNotifySockets());

  test('unset or empty NOTIFY_SOCKET: a documented no-op returning false', () => {
    assert.equal(notify({ type: 'ready' }, { env: {} }), false);
    assert.equal(notify({ type: 'ready' }, { env: { NOTIFY_SOCKET: '' } }), false);
  });

  test('invalid states are errors even when NOTIFY_SOCKET is unset', () => {
    assert.throws(() => notify({ type: 'status', text: 'a\nb' }, { env: {} }), { code: 'ERR_NOTIFY_INVALID_STATE' });
  });

  test('one sending socket, created once and reused for every message', async (t) => {
    const rx = await startDgramReceiver();
    t.after(() => rx.close());
    closeNotifySockets();
    notify({ type: 'watchdog' }, { env: rx.env() });
    const fdsAfterFirst = fs.readdirSync('/proc/self/fd').length;
    for (let i = 0; i < 200; i++) {
      notify({ type: 'watchdog' }, { env: rx.env() });
      if (i % 5 === 4) await rx.waitForCount(i + 2);
    }
    await rx.waitForCount(201);
    assert.equal(fs.readdirSync('/proc/self/fd').length, fdsAfterFirst, 'no fd per message');
  });

  test('a receiver that stops reading: notify() waits (bounded) for room, then ERR_NOTIFY_SEND_FAILED / EAGAIN', async (t) => {
    const rx = await startDgramReceiver({ abstract: true });
    t.after(() => rx.close());
    await rx.pause();
    let sent = 0;
    let started = 0;
    const err = (() => {
      try {
        for (; sent < 100_000; sent++) {
          started = Date.now();
          notify({ type: 'status', text: `message ${sent}` }, { env: rx.env() });
        }
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    const waited = Date.now() - started;
    assert.ok(err instanceof NotifyError, `queue never filled after ${sent} messages`);
    assert.equal(err.code, 'ERR_NOTIFY_SEND_FAILED');
    assert.equal(err.errno, 'EAGAIN');
    assert.ok(err.message.includes(rx.address));
    assert.ok(waited >= 1900 && waited < 4000, `blocked ${waited} ms before giving up`);
    // The send buffer is raised (8 MiB, as libsystemd): the receiver's queue limit is what fills, not ours
    // (with the default ~208 KiB buffer, EAGAIN came after 278 messages). Only measurable where the limit
    // is above that.
    const qlen = Number(fs.readFileSync('/proc/sys/net/unix/max_dgram_qlen', 'utf8'));
    if (qlen > 300) assert.ok(sent >= qlen, `EAGAIN after ${sent} messages, below max_dgram_qlen ${qlen}`);
    rx.resume();
    await rx.waitForCount(sent);
    notify({ type: 'status', text: 'room again' }, { env: rx.env() });
    await rx.waitForCount(sent + 1);
    assert.equal(rx.received.at(-1)?.text, 'STATUS=room again');
  });

  test('a new receiver bound at the same path while the old one is still open gets the next message', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zsd-rebind-open-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const sock = path.join(dir, 'n.sock');
    const old = await startDgramReceiver({ path: sock });
    t.after(() => old.close());
    notify({ type: 'status', text: 'to the old one' }, { env: old.env() });
    assert.equal((await old.next()).text, 'STATUS=to the old one');
    fs.unlinkSync(sock); // the old receiver stays open, its path now free
    const next = await startDgramReceiver({ path: sock });
    t.after(() => next.close());
    notify({ type: 'status', text: 'to the new one' }, { env: next.env() });
    assert.equal((await next.next()).text, 'STATUS=to the new one');
    assert.equal(old.received.length, 1, 'nothing more for the old receiver');
  });

  test('unsetEnvironment deletes NOTIFY_SOCKET after sending, and also when the call fails', async (t) => {
    const rx = await startDgramReceiver();
    t.after(() => rx.close());
    const env: NodeJS.ProcessEnv = { ...rx.env(), OTHER: 'kept' };
    assert.equal(notify({ type: 'ready' }, { env, unsetEnvironment: true }), true);
    assert.equal((await rx.next()).text, 'READY=1');
    assert.deepEqual(env, { OTHER: 'kept' });
    assert.equal(notify({ type: 'ready' }, { env }), false, 'later calls: not under systemd');
    const bad: NodeJS.ProcessEnv = rx.env();
    assert.throws(() => notify({ type: 'status', text: 'a\nb' }, { env: bad, unsetEnvironment: true }), { code: 'ERR_NOTIFY_INVALID_STATE' });
    assert.deepEqual(bad, {});
  });

  test('FDSTORE of a listening net.Server through descriptorOf(): the receiver gets that socket', async (t) => {
    const rx = await startDgramReceiver();
    t.after(() => rx.close());
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => server.close());
    notify({ type: 'fdstore', fds: [descriptorOf(server)], name: 'web' }, { env: rx.env() });
    const d = await rx.next();
    assert.equal(d.text, 'FDSTORE=1\nFDNAME=web');
    assert.equal(fs.readlinkSync(`/proc/self/fd/${d.fds[0]}`), fs.readlinkSync(`/proc/self/fd/${descriptorOf(server)}`), 'the same socket');
    rx.closeFd(d.fds[0]!);
    // A connected socket too; and what has no descriptor is refused before anything is sent.
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    t.after(() => client.destroy());
    assert.ok(fs.fstatSync(descriptorOf(client)).isSocket());
    assert.throws(() => descriptorOf(net.createServer()), { code: 'ERR_NOTIFY_INVALID_ARGUMENT', message: /a Server has no file descriptor/ });
    assert.throws(() => descriptorOf(new net.Socket()), { code: 'ERR_NOTIFY_INVALID_ARGUMENT', message: /a Socket has no file descriptor/ });
    assert.throws(() => descriptorOf(100_000), { code: 'ERR_NOTIFY_INVALID_ARGUMENT', message: /fd 100000 is not open/ });
  });

  test('a receiver closed and bound again at the same path gets the next message', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zsd-rebind-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const sock = path.join(dir, 'n.sock');
    const first = await startDgramReceiver({ path: sock });
    notify({ type: 'status', text: 'one' }, { env: first.env() });
    assert.equal((await first.next()).text, 'STATUS=one');
    await first.close();
    const second = await startDgramReceiver({ path: sock });
    t.after(() => second.close());
    notify({ type: 'status', text: 'two' }, { env: second.env() });
    assert.equal((await second.next()).text, 'STATUS=two');
  });

  test('nothing bound at the path: ERR_NOTIFY_SEND_FAILED naming errno and socket', () => {
    const missing = path.join(os.tmpdir(), `zsd-missing-${process.pid}.sock`);
    assert.throws(
      () => notify({ type: 'ready' }, { env: { NOTIFY_SOCKET: missing } }),
      (err: unknown) => {
        assert.ok(err instanceof NotifyError);
        assert.equal(err.code, 'ERR_NOTIFY_SEND_FAILED');
        assert.equal(err.errno, 'ENOENT');
        assert.equal(err.syscall, 'sendmsg');
        assert.match(err.message, /ENOENT/);
        assert.ok(err.message.includes(missing), err.message);
        return true;
      },
    );
    assert.throws(() => notify({ type: 'ready' }, { env: { NOTIFY_SOCKET: `@zsd-nobody-${process.pid}` } }), {
      code: 'ERR_NOTIFY_SEND_FAILED',
      errno: 'ECONNREFUSED',
      message: /ECONNREFUSED.*|.*zsd-nobody/,
    });
  });

  test('address lengths: a path counts its trailing NUL, an abstract name does not (sd_notify)', () => {
    const p = parseNotifySocket('/run/n');
    assert.equal(p.kind, 'path');
    assert.equal(p.length, 2 + 6 + 1);
    assert.deepEqual(p.sockaddr.subarray(2, 2 + 7), Buffer.from('/run/n\0', 'latin1'));
    const a = parseNotifySocket('@abc');
    assert.equal(a.kind, 'abstract');
    assert.equal(a.length, 2 + 1 + 3);
    assert.deepEqual(a.sockaddr.subarray(2, 2 + 4), Buffer.from('\0abc', 'latin1'));
    // The receivers above bind exactly these lengths; a wrong one would address a different socket.
  });

  test('vsock: ERR_NOTIFY_UNSUPPORTED with a clear message', () => {
    assert.throws(() => notify({ type: 'ready' }, { env: { NOTIFY_SOCKET: 'vsock:2:1234' } }), {
      code: 'ERR_NOTIFY_UNSUPPORTED',
      message: /"vsock:2:1234".*AF_VSOCK.*not supported/,
    });
  });

  test('relative or overlong NOTIFY_SOCKET: ERR_NOTIFY_INVALID_SOCKET quoting the value', () => {
    assert.throws(() => notify({ type: 'ready' }, { env: { NOTIFY_SOCKET: 'run/notify' } }), {
      code: 'ERR_NOTIFY_INVALID_SOCKET',
      message: /"run\/notify".*absolute path.*@name/,
    });
    const long = `/${'x'.repeat(120)}`;
    assert.throws(() => notify({ type: 'ready' }, { env: { NOTIFY_SOCKET: long } }), { code: 'ERR_NOTIFY_INVALID_SOCKET', message: /at most 107 bytes/ });
    assert.throws(() => notify({ type: 'ready' }, { env: { NOTIFY_SOCKET: '@' } }), { code: 'ERR_NOTIFY_INVALID_SOCKET' });
  });

  test('importing the package does not load koffi; an unset NOTIFY_SOCKET never does', () => {
    const script = `
      import { createRequire } from 'node:module';
      const m = await import('@zope-systemd/notify');
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('koffi'));
      const a = loaded();
      m.notify([{ type: 'ready' }, { type: 'reloading' }], { env: {} });
      const b = loaded();
      try { m.notify({ type: 'ready' }, { env: { NOTIFY_SOCKET: '@zsd-nobody-lazy' } }); } catch {}
      const c = loaded(); // the probe itself works: a real send attempt does load it
      console.log(JSON.stringify({ a, b, c }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8', env: { PATH: process.env.PATH } });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { a: false, b: false, c: true });
  });
});

describe('bad input: every error has a stable code and quotes the value', () => {
  const env = {}; // validation does not need a socket
  const bad: Array<[string, unknown, string, RegExp]> = [
    ['newline in STATUS', { type: 'status', text: 'up\nREADY=1' }, 'ERR_NOTIFY_INVALID_STATE', /"up\\nREADY=1".*newline/],
    ['NUL in STATUS', { type: 'status', text: 'a\0b' }, 'ERR_NOTIFY_INVALID_STATE', /NUL/],
    ['newline in a custom value', { type: 'custom', key: 'X_K', value: 'v\n' }, 'ERR_NOTIFY_INVALID_STATE', /newline/],
    ['bad custom key', { type: 'custom', key: 'WARMUP', value: 'v' }, 'ERR_NOTIFY_INVALID_STATE', /"WARMUP".*X_\[A-Z0-9_\]/],
    ['lowercase custom key', { type: 'custom', key: 'X_warm', value: 'v' }, 'ERR_NOTIFY_INVALID_STATE', /"X_warm"/],
    ['unknown type', { type: 'reddy' }, 'ERR_NOTIFY_INVALID_STATE', /unknown type "reddy"/],
    ['not an object', 'READY=1', 'ERR_NOTIFY_INVALID_STATE', /"READY=1"/],
    ['negative errno', { type: 'errno', errno: -1 }, 'ERR_NOTIFY_INVALID_STATE', /errno must be an integer from 0 to 2147483647, got -1/],
    ['fractional errno', { type: 'errno', errno: 1.5 }, 'ERR_NOTIFY_INVALID_STATE', /got 1\.5/],
    ['exit status 256', { type: 'exit-status', status: 256 }, 'ERR_NOTIFY_INVALID_STATE', /from 0 to 255, got 256/],
    ['empty exit status', { type: 'exit-status', status: '' }, 'ERR_NOTIFY_INVALID_STATE', /must not be empty/],
    ['MAINPID 0', { type: 'mainpid', pid: 0 }, 'ERR_NOTIFY_INVALID_STATE', /from 1 to 2147483647, got 0/],
    ['MAINPID as string', { type: 'mainpid', pid: '12' }, 'ERR_NOTIFY_INVALID_STATE', /got "12"/],
    ['negative usec', { type: 'extend-timeout', usec: -5 }, 'ERR_NOTIFY_INVALID_STATE', /got -5/],
    ['usec beyond 2^64-1', { type: 'watchdog-usec', usec: 1n << 64n }, 'ERR_NOTIFY_INVALID_STATE', /18446744073709551615, got 18446744073709551616n/],
    ['unsafe integer usec', { type: 'watchdog-usec', usec: 2 ** 60 }, 'ERR_NOTIFY_INVALID_STATE', /beyond Number.MAX_SAFE_INTEGER.*pass a bigint/],
    ['bad MONOTONIC_USEC', { type: 'reloading', monotonicUsec: -1n }, 'ERR_NOTIFY_INVALID_STATE', /monotonicUsec.*got -1n/],
    ['bad BUSERROR', { type: 'buserror', name: 'TimedOut' }, 'ERR_NOTIFY_INVALID_STATE', /"TimedOut" is not a D-Bus error name/],
    ['FDNAME with ":"', { type: 'fdstore-remove', name: 'a:b' }, 'ERR_NOTIFY_INVALID_FDNAME', /"a:b".*":".*printable ASCII/],
    ['FDNAME with a control char', { type: 'fdstore-remove', name: 'a\tb' }, 'ERR_NOTIFY_INVALID_FDNAME', /U\+0009/],
    ['FDNAME non-ASCII', { type: 'fdstore-remove', name: 'café' }, 'ERR_NOTIFY_INVALID_FDNAME', /U\+00e9/],
    ['FDNAME too long', { type: 'fdstore-remove', name: 'n'.repeat(256) }, 'ERR_NOTIFY_INVALID_FDNAME', /256 characters long; at most 255/],
    ['empty FDNAME', { type: 'fdstore-remove', name: '' }, 'ERR_NOTIFY_INVALID_FDNAME', /must not be empty/],
    ['FDSTORE without fds', { type: 'fdstore', fds: [] }, 'ERR_NOTIFY_INVALID_STATE', /non-empty array/],
    ['FDSTORE with a non-fd', { type: 'fdstore', fds: [-1] }, 'ERR_NOTIFY_BAD_FD', /fd -1 is not a file descriptor/],
    ['FDSTORE with 254 fds', { type: 'fdstore', fds: Array.from({ length: 254 }, () => 0) }, 'ERR_NOTIFY_MESSAGE_TOO_LONG', /254 fds.*253/],
    ['duplicate state', [{ type: 'ready' }, { type: 'ready' }], 'ERR_NOTIFY_INVALID_STATE', /appears twice/],
    ['fdstore + fdstore-remove', [{ type: 'fdstore-remove', name: 'x' }, { type: 'fdstore', fds: [0] }], 'ERR_NOTIFY_INVALID_STATE', /share FDNAME/],
    ['no states', [], 'ERR_NOTIFY_INVALID_STATE', /no notify states/],
    ['message over 4096 bytes', { type: 'status', text: 'x'.repeat(4090) }, 'ERR_NOTIFY_MESSAGE_TOO_LONG', /4097 bytes.*4096/],
  ];
  for (const [what, state, code, message] of bad) {
    test(what, () => {
      assert.throws(() => notify(state as NotifyState, { env }), (err: unknown) => {
        assert.ok(err instanceof NotifyError, String(err));
        assert.equal(err.code, code);
        assert.match(err.message, message);
        return true;
      });
    });
  }

  test('FDSTORE with a closed fd: ERR_NOTIFY_BAD_FD naming the fd', () => {
    const fd = fs.openSync('/dev/null', 'r');
    fs.closeSync(fd);
    assert.throws(() => notify({ type: 'fdstore', fds: [fd], name: 'gone' }, { env }), {
      code: 'ERR_NOTIFY_BAD_FD',
      message: new RegExp(`fd ${fd} is not open \\(EBADF\\)`),
    });
  });

  test('exactly 4096 bytes is accepted', () => {
    const { text } = formatStates({ type: 'status', text: 'x'.repeat(4096 - 'STATUS='.length) });
    assert.equal(Buffer.byteLength(text), 4096);
  });
});

test('CLOCK_MONOTONIC (clock_gettime via koffi) and process.hrtime.bigint() are the same clock here', () => {
  // libuv's uv_hrtime uses clock_gettime(CLOCK_MONOTONIC) on Linux; the library reads the clock itself
  // anyway. This pins the equivalence the README states.
  const a = monotonicUsec();
  const h = process.hrtime.bigint() / 1000n;
  const b = monotonicUsec();
  assert.ok(h >= a && h <= b, `${a} <= ${h} <= ${b}`);
});
