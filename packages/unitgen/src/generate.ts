// The pipeline of `zunitgen generate`, as a function: read -> parse -> render -> (plan | write).

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { decodeConfig, parseStack } from './parse.js';
import { ActiveUnitsError, describeErrno, InputError, OutputConflictError, type ConfigIssue } from './errors.js';
import { builtinTemplates } from './builtin-templates.js';
import { compileTemplates, createEnv } from './compile.js';
import { renderWith, type Compiled, type GeneratedFile } from './render.js';
import { loadTemplates } from './templates.js';
import { plan, planDiff, write, type Plan } from './io.js';
import type { HostModel, StackModel } from './model.js';
import { shadowDirs, VENDOR_UNIT_PATH } from './unit-references.js';
import { renderHostsWith } from './render-hosts.js';

export interface GenerateOptions {
  out: string;
  templates?: string;
  dryRun?: boolean;
  diff?: boolean;
  force?: boolean;
  /** Name of the config in headers and errors; defaults to the path as given. */
  sourceName?: string;
  /** How long to wait for another zunitgen writing the same directory (default 30 s; then exit 75). */
  lockTimeoutMs?: number;
  /** Crash tests: SIGKILL this process at the named step of the write (transaction.ts; $ZUNITGEN_CRASH_AT in the CLI). */
  crashAt?: string;
  /** Takes each warning about the config (valid, but likely not what was meant). */
  warn?: (issue: ConfigIssue) => void;
  /** With hosts: where the unit sets will live on each host (the znotify configs are read from there). */
  hostDir?: string;
}

export interface GenerateResult {
  model: StackModel;
  /** One-machine stack: every file. With hosts: the HAProxy files (written into `out` itself). */
  files: GeneratedFile[];
  plan: Plan;
  diff?: string;
  /** With hosts: each host's unit set, written into `<out>/<host name>/`. */
  hosts?: Array<{ host: HostModel; files: GeneratedFile[]; plan: Plan }>;
}

/** A config file's text: strict UTF-8 (decodeConfig); InputError (66) when it cannot be read. */
export function readConfig(path: string, file = path): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const d = describeErrno(e, 'input');
    throw new InputError(path, d.what, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'give the path of a stack config (YAML)' : d.fix, { cause: e });
  }
  return decodeConfig(bytes, file);
}

/** Throws ConfigError (78), TemplateError (78) or OutputConflictError before anything is written. */
export function generate(configPath: string, opts: GenerateOptions): GenerateResult {
  const text = readConfig(configPath, opts.sourceName ?? configPath);
  // The output is meant for the unit search path: its names must not replace a unit the distribution ships.
  const model = parseStack(text, { file: opts.sourceName ?? configPath, shadowCheck: { dirs: shadowDirs(VENDOR_UNIT_PATH), exists: existsSync }, ...(opts.warn ? { warn: opts.warn } : {}) });
  const outDir = resolve(opts.out);
  if (model.hosts) return generateHosts(model, outDir, opts, resolve(configPath));
  const files = renderWith(model, templatesFor(opts), { outDir, configPath: resolve(configPath) });
  const meta = { stack: model.stack, source: model.source };
  const p = opts.dryRun ? plan(outDir, model.prefix, files, opts) : undefined;
  const diffText = opts.diff ? planDiff(p ?? plan(outDir, model.prefix, files, opts), files) : undefined;
  const crashAt = opts.crashAt;
  const done = p ?? write(outDir, model.prefix, files, meta, {
    ...(opts.force ? { force: true } : {}),
    ...(opts.lockTimeoutMs !== undefined ? { lockTimeoutMs: opts.lockTimeoutMs } : {}),
    ...(crashAt ? { crash: (point: string) => { if (point === crashAt) process.kill(process.pid, 'SIGKILL'); } } : {}),
  });
  return diffText !== undefined ? { model, files, plan: done, diff: diffText } : { model, files, plan: done };
}

/** The built-in templates (compiled into the package), or with --templates Handlebars over DIR + the built-in sources. */
export function templatesFor(opts: { templates?: string }): Compiled {
  return opts.templates === undefined ? builtinTemplates() : compileTemplates(createEnv(), loadTemplates(opts.templates));
}

/**
 * A stack over several hosts: `<out>/<host>/` per host (rendered for `hostDir`, default /etc/systemd/system,
 * where deploy installs it) and the HAProxy files in `<out>`. Every plan is made, and every conflict found,
 * before anything is written.
 */
function generateHosts(model: StackModel, outDir: string, opts: GenerateOptions, configPath: string): GenerateResult {
  const hostDir = opts.hostDir ?? '/etc/systemd/system';
  const r = renderHostsWith(model, templatesFor(opts), { outDir: hostDir, configPath });
  const meta = { stack: model.stack, source: model.source };
  const sets = [...r.hosts.map((h) => ({ host: h.host as HostModel | undefined, dir: join(outDir, h.host.name), files: h.files })), { host: undefined, dir: outDir, files: r.haproxy }];
  const plans = sets.map((s) => plan(s.dir, model.prefix, s.files, opts));
  const conflicts = plans.flatMap((p) => p.conflicts.map((c) => `${join(p.outDir, c.name)} (${c.reason})`));
  let diffText: string | undefined;
  if (opts.diff) diffText = sets.map((s, i) => planDiff(plans[i]!, s.files)).join('');
  if (!opts.dryRun) {
    if (conflicts.length) throw new OutputConflictError(conflicts, 'nothing was written');
    const running = plans.find((p) => p.running.length);
    if (running) throw new ActiveUnitsError(running.outDir, running.running);
    // The HAProxy files first: that creates the out dir the host dirs go into.
    const last = sets.length - 1;
    plans[last] = write(outDir, model.prefix, r.haproxy, meta, opts);
    for (let i = 0; i < last; i++) plans[i] = write(sets[i]!.dir, model.prefix, sets[i]!.files, meta, opts);
  }
  const hosts = sets.slice(0, -1).map((s, i) => ({ host: s.host!, files: s.files, plan: plans[i]! }));
  const res: GenerateResult = { model, files: r.haproxy, plan: plans.at(-1)!, hosts };
  if (diffText !== undefined) res.diff = diffText;
  return res;
}
