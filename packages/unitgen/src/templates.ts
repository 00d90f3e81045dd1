// Loading template sources (IO, kept apart from render.ts), for `--templates DIR`: the package's templates/
// directory (the build copies the repository's templates/ there) with any subset overridden, file by file,
// by the files in DIR. Without --templates nothing is read: the built-in set is compiled into the package.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { TemplateError } from './errors.js';
import { readInputDirectory } from './input-directory.js';
import { TEMPLATE_NAMES, type TemplateSources } from './render.js';

/** The package's templates/ (dist/ and src/ both sit one level below it). */
export function defaultTemplatesDir(): string {
  return fileURLToPath(new URL('../templates/', import.meta.url));
}

export function loadTemplates(overrideDir?: string): TemplateSources {
  const base = defaultTemplatesDir();
  if (overrideDir !== undefined) readInputDirectory(overrideDir, 'give --templates a directory of .hbs files named as the built-in ones');
  const out: Partial<TemplateSources> = {};
  for (const name of TEMPLATE_NAMES) {
    const o = overrideDir ? join(overrideDir, `${name}.hbs`) : undefined;
    const p = o && existsSync(o) ? o : join(base, `${name}.hbs`);
    try {
      out[name] = readFileSync(p, 'utf8');
    } catch (e) {
      throw new TemplateError(`cannot read template ${p}: ${(e as Error).message} (an incomplete install of @zope-systemd/unitgen, or run \`pnpm build\` in a checkout)`, { cause: e });
    }
  }
  return out as TemplateSources;
}
