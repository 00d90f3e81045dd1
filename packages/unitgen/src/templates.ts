// Loading templates (IO, kept apart from render.ts). The built-in set lives in the repository's
// templates/ directory; --templates DIR overrides any subset of it, file by file.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { TemplateError } from './errors.js';
import { TEMPLATE_NAMES, type TemplateSources } from './render.js';

/** templates/ of the repository (dist/ and src/ both sit two levels below packages/). */
export function defaultTemplatesDir(): string {
  return fileURLToPath(new URL('../../../templates/', import.meta.url));
}

export function loadTemplates(overrideDir?: string): TemplateSources {
  const base = defaultTemplatesDir();
  const out: Partial<TemplateSources> = {};
  for (const name of TEMPLATE_NAMES) {
    const o = overrideDir ? join(overrideDir, `${name}.hbs`) : undefined;
    const p = o && existsSync(o) ? o : join(base, `${name}.hbs`);
    try {
      out[name] = readFileSync(p, 'utf8');
    } catch (e) {
      throw new TemplateError(`cannot read template ${p}: ${(e as Error).message}`, { cause: e });
    }
  }
  return out as TemplateSources;
}
