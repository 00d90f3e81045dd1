// The built-in templates: templates/*.hbs compiled into plain functions when the package is built
// (scripts/build-templates.mjs -> dist/compiled-templates.js, via template-compiler.ts). The one render path of
// `zunitgen generate` and of generator mode; neither loads Handlebars. Tests render every fixture and every
// property run with these and with Handlebars (`--templates`), and require identical files.

import { TEMPLATES } from '#compiled-templates';
import { registerHelpers } from './helpers.js';
import { TEMPLATE_NAMES, type Compiled, type TemplateFn } from './render.js';

export function builtinTemplates(): Compiled {
  const helpers: Record<string, unknown> = Object.create(null);
  registerHelpers({ registerHelper: (name, fn) => { helpers[name] = fn; } });
  const out: Partial<Compiled> = {};
  for (const n of TEMPLATE_NAMES) {
    if (n === 'hardening') continue;
    const fn = TEMPLATES[n];
    out[n] = ((context: object) => fn(context, helpers, TEMPLATES)) as TemplateFn;
  }
  return out as Compiled;
}
