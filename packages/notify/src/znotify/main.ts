// znotify: the ExecStart= wrapper that makes a Zope instance a true Type=notify service.
// The `znotify` executable is dist/znotify/cli.js: this module with its dependencies bundled into one file by
// scripts/bundle-znotify.mjs (less resident memory, faster start); dist/znotify/main.js runs the same unbundled.
//
//   znotify run --name client1 --config /etc/zope-systemd/client1.yaml -- /srv/plone/bin/client1 console
//   znotify check --config /etc/zope-systemd/client1.yaml
//
// Exit statuses are decided here and nowhere else (exitFor; the table is docs/exit-codes.md): the instance's
// status (128+signal when it died of one), 64 for a wrong command line, 66 (EX_NOINPUT) for a config file
// that cannot be read, 78 (EX_CONFIG) for configuration errors, so `RestartPreventExitStatus=64 66 78` ends a
// restart loop, 1 for any other failure to start, 70 for an internal error. Failures are one plain line on stderr.
//
// Memory (the target: little private memory, flat over time; figures and the reasons in
// docs/benchmarks/znotify-memory.md). The wrapper lives as long as the instance and does a little work often,
// so V8's defaults, tuned for throughput, cost more memory than the work needs. Before anything else is loaded
// (the rest of the module graph is imported dynamically below, after these lines) three V8 flags are set
// through v8.setFlagsFromString, which works for them at run time (measured: each changed RSS as on the
// command line; --max-semi-space-size does NOT, the heap is configured by then). They apply however node
// is started (`znotify ...`, `node cli.js ...`, `node main.js ...`, an ExecStart= prefix), and a flag given
// on node's own command line or in NODE_OPTIONS wins:
//   --semi-space-growth-factor=1  the young generation stays at its initial 2 x 1 MiB instead of growing
//                                 to 2 x 16 MiB under the steady allocation of checks (-20 MiB at 10 ms);
//   --max-opt=1                   Ignition + Sparkplug, no optimizing compiler: TurboFan pages in ~4 MiB
//                                 of node's code and allocates ~3 MiB more (+8 MiB measured) to save ~10 %
//                                 of the CPU of checks every 10 ms (Sparkplug itself: no measurable RSS);
//   --optimize-for-size           V8's own memory-over-speed trade-offs (heap growth, page release).
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { SignalInbox } from './signals.js';
import type { Config, Flags } from './config.js';
import type { ConfigProblem } from './errors.js';
import type { Running } from './run.js';

const V8_FLAGS: readonly string[] = ['--semi-space-growth-factor=1', '--max-opt=1', '--optimize-for-size'];

/** The V8 flags the wrapper sets, minus those the command line or NODE_OPTIONS already decides. */
export function v8FlagsToSet(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map((a) => a.replace(/^--(no-)?/, '').split('=')[0]!.replace(/_/g, '-'));
  return V8_FLAGS.filter((f) => !given.includes(f.replace(/^--/, '').split('=')[0]!));
}
for (const f of v8FlagsToSet()) v8.setFlagsFromString(f);

// `run` catches its signals from here on (signals.ts says why); `check` keeps the default actions (Ctrl-C).
const inbox = process.argv[2] === 'run' ? new SignalInbox() : undefined;

// A reader going away (`znotify check --print | head`) ends the command quietly, exit 141 (docs/exit-codes.md).
// `run` exits with its instance's status whatever became of its stderr.
const { watchBrokenPipe } = await import('@zope-systemd/common');
watchBrokenPipe({ setStatus: process.argv[2] !== 'run' });
const { Command, CommanderError, Option } = await import('commander');
const { loadConfig } = await import('./config.js');
const { ConfigError, EXIT, formatWarning, InputError, ZnotifyError } = await import('./errors.js');
const { problemRecord } = await import('@zope-systemd/common');
const { createLogger, redact } = await import('./log.js');
const { LogOutput } = await import('./log-output.js');
const { start } = await import('./run.js');

/** One message on stderr, redacted: a config error quotes the value it refuses, which may be a DSN. */
function line(text: string): void {
  process.stderr.write(`znotify: ${redact(text).replace(/\n/g, '\nznotify: ')}\n`);
}

/** Maps any error to its exit status (docs/exit-codes.md). The only place that knows exit codes. */
export function exitFor(err: unknown): number {
  if (err instanceof ZnotifyError) return err.exitCode;
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT.USAGE;
  return EXIT.SOFTWARE;
}

interface RunFlags {
  name?: string;
  config?: string;
  http?: string;
  healthAgent?: string;
  healthHttp?: string;
  logLevel?: string;
}

function toFlags(o: RunFlags, command: string[]): Flags {
  const f: Flags = {};
  if (o.name !== undefined) f.name = o.name;
  if (o.http !== undefined) f.http = o.http;
  if (o.healthAgent !== undefined) f.healthAgent = o.healthAgent;
  if (o.healthHttp !== undefined) f.healthHttp = o.healthHttp;
  if (o.logLevel !== undefined) f.logLevel = o.logLevel;
  if (command.length) f.command = command;
  return f;
}

async function runCommand(o: RunFlags, command: string[]): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(o.config, toFlags(o, command), { requireCommand: true, warn: (w) => line(formatWarning(w)) });
  } catch (err) {
    if (err instanceof ZnotifyError) line(err.message);
    else line(`cannot load the configuration: ${(err as Error).message}`);
    return exitFor(err);
  }
  // Non-blocking: a stalled journal must not stop the pings and health answers (log-output.ts).
  const output = new LogOutput();
  const log = createLogger({ level: config.log.level, name: config.name, output });
  // Node's own warnings go to the log too: its default printer writes to process.stderr, which would make the
  // stderr description (shared with the instance) non-blocking and write to it outside the log output.
  process.removeAllListeners('warning');
  process.on('warning', (w) => log.warn({ warning: w.name, code: (w as NodeJS.ErrnoException).code }, `node: ${w.message}`));
  if (inbox) inbox.onDrop = (signal) => log.warn({ signal }, `${signal} arrived before the instance was running: not forwarded`);
  let running: Running | undefined;
  // If the wrapper itself fails, the instance goes first: never leave it orphaned.
  const die = (err: unknown) => {
    try { running?.kill(); } catch { /* already gone */ }
    line(`internal error: ${(err as Error)?.stack ?? String(err)}`);
    process.exit(EXIT.SOFTWARE);
  };
  process.on('uncaughtException', die);
  process.on('unhandledRejection', die);
  process.on('exit', () => {
    if (running?.child.alive) running.kill();
    output.flushSync(); // the last lines (why the wrapper exits) get a second to get out
  });
  try {
    running = await start(config, log, inbox ? { signals: inbox } : {});
    running.state.attachLogOutput(output);
  } catch (err) {
    if (err instanceof ZnotifyError) line(err.message);
    else line(`cannot start: ${(err as Error)?.message ?? String(err)}`);
    return exitFor(err);
  }
  return await running.done;
}

/** `check --json`'s warnings, when there are any (records of the problems' shape). */
function warningRecords(warnings: readonly ConfigProblem[]): { warnings?: ReturnType<typeof problemRecord>[] } {
  return warnings.length ? { warnings: warnings.map((w) => problemRecord({ ...w, message: redact(w.message) })) } : {};
}

function checkCommand(o: { config?: string; print?: boolean; json?: boolean }, command: string[]): number {
  const warnings: ConfigProblem[] = [];
  const printWarnings = () => { if (!o.json) for (const w of warnings) line(formatWarning(w)); };
  try {
    const cfg = loadConfig(o.config, command.length ? { command } : {}, { requireCommand: false, warn: (w) => warnings.push(w) });
    printWarnings();
    if (o.json) process.stdout.write(`${JSON.stringify({ ok: true, problems: [], ...warningRecords(warnings) }, null, 2)}\n`);
    else if (o.print) process.stdout.write(JSON.stringify(cfg, null, 2) + '\n');
    else process.stdout.write(`${o.config ?? '(flags)'}: ok (${cfg.checks.length} check${cfg.checks.length === 1 ? '' : 's'}, ${cfg.warmup.urls.length} warm-up URL${cfg.warmup.urls.length === 1 ? '' : 's'})\n`);
    return 0;
  } catch (err) {
    if (o.json && (err instanceof ConfigError || err instanceof InputError)) {
      // Values quoted in messages are redacted here as on stderr: a refused value may be a DSN.
      const problems = err.problems.map((p) => problemRecord({ ...p, message: redact(p.message) }));
      process.stdout.write(`${JSON.stringify({ ok: false, problems, ...warningRecords(warnings) }, null, 2)}\n`);
    } else { printWarnings(); line((err as Error).message); }
    return exitFor(err);
  }
}

/** The version of the installed package: package.json sits two levels above dist/znotify/ (and src/znotify/). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export async function main(argv: string[]): Promise<number> {
  let status = 0;
  const program = new Command('znotify')
    .description('Runs a Zope/Plone instance as a Type=notify systemd service: warm-up gating, health checks, watchdog, HAProxy agent, graceful drain.')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showSuggestionAfterError(true)
    .enablePositionalOptions();

  program.command('run')
    .description('start COMMAND, report READY=1 after warm-up, serve health, stop gracefully')
    .option('-c, --config <file>', 'YAML configuration file')
    .option('-n, --name <name>', 'instance name (logs, STATUS=, HAProxy server name)')
    .option('--http <addr>', "the instance's own HTTP address (host:port)")
    .option('--health-agent <addr>', 'HAProxy agent-check listener (host:port)')
    .option('--health-http <addr>', 'health HTTP listener (host:port)')
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']))
    .argument('[command...]', 'the instance command, after --')
    .passThroughOptions()
    .action(async (command: string[], o: RunFlags) => { status = await runCommand(o, command); });

  program.command('check')
    .description('validate a configuration; exit 0 when valid, 78 when not, 66 when the file cannot be read')
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .option('--print', 'print the validated configuration as JSON (durations in ms)')
    .option('--json', 'print {"ok", "problems": [{file, line, col, key, message, fix}]} on stdout instead of lines on stderr (docs/exit-codes.md)')
    .argument('[command...]', 'optional instance command, after --')
    .action((command: string[], o: { config?: string; print?: boolean; json?: boolean }) => { status = checkCommand(o, command); });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    // commander has printed its message already (usage errors, --help, --version)
    if (err instanceof CommanderError) return exitFor(err);
    line((err as Error).message);
    return exitFor(err);
  }
  return status;
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Exit now: an idle keep-alive connection or a stray timer must not hold the wrapper up after the child is gone.
process.exit(code);
