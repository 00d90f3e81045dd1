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
// With `haproxy.install`, the HAProxy backend file takes part in both phases (install-haproxy.ts): planned with the
// hosts (a failing `haproxy -c` stops the deploy before anything is installed anywhere), installed after every
// host's set, then HAProxy reloaded; on the HAProxy host over ssh, or in this process when it runs here.
//
// ssh is whatever `ssh` PATH finds (as for `systemctl -H`), with the host's ssh-options as `-o Key=Value`, then
// BatchMode=yes (never a password prompt) and a connect timeout. The remote command is the stack's `zunitgen:`
// argv, each word shell-quoted: nothing from the config reaches the remote shell unquoted.

import { spawn } from 'node:child_process';
import type { HostModel, StackModel } from './model.js';
import type { HostSet, HostSetResult } from './install-set.js';
import { installHaproxy, type HaproxyFile, type HaproxyInstallResult } from './install-haproxy.js';
import type { GeneratedFile } from './render.js';
import { placeOf } from './source-place.js';

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
  onHaproxy?(o: HaproxyOutcome, phase: 'plan' | 'apply'): void;
}

export type HostFailure = 'unreachable' | 'conflict' | 'running' | 'address' | 'remote';

export interface HostOutcome {
  host: HostModel;
  result?: HostSetResult;
  failure?: HostFailure;
  /** One line: what went wrong, naming the host. */
  error?: string;
  hint?: string;
}

/** The HAProxy backend file's part of a deploy. */
export interface HaproxyOutcome {
  /** `db (root@10.0.0.11)`, or `this machine`. */
  where: string;
  result?: HaproxyInstallResult;
  failure?: HostFailure | 'check';
  error?: string;
  hint?: string;
}

export interface DeployResult {
  /** 'plan' when nothing was installed (dry run, or a host failed the plan). */
  phase: 'plan' | 'apply';
  outcomes: HostOutcome[];
  /** With haproxy.install. */
  haproxy?: HaproxyOutcome;
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

type Failed = { failure: HostFailure; error: string; hint: string };

/** `zunitgen <command>` on host h over ssh, JSON in and out; an ssh failure or a command without an answer classified. */
async function remoteJson<T>(m: StackModel, h: HostModel, command: string[], input: object, opts: DeployOptions): Promise<{ value: T } | Failed> {
  const remote = [...m.zunitgen, ...command, ...(opts.force ? ['--force'] : [])];
  const r = await run(opts.ssh ?? 'ssh', sshArgv(h, remote), JSON.stringify(input), opts.env, opts.timeoutMs ?? 120_000);
  const who = `host ${h.name} (${h.ssh})`;
  // ssh(1): "ssh exits with the exit status of the remote command or with 255 if an error occurred."
  if (r.code === 255 || r.code === 127) {
    return { failure: 'unreachable', error: `${who}: ssh failed: ${lastLine(r.stderr) || `exit ${r.code}`}`, hint: `check that ${h.ssh} is reachable and accepts your key: ssh ${sshArgv(h, ['true']).map(shellQuote).join(' ')}` };
  }
  try { if (r.code === 0) return { value: JSON.parse(r.stdout) as T }; } catch { /* below */ }
  return { failure: 'remote', error: `${who}: ${m.zunitgen.join(' ')} ${command[0]} exited ${r.code}: ${lastLine(r.stderr) || lastLine(r.stdout) || 'no output'}`, hint: `is zunitgen installed there at ${m.zunitgen[0]} (the stack's zunitgen: key, ${placeOf(m, 'zunitgen[0]')})?` };
}

/** One install-set call on one host, its answer classified. */
async function callHost(m: StackModel, h: HostModel, set: HostSet, apply: boolean, opts: DeployOptions): Promise<HostOutcome> {
  const r = await remoteJson<HostSetResult>(m, h, ['install-set', '--out', opts.hostDir, ...(apply ? ['--apply'] : [])], set, opts);
  if (!('value' in r)) return { host: h, ...r };
  const result = r.value;
  const who = `host ${h.name} (${h.ssh})`;
  if (result.missingAddresses.length) {
    return { host: h, result, failure: 'address', error: `${who}: ${result.missingAddresses.join(', ')} ${result.missingAddresses.length === 1 ? 'is not an address' : 'are not addresses'} of that machine`, hint: `set hosts[${h.name}].address (${placeOf(m, `hosts[name=${h.name}].address`)}) to an address the host has (ip -br addr there), or add the address to it` };
  }
  if (result.conflicts.length) {
    return { host: h, result, failure: 'conflict', error: `${who}: ${result.conflicts.map((c) => `${result.outDir}/${c.name} (${c.reason})`).join(', ')}`, hint: 'move the file away on that host, or pass --force to take it over' };
  }
  if (result.running?.length) {
    const units = result.running.map((u) => u.name);
    return { host: h, result, failure: 'running', error: `${who}: systemd runs ${result.running.map((u) => `${u.name} (${u.state})`).join(', ')}, whose unit file${units.length === 1 ? '' : 's'} this deploy removes`,
      hint: `stop ${units.length === 1 ? 'it' : 'them'} there first (a client's wrapper drains it), then deploy again: ssh ${sshArgv(h, ['systemctl', 'stop', ...units]).map(shellQuote).join(' ')}` };
  }
  return { host: h, result };
}

/** The HAProxy file planned or installed where haproxy.install says, its answer classified. */
async function callHaproxy(m: StackModel, req: HaproxyFile, apply: boolean, opts: DeployOptions): Promise<HaproxyOutcome> {
  const h = m.hosts?.find((x) => x.name === m.haproxy.install?.host);
  const where = h ? `${h.name} (${h.ssh})` : 'this machine';
  let result: HaproxyInstallResult;
  if (h) {
    const r = await remoteJson<HaproxyInstallResult>(m, h, ['install-haproxy', ...(apply ? ['--apply'] : [])], req, opts);
    if (!('value' in r)) return { where, ...r };
    result = r.value;
  } else {
    try { result = installHaproxy(req, { apply, force: !!opts.force }); } catch (e) {
      return { where, failure: 'remote', error: `HAProxy on this machine: ${(e as Error).message}`, hint: 'run deploy as root where HAProxy runs, or set haproxy.install.host' };
    }
  }
  if (result.conflict) return { where, result, failure: 'conflict', error: `HAProxy on ${where}: ${req.file}: ${result.conflict}`, hint: 'move the file away on that host, or pass --force to take it over' };
  if (!result.check.ok) {
    const alerts = result.check.output.split('\n').filter((l) => /\[(ALERT|FATAL)\]/.test(l)).slice(0, 5).join('\n    ') || lastLine(result.check.output);
    return { where, result, failure: 'check', error: `HAProxy on ${where}: haproxy -c with the new ${req.file} failed, HAProxy and its file are as they were:\n    ${alerts}`, hint: `check haproxy.install.config (${placeOf(m, 'haproxy.install.config')}: ${req.config.join(', ')}) against how HAProxy is started there, and fix what the check names` };
  }
  return { where, result };
}

/** Plans on every host, then (unless dry run or a host failed) installs on every host; then HAProxy's file. */
export async function deploy(m: StackModel, sets: ReadonlyArray<{ host: HostModel; files: GeneratedFile[] }>, opts: DeployOptions, haproxy?: GeneratedFile): Promise<DeployResult> {
  const inst = m.haproxy.install;
  const hx: HaproxyFile | undefined = inst && haproxy ? { stack: m.stack, file: inst.file, content: haproxy.content, config: inst.config, unit: inst.unit } : undefined;
  const hxPlan = hx ? callHaproxy(m, hx, false, opts) : undefined;
  const payload = (s: { host: HostModel; files: GeneratedFile[] }): HostSet => ({
    stack: m.stack, prefix: m.prefix, source: m.source, host: s.host.name, files: s.files, bind: bindAddresses(m, s.host),
  });
  const planned = await Promise.all(sets.map(async (s) => {
    const o = await callHost(m, s.host, payload(s), false, opts);
    opts.onHost?.(o, 'plan');
    return o;
  }));
  const hxPlanned = await hxPlan;
  if (hxPlanned) opts.onHaproxy?.(hxPlanned, 'plan');
  const withHx = (r: DeployResult): DeployResult => (hxPlanned ? { ...r, haproxy: r.haproxy ?? hxPlanned } : r);
  if (opts.dryRun || planned.some((o) => o.failure) || hxPlanned?.failure) return withHx({ phase: 'plan', outcomes: planned });
  const applied = await Promise.all(sets.map(async (s, i) => {
    const p = planned[i]!.result!;
    if (p.create.length + p.update.length + p.remove.length === 0) return planned[i]!;
    const o = await callHost(m, s.host, payload(s), true, opts);
    opts.onHost?.(o, 'apply');
    return o;
  }));
  // HAProxy last, and only once every host has its set: it then points at units that exist.
  if (!hx || hxPlanned?.result?.change === 'unchanged' || applied.some((o) => o.failure)) return withHx({ phase: 'apply', outcomes: applied });
  const hxApplied = await callHaproxy(m, hx, true, opts);
  opts.onHaproxy?.(hxApplied, 'apply');
  return { phase: 'apply', outcomes: applied, haproxy: hxApplied };
}

/** sysexits for a deploy: 69 a host unreachable, 78 an address not on its host or a failing haproxy -c, 73 a file in the way or a running unit's file to remove, 70 else. */
export function deployExitCode(r: DeployResult): number {
  const f = new Set([...r.outcomes.map((o) => o.failure), r.haproxy?.failure].filter(Boolean));
  if (f.has('unreachable')) return 69;
  if (f.has('address') || f.has('check')) return 78;
  if (f.has('conflict') || f.has('running')) return 73;
  if (f.has('remote')) return 70;
  return 0;
}
