// The shape of dist/compiled-templates.js, which the build writes (scripts/build-templates.mjs) after tsc has
// run, so tsc cannot read it. package.json maps the import `#compiled-templates` to that file, and its types to
// this declaration.
import type { TemplateName } from './render.js';

export type CompiledTemplate = (context: object, helpers: Record<string, unknown>, partials: Record<TemplateName, CompiledTemplate>) => string;
export declare const TEMPLATES: Record<TemplateName, CompiledTemplate>;
