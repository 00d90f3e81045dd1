// What the benchmark scripts share: their children's environment, readings from /proc, order statistics and
// number formatting. The children themselves are started with startPeer (test/harness/proc.ts), which stops
// them by pid (SIGTERM, then SIGKILL) and SIGKILLs any left over when the benchmark exits.
import fs from 'node:fs';
import { peerEnv, type Peer } from '../test/harness/proc.js';

/**
 * env for a benchmark's children: peerEnv() (no NOTIFY_SOCKET, WATCHDOG_*, LISTEN_*: they are not our service)
 * and also no NODE_EXTRA_CA_CERTS (when set: +45 ms and +1.7 MiB per Node start, docs/dev/FACTS.md) and no
 * NODE_OPTIONS (the caller's shell would put its flags into the processes being measured).
 */
export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out = peerEnv(env);
  delete out.NODE_EXTRA_CA_CERTS;
  delete out.NODE_OPTIONS;
  return out;
}

/** VmRSS and VmHWM (peak RSS) of a running process, KiB, from /proc/PID/status (proc(5)); NaN if absent. */
export function procStatus(pid: number): { rss: number; hwm: number; anon: number; file: number } {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  // RssAnon: anonymous pages (V8's heap, malloc), this process's own; RssFile: file-backed pages (the node binary,
  // libraries), shared with every other process that maps the same files.
  return { rss: kib('VmRSS'), hwm: kib('VmHWM'), anon: kib('RssAnon'), file: kib('RssFile') };
}

/** The end of a peer's output, for an error message (a long run's access log would drown it). */
export function outputTail(peer: Peer, max = 20_000): string {
  return peer.output().slice(-max);
}

/** undefined while the peer runs; once it has exited, an Error "<what> exited <code or signal>[ <when>]:" and the end of its output. */
export function exitedError(peer: Peer, what: string, when?: string): Error | undefined {
  const e = peer.exitInfo;
  return e && new Error(`${what} exited ${e.code ?? e.signal}${when ? ` ${when}` : ''}:\n${outputTail(peer)}`);
}

/** The middle value; for an even count, the mean of the two middle values. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * Nearest-rank percentile, p in 0..100: the smallest value with at least p % of xs at or below it. Note that
 * percentile(xs, 50) is the lower of the two middle values for an even count, where median() averages them.
 */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** KiB (as /proc reports them) to MiB. */
export const mib = (kib: number): number => kib / 1024;
export const f1 = (x: number): string => x.toFixed(1);
export const f2 = (x: number): string => x.toFixed(2);
export const f3 = (x: number): string => x.toFixed(3);
/** One line on stdout. */
export const log = (s: string): void => { process.stdout.write(`${s}\n`); };
