// `zunitgen verify DIR`: systemd-analyze verify on the generated units, failing on warnings too
// (systemd #23860: verify exits 0 when it only printed warnings). Only the stacks' own units: the ones their
// manifests in DIR list (or, given the stack file, that stack's); DIR is often /etc/systemd/system, where a vendor
// unit's warning is not the stack's problem. A directory without a manifest (units rendered another way) is
// verified whole, and the result says so.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnavailableError, VerifyError } from './errors.js';
import { readInputDirectory } from './input-directory.js';
import { belongsToStack, readManifest } from './manifest.js';
import { SYSTEM_UNIT_PATH, unresolvedReferences } from './unit-references.js';

const UNIT_SUFFIXES = ['.service', '.socket', '.target', '.slice', '.timer', '.path', '.mount'];

export interface VerifyOptions {
  /**
   * Verify inside a temporary root (systemd-analyze --root) that holds the host's system units, the units
   * under test and an executable stub at every absolute Exec*= path. For checking generated units on a
   * machine where /srv/plone/bin/... or znotify are not installed (CI, golden fixtures).
   */
  stubExec?: boolean;
  systemdAnalyze?: string;
  /** Where the host's vendor units are (copied into the temporary root). */
  systemUnitDir?: string;
  /** Where a referenced unit that is not in the directory may be (default: the system unit search path). */
  unitPath?: readonly string[];
  /** Only this stack's units (its unit prefix, from its stack file); default: every stack with a manifest in the directory. */
  prefix?: string;
}

/**
 * Whose units were verified: the stacks (unit prefixes) whose manifests named them, or, with no manifest in the
 * directory, every unit in it.
 */
export type VerifyScope = { stacks: string[] } | { directory: true };

export interface VerifyResult { ok: boolean; output: string; units: string[]; scope: VerifyScope }

/** The executables of every Exec*= line of a unit file (first word, prefixes and quotes removed). */
export function execPaths(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*Exec[A-Za-z]*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let rest = m[1]!;
    let word: string;
    if (rest.startsWith('"')) {
      const end = /^"((?:[^"\\]|\\.)*)"/.exec(rest);
      word = (end?.[1] ?? '').replace(/\\(.)/g, '$1');
    } else {
      word = rest.split(/\s+/)[0] ?? '';
    }
    rest = word.replace(/^[-@:+!]+/, '').replace(/%%/g, '%');
    if (rest.startsWith('/')) out.push(rest);
  }
  return out;
}

export function listUnits(dir: string): string[] {
  return readInputDirectory(dir, 'give the directory zunitgen generate wrote the units into (its --out)').filter((n) => UNIT_SUFFIXES.some((s) => n.endsWith(s)) && fs.statSync(join(dir, n)).isFile()).sort();
}

const MANIFEST = /^\.zunitgen-(.+)\.manifest\.json$/;

/**
 * The units to verify: those the manifests in `dir` list (only `prefix`'s when given) that are there; every unit in
 * `dir` when it has no manifest at all. A stack given that has neither manifest nor units there is an error.
 */
export function stackUnits(dir: string, prefix?: string): { units: string[]; scope: VerifyScope } {
  const all = listUnits(dir);
  const prefixes = readInputDirectory(dir, 'give the directory zunitgen generate wrote the units into (its --out)')
    .map((n) => MANIFEST.exec(n)?.[1]).filter((p): p is string => p !== undefined && (prefix === undefined || p === prefix)).sort();
  if (prefixes.length === 0 && prefix === undefined) return { units: all, scope: { directory: true } };
  if (prefixes.length === 0) {
    // Written without a manifest (an older zunitgen, the library's render): the stack's names.
    const own = all.filter((u) => belongsToStack(u, prefix!));
    if (own.length === 0) throw new VerifyError(`no unit files of stack ${prefix} in ${dir}`, `  hint: give the directory zunitgen generate wrote that stack's units into (its --out)`);
    return { units: own, scope: { stacks: [prefix!] } };
  }
  const listed = new Set(prefixes.flatMap((p) => Object.keys(readManifest(dir, p)?.files ?? {})));
  return { units: all.filter((u) => listed.has(u)), scope: { stacks: prefixes } };
}

export function verify(dir: string, opts: VerifyOptions = {}): VerifyResult {
  const { units, scope } = stackUnits(dir, opts.prefix);
  if (units.length === 0) throw new VerifyError(`no unit files (${UNIT_SUFFIXES.join(', ')}) in ${dir}`, '  hint: give the directory zunitgen generate wrote the units into (its --out)');
  const exe = opts.systemdAnalyze ?? 'systemd-analyze';
  let args: string[];
  let root: string | undefined;
  if (opts.stubExec) {
    root = fs.mkdtempSync(join(tmpdir(), 'zunitgen-verify-'));
    const vendor = opts.systemUnitDir ?? '/usr/lib/systemd/system';
    fs.mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
    if (fs.existsSync(vendor)) fs.cpSync(vendor, join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    const etc = join(root, 'etc/systemd/system');
    fs.mkdirSync(etc, { recursive: true });
    for (const u of units) {
      const text = fs.readFileSync(join(dir, u), 'utf8');
      fs.writeFileSync(join(etc, u), text);
      for (const p of execPaths(text)) {
        const target = join(root, p);
        fs.mkdirSync(join(target, '..'), { recursive: true });
        if (!fs.existsSync(target)) fs.writeFileSync(target, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
      }
    }
    args = ['verify', '--man=no', `--root=${root}`, ...units];
  } else {
    args = ['verify', '--man=no', ...units.map((u) => join(dir, u))];
  }
  try {
    const r = spawnSync(exe, args, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, SYSTEMD_LOG_COLOR: '0', SYSTEMD_PAGER: '' } });
    if (r.error) {
      const code = (r.error as NodeJS.ErrnoException).code;
      throw new UnavailableError(`cannot run ${exe}: ${code === 'ENOENT' ? 'no such program' : code === 'EACCES' ? 'not executable (EACCES)' : r.error.message}\n  hint: install systemd's systemd-analyze, or give its path with --systemd-analyze PATH`, { cause: r.error });
    }
    // References that resolve nowhere: systemd-analyze loads them as "not found" units without a word.
    const searchPath = opts.unitPath ?? (opts.stubExec ? [opts.systemUnitDir ?? '/usr/lib/systemd/system'] : SYSTEM_UNIT_PATH);
    const lost = unresolvedReferences(dir, units, searchPath);
    const output = [`${r.stdout ?? ''}${r.stderr ?? ''}`.trim(), ...lost].filter((s) => s !== '').join('\n');
    return { ok: r.status === 0 && output === '', output, units, scope };
  } finally {
    if (root) fs.rmSync(root, { recursive: true, force: true });
  }
}
