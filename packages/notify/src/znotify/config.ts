// The znotify configuration: YAML file + command-line flags -> one validated, immutable model.
// Pure except for loadConfig(), which reads the file. The shape is fixed in docs/dev/CONTRACTS.md
// ("znotify config") because unitgen generates these files; docs/znotify.md documents every key.
//
// Every problem is collected (not just the first) and reported as `file:line:col: key: what; fix`, quoting
// the bad value. Unknown keys are errors with a did-you-mean, so a typo never silently disables a check.
import { readFileSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { isMap, isPair, isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { ConfigError, configProblem, InputError, type ConfigProblem } from './errors.js';
import {
  CHECK_KEYS, CHECK_ROLES, CHECK_TYPES, checkKeys, DEFAULT_ROLES, didYouMean, FORWARDABLE_SIGNALS, yamlErrorsToReport, HAPROXY_ID_RULE, HAPROXY_ID_TEXT, isHostHeader, isLogLevel, LOG_LEVELS,
  bareNumberWarning, formatTimeSpan, MAX_CHECKS, MAX_WARMUP_URLS, NAME_RULE, parseAddress as parseSharedAddress, parseNetwork, parseDuration, parseRequestPath, REQUEST_PATH_EXAMPLE,
  runtimeApiTarget, sectionKeys, WRAPPER_CONFIG, type CheckRole, type CheckType, type LogLevel, type WrapperKey, type WrapperSection,
} from '@zope-systemd/common';
import { redact } from './log.js';
import { forwardProblem } from './signal-policy.js';
import { pythonFlagProblems, type StackDumpMode } from './stack-dump.js';

import { formatAddress, parseAddress, wrapperAddressRules, type Address } from './address.js';
export { formatAddress, MAX_CHECKS, parseAddress, type Address, type CheckType, type LogLevel };

/** The check types, roles and every key of this configuration are described once, in @zope-systemd/common
 *  (wrapper-config.ts); the types below are the validated model. */
export type Role = CheckRole;

interface CheckCommon {
  name: string;
  intervalMs: number;
  timeoutMs: number;
  failureThreshold: number;
  successThreshold: number;
  roles: Role[];
  /** For liveness only: how long this check may fail before liveness is lost (database-grace for databases). */
  graceMs: number;
}
export interface HttpCheckSpec extends CheckCommon {
  type: 'http';
  address: Address;
  path: string;
  host?: string;
  status: number;
  text?: string;
}
export interface TcpCheckSpec extends CheckCommon { type: 'tcp'; address: Address }
export interface ZeoCheckSpec extends CheckCommon {
  type: 'zeo';
  address: Address;
  /** A full `ruok` at most this often; in between, the kept connection (checks.ts ZeoKeeper). 0: ruok every run. */
  ruokEveryMs: number;
}
export interface PostgresCheckSpec extends CheckCommon { type: 'postgresql'; address: Address }
export interface CommandCheckSpec extends CheckCommon { type: 'command'; command: string[] }
export type CheckSpec = HttpCheckSpec | TcpCheckSpec | ZeoCheckSpec | PostgresCheckSpec | CommandCheckSpec;

export interface WarmupUrl {
  path: string;
  host?: string;
  status: number;
  text?: string;
  timeoutMs: number;
}


export interface Config {
  name: string;
  /** Empty only for `znotify check` without a command; `run` requires one. */
  command: string[];
  http: Address;
  /** slot: the lock file of warmup-slot.ts, when configured. */
  warmup: { budgetMs: number; intervalMs: number; urls: WarmupUrl[]; slot?: string };
  /** detailFrom: the networks (CIDR text) whose peers get /health's full detail and /metrics; others the state only. */
  health: { agent?: Address; http?: Address; detailFrom: string[] };
  checks: CheckSpec[];
  watchdog: { databaseGraceMs: number; hangTimeoutMs: number; dumpStacks: boolean };
  stop: { drainMs: number; signal: NodeJS.Signals; timeoutMs: number };
  /** What the wrapper passes on (signal-policy.ts): nothing unless listed; SIGUSR1 may ask for a stack dump. */
  signals: { forward: NodeJS.Signals[]; stackDump: StackDumpMode };
  haproxy?: { statsSocket: string; backend: string; server: string };
  /** plone.observability's probe listener, when configured: its checks are in `checks` (OBSERVABILITY_CHECKS). */
  observability?: Address;
  log: { level: LogLevel };
  /** The file the configuration came from, for messages. */
  source?: string;
}

/** Command-line flags; each overrides the file's key of the same meaning. */
export interface Flags {
  name?: string;
  http?: string;
  healthAgent?: string;
  healthHttp?: string;
  logLevel?: string;
  /** Everything after `--`; wins over `command:`. */
  command?: string[];
}

/**
 * plone.observability serves /startup, /ready and /live on a port and thread of their own (not a Zope worker),
 * for Kubernetes' three probes. `observability: ADDRESS` turns them into the wrapper's three roles.
 */
const OBSERVABILITY_CHECKS: ReadonlyArray<{ name: string; path: string; role: Role }> = [
  { name: 'startup', path: '/startup', role: 'startup' },
  { name: 'ready', path: '/ready', role: 'readiness' },
  { name: 'live', path: '/live', role: 'liveness' },
];

// ---------------------------------------------------------------------------------------------------------
// addresses, signals

const SIGNALS = Object.keys(osConstants.signals);
export function parseSignal(value: unknown): NodeJS.Signals | undefined {
  if (typeof value !== 'string') return undefined;
  const up = value.trim().toUpperCase();
  const name = up.startsWith('SIG') ? up : `SIG${up}`;
  return SIGNALS.includes(name) ? (name as NodeJS.Signals) : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// the validator

type Path = (string | number)[];
/** Where a value is: a file's line and column, or a flag (line 0). */
type Place = { file: string; line: number; col: number };

function keyPath(path: Path): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${p}` : p;
  return s;
}

/** A value quoted in a message, redacted: a config error may quote a DSN or a `user:password@host`. */
function show(v: unknown): string {
  if (typeof v === 'string') return redact(JSON.stringify(v));
  if (v === null || v === undefined) return 'nothing';
  // JSON.stringify writes Infinity (YAML's 1e400, .inf) and NaN as "null".
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  try { return redact(JSON.stringify(v)); } catch { return String(v); }
}

class Validator {
  readonly problems: ConfigProblem[] = [];
  /** Valid values that are likely not what was meant (`1h30` is 1h 30s): said, not refused. */
  readonly warnings: ConfigProblem[] = [];
  constructor(
    private readonly file: string,
    private readonly doc?: Document.Parsed,
    private readonly lines?: LineCounter,
  ) {}

  /** The line and column of the value at `path` (or of its key when `ofKey`), falling back to the nearest parent. */
  where(path: Path, ofKey = false): Place {
    if (!this.doc || !this.lines) return { file: this.file, line: 0, col: 0 };
    for (let n = path.length; n >= 0; n--) {
      const sub = path.slice(0, n);
      let node: unknown;
      if (ofKey && n === path.length && n > 0) {
        const parent = sub.length > 1 ? this.doc.getIn(sub.slice(0, -1), true) : this.doc.contents;
        if (isMap(parent)) {
          const pair = parent.items.find((it) => isPair(it) && isScalar(it.key) && it.key.value === sub[sub.length - 1]);
          node = pair?.key;
        }
      } else {
        node = n === 0 ? this.doc.contents : this.doc.getIn(sub, true);
      }
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      if (range) {
        const { line, col } = this.lines.linePos(range[0]);
        return { file: this.file, line, col };
      }
    }
    return { file: this.file, line: 0, col: 0 };
  }

  /** A problem at `path`'s value (or key), or at `opts.where`: a place, or a flag's name. */
  add(path: Path, message: string, fix?: string, opts: { ofKey?: boolean; where?: Place | string } = {}): void {
    const at = typeof opts.where === 'string' ? { file: opts.where, line: 0, col: 0 } : opts.where ?? this.where(path, opts.ofKey);
    this.problems.push(configProblem({ ...at, key: keyPath(path), message, ...(fix ? { fix } : {}) }));
  }

  /** Reports keys of `obj` that are not in `known`, each with a did-you-mean. */
  keys(obj: Record<string, unknown>, path: Path, known: readonly string[]): void {
    for (const k of Object.keys(obj)) {
      if (known.includes(k)) continue;
      const guess = didYouMean(k, known);
      this.add([...path, k], `unknown key ${JSON.stringify(k)}`,
        guess ? `did you mean ${JSON.stringify(guess)}?` : `known keys here: ${known.join(', ')}`, { ofKey: true });
    }
  }

  map(v: unknown, path: Path): Record<string, unknown> | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    this.add(path, `expected a mapping of keys, got ${show(v)}`, 'indent the keys below it');
    return undefined;
  }

  /** Every duration key goes through here: the one place that holds them to what a timer can hold. */
  duration(v: unknown, path: Path, dflt: number, opts: { min?: number; why?: string } = {}): number {
    if (v === undefined || v === null) return dflt;
    const r = parseDuration(v, show);
    if (!r.ok) { this.add(path, r.message, r.hint); return dflt; }
    const ms = r.value;
    const odd = typeof v === 'string' ? bareNumberWarning(v) : undefined;
    if (odd) this.warnings.push(configProblem({ ...this.where(path), key: keyPath(path), message: odd.message, fix: odd.fix }));
    if (opts.min !== undefined && ms < opts.min) {
      const least = formatTimeSpan(opts.min);
      this.add(path, `${show(v)} is too short (at least ${least})`, `use ${least} or more${opts.why ? `: ${opts.why}` : ''}`);
      return dflt;
    }
    return ms;
  }

  int(v: unknown, path: Path, dflt: number, min: number, max: number): number {
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v;
    this.add(path, `${show(v)} is not a whole number from ${min} to ${max}`, `write e.g. ${dflt}`);
    return dflt;
  }

  str(v: unknown, path: Path, opts: { required?: boolean; pattern?: { test(s: string): boolean }; fix?: string } = {}): string | undefined {
    if (v === undefined || v === null) {
      if (opts.required) this.add(path, 'is missing', opts.fix);
      return undefined;
    }
    if (typeof v === 'number' || typeof v === 'boolean') v = String(v);
    if (typeof v !== 'string' || (opts.required && v === '')) {
      this.add(path, `expected text, got ${show(v)}`, opts.fix);
      return undefined;
    }
    if (/[\0-\x1f\x7f]/.test(v)) {
      this.add(path, `${show(v)} contains a control character (a newline?)`, 'write it on one line');
      return undefined;
    }
    if (opts.pattern && !opts.pattern.test(v)) { this.add(path, `${show(v)} is not valid`, opts.fix); return undefined; }
    return v;
  }

  /**
   * A request path, as http.request sends it: absolute and printable ASCII only. Node throws
   * ERR_UNESCAPED_CHARACTERS for some characters (`€`, a space) and sends others as raw bytes (`ü` as one
   * Latin-1 byte), so each is refused here, with the percent-encoded path as the fix. One rule for every
   * configured path (check and warm-up paths, VirtualHostMonster paths among them).
   */
  urlPath(v: unknown, path: Path, opts: { required?: boolean } = {}): string | undefined {
    const s = this.str(v, path, { ...opts, fix: REQUEST_PATH_EXAMPLE });
    if (s === undefined) return undefined;
    const r = parseRequestPath(s, show);
    if (!r.ok) { this.add(path, r.message, r.hint); return undefined; }
    return r.value;
  }

  bool(v: unknown, path: Path, dflt: boolean): boolean {
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'boolean') return v;
    this.add(path, `${show(v)} is not true or false`, 'write true or false');
    return dflt;
  }

  address(v: unknown, path: Path, opts: { allowZero?: boolean; where?: string } = {}): Address | undefined {
    if (v === undefined || v === null) return undefined;
    const r = parseSharedAddress(v, { ...wrapperAddressRules(opts.allowZero), quote: show });
    if (r.ok) return { host: r.value.host, port: r.value.port };
    this.add(path, r.message, r.hint, opts.where ? { where: opts.where } : {});
    return undefined;
  }

  argv(v: unknown, path: Path): string[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') {
      this.add(path, `${show(v)} is a string, not a list`,
        `write it as a list of arguments, e.g. [${v.split(/\s+/).filter(Boolean).map((x) => JSON.stringify(x)).join(', ')}]`);
      return undefined;
    }
    if (!Array.isArray(v) || v.length === 0) {
      this.add(path, `expected a non-empty list of arguments, got ${show(v)}`, 'write e.g. [/srv/plone/bin/client1, console]');
      return undefined;
    }
    const out: string[] = [];
    v.forEach((a, i) => {
      const s = this.str(a, [...path, i], { fix: 'every argument must be text' });
      if (s !== undefined) out.push(s);
    });
    return out.length === v.length ? out : undefined;
  }

  /** A value by its description (wrapper-config.ts): the key's default when not given, or after a problem. */
  value(v: unknown, path: Path, key: WrapperKey): unknown {
    const t = key.value;
    if (t.kind === 'text') {
      const s = this.str(v, path, { ...textRule(t.rule, path), required: key.required ?? false });
      return s === '' ? undefined : s;
    }
    if (t.kind === 'request-path') return this.urlPath(v, path, { required: key.required ?? false });
    const d = key.default;
    if (v === undefined || v === null) return d;
    switch (t.kind) {
      case 'duration': return this.duration(v, path, d as number, { ...(t.min === undefined ? {} : { min: t.min }), ...(t.why ? { why: t.why } : {}) });
      case 'integer': return this.int(v, path, d as number, t.min, t.max);
      case 'boolean': return this.bool(v, path, d as boolean);
      case 'enum': return this.oneOf(v, path, t.values, d as string);
      case 'address': return this.address(v, path, { allowZero: t.zeroPort ?? false });
      case 'argv': return this.argv(v, path);
      case 'signal': return this.signal(v, path, 'write e.g. SIGTERM, SIGINT or SIGQUIT') ?? d;
      case 'network-list': return this.networks(v, path, d as readonly string[]);
      default: return d; // lists, sections and roles are read by parts of their own
    }
  }

  /** A list of networks (CIDR or one address), normalized to CIDR text. */
  networks(v: unknown, path: Path, dflt: readonly string[]): string[] {
    if (!Array.isArray(v)) { this.add(path, `expected a list of networks, got ${show(v)}`, `write e.g. [${dflt.join(', ')}, 10.0.0.0/24]`); return [...dflt]; }
    return v.flatMap((x, i) => {
      const r = parseNetwork(x, show);
      if (r.ok) return [r.value.text];
      this.add([...path, i], r.message, r.hint);
      return [];
    });
  }

  /** A signal name (`SIGTERM`, `TERM`, `term`), with a did-you-mean. */
  /** A signal name; a did-you-mean only from `among` (the names the key accepts), never an alias it refuses. */
  signal(v: unknown, path: Path, fix: string, among: readonly string[] = SIGNALS): NodeJS.Signals | undefined {
    const s = parseSignal(v);
    if (s) return s;
    const guess = typeof v === 'string' ? didYouMean(v.toUpperCase(), among) : undefined;
    this.add(path, `${show(v)} is not a signal name`, guess ? `did you mean ${guess}?` : fix);
    return undefined;
  }

  oneOf<T extends string>(v: unknown, path: Path, allowed: readonly T[], dflt: T): T {
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    const guess = typeof v === 'string' ? didYouMean(v, allowed) : undefined;
    this.add(path, `${show(v)} is not one of ${allowed.join(', ')}`, guess ? `did you mean ${JSON.stringify(guess)}?` : undefined);
    return dflt;
  }
}

const HOST_HEADER = { test: isHostHeader };
/** A unix socket path, or an address by the wrapper's rules (`stats socket ipv4@127.0.0.1:9999 level admin`). */
const STATS_SOCKET = { test: (s: string) => (s.startsWith('/') ? /^\/\S+$/.test(s) : runtimeApiTarget(s) !== undefined) };
/** An absolute path that names a file (not ending in /). */
const ABSOLUTE_FILE = /^\/.*[^/]$/;
const HOST_HEADER_FIX = 'write the Host: header to send, e.g. www.example.org or www.example.org:8080';
/** The syntax and fix of each kind of text the description names. */
function textRule(rule: 'name' | 'host-header' | 'haproxy-id' | 'stats-socket' | 'absolute-path' | undefined, path: Path): { pattern?: { test(s: string): boolean }; fix?: string } {
  switch (rule) {
    case 'name': return { pattern: NAME_RULE, fix: NAME_FIX };
    case 'host-header': return { pattern: HOST_HEADER, fix: HOST_HEADER_FIX };
    case 'stats-socket': return { pattern: STATS_SOCKET, fix: 'write the path of the `stats socket ... level admin` (e.g. /run/haproxy/admin.sock) or host:port' };
    case 'absolute-path': return { pattern: ABSOLUTE_FILE, fix: 'write the absolute path of a file, e.g. /srv/plone/var/warmup.slot' };
    // HAProxy's own identifier rule (its config check refuses anything else, e.g. "character '@' is not
    // permitted in server name"); it also keeps `set server B/S state ...` one unambiguous Runtime API word.
    case 'haproxy-id': return { pattern: HAPROXY_ID_RULE, fix: `write the ${String(path.at(-1))} name from haproxy.cfg${path.at(-1) === 'backend' ? ', e.g. plone' : ''} (${HAPROXY_ID_TEXT})` };
    default: return {};
  }
}
const NAME_FIX = 'use letters, digits and _ . @ - (it names the HAProxy server and the metrics label)';

/** A wrapper config is a few KiB; anything near this is not one (and parsing megabytes costs seconds and GBs). */
export const MAX_CONFIG_BYTES = 256 * 1024;
/** Alias expansions (`*name`) when the YAML becomes values: a few are handy, thousands are an alias bomb. */
const MAX_ALIAS_COUNT = 100;

export interface ParseOptions {
  /** `run` needs a command; `check` does not (it may come after `--` in the unit). */
  requireCommand?: boolean;
  /** Takes each warning: a value that is valid but likely not what was meant. */
  warn?: (warning: ConfigProblem) => void;
}

/**
 * Validates YAML text plus flags into a Config. Throws ConfigError listing every problem.
 * `file` is only used in messages. Pure: reads nothing but its arguments.
 */
export function parseConfig(text: string | undefined, file: string, flags: Flags = {}, options: ParseOptions = {}): Config {
  let raw: Record<string, unknown> = {};
  let v: Validator;
  if (text !== undefined) {
    const parsed = parseYaml(text, file);
    v = parsed.validator;
    if (parsed.js !== null && parsed.js !== undefined) {
      const m = v.map(parsed.js, []);
      if (m) raw = m;
    }
  } else {
    v = new Validator(file);
  }
  const cfg = validate(v, raw, flags, options);
  for (const w of v.warnings) options.warn?.(w);
  if (v.problems.length) throw new ConfigError(v.problems);
  if (text !== undefined) cfg.source = file;
  return cfg;
}

function tooBig(file: string, bytes: number): ConfigError {
  return new ConfigError([configProblem({
    file, line: 1, col: 1, key: '', message: `the file is ${bytes} bytes, more than a wrapper configuration may be (${MAX_CONFIG_BYTES} bytes)`,
    fix: 'check that --config names the instance\'s YAML file (a configuration is a few KiB)',
  })]);
}

/**
 * YAML text -> plain values, or a ConfigError (exit 78, `file:line:col`, a fix) for every YAML-level failure:
 * a file over MAX_CONFIG_BYTES, syntax errors, and alias bombs (more than MAX_ALIAS_COUNT expansions).
 */
function parseYaml(text: string, file: string): { validator: Validator; js: unknown } {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_CONFIG_BYTES) {
    throw tooBig(file, bytes);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(yamlErrorsToReport(doc.errors).map((e) => {
      const pos = e.linePos?.[0];
      const fix = e.code === 'TAB_AS_INDENT' ? 'indent with spaces: YAML refuses tabs' : 'fix the YAML syntax (indentation, quoting, colons)';
      return configProblem({
        file, line: pos?.line ?? 1, col: pos?.col ?? 1, key: '',
        message: `YAML syntax error: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`, fix: e.cascade ? `${fix}; ${e.cascade}` : fix,
      });
    }));
  }
  const validator = new Validator(file, doc, lines);
  try {
    return { validator, js: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown };
  } catch (err) {
    // The yaml library throws without a position (its alias-count guard among others): point at the first alias.
    let at: number | undefined;
    visit(doc, { Alias(_k, node) { at = node.range?.[0]; return visit.BREAK; } });
    const pos = lines.linePos(at ?? 0);
    const alias = /alias/i.test((err as Error).message);
    throw new ConfigError([configProblem({
      file, line: pos.line, col: pos.col, key: '',
      message: alias ? `YAML aliases expand to too many values (more than ${MAX_ALIAS_COUNT} expansions)` : `YAML cannot be read: ${(err as Error).message}`,
      fix: alias ? 'write the values out instead of nesting aliases (*name)' : 'fix the YAML (anchors, aliases, tags)',
    })], { cause: err });
  }
}

function validate(v: Validator, raw: Record<string, unknown>, flags: Flags, options: ParseOptions): Config {
  v.keys(raw, [], sectionKeys('top'));
  const name = readName(v, raw.name, flags.name);
  const command = readCommand(v, raw.command, flags.command, options);
  const http = (flags.http !== undefined ? v.address(flags.http, ['http'], { where: '--http' }) : v.address(raw.http, ['http']))
    ?? topDefaultAddress('http');
  const warmup = readWarmup(v, raw.warmup);
  const health = readHealth(v, raw.health, flags);
  // watchdog before checks: database-grace is the default grace of database checks
  const watchdog = readSection(v, raw.watchdog, 'watchdog') as Config['watchdog'];
  const observability = v.address(raw.observability, ['observability']);
  const checks = readChecks(v, raw.checks, { http, databaseGraceMs: watchdog.databaseGraceMs, observability, observabilityGiven: raw.observability != null });
  const stop = readSection(v, raw.stop, 'stop') as Config['stop'];
  const signals = readSignals(v, raw.signals);
  for (const [key, message, fix] of pythonFlagProblems(command, { dumpBeforeKill: watchdog.dumpStacks, mode: signals.stackDump })) {
    v.add(key.split('.'), message, fix);
  }
  const haproxy = readHaproxy(v, raw.haproxy, name);
  const log = readLog(v, raw.log, flags.logLevel);
  return {
    name: name ?? 'znotify', command, http, warmup, health, checks, watchdog, stop, signals,
    ...(haproxy ? { haproxy } : {}),
    ...(observability ? { observability } : {}),
    log,
  };
}

function topDefaultAddress(key: 'http'): Address {
  return parseAddress(WRAPPER_CONFIG.top[key].default)!;
}

/** `--name` wins over `name:`. */
function readName(v: Validator, value: unknown, flag: string | undefined): string | undefined {
  if (flag === undefined) {
    return v.str(value, ['name'], { required: true, pattern: NAME_RULE, fix: value === undefined ? 'add `name: client1` or pass --name client1' : NAME_FIX });
  }
  if (NAME_RULE.test(flag)) return flag;
  v.add([], `--name ${show(flag)} is not a valid name`, NAME_FIX, { where: '--name' });
  return undefined;
}

/** What comes after `--` wins over `command:`. */
function readCommand(v: Validator, value: unknown, flag: string[] | undefined, options: ParseOptions): string[] {
  if (flag && flag.length) return flag;
  const c = v.argv(value, ['command']);
  if (c) return c;
  if (value === undefined && options.requireCommand) {
    v.add([], 'no command to run', 'give it after `--` (znotify run --config FILE -- /srv/plone/bin/client1 console) or as `command:` in the config', { where: v.where([]) });
  }
  return [];
}

/**
 * The keys of a mapping read by their description, each into its field: the value given, or the key's default
 * (absent when it has none). Unknown keys are reported with a did-you-mean.
 */
function readKeys(v: Validator, m: Record<string, unknown>, path: Path, keys: WrapperSection, only = Object.keys(keys)): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of only) {
    const value = v.value(m[k], [...path, k], keys[k]!);
    if (value !== undefined) out[keys[k]!.field] = value;
  }
  return out;
}

/** A section of the configuration (watchdog, stop, log, ...) read by its description. */
function readSection(v: Validator, value: unknown, section: 'watchdog' | 'stop' | 'log'): Record<string, unknown> {
  const m = v.map(value, [section]) ?? {};
  v.keys(m, [section], sectionKeys(section));
  return readKeys(v, m, [section], WRAPPER_CONFIG[section]);
}

/** `--log-level` wins over `log.level`. */
function readLog(v: Validator, value: unknown, flag: string | undefined): Config['log'] {
  if (flag === undefined) return readSection(v, value, 'log') as Config['log'];
  v.keys(v.map(value, ['log']) ?? {}, ['log'], sectionKeys('log'));
  if (isLogLevel(flag)) return { level: flag };
  v.add([], `--log-level ${show(flag)} is not one of ${LOG_LEVELS.join(', ')}`, undefined, { where: '--log-level' });
  return { level: WRAPPER_CONFIG.log.level.default as LogLevel };
}

/** A flag wins over the file's key of the same meaning (which is then not read). */
function readHealth(v: Validator, value: unknown, flags: Flags): Config['health'] {
  const m = v.map(value, ['health']) ?? {};
  v.keys(m, ['health'], sectionKeys('health'));
  const fromFile = (['agent', 'http', 'detail-from'] as const).filter((k) => (k === 'agent' ? flags.healthAgent : k === 'http' ? flags.healthHttp : undefined) === undefined);
  const health = readKeys(v, m, ['health'], WRAPPER_CONFIG.health, fromFile) as Config['health'];
  const flag = (f: string | undefined, key: 'agent' | 'http', where: string) => {
    if (f === undefined) return;
    const a = v.address(f, ['health', key], { allowZero: true, where });
    if (a) health[key] = a; else delete health[key];
  };
  flag(flags.healthAgent, 'agent', '--health-agent');
  flag(flags.healthHttp, 'http', '--health-http');
  return health;
}

function readWarmup(v: Validator, value: unknown): Config['warmup'] {
  const wr = v.map(value, ['warmup']) ?? {};
  v.keys(wr, ['warmup'], sectionKeys('warmup'));
  const { budgetMs, intervalMs, slot } = readKeys(v, wr, ['warmup'], WRAPPER_CONFIG.warmup, ['budget', 'interval', 'slot']) as Pick<Config['warmup'], 'budgetMs' | 'intervalMs' | 'slot'>;
  const urlKeys = WRAPPER_CONFIG['warmup-url'];
  const urls: WarmupUrl[] = [];
  if (wr.urls == null) {
    urls.push({ path: '/', status: urlKeys.status.default as number, timeoutMs: urlKeys.timeout.default as number });
  } else if (listOk(v, wr.urls, ['warmup', 'urls'], 'URLs', MAX_WARMUP_URLS, 'warm up with at most', 'a few representative pages do it')) {
    wr.urls.forEach((u, i) => {
      const p: Path = ['warmup', 'urls', i];
      const um = typeof u === 'string' ? { path: u } : v.map(u, p);
      if (!um) return;
      v.keys(um, p, sectionKeys('warmup-url'));
      urls.push({ path: '/', ...readKeys(v, um, p, urlKeys) } as WarmupUrl);
    });
    if (wr.urls.length === 0) v.add(['warmup', 'urls'], 'is empty', 'list at least one URL, or remove `urls:` to warm up with /');
  }
  return { budgetMs, intervalMs, urls, ...(slot ? { slot } : {}) };
}

/** A list of at most `max` entries; what is wrong with it reported. */
function listOk(v: Validator, value: unknown, path: Path, what: string, max: number, fixStart: string, why: string): value is unknown[] {
  if (!Array.isArray(value)) {
    v.add(path, `expected a list, got ${show(value)}`, what === 'URLs' ? 'write a list of `- path: /Plone` entries' : 'write a list of `- { name: root, type: http, path: / }` entries');
    return false;
  }
  if (value.length > max) {
    v.add(path, `lists ${value.length} ${what}, more than ${max}`, `${fixStart} ${max} ${what} (${why})`);
    return false;
  }
  return true;
}

interface CheckContext { http: Address; databaseGraceMs: number; observability: Address | undefined; observabilityGiven: boolean }

/** `checks:`, or the default root check; plone.observability's three, when configured, replace the default. */
function readChecks(v: Validator, value: unknown, ctx: CheckContext): CheckSpec[] {
  const checks: CheckSpec[] = [];
  if (value == null) {
    if (!ctx.observabilityGiven) checks.push({ ...checkDefaults('http', 0), name: 'root', type: 'http', address: ctx.http, path: '/', status: 200 });
  } else if (listOk(v, value, ['checks'], 'checks', MAX_CHECKS, 'configure at most', 'each one is a timer and a connection per interval')) {
    const seen = new Set<string>();
    value.forEach((c, i) => {
      const spec = readCheck(v, c, ['checks', i], ctx);
      if (!spec) return;
      if (seen.has(spec.name)) v.add(['checks', i, 'name'], `${show(spec.name)} is used by an earlier check`, 'give every check its own name');
      seen.add(spec.name);
      checks.push(spec);
    });
  }
  if (ctx.observability) addObservabilityChecks(v, checks, ctx.observability);
  return checks;
}

function addObservabilityChecks(v: Validator, checks: CheckSpec[], address: Address): void {
  for (const o of OBSERVABILITY_CHECKS) {
    const i = checks.findIndex((c) => c.name === o.name);
    if (i >= 0) {
      v.add(['checks', i, 'name'], `${show(o.name)} is the name of a check that observability: adds`, 'rename this check');
      continue;
    }
    checks.push({ ...checkDefaults('http', 0), name: o.name, type: 'http', address, path: o.path, status: 200, roles: [o.role] });
  }
}

/** A check's timing and roles by default. */
function checkDefaults(type: CheckType, graceMs: number): Omit<CheckCommon, 'name'> {
  const d = (k: string) => CHECK_KEYS[k]!.default as number;
  return {
    intervalMs: d('interval'), timeoutMs: d('timeout'), failureThreshold: d('failure-threshold'), successThreshold: d('success-threshold'),
    roles: [...DEFAULT_ROLES[type]], graceMs,
  };
}

function readSignals(v: Validator, value: unknown): Config['signals'] {
  const m = v.map(value, ['signals']) ?? {};
  v.keys(m, ['signals'], sectionKeys('signals'));
  const { stackDump } = readKeys(v, m, ['signals'], WRAPPER_CONFIG.signals, ['stack-dump']) as Pick<Config['signals'], 'stackDump'>;
  const forward: NodeJS.Signals[] = [];
  const list = typeof m.forward === 'string' ? [m.forward] : m.forward;
  if (list != null && !Array.isArray(list)) {
    v.add(['signals', 'forward'], `expected a list of signal names, got ${show(list)}`, 'write e.g. [SIGHUP]');
    return { forward, stackDump };
  }
  (list ?? []).forEach((x: unknown, i: number) => {
    const at = ['signals', 'forward', ...(Array.isArray(m.forward) ? [i] : [])];
    const sig = v.signal(x, at, `forward one of ${FORWARDABLE_SIGNALS.join(', ')}`, FORWARDABLE_SIGNALS);
    if (!sig) return;
    const problem = forwardProblem(sig, { stackDump });
    if (problem) v.add(at, `${show(x)}: ${problem[0]}`, problem[1]);
    else if (forward.includes(sig)) v.add(at, `${show(x)} is listed twice`, 'list each signal once');
    else forward.push(sig);
  });
  return { forward, stackDump };
}

function readHaproxy(v: Validator, value: unknown, name: string | undefined): Config['haproxy'] {
  if (value == null) return undefined;
  const hp = v.map(value, ['haproxy']) ?? {};
  v.keys(hp, ['haproxy'], sectionKeys('haproxy'));
  const { statsSocket, backend, server } = readKeys(v, hp, ['haproxy'], WRAPPER_CONFIG.haproxy) as { statsSocket?: string; backend?: string; server?: string };
  if (server === undefined && hp.server === undefined && name !== undefined && !HAPROXY_ID_RULE.test(name)) {
    v.add(['haproxy'], `the server name defaults to the instance name ${show(name)}, which HAProxy does not accept as a server name`,
      `set haproxy.server to the server's name in haproxy.cfg (${HAPROXY_ID_TEXT})`);
    return undefined;
  }
  return statsSocket && backend ? { statsSocket, backend, server: server ?? name ?? '' } : undefined;
}

function readRoles(v: Validator, value: unknown, p: Path, type: CheckType): Role[] {
  if (value === undefined) return [...DEFAULT_ROLES[type]];
  const rs = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(rs) || rs.length === 0) {
    v.add(p, `expected a non-empty list, got ${show(value)}`, `write e.g. [readiness, liveness] (from ${CHECK_ROLES.join(', ')})`);
    return [...DEFAULT_ROLES[type]];
  }
  const roles: Role[] = [];
  rs.forEach((r, j) => {
    const role = v.oneOf(r, [...p, j], CHECK_ROLES, 'readiness');
    if (!roles.includes(role)) roles.push(role);
  });
  return roles;
}

function readCheck(v: Validator, c: unknown, p: Path, ctx: CheckContext): CheckSpec | undefined {
  const m = v.map(c, p);
  if (!m) {
    if (c == null) v.add(p, 'empty check', 'write e.g. `- { name: root, type: http, path: / }`');
    return undefined;
  }
  const type = v.oneOf(m.type, [...p, 'type'], CHECK_TYPES, 'http');
  if (m.type === undefined) v.add([...p, 'type'], 'is missing', `add \`type:\` (one of ${CHECK_TYPES.join(', ')})`, { where: v.where(p) });
  v.keys(m, p, checkKeys(type));
  const isDb = type === 'zeo' || type === 'postgresql';
  const common = {
    ...checkDefaults(type, isDb ? ctx.databaseGraceMs : 0),
    ...readKeys(v, m, p, CHECK_KEYS, ['interval', 'timeout', 'failure-threshold', 'success-threshold', 'grace']),
    name: v.str(m.name, [...p, 'name'], { pattern: NAME_RULE, fix: NAME_FIX }) ?? type,
    roles: readRoles(v, m.roles, [...p, 'roles'], type),
  } as CheckCommon;
  const own = readKeys(v, m, p, CHECK_KEYS, checkKeys(type).filter((k) => CHECK_KEYS[k]!.types && k !== 'address' && k !== 'command'));
  switch (type) {
    case 'http': case 'tcp': return { ...common, ...own, type, address: v.address(m.address, [...p, 'address']) ?? ctx.http } as CheckSpec;
    case 'zeo': case 'postgresql': return { ...common, ...own, type, address: requiredAddress(v, m.address, p, type) } as CheckSpec;
    case 'command': {
      const command = v.argv(m.command, [...p, 'command']);
      if (m.command === undefined) v.add([...p, 'command'], 'is missing', 'add e.g. `command: [/usr/bin/test, -w, /srv/plone/var]`', { where: v.where(p) });
      return { ...common, type, command: command ?? ['false'] };
    }
  }
}

function requiredAddress(v: Validator, value: unknown, p: Path, type: 'zeo' | 'postgresql'): Address {
  const a = v.address(value, [...p, 'address']);
  if (!a && value === undefined) {
    v.add([...p, 'address'], 'is missing', `add \`address: host:port\` of the ${type === 'zeo' ? 'ZEO server (e.g. 127.0.0.1:8100)' : 'PostgreSQL server (e.g. 127.0.0.1:5432)'}`, { where: v.where(p) });
  }
  return a ?? { host: '127.0.0.1', port: 1 };
}

/**
 * Reads and validates a config file (or flags alone when `file` is undefined). Throws ConfigError, or
 * InputError when the file cannot be read.
 */
export function loadConfig(file: string | undefined, flags: Flags = {}, options: ParseOptions = {}): Config {
  if (file === undefined) return parseConfig(undefined, '(command line)', flags, options);
  let text: string;
  try {
    // Refused before it is read whole: a config file is never this big.
    const size = statSync(file).size;
    if (size > MAX_CONFIG_BYTES) {
      throw tooBig(file, size);
    }
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new InputError([configProblem({ file, line: 0, col: 0, key: '', message: `cannot read the config file (${code})`, fix: 'check the path given to --config and its permissions' })], { cause: err });
  }
  return parseConfig(text, file, flags, options);
}
