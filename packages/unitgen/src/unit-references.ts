// The unit names a unit file refers to, read the way systemd 252 reads each directive, and whether each one
// resolves to a unit file. `systemd-analyze verify` loads a unit that Sockets= names wrongly as an empty
// "not found" unit and says nothing, so a socket that never reaches its service passes it silently.
//
// How systemd splits the value (observed in systemd 252 and in its load-fragment.c):
// - Sockets= unquotes: quotes are removed and a backslash escapes the next character ("a\x2db" -> "ax2db").
// - Wants=, Requires=, After=, PartOf=, BindsTo=, ... split at whitespace and keep backslashes.
// - Service=, Slice=, Unit= take the whole value as one name.
// In all of them "%%" is a literal "%" (specifiers); a word with another specifier is not checked.

import * as fs from 'node:fs';
import { join } from 'node:path';

export type ReferenceStyle = 'unquote' | 'words' | 'whole';

/** Directives that name units, by section, and how systemd splits them. */
const REFERENCE_DIRECTIVES: Record<string, Record<string, ReferenceStyle>> = {
  Unit: Object.fromEntries(['Wants', 'Requires', 'Requisite', 'BindsTo', 'PartOf', 'Upholds', 'Conflicts', 'OnFailure', 'OnSuccess',
    'PropagatesReloadTo', 'ReloadPropagatedFrom', 'PropagatesStopTo', 'StopPropagatedFrom', 'JoinsNamespaceOf', 'Before', 'After']
    .map((k) => [k, 'words' as const])),
  Service: { Sockets: 'unquote', Slice: 'whole' },
  Socket: { Service: 'whole', Slice: 'whole' },
  Timer: { Unit: 'whole' },
  Path: { Unit: 'whole' },
  Slice: {},
};

/** Ordering alone does not need the other unit to exist (After=nonexistent.service is fine in systemd). */
const ORDERING_ONLY = new Set(['Before', 'After']);

export interface UnitReference { section: string; key: string; name: string; line: number }

/** Splits like systemd's extract_first_word with EXTRACT_UNQUOTE: quotes removed, "\x" -> "x". */
function unquoteWords(v: string): string[] {
  const out: string[] = [];
  let cur = '', inWord = false, quote = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\' && i + 1 < v.length) { cur += v[++i]; inWord = true; continue; }
    if (quote) { if (c === quote) quote = ''; else cur += c; continue; }
    if (c === '"' || c === "'") { quote = c; inWord = true; continue; }
    if (/\s/.test(c)) { if (inWord) out.push(cur); cur = ''; inWord = false; continue; }
    cur += c; inWord = true;
  }
  if (inWord) out.push(cur);
  return out;
}

function splitValue(style: ReferenceStyle, v: string): string[] {
  if (style === 'unquote') return unquoteWords(v);
  if (style === 'whole') return v === '' ? [] : [v];
  return v.split(/\s+/).filter((w) => w !== '');
}

/** Every unit reference of a unit file, with the name systemd will look up ("%%" -> "%"); names with other specifiers are left out. */
export function unitReferences(text: string): UnitReference[] {
  const out: UnitReference[] = [];
  let section = '';
  for (const [i, raw] of text.split('\n').entries()) {
    const t = raw.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) continue;
    if (t.startsWith('[') && t.endsWith(']')) { section = t.slice(1, -1); continue; }
    const eq = t.indexOf('=');
    if (eq <= 0) continue;
    const key = t.slice(0, eq).trim();
    const style = REFERENCE_DIRECTIVES[section]?.[key];
    if (!style) continue;
    for (const w of splitValue(style, t.slice(eq + 1).trim())) {
      if (/%[^%]/.test(w.replace(/%%/g, ''))) continue;
      out.push({ section, key, name: w.replace(/%%/g, '%'), line: i + 1 });
    }
  }
  return out;
}

/** The system unit search path (systemd.unit(5), "Unit File Load Path"), without the generator directories. */
export const SYSTEM_UNIT_PATH = ['/etc/systemd/system', '/run/systemd/system', '/usr/local/lib/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];

/** The directories of units the distribution ships (below /etc and /run in priority). */
export const VENDOR_UNIT_PATH = ['/usr/local/lib/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];

/** $ZUNITGEN_UNIT_PATH (colon-separated) when set, else `fallback`: the directories whose units a stack must not shadow. */
export function shadowDirs(fallback: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const v = env.ZUNITGEN_UNIT_PATH;
  return v !== undefined ? v.split(':').filter((d) => d !== '') : [...fallback];
}

/** A unit name resolves when a file of that name, or its template (foo@.service for foo@bar.service), is in one of dirs. */
export function resolvesIn(name: string, dirs: readonly string[]): boolean {
  const at = /^([^@]+@)[^@]*(\.[a-z]+)$/.exec(name);
  const candidates = at ? [name, `${at[1]}${at[2]}`] : [name];
  return dirs.some((d) => candidates.some((c) => fs.existsSync(join(d, c))));
}

/** "file:line: Key= refers to NAME, which ..." for every reference (ordering aside) that does not resolve. */
export function unresolvedReferences(dir: string, units: readonly string[], searchPath: readonly string[]): string[] {
  const problems: string[] = [];
  const dirs = [dir, ...searchPath];
  for (const u of units) {
    const text = fs.readFileSync(join(dir, u), 'utf8');
    for (const r of unitReferences(text)) {
      if (ORDERING_ONLY.has(r.key) || resolvesIn(r.name, dirs)) continue;
      problems.push(`${join(dir, u)}:${r.line}: ${r.key}= refers to ${JSON.stringify(r.name)}, which is neither in ${dir} nor in the unit search path (${searchPath.join(' ')}): the reference is lost`);
    }
  }
  return problems;
}
