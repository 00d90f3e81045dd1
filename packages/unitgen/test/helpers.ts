// Shared bits of the unitgen tests.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Address, CheckModel, StackModel } from '../src/index.js';

export const PKG = fileURLToPath(new URL('..', import.meta.url));
export const REPO = fileURLToPath(new URL('../../..', import.meta.url));
export const FIXTURES = join(PKG, 'test', 'fixtures');
export const CLI = join(PKG, 'dist', 'cli.js');

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

export function tempDir(t: { after(fn: () => void): void }, prefix = 'unitgen-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Runs the built CLI (the test command builds first). */
export function zunitgen(args: string[], env: NodeJS.ProcessEnv = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The built wrapper (the test command builds first): what the generated units run. */
export const ZNOTIFY_CLI = join(REPO, 'packages', 'notify', 'dist', 'znotify', 'cli.js');

/** A check as the wrapper reads it (`znotify check --print`: durations in ms, addresses as { host, port }). */
export interface WrapperCheck {
  name: string; type: string; intervalMs: number; timeoutMs: number; failureThreshold: number; successThreshold: number;
  roles: string[]; graceMs: number; address?: { host: string; port: number }; path?: string; host?: string;
  status?: number; text?: string; command?: string[];
}
export interface WrapperConfig {
  name: string;
  checks: WrapperCheck[];
  watchdog: { databaseGraceMs: number; hangTimeoutMs: number; dumpStacks: boolean };
  haproxy?: { statsSocket: string; backend: string; server: string };
}

/**
 * `znotify check --config FILE --print` with the built wrapper: exit 0 and the configuration exactly as the wrapper
 * will run it, or 78 and its errors on stderr. The authority on what a generated config means.
 */
export function znotifyCheck(file: string): { code: number; stderr: string; config?: WrapperConfig } {
  const r = spawnSync(process.execPath, [ZNOTIFY_CLI, 'check', '--config', file, '--print'], { encoding: 'utf8', timeout: 60_000 });
  const code = r.status ?? -1;
  return code === 0 ? { code, stderr: r.stderr, config: JSON.parse(r.stdout) as WrapperConfig } : { code, stderr: `${r.stderr}${r.error ? String(r.error) : ''}` };
}

/**
 * The wrapper read a client's checks and watchdog as the model says: the same checks in the same order, each value
 * zunitgen set equal to the wrapper's (what zunitgen leaves out is the wrapper's default, not asserted here).
 */
export function assertWrapperRead(read: WrapperConfig, m: StackModel, checks: readonly CheckModel[], what: string): void {
  // With `observability:` the wrapper adds plone.observability's three checks after the ones zunitgen wrote.
  const observed = (read as unknown as { observability?: unknown }).observability ? ['startup', 'ready', 'live'] : [];
  assert.deepEqual(read.checks.map((c) => c.name), [...checks.map((c) => c.name), ...observed], `${what}: check names`);
  checks.forEach((c, i) => {
    const r = read.checks[i]!;
    const want: Record<string, unknown> = { type: c.type };
    const got: Record<string, unknown> = { type: r.type };
    const pairs: Array<[unknown, unknown, string]> = [
      [c.address && { host: c.address.host, port: c.address.port }, r.address, 'address'],
      [c.path, r.path, 'path'], [c.host, r.host, 'host'], [c.status, r.status, 'status'], [c.text, r.text, 'text'],
      [c.command, r.command, 'command'], [c.intervalMs, r.intervalMs, 'intervalMs'], [c.timeoutMs, r.timeoutMs, 'timeoutMs'],
      [c.failureThreshold, r.failureThreshold, 'failureThreshold'], [c.successThreshold, r.successThreshold, 'successThreshold'],
      [c.graceMs, r.graceMs, 'graceMs'], [c.roles, r.roles, 'roles'],
      [c.ruokEveryMs, (r as unknown as { ruokEveryMs?: number }).ruokEveryMs, 'ruokEveryMs'],
    ];
    for (const [mine, theirs, k] of pairs) if (mine !== undefined) { want[k] = mine; got[k] = theirs; }
    assert.deepEqual(got, want, `${what}: check ${c.name}`);
  });
  const wd = m.clientWatchdog;
  if (wd.databaseGraceMs !== undefined) assert.equal(read.watchdog.databaseGraceMs, wd.databaseGraceMs, `${what}: database-grace`);
  if (wd.hangTimeoutMs !== undefined) assert.equal(read.watchdog.hangTimeoutMs, wd.hangTimeoutMs, `${what}: hang-timeout`);
  if (wd.dumpStacks !== undefined) assert.equal(read.watchdog.dumpStacks, wd.dumpStacks, `${what}: dump-stacks`);
}

// ------------------------------------------------------------------------------------------- properties

/** fast-check's failure (the counterexample) with the failing assertion's own message: the test reporter does not print `cause`. */
function explained(e: unknown): Error {
  const cause = (e as Error).cause as Error | undefined;
  return new Error(`${(e as Error).message.split('\n').slice(0, 3).join('\n')}\n${cause?.message ?? ''}`, { cause: e });
}

/** Runs fc.assert (sync or async); a failure is rethrown with the failing assertion's message in it. */
export function checkProperty(run: () => void): void;
export function checkProperty(run: () => Promise<void>): Promise<void>;
export function checkProperty(run: () => void | Promise<void>): void | Promise<void> {
  try {
    const r = run();
    return r instanceof Promise ? r.catch((e: unknown) => { throw explained(e); }) : undefined;
  } catch (e) {
    throw explained(e);
  }
}

// ------------------------------------------------------------------------------------------- addresses

/** An IPv6 spelling of 8 groups: some groups zero-padded, the longest zero run (maybe) compressed, maybe upper case. */
export const v6Spelling = (groups: readonly number[]) => fc.record({ pad: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }), compress: fc.boolean(), upper: fc.boolean() })
  .map(({ pad, compress, upper }) => {
    let parts = groups.map((g, i) => (pad[i] ? g.toString(16).padStart(4, '0') : g.toString(16)));
    if (compress) {
      let best = -1, len = 0;
      for (let i = 0; i < 8; i++) { let j = i; while (j < 8 && groups[j] === 0) j++; if (j - i > len) { best = i; len = j - i; } }
      if (len > 0) parts = [`${parts.slice(0, best).join(':')}::${parts.slice(best + len).join(':')}`];
    }
    const t = parts.join(':');
    return upper ? t.toUpperCase() : t;
  });

/** The IPv4 address `v4` mapped into IPv6 and written in groups, bracketed: [::ffff:7f00:1] in any of its spellings. */
export const mappedInGroups = (v4: string) => {
  const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
  return v6Spelling([0, 0, 0, 0, 0, 0xffff, (a << 8) | b, (c << 8) | d]).map((s) => `[${s}]`);
};

/**
 * Binds `srv` to `a` (port included) the way Zope and ZEO bind: alone (exclusive) and, for IPv6, dual-stack. Resolves
 * with undefined once it listens, or with the kernel's refusal (EADDRINUSE, EADDRNOTAVAIL...).
 */
export function listenAt(srv: net.Server, a: Address): Promise<Error | undefined> {
  return new Promise((resolve) => {
    srv.once('error', resolve);
    srv.listen({ host: a.host, port: a.port, exclusive: true, ...(a.family === 6 ? { ipv6Only: false } : {}) }, () => resolve(undefined));
  });
}

/** Closes `srv` if it listens. */
export function closeServer(srv: net.Server): Promise<void> {
  return new Promise((resolve) => { if (srv.listening) srv.close(() => resolve()); else resolve(); });
}
