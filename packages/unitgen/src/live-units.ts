// Which of the unit files an update would remove belong to units systemd is running from that very file. Removing
// such a file does not stop the unit: after `systemctl daemon-reload` it runs on as "not-found active", outside the
// stack's target (`zstack stop` no longer sees it, its database is stopped under it), and its znotify config is gone,
// so its next restart fails. The update must refuse instead, and say which units to stop first.
//
// systemd is asked only when it runs (sd_booted(3): /run/systemd/system exists) and only about the files the update
// removes; a unit counts only when systemd loaded it from the file being removed (FragmentPath), so generating into
// a scratch directory, or into an image's unit directory, is never refused because the same names run here.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';

/** Unit types whose file, removed while the unit is up, leaves it running with no file behind it. */
const UNIT_SUFFIXES = ['.service', '.socket', '.timer', '.path', '.target', '.slice', '.mount'];

/** ActiveState values in which the unit needs no stop before its file goes (systemd.unit(5)). */
const AT_REST = new Set(['inactive', 'failed']);

const PROPS = ['Id', 'LoadState', 'ActiveState', 'SubState', 'FragmentPath'] as const;

export interface LiveUnit {
  /** The unit file's name in the directory (= the unit's name). */
  name: string;
  /** `ActiveState/SubState` as systemd reports it, e.g. `active/running`. */
  state: string;
}

/** What asking systemd found: the live units, or why systemd could not be asked (the caller decides what that means). */
export interface LiveUnitCheck { live: LiveUnit[]; unknown?: string }

export type LiveUnitReader = (dir: string, names: readonly string[]) => LiveUnitCheck;

export interface LiveUnitOptions {
  /** The systemctl to ask (default `systemctl` on PATH). */
  systemctl?: string;
  /** Whether systemd runs this machine (default: sd_booted(3), /run/systemd/system exists). */
  booted?: () => boolean;
}

const sameFile = (a: string, b: string): boolean => {
  if (a === b) return true;
  try { return fs.realpathSync(a) === fs.realpathSync(b); } catch { return false; }
};

/** Parses `systemctl show` of several units: one block per unit, blank-line separated, in the order asked. */
function parseBlocks(text: string): Array<Record<string, string>> {
  return text.split(/\n\n/).map((b) => b.trim()).filter(Boolean).map((b) => {
    const p: Record<string, string> = {};
    for (const line of b.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) p[line.slice(0, i)] = line.slice(i + 1);
    }
    return p;
  });
}

/**
 * The units among `names` (files in `dir`) that systemd runs from exactly those files and that are not at rest
 * (inactive or failed). Without systemd: none. When systemctl cannot answer although systemd runs: none, with
 * `unknown` saying why.
 */
export function liveUnitsIn(dir: string, names: readonly string[], opts: LiveUnitOptions = {}): LiveUnitCheck {
  const units = names.filter((n) => UNIT_SUFFIXES.some((s) => n.endsWith(s)));
  const booted = opts.booted ?? (() => fs.existsSync('/run/systemd/system'));
  if (units.length === 0 || !booted()) return { live: [] };
  const exe = opts.systemctl ?? 'systemctl';
  const r = spawnSync(exe, ['show', `--property=${PROPS.join(',')}`, '--', ...units], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0' } });
  if (r.error || r.status !== 0) {
    const why = r.error ? (r.error as NodeJS.ErrnoException).code ?? r.error.message : (r.stderr.trim().split('\n')[0] || `exit ${r.status}`);
    return { live: [], unknown: `${exe} show failed: ${why}` };
  }
  const blocks = parseBlocks(r.stdout);
  if (blocks.length !== units.length) return { live: [], unknown: `${exe} show answered ${blocks.length} blocks for ${units.length} units` };
  const live: LiveUnit[] = [];
  units.forEach((name, i) => {
    const p = blocks[i]!;
    const state = p['ActiveState'] ?? '';
    if (p['LoadState'] !== 'loaded' || AT_REST.has(state) || !p['FragmentPath']) return;
    if (!sameFile(p['FragmentPath'], join(resolve(dir), name))) return;
    live.push({ name, state: `${state}/${p['SubState'] ?? '?'}` });
  });
  return { live };
}
