// Long-running peer processes for integration tests (the sample instance, the ZEO stub, haproxy, postgres):
// spawn with output captured, wait for readiness, stop by pid (SIGTERM, then SIGKILL after a delay, as
// execa does) in teardown, also when the test fails. Loopback only; nothing here kills by name.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitForTcp } from './net.js';
import { onProcessEnd } from './teardown.js';

export interface ExitInfo { code: number | null; signal: NodeJS.Signals | null }

export type Readiness =
  | { tcp: number; host?: string }           // something accepts TCP connections on host:port
  | { output: RegExp | string }              // this text appeared on stdout or stderr
  | ((peer: Peer, signal: AbortSignal) => Promise<void>); // anything else; throw (or never resolve) when not ready;
                                             // `signal` aborts when the wait is over (ready, timed out, exited): stop probing

export interface PeerOptions {
  /** Label used in error messages; default: the program's base name. */
  name?: string;
  cwd?: string;
  /** Default: process.env without NOTIFY_SOCKET, WATCHDOG_* and LISTEN_* (a peer is never our service). */
  env?: NodeJS.ProcessEnv;
  /** Run as this user/group (root only); libuv drops supplementary groups. */
  uid?: number;
  gid?: number;
  ready?: Readiness;
  /** How long readiness may take; default 10 000 ms. The peer is stopped and the error carries its output. */
  readyTimeoutMs?: number;
  /** Default SIGTERM. */
  stopSignal?: NodeJS.Signals;
  /** SIGKILL this long after the stop signal; default 5 000 ms. */
  stopTimeoutMs?: number;
  /**
   * Sees each chunk as it arrives (e.g. to timestamp or parse lines while the peer runs); chunks split
   * anywhere, not at line ends. Output is kept for output() either way. Must not throw.
   */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
}

export interface Peer {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** undefined while running. */
  readonly exitInfo: ExitInfo | undefined;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr interleaved in arrival order. */
  output(): string;
  /** Waits until `pattern` matches output().slice(from); returns the match. Rejects on timeout or exit. */
  waitForOutput(pattern: RegExp | string, opts?: { from?: number; timeoutMs?: number }): Promise<RegExpMatchArray>;
  /** process.kill(pid, sig); false when the process is already gone. */
  signal(sig: NodeJS.Signals): boolean;
  /** Stop signal, then SIGKILL after timeoutMs; idempotent; resolves with how it ended. */
  stop(opts?: { signal?: NodeJS.Signals; timeoutMs?: number }): Promise<ExitInfo>;
}

export class PeerError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PeerError';
    this.code = code;
  }
}

/** process.env minus what belongs to our own service manager (sd_notify(3), sd_listen_fds(3)). */
export function peerEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (k === 'NOTIFY_SOCKET' || k.startsWith('WATCHDOG_') || k.startsWith('LISTEN_')) continue;
    out[k] = v;
  }
  return out;
}

function tail(text: string, max = 4000): string {
  return text.length > max ? `...${text.slice(-max)}` : text;
}

function describeExit(e: ExitInfo): string {
  return e.signal ? `killed by ${e.signal}` : `exited with status ${e.code}`;
}

/** Spawns argv[0] with argv[1..]; resolves once ready (if options.ready), else as soon as it is spawned. */
export async function startPeer(argv: readonly string[], options: PeerOptions = {}): Promise<Peer> {
  const [file, ...args] = argv;
  if (!file) throw new PeerError('PEER_ARGV', 'Expected a non-empty argv, got []');
  const name = options.name ?? path.basename(file);
  const stopSignal = options.stopSignal ?? 'SIGTERM';
  const stopTimeoutMs = options.stopTimeoutMs ?? 5_000;
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  if (!(Number.isInteger(readyTimeoutMs) && readyTimeoutMs > 0)) {
    throw new PeerError('PEER_OPTION', `Expected \`readyTimeoutMs\` to be a positive integer, got \`${readyTimeoutMs}\``);
  }

  const child = spawn(file, args, {
    cwd: options.cwd,
    env: options.env ?? peerEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid !== undefined ? { uid: options.uid } : {}),
    ...(options.gid !== undefined ? { gid: options.gid } : {}),
  });
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (err) => resolve(err));
  });
  if (spawned || child.pid === undefined) {
    throw new PeerError('PEER_SPAWN', `${name}: cannot start ${file}: ${spawned?.message ?? 'no pid'}`, { cause: spawned });
  }
  const pid = child.pid;
  // A test file that crashes or is signalled between start and teardown must not leave the peer behind.
  const unregisterPeer = onProcessEnd(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ } });

  let out = '';
  let err = '';
  let all = '';
  const listeners = new Set<() => void>();
  const changed = () => { for (const l of listeners) l(); };
  const { onOutput } = options;
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s; all += s; onOutput?.(s, 'stdout'); changed(); });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; all += s; onOutput?.(s, 'stderr'); changed(); });

  let exitInfo: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    // Prefer 'close' (all output read); but a grandchild that inherited our pipes could hold them open
    // after the peer itself has gone, so 'exit' settles it at most 500 ms later.
    let closed = false;
    const settle = (code: number | null, signal: NodeJS.Signals | null) => {
      if (exitInfo) return;
      exitInfo = { code, signal };
      unregisterPeer();
      changed();
      resolve(exitInfo);
    };
    child.once('close', (code, signal) => { closed = true; settle(code, signal); });
    child.once('exit', (code, signal) => {
      setTimeout(() => { if (!closed) settle(code, signal); }, 500).unref();
    });
  });

  let stopping: Promise<ExitInfo> | undefined;
  const peer: Peer = {
    name,
    pid,
    child,
    exited,
    get exitInfo() { return exitInfo; },
    stdout: () => out,
    stderr: () => err,
    output: () => all,
    signal(sig) {
      if (exitInfo) return false;
      try { process.kill(pid, sig); return true; } catch { return false; }
    },
    waitForOutput(pattern, opts = {}) {
      const from = opts.from ?? 0;
      const timeoutMs = opts.timeoutMs ?? 10_000;
      const re = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern;
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = all.slice(from).match(re);
          if (m) { done(); resolve(m); return; }
          if (exitInfo) {
            done();
            reject(new PeerError('PEER_EXITED', `${name} ${describeExit(exitInfo)} before printing ${re}; output:\n${tail(all)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new PeerError('PEER_TIMEOUT', `${name} did not print ${re} within ${timeoutMs} ms; output:\n${tail(all)}`));
        }, timeoutMs);
        const done = () => { clearTimeout(timer); listeners.delete(check); };
        listeners.add(check);
        check();
      });
    },
    stop(opts = {}) {
      if (exitInfo) return Promise.resolve(exitInfo);
      stopping ??= (async () => {
        const timeoutMs = opts.timeoutMs ?? stopTimeoutMs;
        peer.signal(opts.signal ?? stopSignal);
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), timeoutMs); });
        const first = await Promise.race([exited, late]);
        clearTimeout(timer);
        if (first === 'late') {
          peer.signal('SIGKILL');
          return await exited;
        }
        return first;
      })();
      return stopping;
    },
  };

  if (options.ready) {
    try {
      await waitReady(peer, options.ready, readyTimeoutMs);
    } catch (e) {
      // An exit is the clearest reason, whichever probe noticed it first.
      const exitedEarly = peer.exitInfo;
      await peer.stop({ timeoutMs: 2_000 });
      const why = exitedEarly ? describeExit(exitedEarly) : e instanceof Error ? e.message : String(e);
      throw new PeerError('PEER_NOT_READY', `${name} (pid ${pid}) not ready: ${why}\noutput:\n${tail(all)}`, { cause: e });
    }
  }
  return peer;
}

async function waitReady(peer: Peer, ready: Readiness, timeoutMs: number): Promise<void> {
  const exitedEarly = peer.exited.then((e) => { throw new Error(describeExit(e)); });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  const over = new AbortController();
  let probe: Promise<unknown>;
  if (typeof ready === 'function') probe = ready(peer, over.signal);
  else if ('tcp' in ready) probe = waitForTcp(ready.tcp, ready.host ?? '127.0.0.1', timeoutMs);
  else probe = peer.waitForOutput(ready.output, { timeoutMs });
  probe.catch(() => {});  // the race below reports; avoid an unhandled rejection from the loser
  exitedEarly.catch(() => {});
  try {
    await Promise.race([probe, exitedEarly, timeout]);
  } finally {
    clearTimeout(timer);
    over.abort();
  }
}

/** startPeer + t.after(stop): the peer is stopped when the test ends, passed or failed. */
export async function usePeer(t: TestContext, argv: readonly string[], options: PeerOptions = {}): Promise<Peer> {
  const peer = await startPeer(argv, options);
  t.after(async () => { await peer.stop(); });
  return peer;
}

// ------------------------------------------------------------------------------------------------
// The sample instance and the ZEO stub (sample/): argv builders and starters for other tests.

/** Debian's interpreter: it has python3-waitress; the pyenv `python3` on PATH does not. */
export const SAMPLE_PYTHON = '/usr/bin/python3';
/** The repository root on the host. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Why the sample instance cannot run here, or undefined. */
export function sampleSkipReason(): string | undefined {
  if (!existsSync(SAMPLE_PYTHON)) return `${SAMPLE_PYTHON} is missing (install python3-waitress)`;
  const r = spawnSync(SAMPLE_PYTHON, ['-c', 'import waitress'], { encoding: 'utf8' });
  if (r.status !== 0) return `waitress is not importable by ${SAMPLE_PYTHON} (apt-get install python3-waitress)`;
  return undefined;
}

export interface InstanceArgs {
  port: number;
  host?: string;            // default 127.0.0.1
  threads?: number;         // default 1
  warmupSeconds?: number;   // default 0
  zeo?: string;             // HOST:PORT
  observabilityPort?: number; // /startup, /ready, /live on their own port, like plone.observability
  /** --graceful-sigterm (not Zope 5): SIGTERM lets requests whose clients wait finish, then exit 0; and its bound (s). */
  gracefulSigterm?: boolean;
  gracefulTimeout?: number;
  /** Where the repository is, as the process will see it (e.g. box.repo inside a systemd box). */
  repo?: string;
}

/** argv for sample/instance.py (starts with SAMPLE_PYTHON), e.g. for an ExecStart= line. */
export function instanceArgv(a: InstanceArgs): string[] {
  const argv = [SAMPLE_PYTHON, path.join(a.repo ?? REPO_ROOT, 'sample', 'instance.py'),
    '--host', a.host ?? '127.0.0.1', '--port', String(a.port)];
  if (a.threads !== undefined) argv.push('--threads', String(a.threads));
  if (a.warmupSeconds !== undefined) argv.push('--warmup-seconds', String(a.warmupSeconds));
  if (a.zeo !== undefined) argv.push('--zeo', a.zeo);
  if (a.observabilityPort !== undefined) argv.push('--observability-port', String(a.observabilityPort));
  if (a.gracefulSigterm) argv.push('--graceful-sigterm');
  if (a.gracefulTimeout !== undefined) argv.push('--graceful-timeout', String(a.gracefulTimeout));
  return argv;
}

/** argv for sample/zeo_server.py. */
export function zeoServerArgv(a: { port: number; host?: string; storage?: string; repo?: string }): string[] {
  const argv = [SAMPLE_PYTHON, path.join(a.repo ?? REPO_ROOT, 'sample', 'zeo_server.py'),
    '--host', a.host ?? '127.0.0.1', '--port', String(a.port)];
  if (a.storage !== undefined) argv.push('--storage', a.storage);
  return argv;
}

/** Starts sample/instance.py on the host; ready once its startup line is printed and the port accepts. */
export async function startInstance(a: InstanceArgs, options: PeerOptions = {}): Promise<Peer> {
  const host = a.host ?? '127.0.0.1';
  return await startPeer(instanceArgv(a), {
    name: `instance:${a.port}`,
    ready: async (p) => {
      await p.waitForOutput(/instance: serving on /, { timeoutMs: 10_000 });
      await waitForTcp(a.port, host);
    },
    ...options,
  });
}

/** Starts sample/zeo_server.py on the host; ready once it listens. */
export async function startZeoServer(a: { port: number; host?: string; storage?: string }, options: PeerOptions = {}): Promise<Peer> {
  return await startPeer(zeoServerArgv(a), {
    name: `zeo:${a.port}`,
    ready: { output: /zeo_server: listening on / },
    ...options,
  });
}
