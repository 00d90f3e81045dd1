#!/usr/bin/env node
// znotify: the ExecStart= wrapper that makes a Zope instance a true Type=notify service.
//
//   znotify run --name client1 --config /etc/zope-systemd/client1.yaml -- /srv/plone/bin/client1 console
//   znotify check --config /etc/zope-systemd/client1.yaml
//
// Exit statuses are decided here and nowhere else: the child's status (128+signal when it died of one),
// 78 (EX_CONFIG) for configuration errors so `RestartPreventExitStatus=78` ends a restart loop, 1 for any
// other failure to start. Start failures are one plain line on stderr.
import { Command, CommanderError, Option } from 'commander';
import { loadConfig, type Config, type Flags } from './config.js';
import { ConfigError, EXIT_CONFIG, EXIT_START, StartError } from './errors.js';
import { createLogger } from './log.js';
import { start, type Running } from './run.js';

function line(text: string): void {
  process.stderr.write(`znotify: ${text.replace(/\n/g, '\nznotify: ')}\n`);
}

/** Maps any error to (message, exit status). The only place that knows exit codes. */
export function exitFor(err: unknown): number {
  if (err instanceof ConfigError) return EXIT_CONFIG;
  if (err instanceof StartError) return err.exitCode;
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_CONFIG;
  return EXIT_START;
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
    config = loadConfig(o.config, toFlags(o, command), { requireCommand: true });
  } catch (err) {
    if (err instanceof ConfigError) line(err.message);
    else line(`cannot load the configuration: ${(err as Error).message}`);
    return exitFor(err);
  }
  const log = createLogger({ level: config.log.level, name: config.name });
  let running: Running | undefined;
  // If the wrapper itself fails, the instance goes first: never leave it orphaned.
  const die = (err: unknown) => {
    try { running?.kill(); } catch { /* already gone */ }
    line(`internal error: ${(err as Error)?.stack ?? String(err)}`);
    process.exit(EXIT_START);
  };
  process.on('uncaughtException', die);
  process.on('unhandledRejection', die);
  process.on('exit', () => { if (running?.child.alive) running.kill(); });
  try {
    running = await start(config, log);
  } catch (err) {
    if (err instanceof StartError || err instanceof ConfigError) line(err.message);
    else line(`cannot start: ${(err as Error)?.message ?? String(err)}`);
    return exitFor(err);
  }
  return await running.done;
}

function checkCommand(o: { config?: string; print?: boolean }, command: string[]): number {
  try {
    const cfg = loadConfig(o.config, command.length ? { command } : {}, { requireCommand: false });
    if (o.print) process.stdout.write(JSON.stringify(cfg, null, 2) + '\n');
    else process.stdout.write(`${o.config ?? '(flags)'}: ok (${cfg.checks.length} check${cfg.checks.length === 1 ? '' : 's'}, ${cfg.warmup.urls.length} warm-up URL${cfg.warmup.urls.length === 1 ? '' : 's'})\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) line(err.message);
    else line((err as Error).message);
    return exitFor(err);
  }
}

export async function main(argv: string[]): Promise<number> {
  let status = 0;
  const program = new Command('znotify')
    .description('Runs a Zope/Plone instance as a Type=notify systemd service: warm-up gating, health checks, watchdog, HAProxy agent, graceful drain.')
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
    .description('validate a configuration; exit 0 when valid, 78 when not')
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .option('--print', 'print the validated configuration as JSON (durations in ms)')
    .argument('[command...]', 'optional instance command, after --')
    .action((command: string[], o: { config?: string; print?: boolean }) => { status = checkCommand(o, command); });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0;
      // commander already printed its message
      return EXIT_CONFIG;
    }
    line((err as Error).message);
    return exitFor(err);
  }
  return status;
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Exit now: an idle undici pool or a stray timer must not hold the wrapper up after the child is gone.
process.exit(code);
