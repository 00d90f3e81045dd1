// Generator mode (systemd.generator(7)): reads every *.yaml in /etc/zope-systemd (or $ZUNITGEN_CONFIG_DIR)
// and writes the units into the directory systemd passes. Runs early at boot: no network, no heavy modules
// (no commander), errors to /dev/kmsg. A broken config is reported and skipped; the others are still
// generated.
//
// A stack over several hosts: the generator writes this machine's unit set, the same one `zunitgen deploy` would
// install here. Which host this machine is: the name in <config dir>/this-host when that file exists, else the
// machine's hostname up to its first dot (PID 1 has set it from /etc/hostname before generators run). The
// network is not up yet, so addresses cannot decide it.

import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigError, formatIssue, formatWarning } from './errors.js';
import { kmsgLogger } from './generator-log.js';
import { shadowDirs, SYSTEM_UNIT_PATH } from './unit-references.js';
import { decodeConfig, parseStack } from './parse.js';
import { builtinTemplates } from './builtin-templates.js';
import { renderWith, type Compiled, type GeneratedFile } from './render.js';
import { renderHostsWith } from './render-hosts.js';
import type { StackModel } from './model.js';

export const DEFAULT_CONFIG_DIR = '/etc/zope-systemd';

export interface GeneratorResult { stacks: string[]; files: string[]; failed: string[] }

export function runGenerator(normalDir: string, opts: { configDir?: string; log?: (level: 'err' | 'warning' | 'info', msg: string) => void; templates?: Compiled } = {}): GeneratorResult {
  const configDir = opts.configDir ?? process.env.ZUNITGEN_CONFIG_DIR ?? DEFAULT_CONFIG_DIR;
  const log = opts.log ?? kmsgLogger();
  const res: GeneratorResult = { stacks: [], files: [], failed: [] };
  let names: string[];
  try {
    names = fs.readdirSync(configDir).filter((n) => /\.ya?ml$/.test(n) && !n.startsWith('.')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return res; // nothing configured: not an error
    throw e;
  }
  if (names.length === 0) return res;
  const compiled = opts.templates ?? builtinTemplates();
  /** Each unit name written so far, and the config it came from. */
  const taken = new Map<string, string>();
  const searchPath = shadowDirs(SYSTEM_UNIT_PATH).filter((d) => d !== normalDir);
  for (const n of names) {
    const file = join(configDir, n);
    let files: GeneratedFile[];
    let stack: string;
    try {
      // Generated units sit in /run/systemd/generator, above the vendor units and below /etc and /run/systemd/system:
      // a name that exists anywhere in the search path would replace a unit, or be hidden by one.
      const m = parseStack(decodeConfig(fs.readFileSync(file), file), { file, shadowCheck: { dirs: searchPath, exists: fs.existsSync }, warn: (i) => log('warning', formatWarning(i)) });
      files = unitsOfThisMachine(m, compiled, normalDir, configDir);
      stack = m.stack;
      const clash = files.find((f) => taken.has(f.name));
      // The message names this file once: the log line below puts it in front.
      if (clash) throw new Error(`${clash.name} is also generated from ${taken.get(clash.name)}; give each stack its own name (stack:)`);
      for (const f of files) fs.writeFileSync(join(normalDir, f.name), f.content, { flag: 'wx', mode: 0o644 });
      for (const f of files) taken.set(f.name, file);
      // [Install] is ignored for generated units (they cannot be enabled): create the .wants links here.
      for (const wb of m.wantedBy) {
        const wants = join(normalDir, `${wb}.wants`);
        fs.mkdirSync(wants, { recursive: true });
        fs.symlinkSync(`../${m.target}`, join(wants, m.target));
      }
    } catch (e) {
      res.failed.push(file);
      if (e instanceof ConfigError) for (const i of e.issues) log('err', formatIssue(i));
      else log('err', `${file}: ${(e as Error).message}`);
      continue;
    }
    res.stacks.push(stack);
    res.files.push(...files.map((f) => f.name));
  }
  return res;
}

/** The file naming this machine's host for stacks with hosts:, when its hostname is not that name. */
const THIS_HOST_FILE = 'this-host';

/** Which of the stack's hosts this machine is (see the top of this file), or an error naming the fix. */
function thisHost(m: StackModel, configDir: string, machineName: string = hostname()): string {
  const names = (m.hosts ?? []).map((h) => h.name);
  const file = `${configDir}/${THIS_HOST_FILE}`;
  let explicit: string | undefined;
  try { explicit = fs.readFileSync(file, 'utf8').trim(); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
  if (explicit !== undefined) {
    if (names.includes(explicit)) return explicit;
    throw new Error(`${file} names host ${JSON.stringify(explicit)}, which is not one of stack ${m.stack}'s hosts (${names.join(', ')}): write one of them there`);
  }
  const short = machineName.split('.')[0]!.toLowerCase();
  if (names.includes(short)) return short;
  throw new Error(`this machine (hostname ${JSON.stringify(machineName)}) is none of stack ${m.stack}'s hosts (${names.join(', ')}): `
    + `name the host after the machine in hosts[].name, write its name into ${file}, or install the stack with zunitgen deploy instead of the generator`);
}

/** The units of one stack that this machine runs: all of them, or with hosts: this host's set. */
function unitsOfThisMachine(m: StackModel, compiled: Compiled, normalDir: string, configDir: string): GeneratedFile[] {
  const opts = { outDir: normalDir, generator: 'zunitgen generator', regenerate: 'run `systemctl daemon-reload` (zunitgen\'s systemd generator writes it)' };
  if (!m.hosts) return renderWith(m, compiled, opts);
  const me = thisHost(m, configDir);
  return renderHostsWith(m, compiled, opts).hosts.find((h) => h.host.name === me)!.files;
}

/** Entry point: argv = NORMAL_DIR [EARLY_DIR LATE_DIR]. */
export function generatorMain(argv: string[]): number {
  const log = kmsgLogger();
  if (argv.length !== 1 && argv.length !== 3) {
    log('err', `usage: zunitgen-generator NORMAL_DIR [EARLY_DIR LATE_DIR], got ${argv.length} arguments`);
    return 1;
  }
  try {
    const r = runGenerator(argv[0]!, { log });
    return r.failed.length ? 1 : 0;
  } catch (e) {
    log('err', `failed: ${(e as Error).message}`);
    return 1;
  }
}
