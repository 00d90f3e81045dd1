// Run-time template compilation with full Handlebars: `--templates DIR` and the library's render(). The
// built-in set never comes here (builtin-templates.ts). Handlebars is an optional peer dependency of the
// package, loaded on first use: an installation that never uses --templates does not need it.

import { createRequire } from 'node:module';
import { TemplateError } from './errors.js';
import { COMPILE_OPTIONS, registerHelpers } from './helpers.js';
import type { StackModel } from './model.js';
import { renderWith, TEMPLATE_NAMES, type Compiled, type GeneratedFile, type RenderOptions, type TemplateSources } from './render.js';

/**
 * What this package uses of a Handlebars 4 environment. Declared here rather than imported from handlebars'
 * types, so that the package's declarations compile for a user without the optional handlebars installed.
 */
export interface HandlebarsEnv {
  create(): HandlebarsEnv;
  registerHelper(name: string, fn: (...args: any[]) => unknown): void; // eslint-disable-line @typescript-eslint/no-explicit-any
  registerPartial(name: string, source: string): void;
  precompile(source: string, options?: object): unknown;
  compile(source: string, options?: object): (context: object) => string;
}

let handlebars: HandlebarsEnv | undefined;

/** The handlebars package, or a TemplateError saying how to install it. */
export function loadHandlebars(): HandlebarsEnv {
  if (handlebars) return handlebars;
  try {
    handlebars = createRequire(import.meta.url)('handlebars') as HandlebarsEnv;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw e;
    throw new TemplateError('custom templates (--templates) need the handlebars package, which is not installed: '
      + 'install it beside @zope-systemd/unitgen (npm install handlebars@4, or npm install -g handlebars@4 for a global zunitgen)', { cause: e });
  }
  return handlebars;
}

export function createEnv(): HandlebarsEnv {
  const hb = loadHandlebars().create();
  registerHelpers(hb);
  return hb;
}

export function compileTemplates(hb: HandlebarsEnv, sources: TemplateSources): Compiled {
  const out: Partial<Compiled> = {};
  try {
    hb.registerPartial('hardening', sources.hardening);
    for (const name of TEMPLATE_NAMES) {
      if (name === 'hardening') continue;
      // precompile() parses now, so a broken template fails here and not half-way through rendering.
      hb.precompile(sources[name], COMPILE_OPTIONS);
      out[name] = hb.compile(sources[name], COMPILE_OPTIONS);
    }
  } catch (e) {
    throw new TemplateError(`cannot compile templates: ${(e as Error).message}`, { cause: e });
  }
  return out as Compiled;
}

/** Renders every file of the stack from template sources. Pure: same model, templates, options -> same files. */
export function render(m: StackModel, sources: TemplateSources, opts: RenderOptions, hb: HandlebarsEnv = createEnv()): GeneratedFile[] {
  return renderWith(m, compileTemplates(hb, sources), opts);
}
