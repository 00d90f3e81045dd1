// Layer 1: pure parse + validate. YAML text -> StackModel, or a ConfigError listing EVERY problem with
// file:line:col and a hint. Positions come from the yaml library's node ranges and LineCounter.

import { setupUnitName } from './setup-files.js';
import { isMap, isSeq, isAlias, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml';
import { ConfigError, configIssue, type ConfigIssue } from './errors.js';
import { invalidUnitName, systemdEscape, UNIT_NAME_MAX } from './escape.js';
import { HOME_DIRS, type CheckModel, type ClientModel, type MemoryLimits, type StackModel, type WarmupUrl } from './model.js';
import { addressesClash, bindTarget, expandTemplate, formatAddress, formatDuration, MAX_CONFIG_BYTES, isHostHeader, parseAddress, q, sizeBytes, type Address } from './values.js';
import { firstDirHolding, FORWARDABLE_SIGNALS, LOG_LEVELS, LOOPBACK_NETWORKS, durationFloorOf, parseNetwork, parseRequestPath, sectionKeys, stackSectionKeys, STOP_SIGNALS, WRAPPER_CONFIG, yamlErrorsToReport } from '@zope-systemd/common';
import { CHECK_KEYS, checksFor, generatedChecks, MAX_WRAPPER_CHECKS, parseChecks } from './check-config.js';
import { command, describe, quotedDelta, sourcePositions, Walker } from './yaml-reader.js';
import { RESTART_BURST, STACK_DURATIONS, type StackDurationKey } from './stack-durations.js';
import { existingUnits, recycleUnitNames, reservedStackName } from './unit-names.js';
import { clientRestartCycleMs, zeoRestartCycleMs } from './unit-timing.js';
import { checkListeners, HAPROXY_INSTALL_KEYS, HOST_KEYS, hostModels, hostNetworks, hostRef, parseClientHosts, parseHaproxyInstall, parseHosts, type HostDecl, type Listener } from './hosts.js';
import { serverMaxconn } from './haproxy-maxconn.js';

/** The keys allowed in each object of the config. schema/stack.schema.json must agree (tested). */
export const KEYS = {
  root: ['stack', 'description', 'user', 'group', 'directory', 'znotify', 'zunitgen', 'zstack', 'hardening', 'read-write-paths', 'environment',
    'database', 'zeo', 'clients', 'limits', 'watchdog', 'restart', 'haproxy', 'wanted-by', 'log-level', 'hosts'],
  host: HOST_KEYS,
  database: ['postgresql'],
  postgresql: ['unit', 'address', 'host'],
  zeo: ['command', 'address', 'memory', 'ready-timeout', 'host', 'environment'],
  clients: ['count', 'command', 'http', 'health', 'observability', 'warmup', 'memory', 'threads', 'stop', 'watchdog', 'signals', 'checks', 'environment', 'recycle', 'hosts'],
  recycle: ['memory', 'max-age', 'every'],
  // The wrapper's own sections: their keys come from its configuration's description (@zope-systemd/common).
  health: sectionKeys('health'),
  // Less the keys zunitgen writes itself (the warm-up slot: one lock file for all clients, render.ts).
  warmup: stackSectionKeys('warmup'),
  'warmup-url': sectionKeys('warmup-url'),
  memory: ['high', 'max'],
  stop: sectionKeys('stop'),
  'clients-watchdog': sectionKeys('watchdog'),
  'clients-signals': sectionKeys('signals'),
  check: CHECK_KEYS,
  limits: ['memory-max', 'memory-high', 'cpu-weight', 'io-weight', 'tasks-max'],
  restart: ['delay', 'burst', 'interval'],
  haproxy: ['backend', 'stats-socket', 'wrapper-socket', 'balance', 'maxconn', 'check-interval', 'queue-timeout', 'frontend', 'server-state-file', 'install'],
  haproxyInstall: HAPROXY_INSTALL_KEYS,
} as const;

/** A duration default of the wrapper's configuration (ms): what the wrapper does when the key is left out. */
function wrapperDefault(section: 'warmup' | 'stop', key: string): number {
  return (WRAPPER_CONFIG[section] as Record<string, { default?: unknown }>)[key]!.default as number;
}
/** One of the stack's own durations, held to its least value (stack-durations.ts). */
const stackDuration = (w: Walker, node: Node | null, key: StackDurationKey) => w.duration(node, key, STACK_DURATIONS[key].min, STACK_DURATIONS[key].why, STACK_DURATIONS[key].max);
/** A wrapper key's duration in the stack config, held to its least value there (its `stack` rule where it has one). */
function wrapperDuration<S extends 'warmup' | 'warmup-url' | 'stop'>(w: Walker, node: Node | null, where: string, section: S, key: keyof (typeof WRAPPER_CONFIG)[S]): number | undefined {
  const { min, why } = durationFloorOf(WRAPPER_CONFIG[section][key] as never, true);
  return w.duration(node, where, min, why);
}
/** The signals the stack config offers for clients.stop.signal and clients.signals.forward. */
const FORWARD_SIGNALS: readonly string[] = FORWARDABLE_SIGNALS;
const BALANCE = ['leastconn', 'roundrobin', 'first', 'source'];
const MAX_CLIENTS = 128;

// systemd-sysusers (which creates the user) takes at most 31 characters, the utmp limit.
const NAME_RE = /^[a-z_][a-z0-9_-]{0,30}$/;
const HAPROXY_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

export interface ParseOptions {
  /** Shown in errors and headers; defaults to "<config>". */
  file?: string;
  /**
   * Directories whose units the stack must not shadow (e.g. the vendor unit directories, or in generator mode
   * the whole unit search path): a generated unit name found in one is an error at `stack:`. Default: none
   * (parsing stays pure).
   */
  shadowCheck?: { dirs: readonly string[]; exists: (path: string) => boolean };
  /** Takes each warning: a value that is valid but likely not what was meant (`every: 1h30` is 1h 30s). */
  warn?: (issue: ConfigIssue) => void;
}

/** How deep the config may nest: a stack config needs five levels; the YAML reader's own recursion stays far away. */
export const MAX_DEPTH = 32;

/**
 * The text of a config file: UTF-8, strictly. A byte sequence that is not UTF-8 is an error at its position (a
 * decoder that replaced it with U+FFFD would change the value silently); so is a file over MAX_CONFIG_BYTES.
 */
export function decodeConfig(bytes: Uint8Array, file: string): string {
  if (bytes.length > MAX_CONFIG_BYTES) {
    throw new ConfigError([configIssue({ file, line: 1, col: 1, message: `the file is ${bytes.length} bytes, more than the ${MAX_CONFIG_BYTES} a stack config may have`, fix: 'a stack config is a few kilobytes: is this the right file?' })]);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    let good = 0;
    for (let end = bytes.length; good < end;) {
      const mid = (good + end + 1) >> 1;
      try { new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid)); good = mid; } catch { end = mid - 1; }
    }
    // `good` bytes decode; the sequence after them cannot (a truncated sequence at the end decodes as a prefix, so back off).
    while (good > 0 && (bytes[good]! & 0xc0) === 0x80) good--;
    const before = new TextDecoder('utf-8').decode(bytes.subarray(0, good));
    const lines = before.split('\n');
    throw new ConfigError([configIssue({ file, line: lines.length, col: lines[lines.length - 1]!.length + 1, message: `byte 0x${bytes[good]!.toString(16).padStart(2, '0')} at offset ${good} is not UTF-8`, fix: 'save the file as UTF-8' })]);
  }
}

/** Parses and validates one stack config. Throws ConfigError with every issue found. Pure. */
export function parseStack(text: string, opts: ParseOptions = {}): StackModel {
  const file = opts.file ?? '<config>';
  if (text.length > MAX_CONFIG_BYTES) decodeConfig(Buffer.from(text), file);
  try {
    return parseChecked(text, file, opts);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    // The YAML reader recurses per nesting level: a file nested thousands deep ends its stack.
    throw new ConfigError([configIssue({ file, line: 1, col: 1, message: 'the YAML nests too deeply to be read', fix: `a stack config nests at most ${MAX_DEPTH} levels; look for a run of [ or { that never closes` })]);
  }
}

/**
 * The offset where flow collections ([ and {) nest deeper than MAX_DEPTH, or -1. Read before the YAML parser,
 * which recurses once per level and, thousands deep, exhausts the stack. Quotes and comments are skipped.
 */
function flowTooDeep(text: string): number {
  let depth = 0, quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
      continue;
    }
    const prev = i === 0 ? '\n' : text[i - 1]!;
    if (c === '#' && /\s/.test(prev)) { const nl = text.indexOf('\n', i); if (nl < 0) break; i = nl; continue; }
    if ((c === '"' || c === "'") && /[\s[{,:]/.test(prev)) { quote = c; continue; }
    if (c === '[' || c === '{') { if (++depth > MAX_DEPTH) return i; }
    else if ((c === ']' || c === '}') && depth > 0) depth--;
  }
  return -1;
}

function parseChecked(text: string, file: string, opts: ParseOptions): StackModel {
  const lc = new LineCounter();
  const tooDeep = flowTooDeep(text);
  if (tooDeep >= 0) {
    const before = text.slice(0, tooDeep).split('\n');
    throw new ConfigError([configIssue({ file, line: before.length, col: before[before.length - 1]!.length + 1, message: `the config nests more than ${MAX_DEPTH} levels deep`, fix: 'a stack config needs about five; look for a run of [ or { that never closes' })]);
  }
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, strict: true });
  const w = new Walker(file, lc, doc.contents as Node | null, opts.warn);
  for (const e of yamlErrorsToReport(doc.errors)) {
    const { line, col } = lc.linePos(e.pos[0]);
    const { message, hint } = yamlMessage(e.code, e.message, text.split('\n')[line - 1] ?? '');
    w.issues.push(configIssue({ file, line, col, key: '', message, ...(hint || e.cascade ? { fix: [hint, e.cascade].filter(Boolean).join('; ') } : {}) }));
  }
  if (w.issues.length) throw new ConfigError(w.issues);
  let refused = false;
  // Aliases would make one node appear in two places (and positions ambiguous): refuse them. Depth is bounded
  // before anything else walks the tree.
  const visit = (n: unknown, depth: number): void => {
    if (refused) return;
    if (depth > MAX_DEPTH) { w.err(n as Node, `the config nests more than ${MAX_DEPTH} levels deep`, 'a stack config needs about five; look for a run of [ or { here'); refused = true; return; }
    if (isAlias(n)) { w.err(n as Node, 'YAML anchors and aliases are not supported', 'write the value out'); refused = true; return; }
    if (isMap(n)) for (const p of n.items) { visit(p.key, depth + 1); visit(p.value, depth + 1); }
    else if (isSeq(n)) for (const i of n.items) visit(i, depth + 1);
  };
  visit(doc.contents, 0);
  if (refused) throw new ConfigError(w.issues);
  const model = validate(w, doc.contents as Node | null, file, () => sourcePositions(doc.contents as Node | null, lc));
  if (model && opts.shadowCheck) refuseShadowing(w, model, (doc.contents as YAMLMap | null)?.get?.('stack', true) as Node | null, opts.shadowCheck);
  w.issues.sort((a, b) => a.line - b.line || a.col - b.col);
  if (w.issues.length || !model) throw new ConfigError(w.issues.length ? w.issues : [configIssue({ file, line: 1, col: 1, message: 'invalid configuration' })]);
  return model;
}

/**
 * A YAML reader error as an issue's message and fix. Block sequences nested thousands deep on one line ("- - - x")
 * exhaust the reader's stack; it reports that as its own error, which is said here in the config's terms.
 */
function yamlMessage(code: string, message: string, line: string): { message: string; hint: string | undefined } {
  if (code === 'RESOURCE_EXHAUSTION' && /call stack/i.test(message)) {
    return { message: 'the config nests too deeply to be read', hint: `a stack config nests at most ${MAX_DEPTH} levels; look for a run of "- ", [ or { that never ends` };
  }
  return { message: `YAML: ${message.split('\n')[0]}`, hint: yamlHint(code, line) };
}

/** The fix for a YAML syntax error, where there is a likely one. */
function yamlHint(code: string, line: string): string | undefined {
  if (code === 'DUPLICATE_KEY') return 'each key may appear once';
  if (code === 'TAB_AS_INDENT') return `indent with spaces: YAML refuses tabs (this line starts with ${JSON.stringify(/^\s*/.exec(line)![0]).slice(1, -1)})`;
  // `{ agent: 127.0.0.1:{9080+n} }`: inside a flow mapping an unquoted { starts another mapping.
  if (/\{[^{}]*\{\s*(n|\d+\s*\+\s*n|n\s*\+\s*\d+)\s*\}/.test(line)) return 'quote values holding a placeholder inside { ... }: agent: "127.0.0.1:{9080+n}"';
  return undefined;
}

/** A generated unit name that the system already has is refused: ours would replace it, or it ours. */
function refuseShadowing(w: Walker, m: StackModel, stackNode: Node | null, check: NonNullable<ParseOptions['shadowCheck']>): void {
  const recycle = m.recycle ? recycleUnitNames(m.prefix) : undefined;
  const names = [m.target, m.slice, setupUnitName(m.prefix), ...(m.zeo ? [m.zeo.unit] : []), ...m.clients.flatMap((c) => [c.unit, c.agentSocket, ...(c.healthSocket ? [c.healthSocket] : [])]),
    ...(recycle ? [recycle.service, recycle.timer] : [])];
  const found = existingUnits(names, check.dirs, check.exists);
  if (found.length) {
    w.err(stackNode, `stack: ${q(m.stack)} generates unit names the system already has: ${found.join(', ')}`, 'choose another stack name; these units belong to systemd or the distribution');
  }
}



/**
 * How to run znotify / zunitgen: an absolute executable, or an argv prefix such as
 * [/usr/bin/node, /opt/zope-systemd/packages/notify/dist/znotify/cli.js] (a checkout without bin links).
 */
function tool(w: Walker, node: Node | null, where: string): string[] | undefined {
  if (!isSeq(node)) { const p = w.path(node, where, { executable: true }); return p === undefined ? undefined : [p]; }
  const out: string[] = [];
  for (const [i, item] of (node.items as Array<Node | null>).entries()) {
    const v = i === 0 ? w.path(item, `${where}[0]`, { executable: true }) : w.str(item, `${where}[${i}]`);
    if (v === undefined) return undefined;
    out.push(v);
  }
  if (out.length === 0) { w.err(node, `${where}: the command is empty`); return undefined; }
  return out;
}

/** Variables systemd or the wrapper set themselves: a value from the config would be overwritten or break them. */
const RESERVED_ENV = /^(NOTIFY_SOCKET|LISTEN_(PID|FDS|FDNAMES)|WATCHDOG_(PID|USEC)|MAINPID|INVOCATION_ID|SYSTEMD_EXEC_PID)$/;

/** `environment:` a mapping NAME: value (strings; numbers and booleans as written), for Environment=. */
function environment(w: Walker, node: Node | null, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isMap(node)) { w.err(node, `${where}: expected a mapping NAME: value, got ${describe(node)}`, 'e.g. environment: { PYTHONPATH: /srv/plone/lib }'); return out; }
  for (const pair of node.items) {
    const k = pair.key as Node | null;
    const name = w.scalar(k);
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name)) {
      w.err(k, `${where}: ${q(name)} is not a variable name`, 'letters, digits and _, not starting with a digit'); continue;
    }
    if (RESERVED_ENV.test(name)) { w.err(k, `${where}: ${name} is set by systemd or znotify`, 'remove it; the units set it themselves'); continue; }
    const vn = pair.value as Node | null;
    const raw = w.scalar(vn);
    const v = typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : w.str(vn, `${where}.${name}`, { empty: true });
    // Defined, not assigned: `__proto__` is a valid variable name, and `out[name] = v` would drop it silently.
    if (v !== undefined) Object.defineProperty(out, name, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * The ZEO address is written once: when zeo.command passes runzeo's -a/--address too, it must be zeo.address
 * (where the clients and the zeo check connect, and what ExecStartPost= waits for), however it is spelled.
 */
function zeoAddressAgrees(w: Walker, node: Node, argv: readonly string[], address: Address): void {
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    const given = a === '-a' || a === '--address' ? argv[i + 1] : a.startsWith('--address=') ? a.slice(10) : a.startsWith('-a') && a.length > 2 ? a.slice(2) : undefined;
    if (given === undefined) continue;
    const p = parseAddress(given);
    const same = p.ok && p.value.port === address.port && bindTarget(p.value).key === bindTarget(address).key;
    if (!same) {
      w.err(node, `zeo.command: the server is told to listen on ${q(given)}, but zeo.address is ${formatAddress(address)}`, `write the address once: drop ${a === '-a' || a === '--address' ? `${a} ${given}` : a} from the command (ExecStartPost= and the clients use zeo.address), or make them equal`);
    }
    return;
  }
}

function memory(w: Walker, node: Node | null, where: string): MemoryLimits {
  const m = w.map(node, where, KEYS.memory);
  const out: MemoryLimits = {};
  if (!m) return out;
  if (m.has('high')) { const s = w.size(m.get('high')!, `${where}.high`); if (s) out.high = s; }
  if (m.has('max')) { const s = w.size(m.get('max')!, `${where}.max`); if (s) out.max = s; }
  const hb = out.high && sizeBytes(out.high), mb = out.max && sizeBytes(out.max);
  if (hb !== undefined && mb !== undefined && hb > mb) w.err(m.get('high')!, `${where}: high (${hb} bytes) is above max (${mb} bytes)`, 'MemoryHigh= throttles before MemoryMax= kills: keep high <= max');
  return out;
}

/**
 * clients.recycle: thresholds of `zstack recycle` and how often its timer runs it. The memory threshold is the
 * instance's RSS and must stay below MemoryHigh=/MemoryMax= (those throttle and kill; recycling must come first).
 */
function parseRecycle(w: Walker, node: Node, limits: MemoryLimits): StackModel['recycle'] {
  const m = w.map(node, 'clients.recycle', KEYS.recycle);
  if (!m) return undefined;
  const out: NonNullable<StackModel['recycle']> = { everyMs: STACK_DURATIONS['clients.recycle.every'].default };
  if (m.has('memory')) {
    const s = w.size(m.get('memory')!, 'clients.recycle.memory', false);
    const b = s && sizeBytes(s);
    if (s && b === undefined) w.err(m.get('memory')!, 'clients.recycle.memory: expected a size such as 1.2G', 'the instance RSS above which a client is recycled');
    else if (s) {
      out.memory = s;
      for (const [k, lim] of [['high', limits.high], ['max', limits.max]] as const) {
        const lb = lim && sizeBytes(lim);
        if (lb !== undefined && b! >= lb) w.err(m.get('memory')!, `clients.recycle.memory: ${b} bytes is not below clients.memory.${k} (${lb} bytes)`, `MemoryHigh=/MemoryMax= throttle and kill first: recycle below them, e.g. at 80% of memory.${k}`);
      }
    }
  }
  if (m.has('max-age')) { const d = stackDuration(w, m.get('max-age')!, 'clients.recycle.max-age'); if (d !== undefined) out.maxAgeMs = d; }
  if (m.has('every')) out.everyMs = stackDuration(w, m.get('every')!, 'clients.recycle.every') ?? out.everyMs;
  if (!m.has('memory') && !m.has('max-age')) w.err(node, 'clients.recycle: give memory, max-age or both', 'e.g. recycle: { memory: 1.2G, max-age: 1d }');
  return out;
}

/** The top-level mapping of the stack config, as the parts of validate() read it. */
interface Top {
  w: Walker;
  top: Map<string, Node | null>;
  /** The node of a top-level key, null when absent. */
  g: (k: string) => Node | null;
}

/** Where a database runs: the host named, or the only one (undefined without hosts:). */
type PlaceDatabase = (m: Map<string, Node | null>, where: string) => string | undefined;

/** The least stack config there is, in one line, for the hint on an empty one (an npm user has no examples/). */
const MINIMAL_STACK = '{ stack: plone, user: plone, directory: /srv/plone, clients: { count: 2, command: "bin/client{n} console", http: "127.0.0.1:{8080+n}", health: { agent: "127.0.0.1:{9080+n}" } } }';

function validate(w: Walker, root: Node | null, file: string, positions: () => StackModel['positions']): StackModel | undefined {
  if (root === null) { w.err(root, 'the config is empty', `a stack needs at least stack, user, directory and clients, e.g. ${MINIMAL_STACK}`); return undefined; }
  const top = w.map(root, 'config', KEYS.root, ['stack', 'user', 'directory', 'clients']);
  if (!top) return undefined;
  const t: Top = { w, top, g: (k) => top.get(k) ?? null };
  const id = readIdentity(t);
  const install = readInstallation(t);
  const stackEnv = top.has('environment') ? environment(w, t.g('environment'), 'environment') : {};
  const hostDecls = top.has('hosts') ? parseHosts(w, t.g('hosts')) : undefined;
  const placeDb = databasePlacer(t, hostDecls);
  const logLevel = top.has('log-level') ? w.enumOf(t.g('log-level'), 'log-level', LOG_LEVELS) : 'info';
  const wantedBy = readWantedBy(t);
  const limits = readLimits(t);
  const { postgresql, pgCheck } = readPostgresql(t, placeDb);
  const { zeo, zeoCheck } = readZeo(t, { directory: install.directory, prefix: id.prefix, stackEnv, placeDb });
  const watchdogMs = top.has('watchdog') ? stackDuration(w, t.g('watchdog'), 'watchdog') : STACK_DURATIONS.watchdog.default;
  const restart = readRestart(t);
  const cm = w.map(t.g('clients'), 'clients', KEYS.clients, ['command', 'http', 'health']);
  const o = readClientOptions(t, cm, hostDecls);
  const generated = generatedChecks({ ...(zeoCheck ? { zeo: zeoCheck } : {}), ...(pgCheck ? { postgresql: pgCheck } : {}) });
  const clients = cm ? readClients(t, cm, { ...o, hostDecls, generated, stack: id.stack, prefix: id.prefix, directory: install.directory }) : [];
  orderClients(clients, postgresql, zeo);
  if (hostDecls) {
    remoteDatabaseStartup(clients, zeo, postgresql);
    checkListeners(w, hostDecls, listenersOf(clients, zeo, postgresql, cm, top));
  }
  const claim = claimPorts(t, cm, zeo, postgresql, clients);
  const haproxy = readHaproxy(t, id.stack, o.threads, claim, hostDecls);
  warnStartLimitSpan(t, restart, o, zeo);
  // ProtectHome=yes hides /home, /root and /run/user entirely, so an instance living there gets read-only
  // instead (ReadWritePaths= then re-opens its var/).
  const underHome = install.directory !== undefined && firstDirHolding(install.directory, HOME_DIRS) !== undefined;
  if (w.issues.length) return undefined;
  return {
    source: file, positions: positions(),
    stack: id.stack!, prefix: id.prefix,
    description: id.description ?? `Plone/Zope stack ${id.stack}`,
    user: id.user!, ...(id.group !== undefined ? { group: id.group } : {}),
    directory: install.directory!, znotify: install.znotify!, zunitgen: install.zunitgen!, zstack: install.zstack!,
    hardening: install.hardening, protectHome: underHome ? 'read-only' : 'yes', varPath: install.varPath, readWritePaths: install.rwPaths,
    target: `${id.prefix}.target`, slice: `${id.prefix}.slice`,
    limits,
    ...(postgresql ? { postgresql } : {}),
    ...(zeo ? { zeo } : {}),
    ...(hostDecls ? { hosts: hostModels(hostDecls, zeo?.host, postgresql?.host, clients) } : {}),
    clients,
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
    warmup: o.warmup, watchdogMs: watchdogMs!, clientWatchdog: o.clientWatchdog, clientSignals: o.clientSignals, stop: o.stop, restart, haproxy,
    environment: stackEnv, clientEnvironment: { ...stackEnv, ...o.clientEnv },
    ...(o.recycle ? { recycle: o.recycle } : {}),
    wantedBy, logLevel: logLevel!,
  };
}

/** stack: (the unit prefix), description, user and group. */
function readIdentity(t: Top): { stack: string | undefined; prefix: string; description: string | undefined; user: string | undefined; group: string | undefined } {
  const { w, top, g } = t;
  const { stack, prefix } = top.has('stack') ? readStackName(t) : { stack: undefined, prefix: '' };
  const description = top.has('description') ? w.str(g('description'), 'description') : undefined;
  if (description !== undefined) {
    if (description !== description.trim()) w.err(g('description'), 'description: leading or trailing whitespace would be lost', 'remove it');
    else if (description.endsWith('\\')) w.err(g('description'), 'description: must not end with a backslash', 'a trailing backslash continues the line in a unit file');
  }
  const userName = (k: 'user' | 'group') => {
    const v = w.str(g(k), k);
    if (v !== undefined && !NAME_RE.test(v)) { w.err(g(k), `${k}: not a valid ${k} name: ${q(v)}`, 'lower-case letters, digits, _ and -, starting with a letter or _, at most 31 characters'); return undefined; }
    return v;
  };
  const user = top.has('user') ? userName('user') : undefined;
  const group = top.has('group') ? userName('group') : undefined;
  if (user === 'root') w.err(g('user'), 'user: Zope must not run as root', 'create a dedicated user, e.g. plone');
  // systemd refuses to trust "nobody" ("Special user nobody configured, this is not safe!", systemd.exec(5)).
  if (user === 'nobody' || group === 'nogroup' || group === 'nobody') w.err(g(user === 'nobody' ? 'user' : 'group'), `${user === 'nobody' ? 'user' : 'group'}: systemd warns that nobody/nogroup is not safe for services`, 'create a dedicated user, e.g. plone');
  return { stack, prefix, description, user, group };
}

function readStackName(t: Top): { stack: string | undefined; prefix: string } {
  const { w, g } = t;
  let stack = w.str(g('stack'), 'stack');
  if (stack !== undefined && (stack !== stack.trim() || stack.endsWith('\\'))) {
    w.err(g('stack'), `stack: ${q(stack)} must not start or end with whitespace or end with a backslash`, 'it is part of unit descriptions; use a short name such as "plone"');
    stack = undefined;
  }
  const reserved = stack !== undefined ? reservedStackName(stack) : undefined;
  if (reserved) { w.err(g('stack'), `stack: ${reserved.message}`, reserved.hint); stack = undefined; }
  if (stack === undefined) return { stack, prefix: '' };
  const prefix = systemdEscape(stack);
  const longest = `${prefix}-client${MAX_CLIENTS}-health.socket`;
  if (longest.length > UNIT_NAME_MAX) { w.err(g('stack'), `stack: too long, unit names would exceed ${UNIT_NAME_MAX} characters`, 'use a short name such as "plone"'); return { stack: undefined, prefix }; }
  if (stack.length > 64) { w.err(g('stack'), 'stack: longer than 64 characters'); return { stack: undefined, prefix }; }
  return { stack, prefix };
}

/** Where the instance lives and how the tools are run: directory, znotify/zunitgen/zstack, hardening, writable paths. */
function readInstallation(t: Top) {
  const { w, top, g } = t;
  const directory = top.has('directory') ? w.path(g('directory'), 'directory') : undefined;
  const znotify = top.has('znotify') ? tool(w, g('znotify'), 'znotify') : ['/usr/local/bin/znotify'];
  const zunitgen = top.has('zunitgen') ? tool(w, g('zunitgen'), 'zunitgen') : ['/usr/local/bin/zunitgen'];
  const zstack = top.has('zstack') ? tool(w, g('zstack'), 'zstack') : ['/usr/local/bin/zstack'];
  const hardening = top.has('hardening') ? w.bool(g('hardening'), 'hardening') ?? true : true;
  const rwPaths: string[] = [];
  const varPath = directory !== undefined ? `${directory === '/' ? '' : directory}/var` : '';
  if (top.has('read-write-paths')) {
    const n = g('read-write-paths');
    if (!isSeq(n)) w.err(n, `read-write-paths: expected a list of paths, got ${describe(n)}`);
    else for (const item of n.items as Array<Node | null>) { const p = w.path(item, 'read-write-paths[]'); if (p !== undefined && p !== varPath && !rwPaths.includes(p)) rwPaths.push(p); }
  }
  return { directory, znotify, zunitgen, zstack, hardening, varPath, rwPaths };
}

function databasePlacer(t: Top, hostDecls: HostDecl[] | undefined): PlaceDatabase {
  const { w, top } = t;
  return (m, where) => {
    if (!top.has('hosts')) { if (m.has('host')) w.err(m.get('host')!, `${where}.host: this stack has no hosts`, 'list the machines under hosts:, or leave host out'); return undefined; }
    if (!hostDecls) return undefined; // hosts: is broken, and reported
    if (m.has('host')) return hostRef(w, m.get('host')!, `${where}.host`, hostDecls);
    if (hostDecls.length === 1) return hostDecls[0]!.name;
    w.err(m.get('address') ?? null, `${where}: which host runs it?`, `add host: (one of ${hostDecls.map((h) => h.name).join(', ')})`);
    return undefined;
  };
}

function readWantedBy(t: Top): string[] {
  const { w, top, g } = t;
  if (!top.has('wanted-by')) return ['multi-user.target'];
  const wantedBy: string[] = [];
  const n = g('wanted-by');
  for (const item of isSeq(n) ? (n.items as Array<Node | null>) : [n]) {
    const u = w.str(item, 'wanted-by');
    if (u === undefined) continue;
    const why = invalidUnitName(u);
    if (why) w.err(item, `wanted-by: ${q(u)}: ${why}`); else wantedBy.push(u);
  }
  return wantedBy;
}

/** limits: the slice's resource control. */
function readLimits(t: Top): StackModel['limits'] {
  const { w, top, g } = t;
  const limits: StackModel['limits'] = {};
  const m = top.has('limits') ? w.map(g('limits'), 'limits', KEYS.limits) : undefined;
  if (!m) return limits;
  if (m.has('memory-max')) limits.memoryMax = w.size(m.get('memory-max')!, 'limits.memory-max');
  if (m.has('memory-high')) limits.memoryHigh = w.size(m.get('memory-high')!, 'limits.memory-high');
  if (m.has('cpu-weight')) limits.cpuWeight = w.int(m.get('cpu-weight')!, 'limits.cpu-weight', 1, 10000);
  if (m.has('io-weight')) limits.ioWeight = w.int(m.get('io-weight')!, 'limits.io-weight', 1, 10000);
  if (m.has('tasks-max')) {
    const n = m.get('tasks-max')!;
    const v = w.scalar(n);
    if (typeof v === 'number') limits.tasksMax = w.int(n, 'limits.tasks-max', 1, 4_194_304);
    else if (typeof v === 'string' && (v === 'infinity' || v.endsWith('%'))) limits.tasksMax = w.size(n, 'limits.tasks-max');
    else w.err(n, `limits.tasks-max: expected a number, a percentage or infinity, got ${describe(n)}`);
  }
  for (const k of Object.keys(limits) as Array<keyof typeof limits>) if (limits[k] === undefined) delete limits[k];
  return limits;
}

/** restart: RestartSec= and the start limit of ZEO and the clients (unit-timing.ts sizes the span when it is left out). */
function readRestart(t: Top): StackModel['restart'] {
  const { w, top, g } = t;
  const restart: StackModel['restart'] = { delayMs: STACK_DURATIONS['restart.delay'].default, burst: RESTART_BURST.default };
  const m = top.has('restart') ? w.map(g('restart'), 'restart', KEYS.restart) : undefined;
  if (!m) return restart;
  if (m.has('delay')) restart.delayMs = stackDuration(w, m.get('delay')!, 'restart.delay') ?? restart.delayMs;
  if (m.has('burst')) {
    const node = m.get('burst')!;
    const v = w.scalar(node);
    if (v === 1) w.err(node, 'restart.burst: 1 allows no restart at all within restart.interval', `use ${RESTART_BURST.min} or more (default ${RESTART_BURST.default}): a client that fails once must be restarted`);
    else restart.burst = w.int(node, 'restart.burst', RESTART_BURST.min, RESTART_BURST.max) ?? restart.burst;
  }
  if (m.has('interval')) { const d = stackDuration(w, m.get('interval')!, 'restart.interval'); if (d !== undefined) restart.intervalMs = d; }
  return restart;
}

/**
 * A restart.interval is valid from 1s up, but each unit's span should lie between restart.burst prompt failures
 * (shorter: a unit failing at once every time is restarted for ever) and restart.burst starts that run out the
 * unit's wait (longer: a client waiting in vain for its database, ZEO for its port, is given up on and stays down
 * when what it waits for is back). A warning for each side a unit falls outside, at the interval's position.
 */
function warnStartLimitSpan(t: Top, restart: StackModel['restart'], o: Pick<ReturnType<typeof readClientOptions>, 'warmup'>, zeo: StackModel['zeo']): void {
  if (restart.intervalMs === undefined) return;
  const node = (t.top.get('restart') as YAMLMap | null)?.get?.('interval', true) as Node | null;
  const units: Array<[string, number, string, number]> = [
    ['the clients', clientRestartCycleMs({ ...o, restart }), 'its warm-up budget for its database', o.warmup.budgetMs],
    ...(zeo ? [['the ZEO server', zeoRestartCycleMs({ restart }, zeo), 'its ready-timeout for its port', zeo.readyTimeoutMs] as [string, number, string, number]] : []),
  ];
  const say = (message: string, fix: string): void => { t.w.warn(configIssue({ file: t.w.file, ...t.w.pos(node), key: 'restart.interval', message: `restart.interval: ${formatDuration(restart.intervalMs!)} ${message}`, fix })); };
  for (const [what, cycleMs, wait, waitMs] of units) {
    const least = restart.burst * cycleMs;
    const most = restart.burst * (waitMs + restart.delayMs);
    if (restart.intervalMs < least) {
      say(`is shorter than ${restart.burst} failing starts of ${what} can take (${restart.burst} x ${formatDuration(cycleMs)} = ${formatDuration(least)}): one whose start fails every time would be restarted for ever`,
        `leave restart.interval out (zunitgen sizes it per unit), or give at least ${formatDuration(least)}`);
    } else if (restart.intervalMs > most) {
      say(`is longer than ${restart.burst} starts of ${what} that each wait out ${wait} (${restart.burst} x ${formatDuration(waitMs + restart.delayMs)} = ${formatDuration(most)}): after an outage that long it would be given up on, and stay down when the outage ends`,
        `leave restart.interval out (zunitgen sizes it per unit), or give at most ${formatDuration(most)}`);
    }
  }
}

/** The source of a generated database check, present as soon as the config names the database. */
type CheckSource = { address: Address | undefined } | undefined;

function readPostgresql(t: Top, placeDb: PlaceDatabase): { postgresql: StackModel['postgresql']; pgCheck: CheckSource } {
  const { w, top, g } = t;
  const m = top.has('database') ? w.map(g('database'), 'database', KEYS.database) : undefined;
  const pm = m?.has('postgresql') ? w.map(m.get('postgresql')!, 'database.postgresql', KEYS.postgresql, ['unit']) : undefined;
  if (!pm) return { postgresql: undefined, pgCheck: undefined };
  const unit = w.str(pm.get('unit') ?? null, 'database.postgresql.unit');
  const why = unit !== undefined ? invalidUnitName(unit) : undefined;
  if (why) w.err(pm.get('unit')!, `database.postgresql.unit: ${q(unit)}: ${why}`, 'e.g. postgresql@15-main.service');
  const address = pm.has('address') ? w.address(pm.get('address')!, 'database.postgresql.address') : undefined;
  const pgHost = placeDb(pm, 'database.postgresql');
  const postgresql = unit !== undefined && !why ? { unit, ...(address ? { address } : {}), ...(pgHost ? { host: pgHost } : {}) } : undefined;
  return { postgresql, pgCheck: pm.has('address') ? { address } : undefined };
}

function readZeo(t: Top, ctx: { directory: string | undefined; prefix: string; stackEnv: Record<string, string>; placeDb: PlaceDatabase }): { zeo: StackModel['zeo']; zeoCheck: CheckSource } {
  const { w, top, g } = t;
  const m = top.has('zeo') ? w.map(g('zeo'), 'zeo', KEYS.zeo, ['command', 'address']) : undefined;
  if (!m) return { zeo: undefined, zeoCheck: undefined };
  const cmd = m.has('command') ? command(w, m.get('command')!, 'zeo.command', ctx.directory) : undefined;
  const address = m.has('address') ? w.address(m.get('address')!, 'zeo.address') : undefined;
  const mem = m.has('memory') ? memory(w, m.get('memory')!, 'zeo.memory') : {};
  const readyTimeoutMs = m.has('ready-timeout') ? stackDuration(w, m.get('ready-timeout')!, 'zeo.ready-timeout') : STACK_DURATIONS['zeo.ready-timeout'].default;
  const env = m.has('environment') ? environment(w, m.get('environment')!, 'zeo.environment') : {};
  if (cmd && address) zeoAddressAgrees(w, m.get('command')!, cmd, address);
  const zeoHost = ctx.placeDb(m, 'zeo');
  const zeo = cmd && address && readyTimeoutMs !== undefined
    ? { unit: `${ctx.prefix}-zeo.service`, command: cmd, address, memory: mem, readyTimeoutMs, ...(zeoHost ? { host: zeoHost } : {}), environment: { ...ctx.stackEnv, ...env } }
    : undefined;
  return { zeo, zeoCheck: { address } };
}

/** What every client shares: count and placement, threads, memory, warm-up, stop, watchdog, recycling, signals. */
function readClientOptions(t: Top, cm: Map<string, Node | null> | undefined, hostDecls: HostDecl[] | undefined) {
  const { w, top, g } = t;
  const warmup: StackModel['warmup'] = { budgetMs: wrapperDefault('warmup', 'budget'), intervalMs: wrapperDefault('warmup', 'interval'), urls: [] };
  const stop: StackModel['stop'] = { drainMs: wrapperDefault('stop', 'drain'), timeoutMs: wrapperDefault('stop', 'timeout'), signal: String(WRAPPER_CONFIG.stop.signal.default) };
  const o = {
    count: undefined as number | undefined, clientHosts: undefined as string[] | undefined, threads: undefined as number | undefined,
    warmup, clientMemory: {} as MemoryLimits, stop, clientWatchdog: {} as StackModel['clientWatchdog'], recycle: undefined as StackModel['recycle'],
    clientEnv: {} as Record<string, string>, clientSignals: {} as StackModel['clientSignals'],
  };
  if (!cm) return o;
  if (cm.has('count')) o.count = w.int(cm.get('count')!, 'clients.count', 1, MAX_CLIENTS);
  if (cm.has('environment')) o.clientEnv = environment(w, cm.get('environment')!, 'clients.environment');
  ({ count: o.count, clientHosts: o.clientHosts } = placeClients(w, g('clients'), cm, hostDecls, o.count, top.has('hosts')));
  if (cm.has('threads')) o.threads = w.int(cm.get('threads')!, 'clients.threads', 1, 1024);
  if (cm.has('memory')) o.clientMemory = memory(w, cm.get('memory')!, 'clients.memory');
  if (cm.has('warmup')) parseWarmup(w, cm.get('warmup')!, warmup);
  if (cm.has('stop')) readClientStop(w, cm.get('stop')!, stop);
  if (cm.has('watchdog')) readClientWatchdog(w, cm.get('watchdog')!, o.clientWatchdog);
  if (cm.has('recycle')) o.recycle = parseRecycle(w, cm.get('recycle')!, o.clientMemory);
  if (cm.has('signals')) parseSignals(w, cm.get('signals')!, o.clientSignals);
  return o;
}

/** clients.stop; zunitgen holds stop.timeout to at least 1 s and the signal to those a Zope stops on. */
function readClientStop(w: Walker, node: Node, stop: StackModel['stop']): void {
  const m = w.map(node, 'clients.stop', KEYS.stop);
  if (m?.has('drain')) stop.drainMs = w.duration(m.get('drain')!, 'clients.stop.drain') ?? stop.drainMs;
  if (m?.has('timeout')) stop.timeoutMs = wrapperDuration(w, m.get('timeout')!, 'clients.stop.timeout', 'stop', 'timeout') ?? stop.timeoutMs;
  if (m?.has('signal')) stop.signal = w.enumOf(m.get('signal')!, 'clients.stop.signal', STOP_SIGNALS) ?? stop.signal;
}

/** clients.watchdog: the wrapper's watchdog: section, only the keys given (the wrapper's defaults hold for the rest). */
function readClientWatchdog(w: Walker, node: Node, out: StackModel['clientWatchdog']): void {
  const m = w.map(node, 'clients.watchdog', KEYS['clients-watchdog']);
  if (m?.has('database-grace')) { const d = w.duration(m.get('database-grace')!, 'clients.watchdog.database-grace'); if (d !== undefined) out.databaseGraceMs = d; }
  if (m?.has('hang-timeout')) { const d = w.duration(m.get('hang-timeout')!, 'clients.watchdog.hang-timeout'); if (d !== undefined) out.hangTimeoutMs = d; }
  if (m?.has('dump-stacks')) { const b = w.bool(m.get('dump-stacks')!, 'clients.watchdog.dump-stacks'); if (b !== undefined) out.dumpStacks = b; }
}

/** A per-client template value (`127.0.0.1:{8080+n}`) and its node. */
interface ClientTemplate { text: string | undefined; node: Node | null; where: string }

/**
 * The per-client addresses, checked once (n = 1) so that an error is reported once, not per client; each must
 * vary with n when there are several clients.
 */
function clientTemplates(t: Top, cm: Map<string, Node | null>, hostDecls: HostDecl[] | undefined, count: number | undefined) {
  const { w, top } = t;
  const healthNode = cm.get('health') ?? null;
  let agentNode: Node | null = null, healthHttpNode: Node | null = null;
  if (cm.has('health')) {
    if (isMap(healthNode)) {
      const hm = w.map(healthNode, 'clients.health', KEYS.health, ['agent']);
      agentNode = hm?.has('agent') ? hm.get('agent') ?? null : null;
      healthHttpNode = hm?.get('http') ?? null;
    } else agentNode = healthNode;
  }
  const template = (node: Node | null, where: string, given: boolean): ClientTemplate => {
    if (!given) return { text: undefined, node, where };
    const v = w.str(node, where);
    // {host} is checked against a stand-in when hosts: itself is broken (and reported).
    const r = v === undefined ? undefined : expandTemplate(v, 1, hostDecls?.[0]?.address ?? (top.has('hosts') ? '0.0.0.0' : undefined));
    if (r && !r.ok) w.err(node, `${where}: ${r.message}`, r.hint, (r.offset ?? 0) + quotedDelta(node));
    return { text: r?.ok ? v : undefined, node, where };
  };
  const out = {
    http: template(cm.get('http') ?? null, 'clients.http', cm.has('http')),
    agent: template(agentNode, isMap(healthNode) ? 'clients.health.agent' : 'clients.health', agentNode !== null),
    healthHttp: template(healthHttpNode, 'clients.health.http', healthHttpNode !== null),
    observability: template(cm.get('observability') ?? null, 'clients.observability', cm.has('observability')),
  };
  if (count !== undefined && count > 1) {
    for (const x of Object.values(out)) {
      if (x.text !== undefined && !/\{[^{]/.test(x.text.replace(/\{\{/g, ''))) w.err(x.node, `${x.where}: ${q(x.text)} is the same for all ${count} clients`, 'use a placeholder such as 127.0.0.1:{8080+n}');
    }
  }
  return out;
}

interface ClientsContext extends ReturnType<typeof readClientOptions> {
  hostDecls: HostDecl[] | undefined;
  generated: CheckModel[];
  stack: string | undefined;
  prefix: string;
  directory: string | undefined;
}

/** The clients, each with its addresses, command and checks expanded; none while anything they share is broken. */
function readClients(t: Top, cm: Map<string, Node | null>, c: ClientsContext): ClientModel[] {
  const { w, top } = t;
  const tpl = clientTemplates(t, cm, c.hostDecls, c.count);
  const cmd1 = cm.has('command') ? command(w, cm.get('command')!, 'clients.command', c.directory, 1, c.hostDecls?.[0]?.address ?? (top.has('hosts') ? '0.0.0.0' : undefined)) : undefined;
  const { plan, ok: checksOk } = cm.has('checks') ? parseChecks(w, cm.get('checks')!, c.generated) : { plan: c.generated.map((base) => ({ base })), ok: true };
  // Expanded for every client before the loop, each broken value reported once (at the first client it breaks),
  // also when other problems keep the loop from running.
  const reported = new Set<Node | null>();
  const directory = c.directory;
  const clientChecks = directory === undefined ? [] : Array.from({ length: c.count ?? 1 }, (_, i) => checksFor(w, plan, i + 1, directory, reported));
  const given = (x: ClientTemplate) => x.node === null || x.text !== undefined;
  const ready = c.count !== undefined && tpl.http.text !== undefined && tpl.agent.text !== undefined && cmd1 && checksOk && clientChecks[0]
    && given(tpl.healthHttp) && (!cm.has('observability') || tpl.observability.text !== undefined) && c.stack !== undefined && directory !== undefined;
  const detailFrom = healthDetailFrom(w, cm.get('health') ?? null, c.hostDecls);
  if (!ready) return [];
  const clients: ClientModel[] = [];
  const issuesBefore = w.issues.length;
  for (let n = 1; n <= c.count!; n++) {
    const client = expandClient(w, cm, n, { ...c, directory: directory!, tpl, checks: clientChecks[n - 1], detailFrom });
    if (client) clients.push(client);
    if (w.issues.length - issuesBefore > 20) break; // one broken template: do not list it 128 times
  }
  return clients;
}

function expandClient(w: Walker, cm: Map<string, Node | null>, n: number, c: ClientsContext & { directory: string; tpl: ReturnType<typeof clientTemplates>; checks: CheckModel[] | undefined; detailFrom: string[] | undefined }): ClientModel | undefined {
  const hostAddr = c.hostDecls?.find((h) => h.name === c.clientHosts?.[n - 1])?.address;
  const addr = (x: ClientTemplate, where = x.where): Address | undefined => {
    if (x.text === undefined) return undefined;
    const r = expandTemplate(x.text, n, hostAddr);
    if (!r.ok) return undefined;
    const a = parseAddress(r.value);
    if (!a.ok) { w.err(x.node, `${where} (client${n}): ${a.message}`, a.hint); return undefined; }
    return a.value;
  };
  const http = addr(c.tpl.http);
  const agent = addr(c.tpl.agent, 'clients.health');
  const hh = addr(c.tpl.healthHttp);
  const obs = addr(c.tpl.observability);
  const argv = command(w, cm.get('command')!, 'clients.command', c.directory, n, hostAddr);
  if (!http || !agent || !argv || !c.checks || (c.tpl.healthHttp.text !== undefined && !hh) || (c.tpl.observability.text !== undefined && !obs)) return undefined;
  const name = `client${n}`;
  const host = c.clientHosts?.[n - 1];
  return {
    n, name, unit: `${c.prefix}-${name}.service`, server: host ? `${host}-${name}` : name, ...(host ? { host } : {}),
    agentSocket: `${c.prefix}-${name}-agent.socket`,
    ...(hh ? { healthSocket: `${c.prefix}-${name}-health.socket` } : {}),
    command: argv, http, health: { agent, ...(hh ? { http: hh } : {}), ...(c.detailFrom ? { detailFrom: c.detailFrom } : {}) }, ...(obs ? { observability: obs } : {}),
    memory: c.clientMemory, checks: c.checks, after: [],
  };
}

/**
 * PostgreSQL -> ZEO -> client1 -> client2 -> ... Only the target pulls units in (render.ts): a client (re)starting
 * never starts a database an operator stopped, nor another client. systemd orders the units of one machine only:
 * across hosts the order is the wrapper's (remoteDatabaseStartup).
 */
function orderClients(clients: ClientModel[], postgresql: StackModel['postgresql'], zeo: StackModel['zeo']): void {
  const dbs = [postgresql, zeo].filter((d): d is NonNullable<typeof d> => d !== undefined);
  for (const c of clients) {
    const dbUnits = dbs.filter((d) => d.host === c.host).map((d) => d.unit);
    const prev = clients.filter((x) => x.host === c.host && x.n < c.n).at(-1);
    c.after = prev ? [...dbUnits, prev.unit] : [...dbUnits];
  }
}

type Claim = (a: Address | undefined, label: string, node: Node | null) => void;

/**
 * The fix for a port claimed twice, for the key that claims it second: whichever of the two listeners starts later
 * fails to bind (EADDRINUSE), so that key has to move.
 */
function portClashFix(label: string, first: string): string {
  if (label === 'haproxy.frontend') return `give haproxy.frontend an address no listener of the stack uses: HAProxy could not bind it while ${first} listens there (HAProxy fails to start)`;
  if (/^(zeo\.address|database\.postgresql\.address)$/.test(first)) return `give the clients ports ${first} does not use (clients.http, clients.health): the instance or wrapper could not bind beside it`;
  return 'give every client its own http and health ports: the later socket or instance could not bind';
}

/** Every TCP port once (a clash would make the later socket or instance fail to bind). Returns the claim for more. */
function claimPorts(t: Top, cm: Map<string, Node | null> | undefined, zeo: StackModel['zeo'], postgresql: StackModel['postgresql'], clients: ClientModel[]): Claim {
  const used: Array<{ a: Address; label: string; node: Node | null }> = [];
  const claim: Claim = (a, label, node) => {
    if (!a) return;
    const clash = used.find((u) => addressesClash(u.a, a));
    if (clash) t.w.err(node, `${label}: ${formatAddress(a)} is already used by ${clash.label}`, portClashFix(label, clash.label));
    else used.push({ a, label, node });
  };
  if (zeo) claim(zeo.address, 'zeo.address', t.top.get('zeo') ?? null);
  if (postgresql?.address) claim(postgresql.address, 'database.postgresql.address', t.top.get('database') ?? null);
  for (const c of clients) {
    claim(c.http, `${c.name} http`, cm?.get('http') ?? null);
    claim(c.health.agent, `${c.name} health agent`, cm?.get('health') ?? null);
    if (c.health.http) claim(c.health.http, `${c.name} health http`, cm?.get('health') ?? null);
  }
  return claim;
}

function readHaproxy(t: Top, stack: string | undefined, threads: number | undefined, claim: Claim, hostDecls: HostDecl[] | undefined): StackModel['haproxy'] {
  const { w, top, g } = t;
  const haproxy: StackModel['haproxy'] = {
    backend: stack ?? '', balance: 'leastconn', ...serverMaxconn(undefined, threads), checkInterMs: STACK_DURATIONS['haproxy.check-interval'].default,
    queueTimeoutMs: STACK_DURATIONS['haproxy.queue-timeout'].default, serverStateFile: '/var/lib/haproxy/server-state',
  };
  let maxconn: number | undefined;
  let backendNode: Node | null = g('stack');
  if (top.has('haproxy')) {
    const m = w.map(g('haproxy'), 'haproxy', KEYS.haproxy);
    if (m?.has('backend')) { backendNode = m.get('backend')!; const b = w.str(backendNode, 'haproxy.backend'); if (b !== undefined) haproxy.backend = b; }
    if (m) maxconn = readHaproxyOptions(w, m, haproxy);
    if (haproxy.frontend) claim(haproxy.frontend, 'haproxy.frontend', m!.get('frontend')!);
    if (m?.has('install')) { const i = parseHaproxyInstall(w, m.get('install')!, hostDecls); if (i) haproxy.install = i; }
  }
  Object.assign(haproxy, serverMaxconn(maxconn, threads));
  haproxy.wrapperSocket ??= defaultWrapperSocket(haproxy.statsSocket, haproxy.backend);
  if (stack !== undefined && !HAPROXY_ID.test(haproxy.backend)) {
    w.err(backendNode, `haproxy.backend: ${q(haproxy.backend)} is not a valid HAProxy backend name`, top.has('haproxy') ? 'letters, digits, _ . : - (at most 64)' : 'set haproxy.backend (letters, digits, _ . : -)');
  }
  return haproxy;
}

/**
 * The HAProxy Runtime API socket, as the wrapper takes it: a unix socket path, or `host:port` for a
 * `stats socket ipv4@127.0.0.1:9999 level admin` (an IP literal here, as every address of the stack config).
 */
/** haproxy's keys other than backend, read into `haproxy` (defaults already set); returns haproxy.maxconn if given. */
function readHaproxyOptions(w: Walker, m: Map<string, Node | null>, haproxy: StackModel['haproxy']): number | undefined {
  if (m.has('stats-socket')) { const s = statsSocket(w, m.get('stats-socket')!, 'haproxy.stats-socket'); if (s !== undefined) haproxy.statsSocket = s; }
  if (m.has('wrapper-socket')) { const s = statsSocket(w, m.get('wrapper-socket')!, 'haproxy.wrapper-socket'); if (s !== undefined) haproxy.wrapperSocket = s; }
  if (m.has('frontend')) { const a = w.address(m.get('frontend')!, 'haproxy.frontend'); if (a) haproxy.frontend = a; }
  if (m.has('server-state-file')) {
    const node = m.get('server-state-file')!;
    const p = w.path(node, 'haproxy.server-state-file');
    if (p !== undefined && !m.has('frontend')) w.err(node, 'haproxy.server-state-file: only the standalone configuration (haproxy.frontend) uses it', 'set haproxy.frontend, or put server-state-file into the global section of your own HAProxy configuration (docs/unitgen.md)');
    else if (p !== undefined) haproxy.serverStateFile = p;
  }
  if (m.has('balance')) haproxy.balance = w.enumOf(m.get('balance')!, 'haproxy.balance', BALANCE) ?? haproxy.balance;
  if (m.has('check-interval')) haproxy.checkInterMs = stackDuration(w, m.get('check-interval')!, 'haproxy.check-interval') ?? haproxy.checkInterMs;
  if (m.has('queue-timeout')) haproxy.queueTimeoutMs = stackDuration(w, m.get('queue-timeout')!, 'haproxy.queue-timeout') ?? haproxy.queueTimeoutMs;
  return m.has('maxconn') ? w.int(m.get('maxconn')!, 'haproxy.maxconn', 1, 100000) : undefined;
}

function statsSocket(w: Walker, node: Node, key: 'haproxy.stats-socket' | 'haproxy.wrapper-socket'): string | undefined {
  const v = w.scalar(node);
  if (typeof v === 'string' && !v.startsWith('/') && /:\d+$/.test(v)) {
    const a = w.address(node, key);
    return a && formatAddress(a);
  }
  // "/" passes as a path but is no socket, and the wrapper refuses it (exit 78 at every start): refused here.
  const p = w.path(node, key);
  if (p === '/') { w.err(node, `${key}: "/" is a directory, not a socket`, key === 'haproxy.stats-socket' ? 'the path of the `stats socket ... level admin`, e.g. /run/haproxy/admin.sock' : 'the path of the wrappers\' `stats socket ... level user`, e.g. /run/haproxy/plone-wrappers.sock'); return undefined; }
  return p;
}

/**
 * The socket the wrappers use (haproxy.wrapper-socket), by default their own: the stack's unprivileged user cannot
 * open the operator's root-only admin socket, and needs no more than level user (`show stat`; the agent's answer
 * drains). A TCP stats-socket has no file permissions to keep the wrappers out, and reaches other hosts: the
 * wrappers share it by default.
 */
function defaultWrapperSocket(statsSocket: string | undefined, backend: string): string | undefined {
  if (statsSocket === undefined) return undefined;
  // Named for the backend: a HAProxy identifier ([A-Za-z0-9_.:-]), safe in a path and a `stats socket` line.
  return statsSocket.startsWith('/') ? `/run/haproxy/${backend}-wrappers.sock` : statsSocket;
}

/**
 * `clients.health.detail-from`, or by default (with hosts) loopback and the stack's own machines: zstack and the
 * recycle timer on any of them read memory and reasons. Without hosts nothing: the wrapper's default, loopback.
 */
function healthDetailFrom(w: Walker, healthNode: Node | null, hosts: HostDecl[] | undefined): string[] | undefined {
  const node = isMap(healthNode) ? healthNode.get('detail-from', true) as Node | undefined : undefined;
  if (node !== undefined) return networkList(w, node, 'clients.health.detail-from');
  return hosts ? [...LOOPBACK_NETWORKS, ...hostNetworks(hosts)] : undefined;
}

/** `clients.health.detail-from`: the networks whose peers get the wrapper's full /health detail (common's rule). */
function networkList(w: Walker, node: Node, where: string): string[] | undefined {
  if (!isSeq(node)) { w.err(node, `${where}: expected a list of networks, got ${describe(node)}`, 'e.g. [127.0.0.0/8, ::1, 10.0.0.0/24] (the default is loopback only)'); return undefined; }
  const out: string[] = [];
  for (const item of node.items as Array<Node | null>) {
    const v = w.str(item, `${where}[]`);
    if (v === undefined) continue;
    const r = parseNetwork(v);
    if (r.ok) out.push(r.value.text); else w.err(item, `${where}: ${r.message}`, r.hint);
  }
  return out.length === node.items.length ? out : undefined;
}

/** The number of clients and, with hosts, the host of each (clients.hosts, or the only host). */
function placeClients(w: Walker, clientsNode: Node | null, cm: Map<string, Node | null>, hosts: HostDecl[] | undefined, count: number | undefined, hasHosts: boolean): { count: number | undefined; clientHosts: string[] | undefined } {
  const countNode = cm.get('count') ?? null;
  if (!hasHosts) {
    if (cm.has('hosts')) w.err(cm.get('hosts')!, 'clients.hosts: this stack has no hosts', 'list the machines under hosts:, or leave clients.hosts out');
    if (!cm.has('count')) w.err(clientsNode, 'clients: missing required key "count"');
    return { count, clientHosts: undefined };
  }
  if (!hosts) return { count, clientHosts: undefined };
  if (cm.has('hosts')) {
    const placed = parseClientHosts(w, cm.get('hosts')!, hosts, count !== undefined ? { value: count, node: countNode } : undefined, MAX_CLIENTS);
    return { count: placed?.length ?? count, clientHosts: placed };
  }
  if (hosts.length === 1 && count !== undefined) return { count, clientHosts: Array.from({ length: count }, () => hosts[0]!.name) };
  if (hosts.length === 1) { w.err(clientsNode, 'clients: missing required key "count"'); return { count, clientHosts: undefined }; }
  w.err(countNode ?? clientsNode, 'clients: which host runs which client?', `add clients.hosts, e.g. { ${hosts.slice(1, 3).map((h) => `${h.name}: 2`).join(', ')} }`);
  return { count, clientHosts: undefined };
}

/**
 * A client on another host than its ZEO server or PostgreSQL cannot be ordered after it by systemd; its wrapper
 * waits instead: the generated database check also gets the startup role, so READY=1 (and the next client's
 * start) waits until the database answers, with STATUS= saying so.
 */
function remoteDatabaseStartup(clients: ClientModel[], zeo: StackModel['zeo'], pg: StackModel['postgresql']): void {
  for (const c of clients) {
    for (const [name, db] of [['zeo', zeo], ['postgresql', pg]] as const) {
      if (!db || db.host === c.host) continue;
      const check = c.checks.find((k) => k.name === name && k.type === name);
      if (check?.roles && !check.roles.includes('startup')) check.roles = ['startup', ...check.roles];
    }
  }
}

function listenersOf(clients: ClientModel[], zeo: StackModel['zeo'], pg: StackModel['postgresql'], cm: Map<string, Node | null> | undefined, top: Map<string, Node | null>): Listener[] {
  const out: Listener[] = [];
  if (zeo?.host) out.push({ host: zeo.host, address: zeo.address, label: 'zeo.address', node: zeoAddressNode(top) });
  if (pg?.host && pg.address) out.push({ host: pg.host, address: pg.address, label: 'database.postgresql.address', node: top.get('database') ?? null });
  for (const c of clients) {
    if (!c.host) continue;
    out.push({ host: c.host, address: c.http, label: `clients.http (${c.name})`, node: cm?.get('http') ?? null });
    out.push({ host: c.host, address: c.health.agent, label: `clients.health agent (${c.name})`, node: cm?.get('health') ?? null });
    // The HTTP health listener may stay on loopback: full /health detail for local monitoring only.
    if (c.health.http) out.push({ host: c.host, address: c.health.http, label: `clients.health.http (${c.name})`, node: cm?.get('health') ?? null, local: true });
  }
  return out;
}

function zeoAddressNode(top: Map<string, Node | null>): Node | null {
  const z = top.get('zeo');
  return (isMap(z) ? (z.get('address', true) as Node | null) : null) ?? z ?? null;
}

const URL_STATUS = WRAPPER_CONFIG['warmup-url'].status.value as { min: number; max: number };

function parseWarmup(w: Walker, node: Node | null, out: StackModel['warmup']): void {
  let urlsNode: Node | null = node;
  if (isMap(node)) {
    const m = w.map(node, 'clients.warmup', KEYS.warmup);
    if (!m) return;
    if (m.has('budget')) out.budgetMs = wrapperDuration(w, m.get('budget')!, 'clients.warmup.budget', 'warmup', 'budget') ?? out.budgetMs;
    if (m.has('interval')) out.intervalMs = wrapperDuration(w, m.get('interval')!, 'clients.warmup.interval', 'warmup', 'interval') ?? out.intervalMs;
    urlsNode = m.get('urls') ?? null;
    if (!m.has('urls')) return;
  }
  if (!isSeq(urlsNode)) { w.err(urlsNode, `clients.warmup: expected a list of paths, got ${describe(urlsNode)}`, 'e.g. warmup: [/Plone, /Plone/@@search]'); return; }
  if (urlsNode.items.length > MAX_WRAPPER_CHECKS) {
    w.err(urlsNode, `clients.warmup: ${urlsNode.items.length} URLs, more than the wrapper warms up (${MAX_WRAPPER_CHECKS})`, `list at most ${MAX_WRAPPER_CHECKS} URLs`);
    return;
  }
  for (const item of urlsNode.items as Array<Node | null>) {
    const u: WarmupUrl = { path: '', status: 200 };
    let pathNode: Node | null = item;
    if (isMap(item)) {
      const m = w.map(item, 'clients.warmup.urls[]', KEYS['warmup-url'], ['path']);
      if (!m) continue;
      pathNode = m.get('path') ?? null;
      if (m.has('host')) {
        const h = w.str(m.get('host')!, 'clients.warmup.urls[].host');
        if (h !== undefined && !isHostHeader(h)) w.err(m.get('host')!, `clients.warmup.urls[].host: not a host name: ${q(h)}`);
        else if (h !== undefined) u.host = h;
      }
      if (m.has('status')) u.status = w.int(m.get('status')!, 'clients.warmup.urls[].status', URL_STATUS.min, URL_STATUS.max) ?? 200;
      if (m.has('text')) { const t = w.str(m.get('text')!, 'clients.warmup.urls[].text'); if (t !== undefined) u.text = t; }
      if (m.has('timeout')) { const d = wrapperDuration(w, m.get('timeout')!, 'clients.warmup.urls[].timeout', 'warmup-url', 'timeout'); if (d !== undefined) u.timeoutMs = d; }
      if (!m.has('path')) continue;
    }
    const p = w.str(pathNode, 'clients.warmup path');
    if (p === undefined) continue;
    const path = parseRequestPath(p);
    if (!path.ok) { w.err(pathNode, `clients.warmup: ${path.message}`, path.hint); continue; }
    u.path = p;
    out.urls.push(u);
  }
}

/** clients.signals: the wrapper's `signals:` (docs/znotify.md, "Signals"), validated where it is written. */
function parseSignals(w: Walker, node: Node, out: StackModel['clientSignals']): void {
  const m = w.map(node, 'clients.signals', KEYS['clients-signals']);
  if (!m) return;
  if (m.has('stack-dump')) {
    const v = w.enumOf(m.get('stack-dump')!, 'clients.signals.stack-dump', ['hook', 'off']);
    if (v !== undefined) out.stackDump = v as 'hook' | 'off';
  }
  if (m.has('forward')) {
    const f = m.get('forward')!;
    if (!isSeq(f)) { w.err(f, `clients.signals.forward: expected a list of signal names, got ${describe(f)}`, `e.g. forward: [SIGHUP]; the wrapper can forward ${FORWARD_SIGNALS.join(', ')}`); return; }
    const list: string[] = [];
    for (const item of f.items as Array<Node | null>) {
      const s = w.enumOf(item, 'clients.signals.forward', FORWARD_SIGNALS);
      if (s === undefined) continue;
      if (s === 'SIGUSR1' && out.stackDump === 'hook') { w.err(item, 'clients.signals.forward: SIGUSR1 already asks for a stack dump (stack-dump: hook)', 'forward SIGUSR1 or use the hook, not both'); continue; }
      if (list.includes(s)) { w.err(item, `clients.signals.forward: ${s} is listed twice`, 'list each signal once'); continue; }
      list.push(s);
    }
    out.forward = list;
  }
}
