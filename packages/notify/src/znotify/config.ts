// The znotify configuration: YAML file + command-line flags -> one validated, immutable model.
// Pure except for loadConfig(), which reads the file. The shape is fixed in docs/dev/CONTRACTS.md
// ("znotify config") because unitgen generates these files; docs/znotify.md documents every key.
//
// Every problem is collected (not just the first) and reported as `file:line:col: key: what; fix`, quoting
// the bad value. Unknown keys are errors with a did-you-mean, so a typo never silently disables a check.
import { readFileSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { isMap, isPair, isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { ConfigError, type ConfigProblem } from './errors.js';
import { didYouMean, isHostHeader, isLogLevel, LOG_LEVELS, parseAddress as parseSharedAddress, parseDuration, parseRequestPath, REQUEST_PATH_EXAMPLE, runtimeApiTarget, type LogLevel } from '@zope-systemd/common';
import { redact } from './log.js';
import { forwardProblem } from './signal-policy.js';
import { pythonFlagProblems, type StackDumpMode } from './stack-dump.js';

import { formatAddress, parseAddress, wrapperAddressRules, type Address } from './address.js';
export { formatAddress, parseAddress, type Address, type LogLevel };

export type Role = 'startup' | 'readiness' | 'liveness';
const ROLES: readonly Role[] = ['startup', 'readiness', 'liveness'];
export type CheckType = 'http' | 'tcp' | 'zeo' | 'postgresql' | 'command';
const CHECK_TYPES: readonly CheckType[] = ['http', 'tcp', 'zeo', 'postgresql', 'command'];

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
  warmup: { budgetMs: number; intervalMs: number; urls: WarmupUrl[] };
  health: { agent?: Address; http?: Address };
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

const DEFAULTS = {
  http: { host: '127.0.0.1', port: 8080 },
  warmup: { budgetMs: 600_000, intervalMs: 1000, timeoutMs: 60_000 },
  check: { intervalMs: 5000, timeoutMs: 2000, failureThreshold: 3, successThreshold: 1 },
  zeo: { ruokEveryMs: 60_000 },
  watchdog: { databaseGraceMs: 120_000, hangTimeoutMs: 300_000, dumpStacks: true },
  stop: { drainMs: 10_000, signal: 'SIGTERM' as NodeJS.Signals, timeoutMs: 60_000 },
  signals: { forward: [] as NodeJS.Signals[], stackDump: 'off' as StackDumpMode },
  log: { level: 'info' as LogLevel },
} as const;

/**
 * plone.observability serves /startup, /ready and /live on a port and thread of their own (not a Zope worker),
 * for Kubernetes' three probes. `observability: ADDRESS` turns them into the wrapper's three roles.
 */
const OBSERVABILITY_CHECKS: ReadonlyArray<{ name: string; path: string; role: Role }> = [
  { name: 'startup', path: '/startup', role: 'startup' },
  { name: 'ready', path: '/ready', role: 'readiness' },
  { name: 'live', path: '/live', role: 'liveness' },
];

// Databases: startup (the instance starts only once its database answers) and readiness (an outage takes the
// client out of HAProxy), never liveness by default: a restart cannot bring a database back, and after an outage
// every client of the stack would be restarted and warm up at once (docs/znotify.md, "Database checks").
const DEFAULT_ROLES: Record<CheckType, Role[]> = {
  http: ['liveness', 'readiness'],
  tcp: ['readiness'],
  zeo: ['startup', 'readiness'],
  postgresql: ['startup', 'readiness'],
  command: ['readiness'],
};

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
  constructor(
    private readonly file: string,
    private readonly doc?: Document.Parsed,
    private readonly lines?: LineCounter,
  ) {}

  /** `file:line:col` of the value at `path` (or of its key when `ofKey`), falling back to the nearest parent. */
  where(path: Path, ofKey = false): string {
    if (!this.doc || !this.lines) return this.file;
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
        return `${this.file}:${line}:${col}`;
      }
    }
    return this.file;
  }

  add(path: Path, message: string, fix?: string, opts: { ofKey?: boolean; where?: string } = {}): void {
    this.problems.push({ where: opts.where ?? this.where(path, opts.ofKey), key: keyPath(path), message, ...(fix ? { fix } : {}) });
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
  duration(v: unknown, path: Path, dflt: number, opts: { min?: number } = {}): number {
    if (v === undefined || v === null) return dflt;
    const r = parseDuration(v, show);
    if (!r.ok) { this.add(path, r.message, r.hint); return dflt; }
    const ms = r.value;
    if (opts.min !== undefined && ms < opts.min) {
      this.add(path, `${show(v)} is too short (at least ${opts.min} ms)`, `use a value of at least ${opts.min}ms`);
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

  oneOf<T extends string>(v: unknown, path: Path, allowed: readonly T[], dflt: T): T {
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    const guess = typeof v === 'string' ? didYouMean(v, allowed) : undefined;
    this.add(path, `${show(v)} is not one of ${allowed.join(', ')}`, guess ? `did you mean ${JSON.stringify(guess)}?` : undefined);
    return dflt;
  }
}

const TOP_KEYS = ['name', 'command', 'http', 'warmup', 'health', 'checks', 'observability', 'watchdog', 'stop', 'signals', 'haproxy', 'log'] as const;
const WARMUP_KEYS = ['budget', 'interval', 'urls'];
const URL_KEYS = ['path', 'host', 'status', 'text', 'timeout'];
const HEALTH_KEYS = ['agent', 'http'];
const COMMON_CHECK_KEYS = ['name', 'type', 'interval', 'timeout', 'failure-threshold', 'success-threshold', 'roles', 'grace'];
const CHECK_KEYS: Readonly<Record<CheckType, readonly string[]>> = {
  http: [...COMMON_CHECK_KEYS, 'address', 'path', 'host', 'status', 'text'],
  tcp: [...COMMON_CHECK_KEYS, 'address'],
  zeo: [...COMMON_CHECK_KEYS, 'address', 'ruok-every'],
  postgresql: [...COMMON_CHECK_KEYS, 'address'],
  command: [...COMMON_CHECK_KEYS, 'command'],
};
const WATCHDOG_KEYS = ['database-grace', 'hang-timeout', 'dump-stacks'];
const STOP_KEYS = ['drain', 'signal', 'timeout'];
const SIGNALS_KEYS = ['forward', 'stack-dump'];
const STACK_DUMP_MODES: readonly StackDumpMode[] = ['hook', 'off'];
const HAPROXY_KEYS = ['stats-socket', 'backend', 'server'];
const LOG_KEYS = ['level'];
/** The sections zunitgen writes from a stack config; its tests compare them with its own key lists, so that a
 *  key added here cannot go unnoticed there. */
export const WRAPPER_KEYS = { check: CHECK_KEYS, watchdog: WATCHDOG_KEYS, warmup: WARMUP_KEYS, url: URL_KEYS, health: HEALTH_KEYS, stop: STOP_KEYS, signals: SIGNALS_KEYS } as const;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.@-]*$/;
const HOST_HEADER = { test: isHostHeader };
/** A unix socket path, or an address by the wrapper's rules (`stats socket ipv4@127.0.0.1:9999 level admin`). */
const STATS_SOCKET = { test: (s: string) => (s.startsWith('/') ? /^\/\S+$/.test(s) : runtimeApiTarget(s) !== undefined) };
const HOST_HEADER_FIX = 'write the Host: header to send, e.g. www.example.org or www.example.org:8080';
const HAPROXY_ID = /^[A-Za-z0-9_.:-]+$/;
const HAPROXY_ID_CHARS = 'letters, digits and - _ . :';
const NAME_FIX = 'use letters, digits and _ . @ - (it names the HAProxy server and the metrics label)';

/** A wrapper config is a few KiB; anything near this is not one (and parsing megabytes costs seconds and GBs). */
export const MAX_CONFIG_BYTES = 256 * 1024;
/** Checks and warm-up URLs per instance: a handful is usual, each check is a timer and a connection. */
export const MAX_CHECKS = 64;
const MAX_WARMUP_URLS = 64;
/** Alias expansions (`*name`) when the YAML becomes values: a few are handy, thousands are an alias bomb. */
const MAX_ALIAS_COUNT = 100;

export interface ParseOptions {
  /** `run` needs a command; `check` does not (it may come after `--` in the unit). */
  requireCommand?: boolean;
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
  if (v.problems.length) throw new ConfigError(v.problems);
  if (text !== undefined) cfg.source = file;
  return cfg;
}

function tooBig(file: string, bytes: number): ConfigError {
  return new ConfigError([{
    where: `${file}:1:1`, key: '', message: `the file is ${bytes} bytes, more than a wrapper configuration may be (${MAX_CONFIG_BYTES} bytes)`,
    fix: 'check that --config names the instance\'s YAML file (a configuration is a few KiB)',
  }]);
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
    throw new ConfigError(doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      return {
        where: `${file}:${pos?.line ?? 1}:${pos?.col ?? 1}`, key: '',
        message: `YAML syntax error: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`, fix: 'fix the YAML syntax (indentation, quoting, colons)',
      };
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
    throw new ConfigError([{
      where: `${file}:${pos.line}:${pos.col}`, key: '',
      message: alias ? `YAML aliases expand to too many values (more than ${MAX_ALIAS_COUNT} expansions)` : `YAML cannot be read: ${(err as Error).message}`,
      fix: alias ? 'write the values out instead of nesting aliases (*name)' : 'fix the YAML (anchors, aliases, tags)',
    }], { cause: err });
  }
}

function validate(v: Validator, raw: Record<string, unknown>, flags: Flags, options: ParseOptions): Config {
  v.keys(raw, [], TOP_KEYS);

  // name
  let name: string | undefined;
  if (flags.name !== undefined) {
    name = NAME_RE.test(flags.name) ? flags.name : undefined;
    if (!name) v.add([], `--name ${show(flags.name)} is not a valid name`, NAME_FIX, { where: '--name' });
  } else {
    name = v.str(raw.name, ['name'], { required: true, pattern: NAME_RE, fix: raw.name === undefined ? 'add `name: client1` or pass --name client1' : NAME_FIX });
  }

  // command: after `--` wins
  let command: string[] = [];
  if (flags.command && flags.command.length) command = flags.command;
  else {
    const c = v.argv(raw.command, ['command']);
    if (c) command = c;
    else if (raw.command === undefined && options.requireCommand) {
      v.add([], 'no command to run', 'give it after `--` (znotify run --config FILE -- /srv/plone/bin/client1 console) or as `command:` in the config', { where: v.where([]) });
    }
  }

  // http
  let http: Address = { ...DEFAULTS.http };
  if (flags.http !== undefined) http = v.address(flags.http, ['http'], { where: '--http' }) ?? http;
  else if (raw.http !== undefined) http = v.address(raw.http, ['http']) ?? http;

  // warmup
  const wr = v.map(raw.warmup, ['warmup']) ?? {};
  v.keys(wr, ['warmup'], WARMUP_KEYS);
  const warmup = {
    budgetMs: v.duration(wr.budget, ['warmup', 'budget'], DEFAULTS.warmup.budgetMs, { min: 1 }),
    intervalMs: v.duration(wr.interval, ['warmup', 'interval'], DEFAULTS.warmup.intervalMs, { min: 10 }),
    urls: [] as WarmupUrl[],
  };
  if (wr.urls === undefined || wr.urls === null) {
    warmup.urls.push({ path: '/', status: 200, timeoutMs: DEFAULTS.warmup.timeoutMs });
  } else if (!Array.isArray(wr.urls)) {
    v.add(['warmup', 'urls'], `expected a list, got ${show(wr.urls)}`, 'write a list of `- path: /Plone` entries');
  } else if (wr.urls.length > MAX_WARMUP_URLS) {
    v.add(['warmup', 'urls'], `lists ${wr.urls.length} URLs, more than ${MAX_WARMUP_URLS}`, `warm up with at most ${MAX_WARMUP_URLS} URLs (a few representative pages do it)`);
  } else {
    wr.urls.forEach((u, i) => {
      const p: Path = ['warmup', 'urls', i];
      const um = typeof u === 'string' ? { path: u } : v.map(u, p);
      if (!um) return;
      v.keys(um, p, URL_KEYS);
      const path = v.urlPath(um.path, [...p, 'path'], { required: true });
      const host = v.str(um.host, [...p, 'host'], { pattern: HOST_HEADER, fix: HOST_HEADER_FIX });
      const text = v.str(um.text, [...p, 'text']);
      warmup.urls.push({
        path: path ?? '/',
        status: v.int(um.status, [...p, 'status'], 200, 100, 599),
        timeoutMs: v.duration(um.timeout, [...p, 'timeout'], DEFAULTS.warmup.timeoutMs, { min: 1 }),
        ...(host ? { host } : {}),
        ...(text ? { text } : {}),
      });
    });
    if (wr.urls.length === 0) v.add(['warmup', 'urls'], 'is empty', 'list at least one URL, or remove `urls:` to warm up with /');
  }

  // health
  const hr = v.map(raw.health, ['health']) ?? {};
  v.keys(hr, ['health'], HEALTH_KEYS);
  const health: Config['health'] = {};
  const agent = flags.healthAgent !== undefined
    ? v.address(flags.healthAgent, ['health', 'agent'], { allowZero: true, where: '--health-agent' })
    : v.address(hr.agent, ['health', 'agent'], { allowZero: true });
  if (agent) health.agent = agent;
  const hhttp = flags.healthHttp !== undefined
    ? v.address(flags.healthHttp, ['health', 'http'], { allowZero: true, where: '--health-http' })
    : v.address(hr.http, ['health', 'http'], { allowZero: true });
  if (hhttp) health.http = hhttp;

  // watchdog (before checks: database-grace is the default grace of database checks)
  const wd = v.map(raw.watchdog, ['watchdog']) ?? {};
  v.keys(wd, ['watchdog'], WATCHDOG_KEYS);
  const watchdog = {
    databaseGraceMs: v.duration(wd['database-grace'], ['watchdog', 'database-grace'], DEFAULTS.watchdog.databaseGraceMs),
    hangTimeoutMs: v.duration(wd['hang-timeout'], ['watchdog', 'hang-timeout'], DEFAULTS.watchdog.hangTimeoutMs),
    dumpStacks: v.bool(wd['dump-stacks'], ['watchdog', 'dump-stacks'], DEFAULTS.watchdog.dumpStacks),
  };

  // checks (plone.observability's three, when configured, replace the default root check)
  const checks: CheckSpec[] = [];
  const observability = v.address(raw.observability, ['observability']);
  if ((raw.checks === undefined || raw.checks === null) && raw.observability !== undefined && raw.observability !== null) {
    // nothing else by default: /live and /ready stand for the root check
  } else if (raw.checks === undefined || raw.checks === null) {
    checks.push({
      name: 'root', type: 'http', address: http, path: '/', status: 200, roles: [...DEFAULT_ROLES.http], graceMs: 0,
      ...DEFAULTS.check,
    });
  } else if (!Array.isArray(raw.checks)) {
    v.add(['checks'], `expected a list, got ${show(raw.checks)}`, 'write a list of `- { name: root, type: http, path: / }` entries');
  } else if (raw.checks.length > MAX_CHECKS) {
    v.add(['checks'], `lists ${raw.checks.length} checks, more than ${MAX_CHECKS}`, `configure at most ${MAX_CHECKS} checks (each one is a timer and a connection per interval)`);
  } else {
    const seen = new Set<string>();
    raw.checks.forEach((c, i) => {
      const spec = validateCheck(v, c, ['checks', i], http, watchdog.databaseGraceMs);
      if (!spec) return;
      if (seen.has(spec.name)) {
        v.add(['checks', i, 'name'], `${show(spec.name)} is used by an earlier check`, 'give every check its own name');
      }
      seen.add(spec.name);
      checks.push(spec);
    });
  }
  if (observability) {
    for (const o of OBSERVABILITY_CHECKS) {
      const i = checks.findIndex((c) => c.name === o.name);
      if (i >= 0) {
        v.add(['checks', i, 'name'], `${show(o.name)} is the name of a check that observability: adds`, 'rename this check');
        continue;
      }
      checks.push({ name: o.name, type: 'http', address: observability, path: o.path, status: 200, roles: [o.role], graceMs: 0, ...DEFAULTS.check });
    }
  }

  // stop
  const st = v.map(raw.stop, ['stop']) ?? {};
  v.keys(st, ['stop'], STOP_KEYS);
  let signal = DEFAULTS.stop.signal;
  if (st.signal !== undefined) {
    const s = parseSignal(st.signal);
    if (s) signal = s;
    else {
      const guess = typeof st.signal === 'string' ? didYouMean(st.signal.toUpperCase(), SIGNALS) : undefined;
      v.add(['stop', 'signal'], `${show(st.signal)} is not a signal name`, guess ? `did you mean ${guess}?` : 'write e.g. SIGTERM, SIGINT or SIGQUIT');
    }
  }
  const stop = {
    drainMs: v.duration(st.drain, ['stop', 'drain'], DEFAULTS.stop.drainMs),
    signal,
    timeoutMs: v.duration(st.timeout, ['stop', 'timeout'], DEFAULTS.stop.timeoutMs, { min: 1 }),
  };

  const signals = validateSignals(v, raw.signals);
  for (const [key, message, fix] of pythonFlagProblems(command, { dumpBeforeKill: watchdog.dumpStacks, mode: signals.stackDump })) {
    v.add(key.split('.'), message, fix);
  }

  // haproxy
  let haproxy: Config['haproxy'];
  if (raw.haproxy !== undefined && raw.haproxy !== null) {
    const hp = v.map(raw.haproxy, ['haproxy']) ?? {};
    v.keys(hp, ['haproxy'], HAPROXY_KEYS);
    const statsSocket = v.str(hp['stats-socket'], ['haproxy', 'stats-socket'], {
      required: true, pattern: STATS_SOCKET,
      fix: 'write the path of the `stats socket ... level admin` (e.g. /run/haproxy/admin.sock) or host:port',
    });
    // HAProxy's own identifier rule (its config check refuses anything else, e.g. "character '@' is not
    // permitted in server name"); it also keeps `set server B/S state ...` one unambiguous Runtime API word.
    const backend = v.str(hp.backend, ['haproxy', 'backend'], { required: true, pattern: HAPROXY_ID, fix: `write the backend name from haproxy.cfg, e.g. plone (${HAPROXY_ID_CHARS})` });
    const server = v.str(hp.server, ['haproxy', 'server'], { pattern: HAPROXY_ID, fix: `write the server name from haproxy.cfg (${HAPROXY_ID_CHARS})` });
    if (server === undefined && hp.server === undefined && name !== undefined && !HAPROXY_ID.test(name)) {
      v.add(['haproxy'], `the server name defaults to the instance name ${show(name)}, which HAProxy does not accept as a server name`,
        `set haproxy.server to the server's name in haproxy.cfg (${HAPROXY_ID_CHARS})`);
    } else if (statsSocket && backend) haproxy = { statsSocket, backend, server: server ?? name ?? '' };
  }

  // log
  const lg = v.map(raw.log, ['log']) ?? {};
  v.keys(lg, ['log'], LOG_KEYS);
  let level: LogLevel = DEFAULTS.log.level;
  if (flags.logLevel !== undefined) {
    if (isLogLevel(flags.logLevel)) level = flags.logLevel;
    else v.add([], `--log-level ${show(flags.logLevel)} is not one of ${LOG_LEVELS.join(', ')}`, undefined, { where: '--log-level' });
  } else level = v.oneOf(lg.level, ['log', 'level'], LOG_LEVELS, DEFAULTS.log.level);

  return {
    name: name ?? 'znotify', command, http, warmup, health, checks, watchdog, stop, signals,
    ...(haproxy ? { haproxy } : {}),
    ...(observability ? { observability } : {}),
    log: { level },
  };
}

function validateSignals(v: Validator, value: unknown): Config['signals'] {
  const m = v.map(value, ['signals']) ?? {};
  v.keys(m, ['signals'], SIGNALS_KEYS);
  const stackDump = v.oneOf(m['stack-dump'], ['signals', 'stack-dump'], STACK_DUMP_MODES, DEFAULTS.signals.stackDump);
  const forward: NodeJS.Signals[] = [];
  const list = typeof m.forward === 'string' ? [m.forward] : m.forward;
  if (list !== undefined && list !== null && !Array.isArray(list)) {
    v.add(['signals', 'forward'], `expected a list of signal names, got ${show(list)}`, 'write e.g. [SIGHUP]');
  } else {
    (list ?? []).forEach((x: unknown, i: number) => {
      const at = ['signals', 'forward', ...(Array.isArray(m.forward) ? [i] : [])];
      const sig = parseSignal(x);
      if (!sig) {
        const guess = typeof x === 'string' ? didYouMean(x.toUpperCase(), SIGNALS) : undefined;
        v.add(at, `${show(x)} is not a signal name`, guess ? `did you mean ${guess}?` : 'write e.g. SIGHUP');
        return;
      }
      const problem = forwardProblem(sig, { stackDump });
      if (problem) v.add(at, `${show(x)}: ${problem[0]}`, problem[1]);
      else if (!forward.includes(sig)) forward.push(sig);
    });
  }
  return { forward, stackDump };
}

function validateCheck(v: Validator, c: unknown, p: Path, http: Address, databaseGraceMs: number): CheckSpec | undefined {
  const m = v.map(c, p);
  if (!m) {
    if (c === null || c === undefined) v.add(p, 'empty check', 'write e.g. `- { name: root, type: http, path: / }`');
    return undefined;
  }
  const type = v.oneOf(m.type, [...p, 'type'], CHECK_TYPES, 'http');
  if (m.type === undefined) v.add([...p, 'type'], 'is missing', `add \`type:\` (one of ${CHECK_TYPES.join(', ')})`, { where: v.where(p) });
  v.keys(m, p, CHECK_KEYS[type]);
  const name = v.str(m.name, [...p, 'name'], { pattern: NAME_RE, fix: NAME_FIX }) ?? type;
  let roles = [...DEFAULT_ROLES[type]];
  if (m.roles !== undefined) {
    const rs = typeof m.roles === 'string' ? [m.roles] : m.roles;
    if (!Array.isArray(rs) || rs.length === 0) {
      v.add([...p, 'roles'], `expected a non-empty list, got ${show(m.roles)}`, `write e.g. [readiness, liveness] (from ${ROLES.join(', ')})`);
    } else {
      roles = [];
      rs.forEach((r, j) => {
        const role = v.oneOf(r, [...p, 'roles', j], ROLES, 'readiness');
        if (!roles.includes(role)) roles.push(role);
      });
    }
  }
  const isDb = type === 'zeo' || type === 'postgresql';
  const common: CheckCommon = {
    name,
    intervalMs: v.duration(m.interval, [...p, 'interval'], DEFAULTS.check.intervalMs, { min: 10 }),
    timeoutMs: v.duration(m.timeout, [...p, 'timeout'], DEFAULTS.check.timeoutMs, { min: 1 }),
    failureThreshold: v.int(m['failure-threshold'], [...p, 'failure-threshold'], DEFAULTS.check.failureThreshold, 1, 1000),
    successThreshold: v.int(m['success-threshold'], [...p, 'success-threshold'], DEFAULTS.check.successThreshold, 1, 1000),
    roles,
    graceMs: v.duration(m.grace, [...p, 'grace'], isDb ? databaseGraceMs : 0),
  };
  const addr = (required: boolean, dflt?: Address): Address => {
    const a = v.address(m.address, [...p, 'address']);
    if (!a && m.address === undefined && required) {
      v.add([...p, 'address'], 'is missing', `add \`address: host:port\` of the ${type === 'zeo' ? 'ZEO server (e.g. 127.0.0.1:8100)' : 'PostgreSQL server (e.g. 127.0.0.1:5432)'}`, { where: v.where(p) });
    }
    return a ?? dflt ?? { host: '127.0.0.1', port: 1 };
  };
  switch (type) {
    case 'http': {
      const host = v.str(m.host, [...p, 'host'], { pattern: HOST_HEADER, fix: HOST_HEADER_FIX });
      const text = v.str(m.text, [...p, 'text']);
      return {
        ...common, type, address: addr(false, http),
        path: v.urlPath(m.path, [...p, 'path']) ?? '/',
        status: v.int(m.status, [...p, 'status'], 200, 100, 599),
        ...(host ? { host } : {}), ...(text ? { text } : {}),
      };
    }
    case 'tcp': return { ...common, type, address: addr(false, http) };
    case 'zeo': return { ...common, type, address: addr(true), ruokEveryMs: v.duration(m['ruok-every'], [...p, 'ruok-every'], DEFAULTS.zeo.ruokEveryMs) };
    case 'postgresql': return { ...common, type, address: addr(true) };
    case 'command': {
      const command = v.argv(m.command, [...p, 'command']);
      if (m.command === undefined) v.add([...p, 'command'], 'is missing', 'add e.g. `command: [/usr/bin/test, -w, /srv/plone/var]`', { where: v.where(p) });
      return { ...common, type, command: command ?? ['false'] };
    }
  }
}

/** Reads and validates a config file (or flags alone when `file` is undefined). Throws ConfigError. */
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
    throw new ConfigError([{ where: file, key: '', message: `cannot read the config file (${code})`, fix: 'check the path given to --config and its permissions' }], { cause: err });
  }
  return parseConfig(text, file, flags, options);
}
