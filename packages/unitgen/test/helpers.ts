// Shared bits of the unitgen tests.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
