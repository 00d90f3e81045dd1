// Generator mode (systemd.generator(7)): reads every *.yaml in /etc/zope-systemd (or $ZUNITGEN_CONFIG_DIR)
// and writes the units into the directory systemd passes. Runs early at boot: no network, no heavy modules
// (no commander), errors to /dev/kmsg. A broken config is reported and skipped; the others are still
// generated.

import * as fs from 'node:fs';
import { join } from 'node:path';
import { ConfigError, formatIssue } from './errors.js';
import { kmsgLogger } from './generator-log.js';
import { shadowDirs, SYSTEM_UNIT_PATH } from './unit-references.js';
import { decodeConfig, parseStack } from './parse.js';
import { builtinTemplates } from './builtin-templates.js';
import { renderWith, type Compiled, type GeneratedFile } from './render.js';

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
  const taken = new Set<string>();
  const searchPath = shadowDirs(SYSTEM_UNIT_PATH).filter((d) => d !== normalDir);
  for (const n of names) {
    const file = join(configDir, n);
    let files: GeneratedFile[];
    let stack: string;
    try {
      // Generated units sit in /run/systemd/generator, above the vendor units and below /etc and /run/systemd/system:
      // a name that exists anywhere in the search path would replace a unit, or be hidden by one.
      const m = parseStack(decodeConfig(fs.readFileSync(file), file), { file, shadowCheck: { dirs: searchPath, exists: fs.existsSync } });
      // Which host is this one? A generator cannot know: each host gets its own set from `zunitgen deploy`.
      if (m.hosts) throw new Error('a stack over several hosts (hosts:) is installed by `zunitgen deploy`, not by the generator');
      files = renderWith(m, compiled, { outDir: normalDir, generator: 'zunitgen generator', regenerate: 'run `systemctl daemon-reload` (zunitgen\'s systemd generator writes it)' });
      stack = m.stack;
      const clash = files.find((f) => taken.has(f.name));
      if (clash) throw new Error(`${file}: ${clash.name} is also generated from another config`);
      for (const f of files) fs.writeFileSync(join(normalDir, f.name), f.content, { flag: 'wx', mode: 0o644 });
      for (const f of files) taken.add(f.name);
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
