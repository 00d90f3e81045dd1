// The host side of `zunitgen deploy`: `zunitgen install-set --out DIR [--apply]` reads one host's unit set (JSON
// on stdin), checks it, and either reports what installing it would change (the plan, with a diff) or installs it
// atomically with the manifest (io.ts) and runs `systemctl daemon-reload`. Runs on each host over ssh; prints one
// JSON object on stdout.
//
// What it refuses, so that a deploy touches only the stack's own files: a file name that is not a plain name of
// this stack (manifest.ts, belongsToStack), a file in the way that zunitgen did not write
// (the manifest's conflict rule), and a bind address this machine does not have.

import { EXIT, UnitgenError } from './errors.js';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { plan, planDiff, write, type Plan } from './io.js';
import { belongsToStack } from './manifest.js';
import type { GeneratedFile } from './render.js';

/** What deploy sends for one host. */
export interface HostSet {
  stack: string;
  prefix: string;
  source: string;
  host: string;
  files: GeneratedFile[];
  /** IP literals the set's listeners bind to (not wildcards): each must be an address of this machine. */
  bind: string[];
}

/** What install-set answers. */
export interface HostSetResult extends Pick<Plan, 'outDir' | 'create' | 'update' | 'unchanged' | 'remove' | 'conflicts'>, Partial<Pick<Plan, 'running'>> {
  host: string;
  /** Addresses of `bind` that this machine cannot bind (EADDRNOTAVAIL). */
  missingAddresses: string[];
  diff: string;
  applied: boolean;
  reloaded: boolean;
}

/** The set deploy sent is not one (EX_DATAERR). */
class HostSetError extends UnitgenError {
  constructor(message: string) { super('EHOSTSET', message, EXIT.DATAERR); this.name = 'HostSetError'; }
}

const FILE_NAME = /^[A-Za-z0-9:_.@\\-]+$/;

export function parseHostSet(text: string): HostSet {
  let v: HostSet;
  try { v = JSON.parse(text) as HostSet; } catch (e) { throw new HostSetError(`the unit set on stdin is not JSON: ${(e as Error).message}`); }
  if (!v || typeof v.prefix !== 'string' || !FILE_NAME.test(v.prefix) || !Array.isArray(v.files) || !Array.isArray(v.bind)) {
    throw new HostSetError('the unit set on stdin lacks prefix, files or bind');
  }
  for (const f of v.files) {
    const own = f && typeof f.name === 'string' && FILE_NAME.test(f.name) && belongsToStack(f.name, v.prefix);
    if (!own || typeof f.content !== 'string') throw new HostSetError(`refusing ${JSON.stringify(f?.name)}: not a file of stack ${JSON.stringify(v.prefix)}`);
  }
  return v;
}

/** Addresses from `bind` that this machine does not have (binding port 0 fails with EADDRNOTAVAIL). */
async function missingAddresses(bind: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of new Set(bind)) {
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const s = net.createServer();
      s.once('error', (e) => resolve(e as NodeJS.ErrnoException));
      s.listen(0, a, () => s.close(() => resolve(undefined)));
    });
    if (err?.code === 'EADDRNOTAVAIL') out.push(a);
  }
  return out;
}

function resultOf(set: HostSet, p: Plan, missing: string[], applied: boolean, reloaded: boolean): HostSetResult {
  return {
    host: set.host, outDir: p.outDir, create: p.create, update: p.update, unchanged: p.unchanged, remove: p.remove,
    conflicts: p.conflicts, running: p.running, missingAddresses: missing, diff: planDiff(p, set.files), applied, reloaded,
  };
}

/**
 * Plans (apply false) or installs (apply true) one host's set. Installing refuses when the plan has conflicts,
 * removes the file of a unit systemd runs (live-units.ts) or misses addresses (nothing written), and reloads systemd only when a file changed.
 */
export async function installSet(set: HostSet, outDir: string, opts: { apply: boolean; force?: boolean; systemctl?: string }): Promise<HostSetResult> {
  const missing = await missingAddresses(set.bind);
  const p = plan(outDir, set.prefix, set.files, { force: !!opts.force });
  if (!opts.apply || p.conflicts.length || p.running.length || missing.length) return resultOf(set, p, missing, false, false);
  const changed = p.create.length + p.update.length + p.remove.length > 0;
  const done = changed ? write(outDir, set.prefix, set.files, { stack: set.stack, source: set.source }, { force: !!opts.force }) : p;
  let reloaded = false;
  if (changed) {
    const r = spawnSync(opts.systemctl ?? 'systemctl', ['daemon-reload'], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new HostSetError(`files installed, but systemctl daemon-reload failed: ${(r.stderr || String(r.error ?? r.signal)).trim()}`);
    reloaded = true;
  }
  // The diff of what was done: against the plan made before writing.
  return { ...resultOf(set, done, missing, true, reloaded), diff: planDiff(p, set.files) };
}
