// One function per check type. Each runs once, honours an AbortSignal and its own timeout, never throws, and
// returns a CheckResult that says what the peer answered, in words fit for STATUS=, the agent's `#reason`
// and the journal.
import { ZnotifyError } from './errors.js';
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import type { Address } from './address.js';
import { formatAddress } from './address.js';
import type { CheckSpec, ZeoCheckSpec } from './config.js';
import { redact } from './log.js';
import { formatDuration } from './duration.js';
import { OneInFlight } from './one-in-flight.js';

export interface CheckResult {
  ok: boolean;
  /** The check did not finish within its timeout. */
  timedOut: boolean;
  /** For http checks that timed out: a fresh TCP connection to the same address was accepted. */
  tcpConnects?: boolean;
  /** For http requests that timed out after being sent: the request stays open, the instance is still answering it. */
  kept?: boolean;
  /** What happened, short: "200 in 12 ms", "connection refused", "timed out after 2.0 s". */
  detail: string;
  durationMs: number;
  /** Type-specific facts (HTTP status, ZEO storages, ...), for /health and logs. */
  info?: Record<string, unknown>;
}

export interface HttpRequestSpec {
  path: string;
  host?: string;
  status: number;
  text?: string;
  timeoutMs: number;
}

function describeError(err: unknown, timeoutMs: number): { detail: string; timedOut: boolean } {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string } };
  if (e?.name === 'TimeoutError' || e?.code === 'ETIMEDOUT') {
    return { detail: `timed out after ${formatDuration(timeoutMs)}`, timedOut: true };
  }
  const code = e?.code ?? e?.cause?.code;
  switch (code) {
    case 'ECONNREFUSED': return { detail: 'connection refused', timedOut: false };
    case 'ECONNRESET': case 'EPIPE': return { detail: 'connection reset', timedOut: false };
    case 'EHOSTUNREACH': return { detail: 'host unreachable', timedOut: false };
    case 'ENOTFOUND': case 'EAI_AGAIN': return { detail: 'host name not found', timedOut: false };
    default: return { detail: `${code ? `${code}: ` : ''}${e?.message ?? String(err)}`, timedOut: false };
  }
}

const MAX_BODY = 4 * 1024 * 1024;
/** A connection attempt that takes longer than this fails (not "timed out": the peer is not busy, it is unreachable). */
const CONNECT_TIMEOUT_MS = 10_000;

class ConnectTimeoutError extends ZnotifyError {
  constructor() { super('ERR_ZNOTIFY_CONNECT_TIMEOUT', `no TCP connection within ${formatDuration(CONNECT_TIMEOUT_MS)}`); }
}

/**
 * HTTP GETs against one origin (the instance) over node:http with one keep-alive Agent: connections are
 * reused between checks and warm-up requests. At most one request is inside the instance at a time, checks and
 * warm-up alike (one-in-flight.ts): one that times out is kept until the instance answers it, and a later one
 * waits for it within its own timeout or times out without being sent. Only a cancelled request (`signal`) is
 * abandoned, with a TCP reset. node:http, not undici: the wrapper is resident next to every instance, and
 * undici's module graph alone costs ~20 MiB of RSS, more than the wrapper's whole budget above bare Node
 * (docs/benchmarks/znotify-memory.md). Timeouts and cancellation use one plain timer and one listener per request,
 * both removed when it ends (no AbortSignal.timeout/any, whose signals stay linked to a long-lived parent signal
 * until it aborts).
 */
export class HttpProber {
  private readonly agent: http.Agent;
  private readonly inFlight = new OneInFlight();
  readonly origin: string;
  constructor(readonly address: Address) {
    this.origin = `http://${formatAddress(address)}`;
    // A Zope instance often has one worker thread: more than a couple of connections only queue inside it.
    // Idle connections close after 4 s (`timeout` applies to free sockets of a keep-alive Agent).
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 4, maxFreeSockets: 4, timeout: 4000, scheduling: 'lifo' });
  }

  /** The request the instance has not answered yet (one that timed out and is kept), and for how long. */
  unanswered(): { what: string; forMs: number } | undefined {
    const h = this.inFlight.held;
    return h && { what: h.what, forMs: performance.now() - h.since };
  }

  /**
   * One GET, at most one at a time into the instance. One that times out stays open until the instance answers it
   * or the connection ends (a one-thread Zope would only queue a new one behind it, and a closed connection does not
   * take its task out of waitress's queue); its result says `kept`. Until then a later GET waits within its own
   * timeout and, if the earlier one is still unanswered, reports a timeout without sending anything. Cancelled
   * (`signal` aborts, also while kept): the request is reset.
   */
  async get(req: HttpRequestSpec, signal?: AbortSignal): Promise<CheckResult> {
    const t0 = performance.now();
    if (signal?.aborted) return { ok: false, timedOut: false, detail: 'cancelled', durationMs: 0 };
    const waitingOn = this.inFlight.held;
    const release = await this.inFlight.acquire(`GET ${req.path}`, req.timeoutMs, signal);
    const ms = performance.now() - t0;
    if (!release) {
      if (signal?.aborted) return { ok: false, timedOut: false, detail: 'cancelled', durationMs: ms };
      const unanswered = waitingOn ? `, ${waitingOn.what} sent ${formatDuration(performance.now() - waitingOn.since)} ago still unanswered` : '';
      return { ok: false, timedOut: true, detail: `timed out after ${formatDuration(req.timeoutMs)}${unanswered} (none sent)`, durationMs: ms };
    }
    try {
      // Timed from t0: the wait for the gate counts against the timeout.
      const sent = await this.send(req, t0, signal);
      void sent.ended.then(release);
      return sent.result;
    } catch (err) {
      release();
      throw err;
    }
  }

  /**
   * Sends the GET, again on a fresh connection when a kept-alive one turns out stale. A request that times out is
   * left open; `ended` resolves once the last request sent has ended (answered, failed or destroyed).
   */
  private async send(req: HttpRequestSpec, t0: number, signal?: AbortSignal): Promise<{ result: CheckResult; ended: Promise<void> }> {
    let r = await this.once(req, t0, signal);
    // A keep-alive connection the instance closed while it sat idle fails on its first use, before any answer:
    // the GET goes out again, as an HTTP client may for an idempotent request (RFC 9110, 9.2.2). Each stale
    // connection is gone after its failure, so this ends (at the latest on a fresh connection).
    for (let i = 0; r.retry && i < 5; i++) r = await this.once(req, t0, signal);
    return r;
  }

  private once(req: HttpRequestSpec, t0: number, signal?: AbortSignal): Promise<{ result: CheckResult; ended: Promise<void>; retry?: boolean }> {
    return new Promise((resolve) => {
      let settled = false;
      let timedOut = false;
      let cancelled = false;
      let responded = false;
      const headers: Record<string, string> = { 'user-agent': 'znotify', accept: '*/*' };
      if (req.host) headers.host = req.host;
      const cr = http.request({ host: this.address.host, port: this.address.port, path: req.path, method: 'GET', headers, agent: this.agent });
      // 'close': answered and read, failed, or destroyed (node:http emits it once in every case).
      // A kept request listens for `signal` until then.
      const ended = new Promise<void>((resolveEnded) => cr.once('close', () => { signal?.removeEventListener('abort', onAbort); resolveEnded(); }));
      const finish = (result: CheckResult, retry = false) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(connectTimer);
        if (!timedOut) signal?.removeEventListener('abort', onAbort);
        resolve({ result, ended, retry });
      };
      const fail = (err: unknown) => {
        const ms = performance.now() - t0;
        if (cancelled || signal?.aborted) { finish({ ok: false, timedOut: false, detail: 'cancelled', durationMs: ms }); return; }
        if (timedOut) { finish({ ok: false, timedOut: true, kept: true, detail: `timed out after ${formatDuration(req.timeoutMs)}`, durationMs: ms }); return; }
        const code = (err as { code?: string })?.code;
        if (!responded && cr.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE')) { finish({ ok: false, timedOut: false, detail: '', durationMs: ms }, true); return; }
        finish({ ok: false, ...describeError(err, req.timeoutMs), durationMs: ms });
      };
      // Timed out: left to be answered; read then like any answer, so that its connection is reused, and cancelled
      // with the rest by `signal`.
      const timer = setTimeout(() => { timedOut = true; fail(undefined); }, Math.max(1, Math.ceil(req.timeoutMs - (performance.now() - t0))));
      let connectTimer: NodeJS.Timeout | undefined;
      // Cancelled (a stop, e.g. during warm-up): reset the connection rather than close it. A server busy with
      // the request does not read, so it never sees a FIN; a reset it sees at once (poll reports it), and an
      // instance that lets its requests finish before it stops then does not wait for one nobody wants.
      const onAbort = () => { cancelled = true; resetConnection(cr); fail(undefined); };
      signal?.addEventListener('abort', onAbort, { once: true });
      cr.once('socket', (sock) => {
        if (!sock.connecting) return;
        connectTimer = setTimeout(() => cr.destroy(new ConnectTimeoutError()), CONNECT_TIMEOUT_MS);
        sock.once('connect', () => clearTimeout(connectTimer));
      });
      cr.on('error', fail);
      cr.once('response', (res) => {
        responded = true;
        res.on('error', fail);
        const status = res.statusCode ?? 0;
        let body = '';
        let size = 0;
        let found: boolean | undefined;
        if (req.text !== undefined) res.setEncoding('utf8');
        res.on('data', (chunk: string | Buffer) => {
          size += chunk.length;
          if (req.text !== undefined) {
            body += chunk as string;
            if (body.includes(req.text)) { found = true; res.destroy(); done(); return; }
          }
          // Too big to read on: drop the connection rather than drain it.
          if (size > MAX_BODY) { res.destroy(); done(); }
        });
        res.once('end', () => done());
        // The connection closed in the middle of the body (node:http also reports this as an ECONNRESET error).
        res.once('close', () => { if (!res.complete) fail(Object.assign(new Error('connection closed before the end of the body'), { code: 'ECONNRESET' })); });
        const done = () => {
          if (settled) return;
          if (req.text !== undefined) found ??= body.includes(req.text);
          const ms = performance.now() - t0;
          const statusOk = status === req.status;
          const ok = statusOk && found !== false;
          let detail = `${status} in ${formatDuration(ms)}`;
          if (!statusOk) detail = `${status} (expected ${req.status}) in ${formatDuration(ms)}`;
          else if (found === false) detail = `${status} without ${JSON.stringify(req.text)} in ${formatDuration(ms)}`;
          finish({ ok, timedOut: false, detail, durationMs: ms, info: { status } });
        };
      });
      cr.end();
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}

/** Ends a request's connection with a TCP reset (RST) instead of a FIN; a request without a socket is just destroyed. */
function resetConnection(cr: http.ClientRequest): void {
  const sock = cr.socket;
  if (sock && !sock.destroyed) {
    try { sock.resetAndDestroy(); } catch { /* not a TCP socket: the plain destroy below */ }
  }
  cr.destroy();
}

/** Opens one TCP connection and closes it. */
export async function tcpCheck(address: Address, timeoutMs: number, signal?: AbortSignal): Promise<CheckResult> {
  const t0 = performance.now();
  return await withSocket(address, timeoutMs, signal, (sock, done) => {
    sock.once('connect', () => done({ ok: true, timedOut: false, detail: `connected in ${formatDuration(performance.now() - t0)}`, durationMs: performance.now() - t0 }));
  });
}

type Done = (r: Omit<CheckResult, 'durationMs'> & { durationMs?: number }) => void;

/** Runs `body` on a fresh connection; guarantees one result, socket destroyed, timers cleared. */
function withSocket(address: Address, timeoutMs: number, signal: AbortSignal | undefined,
  body: (sock: net.Socket, done: Done) => void): Promise<CheckResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    if (signal?.aborted) { resolve({ ok: false, timedOut: false, detail: 'cancelled', durationMs: 0 }); return; }
    const sock = net.connect({ host: address.host, port: address.port });
    let settled = false;
    const done: Done = (r) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      resolve({ ...r, durationMs: r.durationMs ?? performance.now() - t0 });
    };
    const timer = setTimeout(() => done({ ok: false, timedOut: true, detail: `timed out after ${formatDuration(timeoutMs)}` }), timeoutMs);
    const onAbort = () => done({ ok: false, timedOut: false, detail: 'cancelled' });
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.once('error', (err) => done({ ok: false, ...describeError(err, timeoutMs) }));
    sock.once('close', () => done({ ok: false, timedOut: false, detail: 'connection closed early' }));
    body(sock, done);
  });
}

/** Reads ZEO-framed messages (4-byte big-endian length, then the payload) from a byte stream. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly max = 1 << 20) {}
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Buffer[] = [];
    while (this.buf.length >= 4) {
      const n = this.buf.readUInt32BE(0);
      if (n > this.max) throw new Error(`frame of ${n} bytes exceeds ${this.max}`);
      if (this.buf.length < 4 + n) break;
      out.push(this.buf.subarray(4, 4 + n));
      this.buf = this.buf.subarray(4 + n);
    }
    return out;
  }
}

export function frame(payload: string | Buffer): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const h = Buffer.alloc(4);
  h.writeUInt32BE(p.length, 0);
  return Buffer.concat([h, p]);
}

/**
 * ZEO's own health probe (ZEO/asyncio/server.py): the server greets with its protocol version ('Z5', 'M5',
 * 'Z4', 'Z3101'); a client that answers `ruok` instead of a version gets one framed JSON object (one entry
 * per storage) and the connection closes. Servers older than protocol 5 do not know `ruok`: for them the
 * greeting alone has to do.
 */
export async function zeoCheck(address: Address, timeoutMs: number, signal?: AbortSignal): Promise<CheckResult> {
  const t0 = performance.now();
  return await withSocket(address, timeoutMs, signal, (sock, done) => {
    const reader = new FrameReader();
    let greeting: string | undefined;
    sock.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try { frames = reader.push(chunk); } catch (err) { done({ ok: false, timedOut: false, detail: `not a ZEO server: ${(err as Error).message}` }); return; }
      for (const f of frames) {
        if (greeting === undefined) {
          greeting = f.toString('latin1');
          const m = /^([ZM])(\d+)$/.exec(greeting);
          if (!m) { done({ ok: false, timedOut: false, detail: `not a ZEO server: greeting ${JSON.stringify(greeting.slice(0, 40))}` }); return; }
          const ver = m[2]!;
          // 'Z3101', 'Z309' (ZEO 3), 'Z4' (ZEO 4): before asyncio's ruok.
          if (ver.length > 2 || Number(ver) < 5) {
            done({ ok: true, timedOut: false, detail: `ZEO ${greeting} greeted in ${formatDuration(performance.now() - t0)} (no ruok before protocol 5)`, info: { greeting } });
            return;
          }
          sock.write(frame('ruok'));
          continue;
        }
        let status: unknown;
        try { status = JSON.parse(f.toString('utf8')); } catch {
          done({ ok: false, timedOut: false, detail: `ZEO ${greeting}: ruok reply is not JSON` }); return;
        }
        if (!status || typeof status !== 'object' || Array.isArray(status)) {
          done({ ok: false, timedOut: false, detail: `ZEO ${greeting}: ruok reply is not an object` }); return;
        }
        const storages = Object.keys(status);
        done({
          ok: true, timedOut: false,
          detail: `ZEO ${greeting} ruok: ${storages.length} storage${storages.length === 1 ? '' : 's'} in ${formatDuration(performance.now() - t0)}`,
          info: { greeting, storages: status },
        });
        return;
      }
    });
    sock.once('end', () => done({ ok: false, timedOut: false, detail: greeting === undefined ? 'closed before the ZEO greeting' : `ZEO ${greeting}: closed without a ruok reply` }));
  });
}

/**
 * A ZEO check that respects the server's log. ZEO logs every connection it accepts, so a `ruok` on a new
 * connection every few seconds fills its log (3 clients every 5 s: 52,000 records a day). Instead this keeps ONE
 * connection open after reading the greeting, without answering it (a ZEO server waits for the handshake
 * without a time limit), and a run passes while that connection stays open: a server that exits or restarts
 * closes it, and the next run reconnects (a fresh greeting proves the new server answers) or fails. A full
 * `ruok` on a connection of its own, which also catches a server that is alive but stuck, runs at most every
 * `ruok-every` (and on the first run, and after a failed one). Cost per client: one record per `ruok-every`
 * plus one per server restart. `ruok-every: 0` is the plain check: a `ruok` connection every run.
 */
export class ZeoKeeper {
  private sock: net.Socket | undefined;
  private greeting: string | undefined;
  private since = 0;
  private lastRuok = -Infinity;

  constructor(readonly address: Address, readonly ruokEveryMs: number) {}

  async run(timeoutMs: number, signal?: AbortSignal): Promise<CheckResult> {
    const t0 = performance.now();
    if (this.ruokEveryMs === 0 || t0 - this.lastRuok >= this.ruokEveryMs) {
      const r = await zeoCheck(this.address, timeoutMs, signal);
      this.lastRuok = r.ok ? performance.now() : -Infinity;
      if (!r.ok) this.drop();
      return r;
    }
    if (this.sock) {
      return { ok: true, timedOut: false, detail: `ZEO ${this.greeting}: connection open for ${formatDuration(t0 - this.since)}`, durationMs: performance.now() - t0, info: { greeting: this.greeting } };
    }
    const r = await this.open(timeoutMs, signal);
    if (!r.ok) this.lastRuok = -Infinity; // once the server is back, the first run asks it properly
    return r;
  }

  /** Opens the kept connection and reads the greeting; the result says whether the server answered. */
  private open(timeoutMs: number, signal?: AbortSignal): Promise<CheckResult> {
    const t0 = performance.now();
    return new Promise((resolve) => {
      if (signal?.aborted) { resolve({ ok: false, timedOut: false, detail: 'cancelled', durationMs: 0 }); return; }
      const sock = net.connect({ host: this.address.host, port: this.address.port });
      const reader = new FrameReader();
      let settled = false;
      const finish = (r: Omit<CheckResult, 'durationMs'>, keep: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (keep) {
          this.sock = sock;
          this.since = performance.now();
          sock.removeAllListeners('data');
          sock.on('data', () => { /* nothing more is expected before our handshake */ });
        } else sock.destroy();
        resolve({ ...r, durationMs: performance.now() - t0 });
      };
      const timer = setTimeout(() => finish({ ok: false, timedOut: true, detail: `timed out after ${formatDuration(timeoutMs)}` }, false), timeoutMs);
      const onAbort = () => finish({ ok: false, timedOut: false, detail: 'cancelled' }, false);
      signal?.addEventListener('abort', onAbort, { once: true });
      // A silently vanished peer (another host's power cut) is found by TCP keepalive, not only by the next ruok.
      sock.setKeepAlive(true, 10_000);
      const lost = () => { if (this.sock === sock) this.drop(); };
      sock.on('error', (err) => { lost(); finish({ ok: false, ...describeError(err, timeoutMs) }, false); });
      sock.on('close', () => { lost(); finish({ ok: false, timedOut: false, detail: 'closed before the ZEO greeting' }, false); });
      sock.on('data', (chunk: Buffer) => {
        let frames: Buffer[];
        try { frames = reader.push(chunk); } catch (err) { finish({ ok: false, timedOut: false, detail: `not a ZEO server: ${(err as Error).message}` }, false); return; }
        const f = frames[0];
        if (!f) return;
        const greeting = f.toString('latin1');
        if (!/^[ZM]\d+$/.test(greeting)) { finish({ ok: false, timedOut: false, detail: `not a ZEO server: greeting ${JSON.stringify(greeting.slice(0, 40))}` }, false); return; }
        this.greeting = greeting;
        finish({ ok: true, timedOut: false, detail: `ZEO ${greeting} greeted in ${formatDuration(performance.now() - t0)}, connection kept`, info: { greeting } }, true);
      });
    });
  }

  private drop(): void {
    this.sock?.destroy();
    this.sock = undefined;
  }

  close(): void {
    this.drop();
  }
}

// SSLRequest: int32 length 8, int32 code 80877103 (PostgreSQL protocol, "Message Formats").
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/**
 * The postmaster answers an SSLRequest with one byte, 'S' or 'N', before any authentication: proof that it
 * accepts connections, without a user, a database or a log line for a refused login.
 */
export async function postgresCheck(address: Address, timeoutMs: number, signal?: AbortSignal): Promise<CheckResult> {
  const t0 = performance.now();
  return await withSocket(address, timeoutMs, signal, (sock, done) => {
    sock.once('connect', () => sock.write(SSL_REQUEST));
    sock.once('data', (chunk: Buffer) => {
      const c = String.fromCharCode(chunk[0]!);
      const ms = performance.now() - t0;
      // The answer is exactly one byte, after which the server waits for us (TLS or a startup packet).
      if ((c === 'S' || c === 'N') && chunk.length === 1) done({ ok: true, timedOut: false, detail: `SSLRequest answered '${c}' in ${formatDuration(ms)}`, info: { ssl: c === 'S' } });
      else if (c === 'E') done({ ok: false, timedOut: false, detail: `server answered the SSLRequest with an error: ${chunk.subarray(1).toString('utf8').replace(/[\0\n]+/g, ' ').trim().slice(0, 120)}` });
      else done({ ok: false, timedOut: false, detail: `not a PostgreSQL server: answered ${JSON.stringify(chunk.subarray(0, 16).toString('latin1'))}` });
    });
  });
}

/** How long a command check waits, after the command exited, for the rest of its output. */
const OUTPUT_GRACE_MS = 200;

/**
 * Runs a command; exit 0 passes. The command runs in a process group of its own. The result is decided when
 * the command itself exits (or its timeout kills the group), not when its output pipes close: a process it left
 * running in another session (a daemon, `setsid ...&`) could hold them open for ever, and the probe would never
 * run again. Whatever it left in its own group is killed with it (SIGKILL), as systemd would.
 */
export async function commandCheck(argv: readonly string[], timeoutMs: number, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<CheckResult> {
  const t0 = performance.now();
  return await new Promise((resolve) => {
    if (signal?.aborted) { resolve({ ok: false, timedOut: false, detail: 'cancelled', durationMs: 0 }); return; }
    let out = '';
    let timedOut = false;
    let cancelled = false;
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
    const keep = (b: Buffer) => { out = (out + b.toString('utf8')).slice(-400); };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const killGroup = () => {
      try { if (child.pid) process.kill(-child.pid, 'SIGKILL'); } catch { /* the group is gone */ }
    };
    const kill = () => { killGroup(); if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); };
    let exited: { code: number | null; sig: NodeJS.Signals | null } | undefined;
    let grace: NodeJS.Timeout | undefined;
    // The timeout kills the group; the result follows from 'exit' (or, should even that not come, 1 s later).
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
      grace = setTimeout(() => finish(exited?.code ?? null, exited?.sig ?? 'SIGKILL'), 1000);
    }, timeoutMs);
    const onAbort = () => { cancelled = true; kill(); finish(null, null); };
    signal?.addEventListener('abort', onAbort, { once: true });
    let spawnError: Error | undefined;
    let finished = false;
    // A command that cannot be spawned emits 'error' and no 'exit'.
    child.once('error', (err) => { spawnError = err; if (child.pid === undefined) finish(null, null); });
    child.once('exit', (code, sig) => {
      exited = { code, sig };
      killGroup();
      if (!timedOut) clearTimeout(timer);
      clearTimeout(grace);
      grace = setTimeout(() => finish(code, sig), OUTPUT_GRACE_MS);
    });
    child.once('close', (code: number | null, sig: NodeJS.Signals | null) => finish(exited?.code ?? code, exited?.sig ?? sig));
    function finish(code: number | null, sig: NodeJS.Signals | null): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearTimeout(grace);
      signal?.removeEventListener('abort', onAbort);
      // Our ends of the pipes: closed now, whoever else still holds theirs.
      child.stdout?.destroy();
      child.stderr?.destroy();
      const ms = performance.now() - t0;
      const last = out.trim().split('\n').pop()?.slice(0, 200);
      const tail = last ? `: ${last}` : '';
      if (cancelled) resolve({ ok: false, timedOut: false, detail: 'cancelled', durationMs: ms });
      else if (spawnError) resolve({ ok: false, timedOut: false, detail: `cannot run ${argv[0]}: ${(spawnError as NodeJS.ErrnoException).code ?? spawnError.message}`, durationMs: ms });
      else if (timedOut) resolve({ ok: false, timedOut: true, detail: `timed out after ${formatDuration(timeoutMs)}, killed`, durationMs: ms });
      else if (code === 0) resolve({ ok: true, timedOut: false, detail: `exit 0 in ${formatDuration(ms)}`, durationMs: ms });
      else resolve({ ok: false, timedOut: false, detail: `${code !== null ? `exit ${code}` : `killed by ${sig}`}${tail}`, durationMs: ms, info: { exitCode: code, signal: sig } });
    }
  });
}

/** What a check needs from its surroundings: the shared HTTP prober and the child's environment. */
export interface CheckDeps {
  http(address: Address): HttpProber;
  /** The kept connection of one zeo check (one per check, not per address: each has its own ruok-every). */
  zeo?(spec: ZeoCheckSpec): ZeoKeeper;
  env: NodeJS.ProcessEnv;
}

/**
 * Runs one check of any type once. For http checks that time out, also tries a bare TCP connect (busy vs hung).
 * The detail is redacted (log.ts): it reaches the agent's reason, /health, STATUS= and the logs, and can quote a
 * command's output or a server's error text.
 */
export async function runCheck(spec: CheckSpec, deps: CheckDeps, signal?: AbortSignal): Promise<CheckResult> {
  const r = await runCheckOnce(spec, deps, signal);
  r.detail = redact(r.detail);
  return r;
}

async function runCheckOnce(spec: CheckSpec, deps: CheckDeps, signal?: AbortSignal): Promise<CheckResult> {
  switch (spec.type) {
    case 'http': {
      const r = await deps.http(spec.address).get({ path: spec.path, status: spec.status, timeoutMs: spec.timeoutMs,
        ...(spec.host ? { host: spec.host } : {}), ...(spec.text !== undefined ? { text: spec.text } : {}) }, signal);
      if (r.timedOut) {
        const tcp = await tcpCheck(spec.address, spec.timeoutMs, signal);
        r.tcpConnects = tcp.ok;
      }
      return r;
    }
    case 'tcp': return await tcpCheck(spec.address, spec.timeoutMs, signal);
    case 'zeo': return deps.zeo ? await deps.zeo(spec).run(spec.timeoutMs, signal) : await zeoCheck(spec.address, spec.timeoutMs, signal);
    case 'postgresql': return await postgresCheck(spec.address, spec.timeoutMs, signal);
    case 'command': return await commandCheck(spec.command, spec.timeoutMs, deps.env, signal);
  }
}
