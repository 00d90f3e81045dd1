// The manifest: what zunitgen wrote into an output directory for one stack (file name -> sha256). It decides
// what may be replaced and removed, so it is read as untrusted input: a regular file (never followed through a
// symbolic link), JSON of the expected shape, and every name one the stack itself generates, inside the
// directory. Anything else stops the run with the manifest's path and the fix, without echoing its content.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describeErrno, OutputError } from './errors.js';

export interface Manifest {
  version: 1;
  stack: string;
  source: string;
  /** file name -> sha256 of the content zunitgen wrote. */
  files: Record<string, string>;
}

export const manifestName = (prefix: string) => `.zunitgen-${prefix}.manifest.json`;
export const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/**
 * Whether `name` is a file name the stack with this unit prefix generates: `<prefix>.<suffix>`, `<prefix>-...`,
 * `haproxy-<prefix>.cfg` or `haproxy-<prefix>-....cfg`, with no "/" and not "." or "..". The prefix is
 * systemd-escaped, so it has no "-" of its own and one stack's names never match another's.
 */
export function belongsToStack(name: string, prefix: string): boolean {
  if (name.includes('/') || name.includes('\0') || name === '.' || name === '..' || name.length > 255) return false;
  if (name.startsWith(`${prefix}.`) || name.startsWith(`${prefix}-`)) return true;
  return name === `haproxy-${prefix}.cfg` || (name.startsWith(`haproxy-${prefix}-`) && name.endsWith('.cfg'));
}

function corrupt(path: string, what: string): OutputError {
  return new OutputError(path, `${what}; zunitgen will not trust it to decide what to replace or remove`,
    'if you did not edit it, move it away and run again with --force (files of this stack are then taken over as they are)');
}

/** The manifest of `prefix` in `dir`, undefined when there is none; OutputError (73) when it is not one zunitgen wrote. */
export function readManifest(dir: string, prefix: string): Manifest | undefined {
  const path = join(dir, manifestName(prefix));
  let st: fs.Stats;
  try { st = fs.lstatSync(path); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    const d = describeErrno(e);
    throw new OutputError(path, d.what, d.fix, { cause: e });
  }
  if (!st.isFile()) throw corrupt(path, st.isSymbolicLink() ? 'the manifest is a symbolic link, not a file zunitgen wrote' : 'the manifest is not a regular file');
  if (st.size > 1 << 20) throw corrupt(path, `the manifest is ${st.size} bytes, far more than a manifest holds`);
  let m: unknown;
  try { m = JSON.parse(fs.readFileSync(path, 'utf8')); } catch { throw corrupt(path, 'the manifest is not valid JSON'); }
  const o = m as Partial<Manifest> | null;
  if (!o || typeof o !== 'object' || o.version !== 1 || typeof o.files !== 'object' || o.files === null || Array.isArray(o.files)) {
    throw corrupt(path, 'the manifest does not have the shape zunitgen writes ({ version: 1, files: { name: sha256 } })');
  }
  for (const [name, hash] of Object.entries(o.files)) {
    if (!belongsToStack(name, prefix)) throw corrupt(path, `the manifest lists ${JSON.stringify(name.slice(0, 100))}, which is not a file of this stack inside ${dir}`);
    if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) throw corrupt(path, `the manifest's entry for ${JSON.stringify(name)} is not a sha256`);
  }
  return { version: 1, stack: String(o.stack ?? ''), source: String(o.source ?? ''), files: { ...o.files } };
}
