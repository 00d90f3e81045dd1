// Directories the user names for zunitgen to read (`verify DIR`, `--templates DIR`): one that is missing, a
// file, or unreadable is the user's input that cannot be read, exit 66 (EX_NOINPUT) with the path and the fix,
// never the raw errno of a later readdir.
import { readdirSync, statSync } from 'node:fs';
import { describeErrno, InputError } from './errors.js';

/**
 * The names in directory `path`; InputError (66) when it cannot be read. `fix`: what to give instead when the
 * path is not there or not a directory (e.g. "give the directory generate wrote (its --out)").
 */
export function readInputDirectory(path: string, fix: string): string[] {
  try {
    if (!statSync(path).isDirectory()) throw new InputError(path, 'is not a directory', fix);
    return readdirSync(path);
  } catch (e) {
    if (e instanceof InputError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const d = describeErrno(e, 'input');
    throw new InputError(path, d.what, code === 'ENOENT' || code === 'ENOTDIR' ? fix : d.fix, { cause: e });
  }
}
