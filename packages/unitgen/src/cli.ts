#!/usr/bin/env node
// zunitgen: the command line. Maps errors to exit codes in one place (exitCodeOf).

import { Command } from 'commander';
import { watchBrokenPipe } from '@zope-systemd/common';
import { existsSync, readFileSync, realpathSync, writeFileSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { problemRecord } from '@zope-systemd/common';
import { ActiveUnitsError, ConfigError, configIssue, describeErrno, EXIT, InputError, OutputError, UnitgenError, UsageError, VerifyError, formatIssue, formatWarning, type ConfigIssue } from './errors.js';
import { generate, templatesFor } from './generate.js';
import { hostPathWarnings } from './host-paths.js';
import { deploy, deployExitCode, type HaproxyOutcome, type HostOutcome } from './deploy.js';
import { installHaproxy, parseHaproxyFile } from './install-haproxy.js';
import { installSet, parseHostSet } from './install-set.js';
import { renderHostsWith } from './render-hosts.js';
import { makeDirs, type Plan } from './io.js';
import { generatorMain } from './generator-mode.js';
import { parseStack } from './parse.js';
import { readConfig } from './generate.js';
import { parseAddress, parseDuration } from './values.js';
import { verify } from './verify.js';
import { mainProcessAlive, waitTcp } from './wait-tcp.js';

/** Maps any error to its exit status (docs/exit-codes.md). The only place that knows exit codes. */
export function exitCodeOf(e: unknown): number {
  if (e instanceof UnitgenError) return e.exitCode;
  const commander = (e as { code?: unknown } | null)?.code;
  if (typeof commander === 'string' && commander.startsWith('commander.')) {
    return commander === 'commander.helpDisplayed' || commander === 'commander.version' ? 0 : EXIT.USAGE;
  }
  return EXIT.SOFTWARE; // a bug, not the operator's input
}

/** The commands that write files (here or on hosts): only after these does "nothing was written" say something. */
const WRITING_COMMANDS: ReadonlySet<string> = new Set(['generate', 'deploy', 'install-set', 'install-haproxy', 'install-generator', 'generator']);

function report(e: unknown, command: string | undefined): number {
  const written = command !== undefined && WRITING_COMMANDS.has(command) ? '; nothing was written' : '';
  if (e instanceof ConfigError) process.stderr.write(`${e.issues.map(formatIssue).join('\n')}\n${e.issues.length} error${e.issues.length === 1 ? '' : 's'}${written}.\n`);
  else if (e instanceof VerifyError) process.stderr.write(`${e.message}\n${e.output}\n`);
  else process.stderr.write(`zunitgen: ${(e as Error).message}\n`);
  return exitCodeOf(e);
}

/** Sets the exit status of the command that ran (commands that return one; others end with 0 or throw). */
type SetCode = (code: number) => void;

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const setCode: SetCode = (c) => { code = c; };
  const program = new Command('zunitgen')
    .description('One YAML description of a Plone/Zope stack in; ordered, socket-activated, verified systemd units out.')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const define of [defineGenerate, defineDeploy, defineInstallSet, defineInstallHaproxy, defineCheck, defineVerify, defineGenerator, defineInstallGenerator, defineWaitTcp]) define(program, setCode);
  let command: string | undefined;
  program.hook('preAction', (_program, action) => { command = action.name(); });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    // commander has printed its message already (usage errors, --help, --version)
    if (typeof (e as { code?: unknown }).code === 'string' && (e as { code: string }).code.startsWith('commander.')) return exitCodeOf(e);
    return report(e, command);
  }
  return code;
}

function defineGenerate(program: Command, setCode: SetCode): void {
  program.command('generate').argument('<config>', 'stack config (YAML)')
    .requiredOption('--out <dir>', 'output directory (e.g. /etc/systemd/system)')
    .option('--templates <dir>', 'directory of templates overriding the built-in ones (by file name)')
    .option('--dry-run', 'write nothing; list what would be created, updated, removed')
    .option('--diff', 'print a unified diff of the changes')
    .option('--force', 'take over files zunitgen did not generate, or that were edited since')
    .option('--json', 'print what was (or, with --dry-run, would be) created, updated, removed, in the way, as JSON on stdout')
    .option('--host-dir <dir>', 'stack with hosts: where each host\'s unit set will live there', '/etc/systemd/system')
    .option('--lock-timeout <duration>', 'wait this long for another zunitgen writing the same directory, then exit 75', '30s')
    .description('render the units of one stack into a directory (atomic; removes stale files it generated); with hosts: one directory per host and the HAProxy files')
    .action((config: string, o: GenerateFlags) => { setCode(generateCommand(config, o)); });
}

function defineDeploy(program: Command, setCode: SetCode): void {
  program.command('deploy').argument('<config>', 'stack config (YAML) with hosts:')
    .option('--dry-run', 'install nothing; show per host what would change, with the diff')
    .option('--host-dir <dir>', 'where the unit sets live on the hosts', '/etc/systemd/system')
    .option('--templates <dir>', 'directory of templates overriding the built-in ones (by file name)')
    .option('--force', 'take over files zunitgen did not generate, or that were edited since')
    .option('--json', 'print the outcome per host as JSON')
    .description('install each host\'s unit set on that host over ssh: every host is checked first, then each installs atomically and reloads systemd')
    .action(async (config: string, o: { dryRun?: boolean; hostDir: string; templates?: string; force?: boolean; json?: boolean }) => {
      setCode(await deployCommand(config, o));
    });
}

function defineInstallSet(program: Command): void {
  program.command('install-set')
    .requiredOption('--out <dir>', 'the unit directory of this host')
    .option('--apply', 'install (default: only report what would change)')
    .option('--force', 'take over files zunitgen did not generate, or that were edited since')
    .description('(run by deploy on each host over ssh) read one host\'s unit set as JSON on stdin; plan or install it; answer JSON')
    .action(async (o: { out: string; apply?: boolean; force?: boolean }) => {
      const set = parseHostSet(readFileSync(0, 'utf8'));
      const r = await installSet(set, resolve(o.out), { apply: !!o.apply, force: !!o.force });
      process.stdout.write(`${JSON.stringify(r)}\n`);
    });
}

function defineInstallHaproxy(program: Command): void {
  program.command('install-haproxy')
    .option('--apply', 'install and reload (default: only report what would change, and whether haproxy -c passes)')
    .option('--force', 'take over a file zunitgen did not write')
    .description('(run by deploy on the HAProxy host over ssh) read the backend file as JSON on stdin; check it with haproxy -c; plan or install it and reload HAProxy; answer JSON')
    .action((o: { apply?: boolean; force?: boolean }) => {
      const r = installHaproxy(parseHaproxyFile(readFileSync(0, 'utf8')), { apply: !!o.apply, force: !!o.force });
      process.stdout.write(`${JSON.stringify(r)}\n`);
    });
}

function defineCheck(program: Command, setCode: SetCode): void {
  program.command('check').argument('<config...>', 'stack configs (YAML)')
    .option('--json', 'print {"ok", "problems": [{file, line, col, key, message, fix}]} on stdout (docs/exit-codes.md)')
    .description('validate configs only; exit 0, or 78 with every error listed (66 when a file cannot be read)')
    .action((configs: string[], o: { json?: boolean }) => {
      // Every file is checked and every problem listed; a file that cannot be read does not hide the others'.
      const issues: ConfigIssue[] = [], warnings: ConfigIssue[] = [];
      let unreadable: InputError | undefined;
      for (const c of configs) {
        try { parseStack(readConfig(c), { file: c, warn: (i) => warnings.push(i) }); } catch (e) {
          if (e instanceof InputError) unreadable = e;
          else if (!(e instanceof ConfigError)) throw e;
          issues.push(...e.issues);
        }
      }
      if (!o.json) printWarnings(warnings);
      if (!issues.length) { if (o.json) printProblems(issues, warnings); return; }
      const error = new ConfigError(issues, unreadable !== undefined);
      if (!o.json) throw issues.length === 1 && unreadable ? unreadable : error;
      printProblems(issues, warnings);
      setCode(error.exitCode);
    });
}

/** `check --json`: every problem (and every warning) as one record of the shape both tools share. */
function printProblems(issues: readonly ConfigIssue[], warnings: readonly ConfigIssue[]): void {
  process.stdout.write(`${JSON.stringify({ ok: issues.length === 0, problems: issues.map(problemRecord), ...(warnings.length ? { warnings: warnings.map(problemRecord) } : {}) }, null, 2)}\n`);
}

/** Warnings about a config (valid, but likely not what was meant), as file:line:col lines on stderr. */
function printWarnings(warnings: readonly ConfigIssue[]): void {
  for (const w of warnings) process.stderr.write(`${formatWarning(w)}\n`);
}

function defineVerify(program: Command): void {
  program.command('verify').argument('<dir>', 'directory zunitgen generate wrote units into (e.g. /etc/systemd/system)')
    .option('--stack <config>', 'only the units of this stack (its stack file); default: the units of every stack whose manifest is in dir')
    .option('--stub-exec', 'verify in a temporary root with stub executables at every Exec*= path (for machines without the binaries)')
    .option('--systemd-analyze <path>', 'systemd-analyze binary', 'systemd-analyze')
    .description('run systemd-analyze verify on the stack\'s own units in dir (those its manifest lists; every unit in a dir without one); fail on any error or warning')
    .action((dir: string, o: { stack?: string; stubExec?: boolean; systemdAnalyze: string }) => {
      const prefix = o.stack === undefined ? undefined : parseStack(readConfig(o.stack), { file: o.stack }).prefix;
      const r = verify(dir, { stubExec: !!o.stubExec, systemdAnalyze: o.systemdAnalyze, ...(prefix !== undefined ? { prefix } : {}) });
      const what = `${r.units.length} unit${r.units.length === 1 ? '' : 's'} ${'stacks' in r.scope
        ? `of stack${r.scope.stacks.length === 1 ? '' : 's'} ${r.scope.stacks.join(', ')} in ${dir}`
        : `in ${dir} (every unit: it holds no zunitgen manifest)`}: ${r.units.join(' ')}`;
      if (!r.ok) throw new VerifyError(`systemd-analyze verify reported problems in the ${what}`, r.output);
      process.stdout.write(`ok: verified the ${what}\n`);
    });
}

function defineGenerator(program: Command, setCode: SetCode): void {
  program.command('generator').argument('<normal-dir>').argument('[early-dir]').argument('[late-dir]')
    .option('--config-dir <dir>', 'where the stack configs are (default /etc/zope-systemd, or $ZUNITGEN_CONFIG_DIR)')
    .description('systemd generator mode: write units for /etc/zope-systemd/*.yaml into normal-dir; errors to /dev/kmsg')
    .action((normal: string, early: string | undefined, late: string | undefined, o: { configDir?: string }) => {
      if (o.configDir) process.env.ZUNITGEN_CONFIG_DIR = o.configDir;
      setCode(generatorMain([normal, ...(early !== undefined ? [early, late ?? ''] : [])]));
    });
}

function defineInstallGenerator(program: Command): void {
  program.command('install-generator')
    .option('--dir <dir>', 'generator directory', '/etc/systemd/system-generators')
    .description('install a wrapper script that runs the generator with this Node and this zunitgen')
    .action((o: { dir: string }) => {
      // The bundled entry with V8 code cache (scripts/bundle-generator.mjs) when it was built: about 2x
      // faster at boot than the plain module tree (docs/benchmarks/unitgen.md).
      const bundled = fileURLToPath(new URL('./zope-systemd-generator.cjs', import.meta.url));
      const entry = existsSync(bundled) ? bundled : fileURLToPath(new URL('./generator-main.js', import.meta.url));
      const path = join(resolve(o.dir), 'zope-systemd-generator');
      try {
        makeDirs(resolve(o.dir));
        writeFileSync(path, `#!/bin/sh\n# Installed by zunitgen install-generator.\nexec ${shq(process.execPath)} ${shq(entry)} "$@"\n`);
        chmodSync(path, 0o755);
      } catch (e) {
        const d = describeErrno(e);
        throw new OutputError(path, `cannot install the generator: ${d.what}`, d.fix.replace('--out', '--dir'), { cause: e });
      }
      process.stdout.write(`installed ${path}\n`);
    });
}

function defineWaitTcp(program: Command, setCode: SetCode): void {
  program.command('wait-tcp').argument('<address>', 'host:port')
    .option('--timeout <duration>', 'give up after this long', '5min')
    .description('wait until something accepts TCP connections on address (ExecStartPost= of the ZEO unit)')
    .action(async (address: string, o: { timeout: string }) => {
      const a = parseAddress(address), t = parseDuration(o.timeout);
      if (!a.ok) throw new UsageError(`wait-tcp: ${a.message}`);
      if (!t.ok) throw new UsageError(`wait-tcp --timeout: ${t.message}`);
      const mainPid = process.env['MAINPID'];
      const r = await waitTcp(a.value, t.value, undefined, mainProcessAlive(mainPid));
      if (r === 'exited') { process.stderr.write(`zunitgen: the server exited (main pid ${mainPid}) before it accepted connections on ${address}: see its own messages above\n`); setCode(1); }
      if (r === 'timeout') { process.stderr.write(`zunitgen: nothing accepted connections on ${address} within ${o.timeout}\n`); setCode(1); }
    });
}

async function deployCommand(config: string, o: { dryRun?: boolean; hostDir: string; templates?: string; force?: boolean; json?: boolean }): Promise<number> {
  const model = parseStack(readConfig(config), { file: config, warn: (w) => printWarnings([w]) });
  if (!model.hosts) throw new ConfigError([configIssue({ file: config, line: 1, col: 1, key: 'hosts', message: 'deploy needs a stack with hosts:', fix: 'for one machine: zunitgen generate CONFIG --out /etc/systemd/system' })]);
  // The recycle timer's service names the stack file by its absolute path, resolved as generate resolves it.
  const rendered = renderHostsWith(model, templatesFor(o), { outDir: resolve(o.hostDir), configPath: resolve(config) });
  const sets = rendered.hosts;
  const say = (s: string) => { if (!o.json) process.stdout.write(s); };
  say(`${o.dryRun ? 'checking' : 'deploying to'} ${sets.length} host${sets.length === 1 ? '' : 's'}: ${sets.map((s) => s.host.name).join(', ')}${model.haproxy.install ? ', and HAProxy' : ''}\n`);
  const r = await deploy(model, sets, {
    hostDir: resolve(o.hostDir), dryRun: !!o.dryRun, force: !!o.force,
    onHost: (h, phase) => say(`${hostLine(h, phase)}\n`),
    onHaproxy: (h, phase) => say(`${haproxyLine(h, phase)}\n`),
  }, rendered.haproxy.find((f) => f.name === `haproxy-${model.prefix}.cfg`));
  const failed: Array<{ error?: string; hint?: string }> = [...r.outcomes.filter((x) => x.failure), ...(r.haproxy?.failure ? [r.haproxy] : [])];
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ phase: r.phase, hosts: r.outcomes.map((x) => ({ host: x.host.name, ssh: x.host.ssh, ...(x.failure ? { failure: x.failure, error: x.error, hint: x.hint } : {}), ...(x.result ? { result: x.result } : {}) })), ...(r.haproxy ? { haproxy: r.haproxy } : {}) }, null, 2)}\n`);
  } else if (o.dryRun) {
    for (const x of r.outcomes) if (x.result?.diff) process.stdout.write(`=== ${x.host.name} (${x.host.ssh}) ===\n${x.result.diff}`);
    if (r.haproxy?.result?.diff) process.stdout.write(`=== HAProxy on ${r.haproxy.where} ===\n${r.haproxy.result.diff}`);
  }
  for (const x of failed) process.stderr.write(`zunitgen: ${x.error}\n${x.hint ? `  hint: ${x.hint}\n` : ''}`);
  if (failed.length && r.phase === 'plan') process.stderr.write('nothing was installed on any host.\n');
  return deployExitCode(r);
}

function hostLine(h: HostOutcome, phase: 'plan' | 'apply'): string {
  const who = `${h.host.name} (${h.host.ssh})`;
  if (h.failure) return `${who}: FAILED (${h.failure})`;
  const p = h.result!;
  if (phase === 'apply') return `${who}: installed ${p.create.length + p.update.length} file(s), removed ${p.remove.length}${p.reloaded ? ', systemctl daemon-reload' : ''}`;
  return `${who}: ${p.create.length} to create, ${p.update.length} to update, ${p.remove.length} to remove, ${p.unchanged.length} unchanged`;
}

function haproxyLine(h: HaproxyOutcome, phase: 'plan' | 'apply'): string {
  const who = `HAProxy on ${h.where}`;
  if (h.failure) return `${who}: FAILED (${h.failure})`;
  const p = h.result!;
  if (phase === 'apply') return `${who}: installed ${p.file}, ${p.reloaded ? 'reloaded' : 'not running: it reads the file when started'}`;
  return `${who}: ${p.file} ${p.change === 'unchanged' ? 'unchanged' : `to ${p.change}`}, haproxy -c passed`;
}

interface GenerateFlags { out: string; templates?: string; dryRun?: boolean; diff?: boolean; force?: boolean; json?: boolean; hostDir: string; lockTimeout: string }

/** `zunitgen generate`: renders and writes (or plans), then lists what changed; the exit status. */
function generateCommand(config: string, o: GenerateFlags): number {
  const lockTimeout = parseDuration(o.lockTimeout);
  if (!lockTimeout.ok) throw new UsageError(`--lock-timeout: ${lockTimeout.message}`);
  const crashAt = process.env.ZUNITGEN_CRASH_AT;
  const r = generate(config, { warn: (w) => printWarnings([w]), out: o.out, ...(o.templates ? { templates: o.templates } : {}), dryRun: !!o.dryRun, diff: !!o.diff, force: !!o.force, hostDir: o.hostDir, lockTimeoutMs: lockTimeout.value, ...(crashAt ? { crashAt } : {}) });
  if (r.plan.recovered === 'rolled-back') process.stderr.write(`zunitgen: an interrupted update of ${r.plan.outDir} was rolled back before this one\n`);
  if (r.diff && !o.json) process.stdout.write(r.diff);
  // Generated for this machine (not for hosts): what the units run and read must be there for them.
  if (!r.hosts) printWarnings(hostPathWarnings(r.model, r.files, r.plan.outDir));
  const plans = [...(r.hosts ?? []).map((h) => h.plan), r.plan];
  for (const p of plans) {
    if (p.runningUnknown !== undefined) process.stderr.write(`zunitgen: warning: could not ask systemd whether it runs units from the files this update removes in ${p.outDir} (${p.runningUnknown}); check with systemctl list-units that none of them is active\n`);
  }
  if (o.json) process.stdout.write(`${JSON.stringify({ dryRun: !!o.dryRun, changes: plans.reduce((n, p) => n + changeCount(p), 0), directories: plans.map(planRecord), ...(r.diff !== undefined ? { diff: r.diff } : {}) }, null, 2)}\n`);
  else printPlans(plans, !!o.dryRun);
  if (!o.dryRun) return 0;
  // A dry run says what the real run would refuse, with the same message, and exits as it would.
  const running = plans.find((p) => p.running.length);
  if (running) process.stderr.write(`zunitgen: ${new ActiveUnitsError(running.outDir, running.running).message}\n`);
  return plans.some((p) => p.conflicts.length || p.running.length) ? EXIT.CANTCREAT : 0;
}

/** The version of the installed package (package.json sits beside dist/ and src/). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

const changeCount = (p: Plan): number => p.create.length + p.update.length + p.remove.length;

/** One directory of `generate --json`: the same lists the text shows, `changes` 0 when nothing would change there. */
function planRecord(p: Plan): object {
  return { dir: p.outDir, changes: changeCount(p), create: p.create, update: p.update, remove: p.remove, unchanged: p.unchanged, conflicts: p.conflicts, running: p.running };
}

function printPlans(plans: Plan[], dryRun: boolean): void {
  const verb = dryRun ? 'would ' : '';
  // A dry run always says something: silence would look like a run that did not get that far. Where something would
  // change, the list says it, and a host directory left as it is needs no line of its own.
  const quiet = (p: Plan): boolean => changeCount(p) + p.conflicts.length + p.running.length === 0;
  if (dryRun && plans.every(quiet)) for (const p of plans) process.stdout.write(`nothing would change in ${p.outDir} (${p.unchanged.length} files unchanged)\n`);
  for (const p of plans) {
    for (const n of p.create) process.stdout.write(`${verb}create ${join(p.outDir, n)}\n`);
    for (const n of p.update) process.stdout.write(`${verb}update ${join(p.outDir, n)}\n`);
    for (const n of p.remove) process.stdout.write(`${verb}remove ${join(p.outDir, n)}\n`);
    for (const c of p.conflicts) process.stdout.write(`conflict ${join(p.outDir, c.name)} (${c.reason})\n`);
    for (const u of p.running) process.stdout.write(`running ${join(p.outDir, u.name)} (${u.state}: stop it before its file is removed)\n`);
  }
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Whether this module is the program Node was started with: by its path, or through a symlink to it (npm's bin links). */
function isMain(argv1: string | undefined): boolean {
  if (!argv1) return false;
  try {
    return realpathSync(argv1) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

/**
 * The command line as the executable runs it: a reader going away (`zunitgen generate ... --diff | head`) ends
 * it quietly with exit 141 (docs/exit-codes.md); files being written are still written whole.
 */
export function runExecutable(argv: string[]): Promise<number> {
  watchBrokenPipe();
  return main(argv);
}

if (isMain(process.argv[1])) {
  runExecutable(process.argv.slice(2)).then((c) => { process.exitCode = c; });
}
