// A cache of the parsed stack model, so a fresh `zstack status` does not pay for zunitgen's parser (YAML with
// positions, then validation, with its code compiled cold: the largest part of zstack's own CPU time in a fresh
// process, docs/benchmarks/stack.md).
// Why it is safe: parseStack(text, { file }) is pure (it reads no environment, no other file, no host), so its
// model is a function of the file's text, the file name as given (the model's `source`) and the parser, which is
// in the program: an entry is served only when all three are the ones of this run: the text it was made from
// (compared whole, not by digest), the name, and the program's build key (a digest of the bundle). The text is
// read first and the same text is parsed or compared, so an edited file is never served stale, whatever its mtime.
// Only a model that parsed without error is stored: a bad file is parsed every time and gives the same errors.
// Where: a directory that only this user may write (root: <run-dir>/model-cache; another user:
// $XDG_RUNTIME_DIR/zstack-model-cache; no cache without either). The directory holding it is used only when
// nobody else can change what it holds (./run-dir.ts: it and the directories above it); an entry or directory
// that is not this user's, or that others may write, is never read: the model says which units to act on. Entries
// are opened without following a link, written whole (O_EXCL), then renamed into place; one that cannot be read or
// parsed is a miss. A missing or stale cache costs the parse, nothing else.
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { StackModel } from '@zope-systemd/unitgen';
import { prepareRunDir, runDirVerdict } from './run-dir.js';

const FORMAT = 1;

export interface ModelCache {
  /** The directory of the entries (created, mode 0700, on the first write). */
  dir: string;
  /** The program's build key: a model made by another build of the parser is not this build's. */
  build: string;
}

interface Entry { format: number; build: string; file: string; text: string; model: StackModel }

/** Where this user's cache lives: root's under the run directory, another user's in $XDG_RUNTIME_DIR; else none. */
export function modelCacheDir(runDir: string, env: NodeJS.ProcessEnv = process.env, euid: number = process.geteuid?.() ?? -1): string | undefined {
  if (euid === 0) return path.join(runDir, 'model-cache');
  const xdg = env.XDG_RUNTIME_DIR;
  return xdg && path.isAbsolute(xdg) ? path.join(xdg, 'zstack-model-cache') : undefined;
}

/** The entry of one stack file: named by its absolute path (a name shared by two paths is only a miss). */
export function entryFile(cache: ModelCache, file: string): string {
  const abs = path.resolve(file);
  // FNV-1a, twice with other offsets: a name, not a check (the entry holds the name and the text it is for).
  let a = 0x811c9dc5, b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < abs.length; i++) {
    a = Math.imul(a ^ abs.charCodeAt(i), 0x01000193) >>> 0;
    b = Math.imul(b ^ abs.charCodeAt(i), 0x01000193) >>> 0;
  }
  return path.join(cache.dir, `${a.toString(16).padStart(8, '0')}${b.toString(16).padStart(8, '0')}.json`);
}

/** Owned by this user and writable by nobody else. */
function ours(st: fs.Stats): boolean {
  return st.uid === (process.geteuid?.() ?? -1) && (st.mode & 0o022) === 0;
}

/** Bigints (sizes in bytes) as tagged strings; a model that does not come back equal is never stored. */
const encode = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? { $bigint: v.toString() } : v);
const decode = (_k: string, v: unknown): unknown => {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === '$bigint' && typeof (v as { $bigint: unknown }).$bigint === 'string') return BigInt((v as { $bigint: string }).$bigint);
  }
  return v;
};

/** The cached model of `text` read from `file`, or undefined (no entry, another text, name or build, not ours, unreadable). */
export function cachedModel(cache: ModelCache, file: string, text: string): StackModel | undefined {
  let fd: number | undefined;
  try {
    if (!runDirVerdict(path.dirname(cache.dir), 'write').ok || !ours(fs.lstatSync(cache.dir))) return undefined;
    fd = fs.openSync(entryFile(cache, file), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const st = fs.fstatSync(fd);
    if (!st.isFile() || !ours(st)) return undefined;
    const e = JSON.parse(fs.readFileSync(fd, 'utf8'), decode) as Partial<Entry>;
    return e.format === FORMAT && e.build === cache.build && e.file === file && e.text === text && e.model && typeof e.model === 'object' ? e.model : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Stores `model`, parsed from `text` read from `file`; false when it could not (no directory, not ours, a full disk). */
export function storeModel(cache: ModelCache, file: string, text: string, model: StackModel): boolean {
  const json = JSON.stringify({ format: FORMAT, build: cache.build, file, text, model } satisfies Entry, encode);
  if (!isDeepStrictEqual((JSON.parse(json, decode) as Entry).model, model)) return false;
  const target = entryFile(cache, file);
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    // The parent as the lock makes it (the run directory, readable by all, checked); the cache itself this user's alone.
    prepareRunDir(path.dirname(cache.dir));
    try { fs.mkdirSync(cache.dir, { mode: 0o700 }); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
    if (!ours(fs.lstatSync(cache.dir))) return false;
    fs.writeFileSync(tmp, json, { flag: 'wx', mode: 0o600 });
    fs.renameSync(tmp, target);
    return true;
  } catch {
    fs.rmSync(tmp, { force: true });
    return false;
  }
}
