// zstack: the operator's commands for a zunitgen stack (run by src/launcher.ts from the bundle, or unbundled by
// src/bin.ts). Errors become one line, a hint and a sysexits status in one place (report()).
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { parseDuration, parseSize, sizeBytes } from '@zope-systemd/unitgen';
import { StackError } from './errors.js';
import { DEFAULT_TIMING, type OpContext, type Timing } from './cycle.js';
import { RuntimeApi, type LoadBalancer } from './haproxy.js';
import { acquireLock, lockHeld } from './lock.js';
import { runDirReadable } from './run-dir.js';
import { readJournal } from './journal.js';
import { createProgress } from './progress.js';
import { recycle } from './recycle.js';
import { rollout } from './rollout.js';
import { loadStack, selectClients, type StackRef } from './stack.js';
import { modelCacheDir, type ModelCache } from './model-cache.js';
import { gatherStatus, renderTable, type StackStatus } from './status.js';
import { stopStack } from './stop.js';
import { LocalSystemd, type SystemdHost } from './systemd.js';
import { acquireHostLock, HostsSystemd, unitHosts } from './hosts.js';
import { hostname } from 'node:os';
import { toJson, watchBrokenPipe } from '@zope-systemd/common';
import { resolveAfter, runAfter, showCommand } from './after-command.js';

export const DEFAULT_RUN_DIR = '/run/zope-systemd';

/** Aborted when the reader of zstack's output has gone away (main() watches for it). */
let readerGone: AbortSignal = new AbortController().signal;

/** A flag's duration; `span` for one no timer waits for (--max-age is compared with uptimes). */
const durationUpTo = (ceiling: 'timer' | 'span') => (v: string): number => {
  const r = parseDuration(v, undefined, ceiling);
  if (!r.ok) throw new InvalidArgumentError(`${r.message}${r.hint ? ` (${r.hint})` : ''}`);
  return r.value;
};
const duration = durationUpTo('timer');
const size = (v: string): bigint => {
  const r = parseSize(v);
  const b = r.ok ? sizeBytes(r.value) : undefined;
  if (b === undefined) throw new InvalidArgumentError(`expected a size such as 1.5G or 800M, got ${JSON.stringify(v)}`);
  return b;
};
const count = (v: string): number => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`expected a whole number >= 1, got ${JSON.stringify(v)}`);
  return Number(v);
};

interface Common { haproxySocket?: string; runDir: string; drainTimeout?: number; upTimeout?: number }

function version(): string {
  try { return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version; } catch { return '0.0.0'; }
}

/** What every command needs, built from the stack file and the flags. The seams for other hosts are here. */
export interface Deps { systemd: SystemdHost; lb?: LoadBalancer }
export type DepsFactory = (stack: StackRef, o: Common) => Deps;

export const localDeps: DepsFactory = (stack, o) => {
  const socket = o.haproxySocket ?? stack.statsSocket;
  // A stack over several hosts: each unit through `systemctl -H` to its host.
  const systemd = stack.model.hosts ? new HostsSystemd(stack.model) : new LocalSystemd();
  return { systemd, ...(socket ? { lb: new RuntimeApi(socket) } : {}) };
};

function needLb(stack: StackRef, d: Deps): LoadBalancer {
  if (!d.lb) throw new StackError('EUSAGE', `stack ${stack.stack} names no HAProxy stats socket (${stack.file}: haproxy.stats-socket)`, { hint: 'set haproxy.stats-socket in the stack file, or pass --haproxy-socket PATH|HOST:PORT' });
  return d.lb;
}

function timing(o: Common): Timing {
  return { ...DEFAULT_TIMING, ...(o.drainTimeout !== undefined ? { drainTimeoutMs: o.drainTimeout } : {}), ...(o.upTimeout !== undefined ? { upTimeoutMs: o.upTimeout } : {}) };
}

/** SIGINT/SIGTERM abort the operation (which then puts drained clients back) instead of killing the process. */
function interruptible(say = true): { signal: AbortSignal; received: () => NodeJS.Signals | undefined; dispose: () => void } {
  const ac = new AbortController();
  let got: NodeJS.Signals | undefined;
  const on = (sig: NodeJS.Signals): void => {
    if (!got && say) process.stderr.write(`\nzstack: ${sig}: finishing the current step safely (drained clients go back into service)...\n`);
    got ??= sig;
    ac.abort();
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return { signal: ac.signal, received: () => got, dispose: () => { process.off('SIGINT', on); process.off('SIGTERM', on); } };
}

async function withLock<T>(stack: StackRef, o: Common, operation: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const lock = acquireLock(o.runDir, stack.stack, operation);
  // Over hosts, also on the database host, where operators on other machines meet it.
  const lockHost = stack.model.hosts?.find((h) => h.name === unitHosts(stack.model).get(stack.target));
  const hostLock = lockHost ? await acquireHostLock(lockHost, stack.stack, `${operation} from ${hostname()} (pid ${process.pid})`).catch((e: unknown) => { lock.release(); throw e; }) : undefined;
  const intr = interruptible();
  try {
    return await fn(intr.signal);
  } catch (e) {
    const sig = intr.received();
    if (sig && e instanceof StackError && e.code === 'EINTERRUPTED') throw new StackError('EINTERRUPTED', e.message, { ...(e.hint ? { hint: e.hint } : {}), exitCode: sig === 'SIGTERM' ? 143 : 130 });
    throw e;
  } finally {
    intr.dispose();
    hostLock?.release();
    lock.release();
  }
}

/** What each command's part needs from the program being built. */
interface CliContext {
  program: Command;
  deps: DepsFactory;
  /** The global options (--haproxy-socket, --run-dir), read when a command runs. */
  common: () => Common;
  /** Sets the exit status for a command that finished without an error (status: 1 when a client is not serving). */
  setExit: (code: number) => void;
  /** The command after `--` (rollout runs it once every client is UP again). */
  afterArgs: readonly string[];
  /** The cache of parsed stack models status reads through, when the program has a build key (the installed bin). */
  modelCache: () => ModelCache | undefined;
}

/** How the executable runs the program: `build`, the bundle's build key (none unbundled: no model cache). */
export interface RunOptions { build?: string }

export function buildProgram(deps: DepsFactory = localDeps, afterArgs: readonly string[] = [], run: RunOptions = {}): { program: Command; exit: () => number } {
  let exitCode = 0;
  const program = new Command('zstack')
    .description('Operate a zunitgen stack as one thing: status, rolling restart, drain-first recycling, stop, try.')
    .version(version())
    .option('--haproxy-socket <address>', 'HAProxy Runtime API: a unix socket path or host:port (default: haproxy.stats-socket of the stack file)')
    .option('--run-dir <dir>', 'where the per-stack lock and rollout journal live', DEFAULT_RUN_DIR)
    .showHelpAfterError()
    .exitOverride();
  const common = (): Common => program.opts<Common>();
  const modelCache = (): ModelCache | undefined => {
    const dir = run.build ? modelCacheDir(common().runDir) : undefined;
    return dir && run.build ? { dir, build: run.build } : undefined;
  };
  const cx: CliContext = { program, deps, common, setExit: (c) => { exitCode = c; }, afterArgs, modelCache };
  addStatus(cx);
  addRollout(cx);
  addRecycle(cx);
  addStop(cx);
  addTry(cx);
  return { program, exit: () => exitCode };
}

/** Common options with a command's own --drain-timeout / --up-timeout laid over them. */
function withTimeouts(base: Common, o: { drainTimeout?: number; upTimeout?: number }): Common {
  return { ...base, ...(o.drainTimeout !== undefined ? { drainTimeout: o.drainTimeout } : {}), ...(o.upTimeout !== undefined ? { upTimeout: o.upTimeout } : {}) };
}

/** A command of the program that takes the stack file as its first argument. */
function stackCommand(cx: CliContext, name: string, description: string, fileHelp = 'the stack file'): Command {
  return cx.program.command(name).description(description).argument('<stack.yaml>', fileHelp);
}

/**
 * Runs an operation on the stack as every command does: its context built from the flags, progress shown while it
 * runs, under the stack's lock (`locked: false` for a dry run, which changes nothing).
 */
async function operate<T>(stack: StackRef, c: Common, d: Deps, what: string, fn: (ctx: Omit<OpContext, 'lb'> & { lb?: LoadBalancer }) => Promise<T>, o: { locked?: boolean } = {}): Promise<T> {
  const run = async (signal: AbortSignal): Promise<T> => {
    const progress = createProgress();
    try {
      return await fn({ stack, systemd: d.systemd, ...(d.lb ? { lb: d.lb } : {}), progress, signal, timing: timing(c) });
    } finally { progress.close(); }
  };
  return o.locked === false ? await run(new AbortController().signal) : await withLock(stack, c, `${what} of ${stack.stack}`, run);
}

interface StatusOptions { json?: boolean; watch?: number | true }

function addStatus(cx: CliContext): void {
  stackCommand(cx, 'status', 'one line per unit: systemd state, wrapper health/warm-up, HAProxy state and sessions, memory, uptime, restarts, watchdog',
    'the stack file zunitgen generated the units from')
    .option('--json', 'one JSON object (with --watch: one per line)')
    .option('--watch [interval]', 'repeat every interval (default 2s) until Ctrl-C', duration)
    .action(async (file: string, o: StatusOptions) => {
      // What status reads there (the lock's holder, an unfinished rollout, root's cache) only from a safe run directory.
      runDirReadable(cx.common().runDir);
      const stack = loadStack(file, { cache: cx.modelCache() });
      const d = cx.deps(stack, cx.common());
      const once = (): Promise<boolean> => printStatus(stack, d, cx.common().runDir, o);
      if (!o.watch) { cx.setExit((await once()) ? 0 : 1); return; }
      await everyUntilInterrupted(o.watch === true ? 2000 : o.watch, once);
    });
}

/** One status: gathered, printed as a table or JSON; true when every client serves. */
async function printStatus(stack: StackRef, d: Deps, runDir: string, o: StatusOptions): Promise<boolean> {
  // Over hosts: an unreachable host is a line of the status, not its end.
  const systemd = d.systemd instanceof HostsSystemd ? d.systemd.lenient() : d.systemd;
  const s = await gatherStatus({ stack, systemd, ...(d.lb ? { lb: d.lb } : {}) });
  if (!o.watch) { nothingRead(stack, s); nothingInstalled(stack, s, d.systemd); }
  const busy = lockHeldSafe(runDir, stack.stack);
  const journal = readJournal(runDir, stack.stack);
  if (o.json) {
    process.stdout.write(`${toJson({ ...s, ...(busy ? { operation: busy } : {}), ...(journal ? { unfinishedRollout: journal } : {}) })}\n`);
  } else {
    let text = renderTable(s);
    if (busy) text += `in progress: ${busy.operation} (pid ${busy.pid}, since ${busy.since})\n`;
    else if (journal) text += `unfinished rollout (started ${journal.startedAt}): stopped at ${journal.stopped?.client ?? Object.keys(journal.current).join(', ')}; continue with zstack rollout --resume ${stack.file}${journal.after?.length ? ` (then it runs ${showCommand(journal.after)})` : ''}\n`;
    // Watching on a terminal: the table replaces the previous one.
    process.stdout.write(o.watch && process.stdout.isTTY ? `\x1b[H\x1b[2J${text}` : `${text}${o.watch ? '\n' : ''}`);
  }
  return s.clients.every((c) => c.serving);
}

/**
 * A stack over hosts of which no host could be read: no table of `unreachable` rows, but EUNAVAILABLE (69) as for
 * one machine whose systemd is not there. Some hosts read: the table, with the lost hosts on their own lines.
 */
function nothingRead(stack: StackRef, s: StackStatus): void {
  const lost = s.unreachableHosts ?? []; // in hosts: order
  if (!lost.length || ![s.target, ...s.servers, ...s.clients].every((u) => u.load === 'unreachable')) return;
  throw new StackError('EUNAVAILABLE', `systemd is not reachable on any host of stack ${stack.stack}: ${lost.map((h) => `${h.host} (${h.error})`).join('; ')}`,
    { hint: `check that each host's ssh destination reaches its systemd as root (e.g. systemctl -H ${stack.model.hosts?.[0]?.ssh ?? 'root@HOST'} is-system-running), or run zstack on one of the hosts` });
}

/**
 * No unit of the stack is installed where systemd was asked: EUNAVAILABLE (69), naming them and how to install them,
 * as rollout and stop say it, instead of a table of `not-found` rows. Some installed: the table shows which are not.
 */
function nothingInstalled(stack: StackRef, s: StackStatus, systemd: SystemdHost): void {
  const units = [...s.servers, ...s.clients, s.target];
  if (!units.every((u) => u.load === 'not-found')) return;
  throw new StackError('EUNAVAILABLE', `units not installed on ${systemd.name}: ${units.map((u) => u.unit).join(', ')}`,
    { hint: stack.model.hosts ? `zunitgen deploy ${stack.file}` : `zunitgen generate ${stack.file} --out /etc/systemd/system && systemctl daemon-reload` });
}

/** Runs fn, then again every `everyMs`, until SIGINT/SIGTERM or until nobody reads the output. */
async function everyUntilInterrupted(everyMs: number, fn: () => Promise<unknown>): Promise<void> {
  const intr = interruptible(false);
  const stop = AbortSignal.any([intr.signal, readerGone]);
  try {
    while (!stop.aborted) {
      await fn();
      await new Promise((r) => { const t = setTimeout(r, everyMs); stop.addEventListener('abort', () => { clearTimeout(t); r(undefined); }, { once: true }); });
    }
  } finally { intr.dispose(); }
}

interface RolloutFlags { parallel: number; pause: number; resume?: boolean; drainTimeout?: number; upTimeout?: number }

function addRollout(cx: CliContext): void {
  stackCommand(cx, 'rollout', 'restart the clients one at a time: drain, no sessions left, restart, READY, UP in HAProxy, pause, next')
    .argument('[clients...]', 'only these clients (client2 or 2), in stack order; default all')
    .option('--parallel <n>', 'clients restarted together (never all of them)', count, 1)
    .option('--pause <duration>', 'pause after each client is UP', duration, 0)
    .option('--resume', 'continue the rollout that stopped (failed start, Ctrl-C) where it stopped, then run the command it was given after `--` (or the one given now)')
    .option('--drain-timeout <duration>', 'longest wait for a drained client\'s sessions to end', duration)
    .option('--up-timeout <duration>', 'longest wait for HAProxy to show a READY client UP', duration)
    .addHelpText('after', '\nAfter `--`, a command to run (without a shell) once every client is UP again, e.g.\n  zstack rollout plone.yaml -- varnishadm ban req.url "~" .')
    .action(async (file: string, clients: string[], o: RolloutFlags) => {
      const stack = loadStack(file);
      if (o.resume && clients.length) throw new StackError('EUSAGE', '--resume continues the clients of the rollout that stopped; name no clients with it');
      selectClients(stack, clients);
      const c = withTimeouts(cx.common(), o);
      const d = cx.deps(stack, c);
      const lb = needLb(stack, d);
      resolveAfter(cx.afterArgs); // refused before the lock is taken; --resume resolves a recorded one under it
      const r = await operate(stack, c, d, 'rollout', (ctx) => rollout({ ...ctx, lb },
        { clients, parallel: o.parallel, pauseMs: o.pause, resume: !!o.resume, runDir: c.runDir, after: cx.afterArgs }));
      process.stdout.write(`rollout of ${stack.stack} done: ${r.restarted.join(', ')} restarted in ${(r.elapsedMs / 1000).toFixed(1)} s, each back UP in HAProxy before the next\n`);
      if (r.after) {
        const code = await runAfter(r.after);
        process.stdout.write(`after-rollout command ${showCommand(r.after.argv)} exited ${code}\n`);
        if (code !== 0) cx.setExit(1);
      }
    });
}

interface RecycleFlags { memory?: bigint; maxAge?: number; dryRun?: boolean; drainTimeout?: number }

function addRecycle(cx: CliContext): void {
  stackCommand(cx, 'recycle', 'restart at most one client, drain first, if its instance memory or age is over the threshold and every other client is UP')
    .option('--memory <size>', 'instance RSS threshold (default: clients.recycle.memory)', size)
    .option('--max-age <duration>', 'maximum uptime (default: clients.recycle.max-age)', durationUpTo('span'))
    .option('--dry-run', 'say which client would be recycled, restart nothing')
    .option('--drain-timeout <duration>', 'longest wait for the client\'s sessions to end', duration)
    .action(async (file: string, o: RecycleFlags) => {
      const stack = loadStack(file);
      const c = withTimeouts(cx.common(), o);
      const d = cx.deps(stack, c);
      const lb = needLb(stack, d);
      const memoryBytes = o.memory ?? stack.recycle?.memoryBytes;
      const maxAgeMs = o.maxAge ?? stack.recycle?.maxAgeMs;
      const r = await operate(stack, c, d, 'recycle', (ctx) => recycle({ ...ctx, lb },
        { ...(memoryBytes !== undefined ? { memoryBytes } : {}), ...(maxAgeMs !== undefined ? { maxAgeMs } : {}), dryRun: !!o.dryRun }), { locked: !o.dryRun });
      process.stdout.write(r.client ? `${o.dryRun ? 'would recycle' : 'recycled'} ${r.reason}\n` : `${r.reason}\n`);
    });
}

function addStop(cx: CliContext): void {
  stackCommand(cx, 'stop', 'the whole stack down: every client drained at once, then stopped in reverse order; returns when all is inactive')
    .option('--no-drain', 'emergencies: stop at once, without waiting for sessions to end in HAProxy')
    .option('--drain-timeout <duration>', 'longest wait for sessions to end', duration)
    .action(async (file: string, o: { drain: boolean; drainTimeout?: number }) => {
      const stack = loadStack(file);
      const c = withTimeouts(cx.common(), o);
      const d = cx.deps(stack, c);
      const r = await operate(stack, c, d, 'stop', (ctx) => stopStack(ctx, { drain: o.drain }));
      if (r.alreadyStopped) { process.stdout.write(`stack ${stack.stack} is stopped already: every unit is inactive (nothing drained, nothing stopped)\n`); return; }
      if (r.notInactive.length) throw new StackError('EUNAVAILABLE', `still not inactive after the stop: ${r.notInactive.join(', ')}`, { hint: `systemctl status ${r.notInactive.join(' ')}` });
      process.stdout.write(`stack ${stack.stack} stopped in ${(r.elapsedMs / 1000).toFixed(1)} s${r.drained.length ? ` (drained first: ${r.drained.join(', ')})` : ''}; every unit is inactive\n`);
    });
}

function addTry(cx: CliContext): void {
  stackCommand(cx, 'try', 'boot a disposable systemd, generate and start this stack in it, then status, a rollout and a stop, and tear it all down (root)')
    .option('--start-timeout <duration>', 'longest wait for `systemctl start` of the stack (default: the warm-up budget for each client and ZEO, plus 60 s)', duration)
    .action(async (file: string, o: { startTimeout?: number }) => {
      // Loaded only here: it brings the templates and the disposable systemd, which status never needs.
      const { tryStack } = await import('./try.js');
      cx.setExit(await tryStack(file, o.startTimeout !== undefined ? { startTimeoutMs: o.startTimeout } : {}));
    });
}

function lockHeldSafe(runDir: string, stack: string): ReturnType<typeof lockHeld> {
  try { return lockHeld(runDir, stack); } catch { return undefined; }
}

/**
 * Any error as one line (and a hint) on stderr and its exit status; with `json` (the command was given --json), also
 * one JSON object on stdout, `{"error": {"code", "message", "hint"?, "exitCode"}}`, so a script reading stdout gets
 * an answer either way.
 */
export function report(e: unknown, json = false): number {
  const ce = e as { code?: string; exitCode?: number; message?: string };
  let out: { code: string; message: string; hint?: string; exitCode: number };
  if (e instanceof StackError) {
    process.stderr.write(`zstack: ${e.message}\n${e.hint ? `  hint: ${e.hint}\n` : ''}`);
    out = { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}), exitCode: e.exitCode };
  } else if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) {
    if (ce.code === 'commander.helpDisplayed' || ce.code === 'commander.version' || ce.code === 'commander.help') return 0;
    out = { code: 'EUSAGE', message: (ce.message ?? '').replace(/^error: /, ''), exitCode: 64 };
  } else {
    process.stderr.write(`zstack: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    out = { code: 'EINTERNAL', message: (e as Error)?.message ?? String(e), exitCode: 70 };
  }
  if (json) process.stdout.write(`${toJson({ error: out })}\n`);
  return out.exitCode;
}

/**
 * The command line as the executable runs it. A reader going away (`zstack status --watch | head`) ends a
 * watch and makes the exit status 141; an operation under way (rollout, stop) still finishes, with every
 * drained client put back (docs/exit-codes.md).
 */
export async function main(argv: readonly string[], run: RunOptions = {}): Promise<number> {
  readerGone = watchBrokenPipe().signal;
  const dd = argv.indexOf('--', 2);
  const own = dd < 0 ? argv : argv.slice(0, dd);
  const after = dd < 0 ? [] : argv.slice(dd + 1);
  const { program, exit } = buildProgram(localDeps, after, run);
  try {
    await program.parseAsync([...own], { from: 'node' });
    return exit();
  } catch (e) {
    return report(e, own.includes('--json'));
  }
}

