// `zunitgen deploy`: installs each host's unit set on that host over ssh, in two phases so that a failure on one
// host leaves every host untouched:
//   1. plan: every host (in parallel) receives its set and answers what installing it would change (install-set
//      without --apply): unreachable hosts, ssh refusals, files in the way and bind addresses the host does not
//      have all show here, and then nothing is installed anywhere;
//   2. apply: every host with changes installs its set atomically (io.ts: temporary files renamed into place, the
//      manifest last, only the stack's own files) and runs `systemctl daemon-reload`.
// A host failing between its own plan and apply (it went away in that second) is reported as such; the hosts
// already done keep the new set (there is no transaction across machines).
//
// ssh is whatever `ssh` PATH finds (as for `systemctl -H`), with the host's ssh-options as `-o Key=Value`, then
// BatchMode=yes (never a password prompt) and a connect timeout. The remote command is the stack's `zunitgen:`
// argv, each word shell-quoted: nothing from the config reaches the remote shell unquoted.

import { spawn } from 'node:child_process';
import type { HostModel, StackModel } from './model.js';
import type { HostSet, HostSetResult } from './install-set.js';
import type { GeneratedFile } from './render.js';

export interface DeployOptions {
  /** Where the sets live on the hosts (default /etc/systemd/system). */
  hostDir: string;
  dryRun?: boolean;
  force?: boolean;
  /** ssh executable (default: `ssh` from PATH). */
  ssh?: string;
  env?: NodeJS.ProcessEnv;
  /** Per ssh call; default 120 s. */
  timeoutMs?: number;
  /** Called as each host answers, for live progress. */
  onHost?(o: HostOutcome, phase: 'plan' | 'apply'): void;
}

export type HostFailure = 'unreachable' | 'conflict' | 'address' | 'remote';

export interface HostOutcome {
  host: HostModel;
  result?: HostSetResult;
  failure?: HostFailure;
  /** One line: what went wrong, naming the host. */
  error?: string;
  hint?: string;
}

export interface DeployResult {
  /** 'plan' when nothing was installed (dry run, or a host failed the plan). */
  phase: 'plan' | 'apply';
  outcomes: HostOutcome[];
}

const shellQuote = (s: string): string => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The argv of ssh to one host: its options, then ours (ssh takes the first value it sees for an option). */
export function sshArgv(h: HostModel, remote: readonly string[]): string[] {
  return [...h.sshOptions.flatMap(([k, v]) => ['-o', `${k}=${v}`]), '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-T', '--', h.ssh, remote.map(shellQuote).join(' ')];
}

/** The IP literals a host's listeners bind to (wildcards excluded): each must be an address of that machine. */
export function bindAddresses(m: StackModel, h: HostModel): string[] {
  const out = new Set<string>();
  const add = (a: { host: string } | undefined) => { if (a && a.host !== '0.0.0.0' && a.host !== '::') out.add(a.host); };
  if (m.zeo?.host === h.name) add(m.zeo.address);
  if (m.postgresql?.host === h.name) add(m.postgresql.address);
  for (const c of m.clients.filter((x) => x.host === h.name)) { add(c.http); add(c.health.agent); add(c.health.http); }
  return [...out];
}

interface RunResult { code: number; stdout: string; stderr: string }

function run(cmd: string, argv: string[], input: string, env: NodeJS.ProcessEnv | undefined, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
    let stdout = '', stderr = '';
    const timer = setTimeout(() => { stderr += `\n(timed out after ${Math.round(timeoutMs / 1000)} s)`; child.kill('SIGKILL'); }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.stdin.on('error', () => { /* the far side did not read it: its exit status says why */ });
    child.stdin.end(input);
    child.once('error', (e) => { clearTimeout(timer); resolve({ code: 127, stdout, stderr: `${stderr}${e.message}` }); });
    child.once('close', (code, sig) => { clearTimeout(timer); resolve({ code: code ?? 128 + (sig === 'SIGKILL' ? 9 : 15), stdout, stderr }); });
  });
}

const lastLine = (s: string): string => s.trim().split('\n').filter(Boolean).at(-1) ?? '';

/** One install-set call on one host, its answer classified. */
async function callHost(m: StackModel, h: HostModel, set: HostSet, apply: boolean, opts: DeployOptions): Promise<HostOutcome> {
  const remote = [...m.zunitgen, 'install-set', '--out', opts.hostDir, ...(apply ? ['--apply'] : []), ...(opts.force ? ['--force'] : [])];
  const r = await run(opts.ssh ?? 'ssh', sshArgv(h, remote), JSON.stringify(set), opts.env, opts.timeoutMs ?? 120_000);
  const who = `host ${h.name} (${h.ssh})`;
  // ssh(1): "ssh exits with the exit status of the remote command or with 255 if an error occurred."
  if (r.code === 255 || r.code === 127) {
    return { host: h, failure: 'unreachable', error: `${who}: ssh failed: ${lastLine(r.stderr) || `exit ${r.code}`}`, hint: `check that ${h.ssh} is reachable and accepts your key: ssh ${sshArgv(h, ['true']).map(shellQuote).join(' ')}` };
  }
  let result: HostSetResult | undefined;
  try { result = r.code === 0 ? JSON.parse(r.stdout) as HostSetResult : undefined; } catch { /* below */ }
  if (!result) {
    return { host: h, failure: 'remote', error: `${who}: ${m.zunitgen.join(' ')} install-set exited ${r.code}: ${lastLine(r.stderr) || lastLine(r.stdout) || 'no output'}`, hint: `is zunitgen installed there at ${m.zunitgen[0]} (the stack's zunitgen: key)?` };
  }
  if (result.missingAddresses.length) {
    return { host: h, result, failure: 'address', error: `${who}: ${result.missingAddresses.join(', ')} ${result.missingAddresses.length === 1 ? 'is not an address' : 'are not addresses'} of that machine`, hint: `set hosts[${h.name}].address to an address the host has (ip -br addr there), or add the address to it` };
  }
  if (result.conflicts.length) {
    return { host: h, result, failure: 'conflict', error: `${who}: ${result.conflicts.map((c) => `${result.outDir}/${c.name} (${c.reason})`).join(', ')}`, hint: 'move the file away on that host, or pass --force to take it over' };
  }
  return { host: h, result };
}

/** Plans on every host, then (unless dry run or a host failed) installs on every host. */
export async function deploy(m: StackModel, sets: ReadonlyArray<{ host: HostModel; files: GeneratedFile[] }>, opts: DeployOptions): Promise<DeployResult> {
  const payload = (s: { host: HostModel; files: GeneratedFile[] }): HostSet => ({
    stack: m.stack, prefix: m.prefix, source: m.source, host: s.host.name, files: s.files, bind: bindAddresses(m, s.host),
  });
  const planned = await Promise.all(sets.map(async (s) => {
    const o = await callHost(m, s.host, payload(s), false, opts);
    opts.onHost?.(o, 'plan');
    return o;
  }));
  if (opts.dryRun || planned.some((o) => o.failure)) return { phase: 'plan', outcomes: planned };
  const applied = await Promise.all(sets.map(async (s, i) => {
    const p = planned[i]!.result!;
    if (p.create.length + p.update.length + p.remove.length === 0) return planned[i]!;
    const o = await callHost(m, s.host, payload(s), true, opts);
    opts.onHost?.(o, 'apply');
    return o;
  }));
  return { phase: 'apply', outcomes: applied };
}

/** sysexits for a deploy: 69 a host unreachable, 78 an address not on its host, 73 a file in the way, 70 else. */
export function deployExitCode(r: DeployResult): number {
  const f = new Set(r.outcomes.map((o) => o.failure).filter(Boolean));
  if (f.has('unreachable')) return 69;
  if (f.has('address')) return 78;
  if (f.has('conflict')) return 73;
  if (f.has('remote')) return 70;
  return 0;
}
