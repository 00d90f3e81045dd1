// The positioned reader of the stack config's YAML nodes: typed values (strings, integers, durations, sizes,
// addresses, paths, commands), each problem recorded as file:line:col with a hint and reading going on, so that
// every error is reported, not only the first. Used by parse.ts and check-config.ts.

import { isMap, isScalar, isSeq, isAlias, type LineCounter, type Node, type Pair, type YAMLMap } from 'yaml';
import { bareNumberWarning, type DurationCeiling } from '@zope-systemd/common';
import { configIssue, type ConfigIssue } from './errors.js';
import type { SourcePositions } from './model.js';
import {
  didYouMean, expandTemplate, formatDuration, MAX_VALUE_LENGTH, parseAddress, parseDuration, parseSize, q, unsafeText,
  type Address, type Result, type Size,
} from './values.js';

export type Loc = Node | Pair | null | undefined;

/**
 * What a newline or control character in the value at `where` would break, by where the value is written, and the
 * fix for that key (a value goes into unit files unless listed here). One table: every string key passes here.
 */
const CONTROL_CHAR_HARM: ReadonlyArray<{ key: RegExp; fix: string }> = [
  { key: /^hosts\[\]\.name$/, fix: 'remove it: a host\'s name names its directory of units (generate writes DIR/<name>/); use lower-case letters, digits and -' },
  { key: /^(zeo|database\.postgresql|haproxy\.install)\.host$|^clients\.hosts/, fix: 'remove it: give the name of one of the hosts under hosts:' },
  { key: /^haproxy\.backend$/, fix: 'remove it: the backend name is written into the HAProxy configuration (backend and server lines), where a newline would start a line of its own; use letters, digits and _ . : -' },
  { key: /^haproxy\.install\.unit$/, fix: 'remove it: deploy runs systemctl reload with this unit name on the HAProxy host; give the name of HAProxy\'s unit, e.g. haproxy.service' },
  { key: /^haproxy\./, fix: 'remove it: the value is written into the HAProxy configuration, where a newline would start a line of its own' },
  { key: /^hosts\[.*\]\.ssh(-options\..*)?$/, fix: 'remove it: deploy passes it to ssh, where a newline would end the option or destination' },
  { key: /^clients\.(warmup\.urls\[\]\.host|warmup path)$|^clients\.checks\[\d*\]\.(host|path)$/, fix: 'remove it: the wrapper sends it in an HTTP request (the request line or the Host header), where a newline would start a header of its own' },
  { key: /\.text$/, fix: 'remove it: the wrapper looks for this text in the answer\'s body, and zunitgen writes no control character into any file it generates' },
];

/** The fix for a newline or control character in the value at `where` (CONTROL_CHAR_HARM; else the unit files'). */
function controlCharFix(where: string): string {
  return CONTROL_CHAR_HARM.find((h) => h.key.test(where))?.fix ?? 'remove it: the value is written into a unit file, where a newline would start a directive of its own, and systemd refuses other control characters';
}

export class Walker {
  readonly issues: ConfigIssue[] = [];
  /** `warn` takes what is valid but likely not what was meant (the config is still used). */
  constructor(readonly file: string, readonly lc: LineCounter, readonly root: Node | null, readonly warn: (issue: ConfigIssue) => void = () => {}) {}

  pos(node: Loc, delta = 0): { line: number; col: number } {
    let n: Node | null | undefined;
    if (node && 'key' in node && !('range' in node)) n = (node.key as Node | null) ?? (node.value as Node | null);
    else n = node as Node | null | undefined;
    const off = n?.range?.[0] ?? this.root?.range?.[0] ?? 0;
    const { line, col } = this.lc.linePos(off + delta);
    return { line, col };
  }

  /** A problem at `node` (`delta` characters into it); its key is the message's `key.path: ` prefix unless given. */
  err(node: Loc, message: string, hint?: string, delta = 0, key?: string): void {
    const { line, col } = this.pos(node, delta);
    this.issues.push(configIssue({ file: this.file, line, col, message, ...(hint ? { fix: hint } : {}), ...(key !== undefined ? { key } : {}) }));
  }

  fromResult<T>(node: Loc, where: string, r: Result<T>): T | undefined {
    if (r.ok) return r.value;
    this.err(node, `${where}: ${r.message}`, r.hint);
    return undefined;
  }

  /** The pairs of a mapping, with unknown keys reported (did-you-mean) and required keys checked. */
  map(node: Node | null, where: string, keys: readonly string[], required: readonly string[] = []): Map<string, Node | null> | undefined {
    if (!isMap(node)) {
      this.err(node, `${where}: expected a mapping (key: value), got ${describe(node)}`);
      return undefined;
    }
    const out = new Map<string, Node | null>();
    for (const pair of (node as YAMLMap<unknown, unknown>).items) {
      const k = pair.key as Node | null;
      const key = isScalar(k) ? k.value : undefined;
      if (typeof key !== 'string') {
        this.err(k ?? node, `${where}: keys must be strings, got ${describe(k)}`);
        continue;
      }
      if (!keys.includes(key)) {
        const dym = didYouMean(key, keys);
        this.err(k, `${where}: unknown key ${q(key)}`, dym ? `did you mean ${q(dym)}?` : `known keys: ${keys.join(', ')}`, 0, where === 'config' ? key : `${where}.${key}`);
        continue;
      }
      out.set(key, (pair.value as Node | null) ?? null);
    }
    for (const r of required) if (!out.has(r)) this.err(node, `${where}: missing required key ${q(r)}`, undefined, 0, where === 'config' ? r : `${where}.${r}`);
    return out;
  }

  scalar(node: Node | null): unknown {
    return isScalar(node) ? node.value : undefined;
  }

  /** A string without control characters (and, unless allowed, non-empty). */
  str(node: Node | null, where: string, opts: { empty?: boolean } = {}): string | undefined {
    const v = this.scalar(node);
    if (typeof v !== 'string') {
      this.err(node, `${where}: expected a string, got ${describe(node)}`, typeof v === 'number' || typeof v === 'boolean' ? 'quote it: "..."' : undefined);
      return undefined;
    }
    if (v.length > MAX_VALUE_LENGTH) {
      this.err(node, `${where}: ${v.length} characters, more than the ${MAX_VALUE_LENGTH} a value may have`, 'shorten it; longer values make unit lines systemd refuses');
      return undefined;
    }
    const why = unsafeText(v);
    if (why) { this.err(node, `${where}: ${q(v)} ${why}`, controlCharFix(where)); return undefined; }
    if (!opts.empty && v === '') { this.err(node, `${where}: must not be empty`); return undefined; }
    return v;
  }

  int(node: Node | null, where: string, min: number, max: number): number | undefined {
    const v = this.scalar(node);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.err(node, `${where}: expected an integer ${min}..${max}, got ${describe(node)}`);
      return undefined;
    }
    return v;
  }

  bool(node: Node | null, where: string): boolean | undefined {
    const v = this.scalar(node);
    if (typeof v !== 'boolean') { this.err(node, `${where}: expected true or false, got ${describe(node)}`); return undefined; }
    return v;
  }

  /**
   * A time span of at least `min` ms and at most what `ceiling` allows (a timer's unless told); `why` (a value
   * below `min` is a mistake because ...) goes into the fix.
   */
  duration(node: Node | null, where: string, min = 0, why?: string, ceiling: DurationCeiling = 'timer'): number | undefined {
    const v = this.scalar(node);
    if (typeof v === 'string' && unsafeText(v)) return this.str(node, where) as undefined;
    const ms = this.fromResult(node, where, parseDuration(v, undefined, ceiling));
    const odd = ms !== undefined && typeof v === 'string' ? bareNumberWarning(v) : undefined;
    if (odd) this.warn(configIssue({ file: this.file, ...this.pos(node), key: where, message: `${where}: ${odd.message}`, fix: odd.fix }));
    if (ms !== undefined && ms < min) {
      this.err(node, `${where}: must be at least ${formatDuration(min)}, got ${q(v)}`, `use ${formatDuration(min)} or more${why ? `: ${why}` : ''}`);
      return undefined;
    }
    return ms;
  }

  size(node: Node | null, where: string, percent = true): Size | undefined {
    const v = this.scalar(node);
    if (typeof v === 'string' && unsafeText(v)) return this.str(node, where) as undefined;
    return this.fromResult(node, where, parseSize(v, { percent }));
  }

  address(node: Node | null, where: string): Address | undefined {
    const v = this.str(node, where);
    return v === undefined ? undefined : this.fromResult(node, where, parseAddress(v));
  }

  enumOf(node: Node | null, where: string, values: readonly string[]): string | undefined {
    const v = this.str(node, where);
    if (v === undefined) return undefined;
    if (!values.includes(v)) {
      const dym = didYouMean(v, values);
      this.err(node, `${where}: expected one of ${values.join(', ')}, got ${q(v)}`, dym ? `did you mean ${q(dym)}?` : undefined);
      return undefined;
    }
    return v;
  }

  /** An absolute, normalized path made of characters that need no quoting anywhere (see paths in docs/unitgen.md). */
  path(node: Node | null, where: string, opts: { executable?: boolean } = {}): string | undefined {
    const v = this.str(node, where);
    if (v === undefined) return undefined;
    return this.checkPath(node, where, v, opts);
  }

  checkPath(node: Node | null, where: string, v: string, opts: { executable?: boolean } = {}): string | undefined {
    if (!v.startsWith('/')) { this.err(node, `${where}: expected an absolute path, got ${q(v)}`, 'start it with /'); return undefined; }
    if (v.length > 1 && (v.endsWith('/') || /\/\.{0,2}(\/|$)/.test(v) || v.includes('//'))) {
      this.err(node, `${where}: path is not normalized: ${q(v)}`, 'no trailing "/", no "//", "." or ".." components');
      return undefined;
    }
    const bad = opts.executable ? /[^A-Za-z0-9._/+@,:=~-]/ : /[^A-Za-z0-9._/+@,:=~%-]/;
    const m = bad.exec(v);
    if (m) {
      this.err(node, `${where}: character ${q(m[0])} is not supported in ${opts.executable ? 'an executable path' : 'a path'}: ${q(v)}`,
        `paths may use letters, digits and . _ / + @ , : = ~ -${opts.executable ? '' : ' %'}`);
      return undefined;
    }
    if (v.length > 4096) { this.err(node, `${where}: path longer than 4096 characters`); return undefined; }
    return v;
  }
}

export function describe(node: Node | null | undefined): string {
  if (node === null || node === undefined) return 'nothing';
  if (isAlias(node)) return 'an alias';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'null';
    return `${typeof v} ${q(v)}`;
  }
  return 'an unknown node';
}

/** Offset of a scalar's first character from the start of its node (1 for a quoted scalar). Exact unless escapes precede it. */
export function quotedDelta(node: Node | null): number {
  return isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') ? 1 : 0;
}

/**
 * A command: a list (exact argv) or a string split at spaces; relative executables resolve against `directory`.
 * With `n`, the placeholders of each argument are expanded for client n ({host}: `host`, its host's address).
 */
export function command(w: Walker, node: Node | null, where: string, directory: string | undefined, n?: number, host?: string): string[] | undefined {
  let parts: Array<{ v: string; node: Node | null; at: number }>;
  if (isSeq(node)) {
    parts = [];
    for (const item of node.items as Array<Node | null>) {
      const v = w.str(item, where, { empty: true });
      if (v === undefined) return undefined;
      parts.push({ v, node: item, at: quotedDelta(item) });
    }
  } else {
    const v = w.str(node, where);
    if (v === undefined) return undefined;
    parts = [];
    const re = /[^ ]+/g;
    for (let m = re.exec(v); m; m = re.exec(v)) parts.push({ v: m[0], node, at: quotedDelta(node) + m.index });
  }
  if (parts.length === 0 || parts[0]!.v === '') { w.err(node, `${where}: the command is empty`, 'e.g. bin/client{n} console'); return undefined; }
  const argv: string[] = [];
  for (const p of parts) {
    let v = p.v;
    if (n !== undefined) {
      const r = expandTemplate(v, n, host);
      if (!r.ok) { w.err(p.node, `${where}: ${r.message}`, r.hint, p.at + (r.offset ?? 0)); return undefined; }
      v = r.value;
    }
    argv.push(v);
  }
  const exe = argv[0]!;
  if (!exe.startsWith('/')) {
    if (directory === undefined) return undefined;
    argv[0] = `${directory === '/' ? '' : directory}/${exe.replace(/^\.\//, '')}`;
  }
  if (w.checkPath(parts[0]!.node, `${where} (executable)`, argv[0]!, { executable: true }) === undefined) return undefined;
  return argv;
}

/**
 * Where each value of the document is written (SourcePositions): a value at its first character (a quoted one at
 * its quote, as errors show it), a key written without a value at the key. Walked once the document is known to
 * be free of aliases and nested at most MAX_DEPTH levels. Keys are defined, not assigned: `__proto__` is a valid
 * environment variable name.
 */
export function sourcePositions(root: Node | null, lc: LineCounter): SourcePositions {
  const out: SourcePositions = {};
  const put = (key: string, node: Node | null | undefined, keyNode?: Node | null): void => {
    const off = node?.range?.[0] ?? keyNode?.range?.[0];
    if (off === undefined) return;
    const { line, col } = lc.linePos(off);
    Object.defineProperty(out, key, { value: { line, col }, enumerable: true, writable: true, configurable: true });
  };
  const walk = (n: unknown, at: string): void => {
    if (isMap(n)) {
      for (const p of n.items) {
        const k = isScalar(p.key) ? p.key.value : undefined;
        if (typeof k !== 'string' && typeof k !== 'number') continue;
        const key = at ? `${at}.${k}` : String(k);
        put(key, p.value as Node | null, p.key as Node | null);
        walk(p.value, key);
      }
    } else if (isSeq(n)) {
      (n.items as Array<Node | null>).forEach((item, i) => {
        put(`${at}[${i}]`, item);
        walk(item, `${at}[${i}]`);
        const name = isMap(item) ? item.get('name') : undefined;
        if (typeof name === 'string') { put(`${at}[name=${name}]`, item); walk(item, `${at}[name=${name}]`); }
      });
    }
  };
  walk(root, '');
  return out;
}
