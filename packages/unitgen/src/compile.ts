// Run-time template compilation (full Handlebars, with its compiler): for --templates DIR and the library
// API. Generator mode avoids this module and uses the built-in set compiled at build time (builtin.ts).

import Handlebars from 'handlebars';
import { TemplateError } from './errors.js';
import { COMPILE_OPTIONS, registerHelpers } from './helpers.js';
import type { StackModel } from './model.js';
import { renderWith, TEMPLATE_NAMES, type Compiled, type GeneratedFile, type RenderOptions, type TemplateSources } from './render.js';

export function createEnv(): typeof Handlebars {
  const hb = Handlebars.create();
  registerHelpers(hb);
  return hb;
}

export function compileTemplates(hb: typeof Handlebars, sources: TemplateSources): Compiled {
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
export function render(m: StackModel, sources: TemplateSources, opts: RenderOptions, hb: typeof Handlebars = createEnv()): GeneratedFile[] {
  return renderWith(m, compileTemplates(hb, sources), opts);
}
