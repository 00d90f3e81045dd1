// What the compiled built-in templates call at render time (dist/compiled-templates.js, written at build time
// by template-compiler.ts): four small functions with the Handlebars semantics our templates rely on, instead
// of the Handlebars runtime. The compiled code imports them under one-letter aliases (L, S, T, A, O). Generator
// mode runs at every boot and daemon-reload; the runtime's per-call setup (merging and re-wrapping every
// helper, program closures, `loc` objects) was most of its render time (docs/benchmarks/unitgen.md).
// test/builtin.test.ts and the property tests prove the output identical to Handlebars'.

import { TemplateError } from './errors.js';

const hasOwn = Object.prototype.hasOwnProperty;

/** `parent.key` as Handlebars looks it up (container.lookupProperty): own properties only, null-safe. */
export function lookup(parent: unknown, key: string): unknown {
  if (parent == null) return parent;
  return hasOwn.call(parent, key) ? (parent as Record<string, unknown>)[key] : undefined;
}

/** A mustache's output (noEscape): nothing for null/undefined, else the value (concatenated as JS does). */
export function output(v: unknown): unknown {
  if (typeof v === 'function') throw new TemplateError('a template value is a function; the built-in templates do not call them');
  return v != null ? v : '';
}

/** Handlebars' `if`: false for a falsy value (0 included) and for an empty array. */
export function truthy(v: unknown): boolean {
  if (typeof v === 'function') throw new TemplateError('an #if condition is a function; the built-in templates do not call them');
  return !(!v || (Array.isArray(v) && v.length === 0));
}

/** What `each` iterates: an array; nothing for a non-object value (the {{else}} branch then runs). */
export function iterable(v: unknown): readonly unknown[] {
  if (Array.isArray(v)) return v;
  if (v !== null && typeof v === 'object') throw new TemplateError('#each over an object: the built-in templates iterate arrays only');
  return [];
}

/** The options argument every helper receives last (our helpers read none of it). */
export const HELPER_OPTIONS: Readonly<{ hash: Readonly<Record<string, never>> }> = Object.freeze({ hash: Object.freeze({}) });
