// Per-message cost of notify() beside python3's socket.sendto and beside spawning systemd-notify, all sent
// to the same real datagram receiver in the same run.
//
//   node --import tsx bench/notify.ts [--messages N] [--rounds R] [--spawns S] [--abstract]
//
// notify() and python are timed inside their own process over N messages per round (interpreter start not
// counted); systemd-notify is timed per spawn (that is its per-message cost). Medians over R rounds; the
// notify and python rounds alternate, so both see the same machine load. The receiver binds a path (as
// systemd's /run/systemd/notify) or, with --abstract, an abstract name.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { startDgramReceiver } from '../test/harness/dgram-receiver.js';
import { notify, closeNotifySockets, type NotifyState } from '../packages/notify/src/index.js';
import { median } from './lib.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '7' },
    spawns: { type: 'string', default: '20' },
    abstract: { type: 'boolean', default: false },
  },
});
const N = Number(values.messages);
const R = Number(values.rounds);
const S = Number(values.spawns);
const PYTHON = '/usr/bin/python3';

const fmt = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : `${(ns / 1e3).toFixed(2)} us`);

const rx = await startDgramReceiver({ abstract: values.abstract });
const env = rx.env();
let expected = 0;

async function settle(): Promise<void> {
  await rx.waitForCount(expected, 60_000);
  rx.reset();
  expected = 0;
}

// --- notify() ---------------------------------------------------------------------------------------------
function notifyRound(states: Parameters<typeof notify>[0], n = N): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) notify(states, { env });
  const ns = Number(process.hrtime.bigint() - t0) / n;
  expected += n;
  return ns;
}
// --- python3 socket.sendto, one round per line on stdin ---------------------------------------------------
const PY = `
import socket, sys, time, json
addr = sys.argv[1]
if addr.startswith('@'): addr = '\\0' + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
msg = b'WATCHDOG=1'
for line in sys.stdin:
    n = int(line)
    t0 = time.perf_counter_ns()
    for i in range(n):
        s.sendto(msg, addr)
    sys.stdout.write(json.dumps((time.perf_counter_ns() - t0) / n) + '\\n'); sys.stdout.flush()
`;
const pyProc = spawn(PYTHON, ['-c', PY, rx.address], { stdio: ['pipe', 'pipe', 'inherit'] });
const pyExited = new Promise<number | null>((r) => pyProc.once('close', r));
const pyLines: string[] = [];
let pyWake: (() => void) | undefined;
{
  let buf = '';
  pyProc.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      pyLines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
      pyWake?.();
    }
  });
}
async function pythonRound(n = N): Promise<number> {
  pyProc.stdin.write(`${n}\n`);
  while (pyLines.length === 0) await new Promise<void>((w) => (pyWake = w));
  expected += n;
  return Number(pyLines.shift());
}

// Rounds interleave the senders, so each sees the same machine load; round 0 warms up (JIT, libc, sockets)
// and is not counted.
const notifyNs: number[] = [];
const notifyMultiNs: number[] = [];
const pythonNs: number[] = [];
const multi: NotifyState[] = [{ type: 'status', text: 'Serving 4 threads, 12 req/s' }, { type: 'watchdog' }, { type: 'extend-timeout', usec: 30_000_000 }];
for (let r = 0; r <= R; r++) {
  const a = notifyRound({ type: 'watchdog' });
  await settle();
  const b = notifyRound(multi);
  await settle();
  const c = await pythonRound();
  await settle();
  if (r === 0) continue;
  notifyNs.push(a);
  notifyMultiNs.push(b);
  pythonNs.push(c);
}

// Sender alone: the receiver pauses, a batch goes into the kernel queue, then the receiver drains it. This
// times what the sending process pays, without the receiver's wake-ups competing for the CPUs.
const QLEN = Number(fs.readFileSync('/proc/sys/net/unix/max_dgram_qlen', 'utf8'));
const B = Math.min(100, QLEN);
const BATCHES = 100;
const soloNotify: number[] = [];
const soloPython: number[] = [];
for (let b = 0; b <= BATCHES; b++) {
  await rx.pause();
  const a = notifyRound({ type: 'watchdog' }, B);
  rx.resume();
  await settle();
  await rx.pause();
  const c = await pythonRound(B);
  rx.resume();
  await settle();
  if (b === 0) continue;
  soloNotify.push(a);
  soloPython.push(c);
}
pyProc.stdin.end();
if ((await pyExited) !== 0) throw new Error('python3 failed');

// --- systemd-notify (one process per message) -----------------------------------------------------------
const sdNs: number[] = [];
const haveSystemdNotify = spawnSync('systemd-notify', ['--version'], { stdio: 'ignore' }).status === 0;
if (haveSystemdNotify) {
  const childEnv = { PATH: process.env.PATH, NOTIFY_SOCKET: rx.address };
  for (let r = 0; r < R; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < S; i++) {
      const res = spawnSync('systemd-notify', ['WATCHDOG=1'], { env: childEnv, stdio: 'ignore' });
      if (res.status !== 0) throw new Error(`systemd-notify exited with ${res.status}`);
    }
    sdNs.push(Number(process.hrtime.bigint() - t0) / S);
    expected += S;
    await settle();
  }
}

closeNotifySockets();
await rx.close();

const py = median(pythonNs);
const rows: Array<[string, number]> = [
  ['notify({ type: "watchdog" })', median(notifyNs)],
  ['notify([status, watchdog, extend-timeout])', median(notifyMultiNs)],
  ['python3 socket.sendto(b"WATCHDOG=1")', py],
];
if (haveSystemdNotify) rows.push(['spawn systemd-notify WATCHDOG=1', median(sdNs)]);

console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, linux ${os.release()}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`receiver: ${rx.address}; net.unix.max_dgram_qlen: ${QLEN}`);
console.log('');
console.log(`Live receiver (a worker thread drains concurrently); ${N} messages x ${R} rounds, systemd-notify ${S} spawns x ${R}:`);
console.log('');
console.log(`| sender | median per message | vs python |`);
console.log(`|---|---:|---:|`);
for (const [name, ns] of rows) console.log(`| ${name} | ${fmt(ns)} | ${(ns / py).toFixed(2)}x |`);
console.log('');
console.log(`Sender alone (receiver paused during each batch of ${B}); ${BATCHES} batches:`);
console.log('');
const soloPy = median(soloPython);
console.log(`| sender | median per message | vs python |`);
console.log(`|---|---:|---:|`);
console.log(`| notify({ type: "watchdog" }) | ${fmt(median(soloNotify))} | ${(median(soloNotify) / soloPy).toFixed(2)}x |`);
console.log(`| python3 socket.sendto(b"WATCHDOG=1") | ${fmt(soloPy)} | 1.00x |`);
console.log('');
console.log(`rounds (ns/message): notify ${notifyNs.map((x) => x.toFixed(0)).join(' ')}; python ${pythonNs.map((x) => x.toFixed(0)).join(' ')}`);
const ratio = median(notifyNs) / py;
const soloRatio = median(soloNotify) / soloPy;
const verdict = (r: number) => (r <= 1.5 ? `${r.toFixed(2)}x python (target <= 1.5x: met)` : `${r.toFixed(2)}x python (target <= 1.5x: MISSED)`);
console.log(`notify() per message: live receiver ${verdict(ratio)}; sender alone ${verdict(soloRatio)}`);
