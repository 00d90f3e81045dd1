#!/usr/bin/env node
// Puts the built-in templates into the package (runs in `pnpm build`, after tsc -b, before the generator bundle):
//   templates/*.hbs            a copy of the repository's templates/ (their source), for --templates DIR,
//                              which overrides them file by file and renders the rest with Handlebars;
//   dist/compiled-templates.js the same templates compiled into plain functions (src/template-compiler.ts):
//                              what `zunitgen generate` and generator mode render with, without Handlebars.
// A template edit needs `pnpm build` only.
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
export const SOURCE = here('../../../templates/');
export const COPY = here('../templates/');
export const COMPILED = here('../dist/compiled-templates.js');

export async function buildTemplates() {
  const { compiledTemplatesModule } = await import('../dist/template-compiler.js');
  const { loadTemplates } = await import('../dist/templates.js');
  rmSync(COPY, { recursive: true, force: true });
  mkdirSync(COPY);
  for (const name of readdirSync(SOURCE).filter((n) => n.endsWith('.hbs'))) copyFileSync(join(SOURCE, name), join(COPY, name));
  // Compiled from the copy, through the same loader --templates uses: one set of sources for both.
  writeFileSync(COMPILED, compiledTemplatesModule(loadTemplates()));
  return [COPY, COMPILED];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const p of await buildTemplates()) console.log(`wrote ${p}`);
}
