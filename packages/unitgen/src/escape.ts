// Escaping for unit-file syntax. Everything a config value can reach in a generated unit goes through one
// of these functions (the Handlebars helpers in render.ts call them), so that no value can add, remove or
// change a directive. Rules from systemd.unit(5) ("Specifiers"), systemd.service(5) ("Command lines"),
// systemd.syntax(7) ("Quoting") and systemd-escape(1).

import { TemplateError } from './errors.js';
import { unsafeText } from './values.js';

/** Longest unit name systemd accepts (UNIT_NAME_MAX minus the NUL). */
export const UNIT_NAME_MAX = 255;

const UNIT_VALID = /^[A-Za-z0-9:_.]$/;

/**
 * A string as one unit-name component, like `systemd-escape STRING` (without --path): "/" becomes "-",
 * "-", "\" and every byte outside [A-Za-z0-9:_.] become \xNN (UTF-8 bytes, lower-case hex), and a leading
 * "." is escaped so that no unit name starts with a dot.
 */
export function systemdEscape(s: string): string {
  let out = '';
  const bytes = Buffer.from(s, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const ch = String.fromCharCode(b);
    if (b === 0x2f) out += '-';
    else if (b < 0x80 && UNIT_VALID.test(ch) && !(i === 0 && ch === '.')) out += ch;
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The inverse of systemdEscape (systemd-escape --unescape), for tests and diagnostics. */
export function systemdUnescape(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const m = /^\\x([0-9a-fA-F]{2})/.exec(s.slice(i));
    if (m) { bytes.push(parseInt(m[1]!, 16)); i += 3; continue; }
    bytes.push(s[i] === '-' ? 0x2f : s.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

const UNIT_TYPES = ['service', 'socket', 'target', 'slice', 'mount', 'automount', 'swap', 'path', 'timer', 'device', 'scope'];

/** Why `name` is not a valid (non-template) unit name, or undefined (unit_name_is_valid() in systemd). */
export function invalidUnitName(name: string): string | undefined {
  if (name.length > UNIT_NAME_MAX) return `longer than ${UNIT_NAME_MAX} characters`;
  const m = /^([A-Za-z0-9:_.\\-]+)(?:@([A-Za-z0-9:_.\\-]*))?\.([a-z]+)$/.exec(name);
  if (!m) return 'not a unit name (characters allowed: A-Z a-z 0-9 : _ . \\ - and one @; a suffix such as .service)';
  if (!UNIT_TYPES.includes(m[3]!)) return `unknown unit type ".${m[3]}"`;
  if (name.includes('@') && !m[2]) return 'a template (foo@.service) cannot be a dependency; name an instance (foo@bar.service)';
  return undefined;
}

/**
 * A unit name as one word of a directive that unquotes (Sockets=): every backslash doubled, so that the
 * "\\xNN" of an escaped name reaches systemd intact. Unit names hold no quotes or whitespace (invalidUnitName).
 */
export function unquotedUnitWord(name: string): string {
  return name.replace(/\\/g, '\\\\');
}

function assertSafe(s: string, what: string): void {
  const why = unsafeText(s);
  if (why) throw new TemplateError(`cannot write ${what} ${JSON.stringify(s)} into a unit file: it ${why}`);
}

/**
 * A value for a directive that expands specifiers and takes the rest of the line literally (Description=,
 * WorkingDirectory=, SyslogIdentifier=, ...): "%" becomes "%%". Values that cannot be written literally are
 * refused: control characters (a newline would start a new directive), leading/trailing whitespace (systemd
 * strips it), and a trailing backslash (it would continue the line into the next directive).
 */
export function unitValue(s: string, what = 'value'): string {
  assertSafe(s, what);
  if (s !== s.trim()) throw new TemplateError(`cannot write ${what} ${JSON.stringify(s)}: systemd strips leading and trailing whitespace`);
  if (s.endsWith('\\')) throw new TemplateError(`cannot write ${what} ${JSON.stringify(s)}: a trailing backslash continues the line`);
  return s.replace(/%/g, '%%');
}

const EXEC_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * One argument of an Exec*= command line such that systemd hands exactly `arg` to the process:
 * specifiers are expanded on the whole line first ("%" -> "%%"), then the line is split into words with
 * quotes and C escapes removed, then "$" variables are expanded in every word ("$" -> "$$"); a lone ";"
 * word separates commands ("\;"). Anything but plain characters is double-quoted with "\" and '"' escaped.
 */
export function execArg(arg: string): string {
  assertSafe(arg, 'command argument');
  if (arg === ';') return '\\;';
  const e = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (EXEC_SAFE.test(e)) return e;
  return `"${e.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * A whole command line. The executable must be an absolute path without "$": systemd parses the prefixes
 * "@-:+!" after unquoting (so quoting cannot protect a leading one) and never expands variables in the
 * executable itself (so "$$" would stay doubled).
 */
export function execLine(argv: readonly string[]): string {
  const [exe, ...rest] = argv;
  if (exe === undefined) throw new TemplateError('empty command line');
  if (!exe.startsWith('/') || exe.includes('$')) throw new TemplateError(`the executable must be an absolute path without "$", got ${JSON.stringify(exe)}`);
  return [execArg(exe), ...rest.map(execArg)].join(' ');
}

/**
 * One word of a space-separated list directive that unquotes (ReadWritePaths=, Environment=, ...), with
 * specifiers escaped. Quoted when it contains anything but plain characters.
 */
export function listWord(s: string, what = 'list item'): string {
  assertSafe(s, what);
  const e = s.replace(/%/g, '%%');
  if (EXEC_SAFE.test(e) && !/^[-+:~!@]/.test(e)) return e;
  return `"${e.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A comment line's text: control characters shown as "?" so a comment can never end early. */
export function commentText(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?').replace(/[\ud800-\udfff]/g, '?');
}
