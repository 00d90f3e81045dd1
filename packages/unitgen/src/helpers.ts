// The Handlebars helpers: the only way template values reach the output. Each escapes for the syntax it
// writes (escape.ts); templates run with noEscape, so a bare {{value}} is reserved for values the renderer
// computed itself (numbers, validated names).

import { TemplateError } from './errors.js';
import { commentText, execLine, invalidUnitName, listWord, unquotedUnitWord, unitValue } from './escape.js';
import { haproxyDuration } from './haproxy-time.js';
import { formatAddress, formatDuration, formatSize, type Address, type Size } from './values.js';

/** What the helpers need of a Handlebars environment (the full one or the runtime-only one). */
export interface HelperHost {
  registerHelper(name: string, fn: (...args: any[]) => unknown): void;
}

function unitList(list: unknown, helper: string): string[] {
  if (!Array.isArray(list)) throw new TemplateError(`${helper} helper needs a list`);
  return list.map((u) => {
    const why = invalidUnitName(String(u));
    if (why) throw new TemplateError(`not a unit name: ${JSON.stringify(u)} (${why})`);
    return String(u);
  });
}

function must<T>(v: T | undefined | null, what: string): T {
  if (v === undefined || v === null) throw new TemplateError(`template used ${what} without a value`);
  return v;
}

/**
 * Every helper, by name: what registerHelpers() installs and the only names the build-time template compiler
 * (template-compiler.ts) accepts as helper calls.
 */
const HELPERS: Readonly<Record<string, (...args: any[]) => unknown>> = {
  unit: (v: unknown) => unitValue(String(must(v, 'unit'))),
  exec: (argv: unknown) => {
    if (!Array.isArray(argv)) throw new TemplateError('exec helper needs an argv array');
    return execLine(argv.map(String));
  },
  words: (list: unknown) => {
    if (!Array.isArray(list)) throw new TemplateError('words helper needs a list');
    return list.map((s) => listWord(String(s))).join(' ');
  },
  // "-" + path: ReadWritePaths= ignores the path when it does not exist (systemd.exec(5)), instead of failing
  // the start with 226/NAMESPACE.
  optpath: (p: unknown) => `-${listWord(String(must(p, 'optpath')))}`,
  units: (list: unknown) => unitList(list, 'units').join(' '),
  // Sockets= unquotes its words (a backslash escapes the next character), unlike Wants=/After=/PartOf=, which
  // keep backslashes: the "\x2d" of an escaped stack name must be written "\\x2d" there (checked against a real
  // systemd in test/unitgen-names-e2e.test.ts).
  unquotedunits: (list: unknown) => unitList(list, 'unquotedunits').map(unquotedUnitWord).join(' '),
  // JSON is a subset of YAML flow syntax: a JSON string is a YAML double-quoted scalar with the same
  // escapes, a JSON array a flow sequence. So values can never break out of their YAML node.
  yaml: (v: unknown) => JSON.stringify(v),
  dur: (ms: unknown) => formatDuration(Number(must(ms, 'dur'))),
  // HAProxy's units (us ms s m h d), not systemd's: "inter 1min" is a warning in HAProxy 2.6, an error later.
  hapdur: (ms: unknown) => haproxyDuration(Number(must(ms, 'hapdur'))),
  size: (s: unknown) => (typeof s === 'number' ? String(s) : formatSize(must(s as Size, 'size'))),
  addr: (a: unknown) => formatAddress(must(a as Address, 'addr')),
  // HAProxy's "addr" wants IPv6 in brackets ("addr ::1" is refused), "agent-addr" takes it bare.
  hapaddr: (a: unknown) => { const x = must(a as Address, 'hapaddr'); return x.family === 6 ? `[${x.host}]` : x.host; },
  comment: (v: unknown) => commentText(String(v)),
  concat: (...args: unknown[]) => args.slice(0, -1).map(String).join(''),
  list: (...args: unknown[]) => args.slice(0, -1),
};

/** The helpers' names, for the template compiler. */
export const HELPER_NAMES: readonly string[] = Object.keys(HELPERS);

export function registerHelpers(hb: HelperHost): void {
  for (const [name, fn] of Object.entries(HELPERS)) hb.registerHelper(name, fn);
}

/** Compile options shared by run-time compilation and the built-in set (lean.ts parses with them). */
export const COMPILE_OPTIONS = { noEscape: true, strict: false, preventIndent: true } as const;
