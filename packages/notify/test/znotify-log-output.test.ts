// The wrapper's log output never blocks its event loop: a real process logs through createLogger() into a real
// socket (what the journal stream is) or a real pipe whose reader does not read. It must keep running (timers
// fire), hold what it can, drop and count the rest, leave the shared stream blocking for the instance, and say
// how many lines it dropped once the reader reads again.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test, { type TestContext } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { libc } from '../src/libc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const DIST = path.resolve(here, '..', 'dist', 'znotify');

// The logging process. It logs ~1 MB in one go (far more than a socket or pipe buffer plus the wrapper's own
// buffer), then reports over IPC whether its timers still ran, what it dropped, and whether fd 2 (shared
// with the instance in real life) is still a blocking description.
const CHILD = `
import { createLogger } from ${JSON.stringify(pathToFileURL(path.join(DIST, 'log.js')).href)};
import { LogOutput } from ${JSON.stringify(pathToFileURL(path.join(DIST, 'log-output.js')).href)};
import { libc } from ${JSON.stringify(pathToFileURL(path.resolve(DIST, '..', 'libc.js')).href)};
// Unbundled, pino's sonic-boom loads node:assert, which creates process.stderr, and libuv makes that
// description non-blocking (the bundled znotify leaves it alone). Undo that first, so what is checked
// below is what the log output itself does to the description it shares with the instance.
const F_GETFL = 3, F_SETFL = 4, O_NONBLOCK = 0o4000;
libc().fcntl(2, F_SETFL, libc().fcntl(2, F_GETFL) & ~O_NONBLOCK);
const output = new LogOutput({ fd: 2 });
const log = createLogger({ level: 'info', format: 'json', output });
let ticks = 0;
const tick = setInterval(() => { ticks++; }, 10);
for (let i = 0; i < 5000; i++) log.info({ i, pad: 'x'.repeat(150) }, 'line ' + i);
const blockingFd2 = (libc().fcntl(2, F_GETFL) & O_NONBLOCK) === 0;
const t0 = ticks;
setTimeout(() => {
  process.send({ mode: output.mode, dropped: output.dropped, buffered: output.buffered, ticksWhileBlocked: ticks - t0, blockingFd2 });
  // Once the parent reads: wait until everything held went out (the notice of the drops with it), then end.
  process.once('message', () => {
    clearInterval(tick);
    const drained = setInterval(() => { if (output.buffered === 0) { clearInterval(drained); process.disconnect(); } }, 20);
  });
}, 300);
`;

/** Resolves to 'timeout' when p has not settled within ms: a guard against a hang, not a speed measurement. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let h: NodeJS.Timeout | undefined;
  const guard = new Promise<'timeout'>((r) => { h = setTimeout(() => r('timeout'), ms); });
  try { return await Promise.race([p, guard]); } finally { clearTimeout(h); }
}

interface Report { mode: string; dropped: number; buffered: number; ticksWhileBlocked: number; blockingFd2: boolean }

async function runStalled(t: TestContext, stderr: 'pipe' | number, reader: (child: ReturnType<typeof spawn>) => net.Socket): Promise<{ report: Report; text: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'znotify-logout-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'child.mjs');
  fs.writeFileSync(script, CHILD);
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'ignore', stderr, 'ipc'] });
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const report = await within(new Promise<Report>((resolve) => child.once('message', (m) => resolve(m as Report))), 30_000);
  assert.notEqual(report, 'timeout', 'the logging process never reported: its event loop is blocked on its own stderr');
  // Now read: the held lines and the notice about the dropped ones must come out.
  const sock = reader(child);
  let text = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => { text += d; });
  const ended = new Promise<void>((resolve) => sock.once('end', () => resolve()));
  sock.on('error', () => {});
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.send('finish');
  assert.notEqual(await within(Promise.all([exited, ended]), 30_000), 'timeout', 'the child did not finish');
  return { report: report as Report, text };
}

function checkOutcome({ report, text }: { report: Report; text: string }, mode: string): void {
  assert.equal(report.mode, mode);
  assert.ok(report.ticksWhileBlocked > 0, 'timers did not run while stderr was blocked');
  assert.ok(report.dropped > 0, 'nothing was dropped: the buffer is not bounded');
  assert.ok(report.buffered > 0 && report.buffered <= 256 * 1024, `buffered ${report.buffered} bytes`);
  assert.equal(report.blockingFd2, true, 'fd 2 (shared with the instance) was made non-blocking');
  const lines = text.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; i?: number; droppedLines?: number; droppedTotal?: number });
  const notice = lines.find((l) => l.droppedLines !== undefined);
  assert.ok(notice, `no line about the dropped lines: ${JSON.stringify(report)} ${lines.length} lines, last: ${JSON.stringify(lines.slice(-2))}`);
  assert.equal(notice.droppedLines, report.dropped);
  assert.match(notice.msg, new RegExp(`^${report.dropped} log lines dropped while stderr was blocked`));
  // What was written is whole lines in order: the first ones, then a gap, never a torn line.
  const numbers = lines.filter((l) => l.i !== undefined).map((l) => l.i!);
  assert.equal(numbers[0], 0);
  assert.ok(numbers.every((n, k) => k === 0 || n > numbers[k - 1]!));
  assert.equal(numbers.length + report.dropped, 5000);
}

test('stderr a socket nobody reads (the journal stream): the loop runs, lines are held, dropped and counted', async (t) => {
  // spawn()'s 'pipe' is a socketpair; its stderr stream is not read until the reader is asked for.
  const out = await runStalled(t, 'pipe', (child) => child.stderr as net.Socket);
  checkOutcome(out, 'socket');
});

test('stderr a pipe nobody reads: the same, through the wrapper\'s own non-blocking description', async (t) => {
  const fds = new Int32Array(2);
  assert.equal(libc().pipe2(fds, 0o2000000), 0);
  const [readFd, writeFd] = [fds[0]!, fds[1]!];
  let sock: net.Socket | undefined;
  t.after(() => { sock?.destroy(); try { fs.closeSync(writeFd); } catch { /* closed */ } });
  const out = await runStalled(t, writeFd, () => {
    fs.closeSync(writeFd); // only the child holds the write end now, so its exit ends the stream
    sock = new net.Socket({ fd: readFd, readable: true, writable: false });
    return sock;
  });
  checkOutcome(out, 'reopened');
});

test('Node\'s own warnings go through the log, and the wrapper\'s stderr description stays blocking for the instance', async (t) => {
  const cli = path.join(DIST, 'cli.js');
  // A warning emitted once the wrapper runs, as Node would emit one of its own.
  const child = spawn(process.execPath, ['--import', 'data:text/javascript,setTimeout(()=>process.emitWarning("a warning from node"),500)', cli, 'run', '--name', 'c1', '--', '/bin/sleep', '30'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM'); });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const seen = await within(new Promise<void>((resolve) => {
    const poll = setInterval(() => { if (err.includes('a warning from node')) { clearInterval(poll); resolve(); } }, 50);
  }), 20_000);
  assert.notEqual(seen, 'timeout', `no warning line: ${err}`);
  const line = err.split('\n').find((l) => l.includes('a warning from node'))!;
  assert.deepEqual(JSON.parse(line).msg, 'node: a warning from node', line);
  const flags = /^flags:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${child.pid}/fdinfo/2`, 'utf8'))![1]!;
  assert.equal(parseInt(flags, 8) & 0o4000, 0, `fd 2 of the wrapper is O_NONBLOCK (flags ${flags})`);
});
