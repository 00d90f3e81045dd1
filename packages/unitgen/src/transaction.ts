// An update of an output directory as one transaction. A directory like /etc/systemd/system cannot swap many
// files at once, so the update keeps what it needs to undo itself in `.zunitgen-txn-<prefix>/`:
//   new/      the files to write and the new manifest, written and fsynced first
//   old/      hard links to every file the update replaces or removes (and the old manifest)
//   journal   written once new/ and old/ are complete: from here on, a crash is rolled back
// then each file is renamed into place, stale ones removed, the manifest renamed last, the journal removed.
// The next run (under the directory's lock) finds the transaction directory and rolls back: without a journal
// nothing in the directory was touched yet; with one, created files are removed and old/ is renamed back. So
// after a crash at any point, the directory holds the old set, or the new one once the next run has written it.
// ZUNITGEN_CRASH_AT (read by the CLI) names a point at which to SIGKILL ourselves, for the crash tests.

import * as fs from 'node:fs';
import { join } from 'node:path';
import { belongsToStack, manifestName, sha256 } from './manifest.js';

export const txnDirName = (prefix: string) => `.zunitgen-txn-${prefix}`;

interface Journal { version: 1; prefix: string; created: Record<string, string>; saved: string[] }

export interface Change {
  prefix: string;
  /** Files to write: name -> content (created or replacing an existing one). */
  write: Map<string, string>;
  /** Existing files among `write` (replaced) and stale files to remove. */
  replace: string[];
  remove: string[];
  manifestText: string;
}

function writeSynced(path: string, content: string): void {
  const fd = fs.openSync(path, 'wx', 0o644);
  try { fs.writeSync(fd, Buffer.from(content, 'utf8')); fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

const exists = (p: string) => { try { fs.lstatSync(p); return true; } catch { return false; } };

/** Applies `c` to `dir` (the caller holds the directory's lock and has recovered it). `crash(point)` is a test hook. */
export function commit(dir: string, c: Change, crash: (point: string) => void = () => {}): void {
  const txn = join(dir, txnDirName(c.prefix));
  const manifest = manifestName(c.prefix);
  fs.mkdirSync(join(txn, 'new'), { recursive: true, mode: 0o700 });
  fs.mkdirSync(join(txn, 'old'), { mode: 0o700 });
  for (const [name, content] of c.write) writeSynced(join(txn, 'new', name), content);
  writeSynced(join(txn, 'new', manifest), c.manifestText);
  fsyncDir(join(txn, 'new'));
  crash('staged');
  const saved = [...c.replace, ...c.remove, ...(exists(join(dir, manifest)) ? [manifest] : [])];
  for (const name of saved) fs.linkSync(join(dir, name), join(txn, 'old', name));
  fsyncDir(join(txn, 'old'));
  const created = Object.fromEntries([...c.write].filter(([n]) => !c.replace.includes(n)).map(([n, content]) => [n, sha256(content)]));
  if (!saved.includes(manifest)) created[manifest] = sha256(c.manifestText);
  const journal: Journal = { version: 1, prefix: c.prefix, created, saved };
  writeSynced(join(txn, 'journal.tmp'), JSON.stringify(journal));
  fs.renameSync(join(txn, 'journal.tmp'), join(txn, 'journal'));
  fsyncDir(txn);
  crash('journal');
  let n = 0;
  for (const name of c.write.keys()) { fs.renameSync(join(txn, 'new', name), join(dir, name)); crash(`rename:${++n}`); }
  for (const name of c.remove) { fs.rmSync(join(dir, name), { force: true }); crash('removed'); }
  fs.renameSync(join(txn, 'new', manifest), join(dir, manifest));
  fsyncDir(dir);
  crash('manifest');
  fs.rmSync(join(txn, 'journal'));
  fsyncDir(txn);
  crash('complete');
  fs.rmSync(txn, { recursive: true, force: true });
}

/**
 * Rolls back an interrupted transaction of `prefix` in `dir`, if there is one. Returns what it did, for the
 * operator ('none', 'discarded' = nothing had been touched yet, 'rolled-back').
 */
export function recover(dir: string, prefix: string): 'none' | 'discarded' | 'rolled-back' {
  const txn = join(dir, txnDirName(prefix));
  if (!exists(txn)) return 'none';
  let journal: Journal | undefined;
  try { journal = JSON.parse(fs.readFileSync(join(txn, 'journal'), 'utf8')) as Journal; } catch { journal = undefined; }
  if (!journal || journal.prefix !== prefix) {
    fs.rmSync(txn, { recursive: true, force: true });
    return 'discarded';
  }
  // Only names of this stack are touched, whatever the journal says.
  for (const [name, hash] of Object.entries(journal.created ?? {})) {
    if (!belongsToStack(name, prefix) && name !== manifestName(prefix)) continue;
    const p = join(dir, name);
    try { if (fs.lstatSync(p).isFile() && sha256(fs.readFileSync(p)) === hash) fs.rmSync(p); } catch { /* not there */ }
  }
  for (const name of journal.saved ?? []) {
    if (!belongsToStack(name, prefix) && name !== manifestName(prefix)) continue;
    if (exists(join(txn, 'old', name))) fs.renameSync(join(txn, 'old', name), join(dir, name));
  }
  fsyncDir(dir);
  fs.rmSync(txn, { recursive: true, force: true });
  return 'rolled-back';
}
