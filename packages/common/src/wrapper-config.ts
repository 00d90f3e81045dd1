// The wrapper's configuration (znotify's YAML, which zunitgen writes for every client), described once: every
// key with its type, default, limits, allowed values and a one-line meaning. znotify's validator reads the
// file by this description; zunitgen takes from it the keys the stack config offers for the wrapper
// (clients.warmup, .health, .stop, .watchdog, .signals, .checks), their limits and defaults, and the view its
// template writes; the tests hold the JSON Schema, the template and docs/znotify.md to it.
//
// Durations are in milliseconds. Where zunitgen's stack config offers a key differently from the wrapper's own
// file (a stricter value, a per-client placeholder, a key it requires or lets go), the key says so in its
// `stack` rule: zunitgen's parser and the stack config's JSON Schema both read the rule there.
import { LOG_LEVELS } from './log-level.js';
import { LOOPBACK_NETWORKS } from './networks.js';

export const CHECK_TYPES = ['http', 'tcp', 'zeo', 'postgresql', 'command'] as const;
export type CheckType = (typeof CHECK_TYPES)[number];
export const CHECK_ROLES = ['startup', 'readiness', 'liveness'] as const;
export type CheckRole = (typeof CHECK_ROLES)[number];

/** What SIGUSR1 to the wrapper does: `hook`, a stack dump of the running instance; `off`, nothing. */
export const STACK_DUMP_MODES = ['hook', 'off'] as const;

/** Instance and check names: they label the HAProxy server, /health entries, STATUS=, logs and metrics. */
export const NAME_RULE = /^[A-Za-z0-9][A-Za-z0-9_.@-]*$/;
export const NAME_RULE_TEXT = 'letters, digits and _ . @ -, starting with a letter or digit';
/** HAProxy's own identifier rule for backend and server names (its config check refuses anything else). */
export const HAPROXY_ID_RULE = /^[A-Za-z0-9_.:-]+$/;
export const HAPROXY_ID_TEXT = 'letters, digits and - _ . :';

/** The signals the wrapper catches from its first moments: the only ones it can forward to the instance. */
export const FORWARDABLE_SIGNALS = ['SIGHUP', 'SIGINT', 'SIGUSR1', 'SIGUSR2'] as const;
/** The stop signals zunitgen offers for a Zope instance (the wrapper takes any signal name). */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const;

/** The type of a value, with its limits. */
export type WrapperValue =
  /** `min`: the least value (ms); `why`: why a shorter one can only be a mistake (the error's fix says it). */
  | { kind: 'duration'; min?: number; why?: string }
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly string[] }
  /** A list of some of `values`, each at most once. */
  | { kind: 'enum-list'; values: readonly string[] }
  /** host:port; `ipOnly`: an IP literal, no host name (a listener of a unit file, an HAProxy server line). */
  | { kind: 'address'; zeroPort?: boolean; ipOnly?: boolean }
  /** One line of text; `rule` names the stricter syntax it follows. */
  | { kind: 'text'; rule?: 'name' | 'host-header' | 'haproxy-id' | 'stats-socket' | 'absolute-path' }
  | { kind: 'request-path' }
  | { kind: 'argv' }
  | { kind: 'signal' }
  | { kind: 'signal-list' }
  | { kind: 'roles' }
  /** A list of `of` entries; `itemShorthand`: an entry may be written as the value of that one key. */
  | { kind: 'list'; of: 'warmup-url' | 'check'; min: number; max?: number; itemShorthand?: string }
  /** Networks (CIDR or one address, networks.ts), normalized to CIDR text. */
  | { kind: 'network-list' }
  | { kind: 'section' };

/**
 * How zunitgen's stack config (clients.*) offers a key, where it differs from the wrapper's own file. Each rule
 * is written here once; zunitgen's parser and the stack config's JSON Schema read it.
 */
export interface StackRule {
  /** The stack config's value, stricter than the wrapper's (a longer least duration, fewer signals, IP only). */
  value?: WrapperValue;
  /** A per-client template: `{n}`, `{8080+n}`, `{n+8080}` are the client's number; `n+host` also `{host}`, its host's address. */
  placeholders?: 'n' | 'n+host';
  /** Required (true) or optional (false) in the stack config, where that differs from the wrapper. */
  required?: boolean;
  /** A section the stack config also takes as one value: the value of this key (`health: ADDRESS` is its agent). */
  shorthand?: string;
  /** Not offered: zunitgen writes the key itself, the same for every client of the stack (the warm-up slot). */
  generated?: true;
}

export interface WrapperKey {
  value: WrapperValue;
  /** How zunitgen's stack config differs (absent: it offers the key as the wrapper reads it). */
  stack?: StackRule;
  /** The property of the validated configuration (durations end in Ms). */
  field: string;
  /** The wrapper's default; absent when there is none or it depends on other keys (`defaultText` says which). */
  default?: number | string | boolean | readonly string[];
  defaultText?: string;
  required?: boolean;
  doc: string;
}
export type WrapperSection = Readonly<Record<string, WrapperKey>>;

/** The most checks and warm-up URLs one wrapper runs: each check is a timer and a connection per interval. */
export const MAX_CHECKS = 64;
export const MAX_WARMUP_URLS = 64;

const key = (value: WrapperValue, field: string, doc: string, more: Partial<WrapperKey> = {}): WrapperKey => ({ value, field, doc, ...more });
const duration = (min?: number, why?: string): WrapperValue => (min === undefined ? { kind: 'duration' } : { kind: 'duration', min, ...(why ? { why } : {}) });
/** A listener or server address in the stack config: an IP literal, per client. */
const CLIENT_ADDRESS: StackRule = { value: { kind: 'address', ipOnly: true }, placeholders: 'n+host' };

export const WRAPPER_CONFIG = {
  top: {
    name: key({ kind: 'text', rule: 'name' }, 'name', 'the instance: logs, STATUS=, metric label, default haproxy.server', { required: true, defaultText: '--name' }),
    command: key({ kind: 'argv' }, 'command', 'the instance\'s argv, as a list (or after `--`)', { defaultText: 'after --' }),
    http: key({ kind: 'address' }, 'http', 'the instance\'s own HTTP address: warm-up requests, default http/tcp check target', { default: '127.0.0.1:8080', stack: { ...CLIENT_ADDRESS, required: true } }),
    // The stack config takes a list alone as the URLs.
    warmup: key({ kind: 'section' }, 'warmup', 'the URLs requested in order before READY=1', { stack: { shorthand: 'urls' } }),
    // The stack config requires the agent listener (HAProxy's agent-check), and takes an address alone as it.
    health: key({ kind: 'section' }, 'health', 'the agent-check and health HTTP listeners', { stack: { shorthand: 'agent', required: true } }),
    // zunitgen combines the entries with the checks it generates (by name); the total is held to MAX_CHECKS there.
    checks: key({ kind: 'list', of: 'check', min: 0, max: MAX_CHECKS }, 'checks', 'the health checks', { defaultText: 'one http check root of /', stack: { value: { kind: 'list', of: 'check', min: 0 } } }),
    observability: key({ kind: 'address' }, 'observability', 'plone.observability\'s probe listener: its /startup, /ready and /live become checks', { stack: CLIENT_ADDRESS }),
    watchdog: key({ kind: 'section' }, 'watchdog', 'when liveness is lost, and what is written before a kill'),
    stop: key({ kind: 'section' }, 'stop', 'the graceful stop'),
    signals: key({ kind: 'section' }, 'signals', 'what the wrapper passes on to the instance'),
    haproxy: key({ kind: 'section' }, 'haproxy', 'the Runtime API the wrapper drains its server through'),
    log: key({ kind: 'section' }, 'log', 'the wrapper\'s log'),
  },
  warmup: {
    // zunitgen writes the budget into TimeoutStartSec= too, in whole seconds: the same least value serves both.
    budget: key(duration(1000, 'the instance must start and answer within it, and none answers sooner: an empty Zope 5 answers / about 0.7 s after it starts, a real site far later'), 'budgetMs', 'total time for warm-up and startup checks', { default: 600_000 }),
    interval: key(duration(10, 'a URL that fails at once (connection refused while the instance starts) would be asked again with no pause, keeping the wrapper busy for nothing'), 'intervalMs', 'pause before retrying a URL that failed', { default: 1000 }),
    urls: key({ kind: 'list', of: 'warmup-url', min: 1, max: MAX_WARMUP_URLS, itemShorthand: 'path' }, 'urls', 'URLs requested in order, each until it passes', { defaultText: '[{path: /}]', stack: { value: { kind: 'list', of: 'warmup-url', min: 0, max: MAX_WARMUP_URLS, itemShorthand: 'path' } } }),
    slot: key({ kind: 'text', rule: 'absolute-path' }, 'slot', 'a lock file: the wrappers that name the same one start and warm up their instances one at a time', { stack: { generated: true } }),
  },
  'warmup-url': {
    path: key({ kind: 'request-path' }, 'path', 'absolute request path', { required: true }),
    host: key({ kind: 'text', rule: 'host-header' }, 'host', 'Host: header to send'),
    status: key({ kind: 'integer', min: 100, max: 599 }, 'status', 'expected status', { default: 200 }),
    text: key({ kind: 'text' }, 'text', 'text the body must contain'),
    timeout: key(duration(1, 'it is how long a request may take: less gives up on every request before it is answered'), 'timeoutMs', 'per request', { default: 60_000 }),
  },
  health: {
    agent: key({ kind: 'address', zeroPort: true }, 'agent', 'HAProxy agent-check listener (socket-activated: FileDescriptorName=agent)', { stack: { ...CLIENT_ADDRESS, required: true } }),
    http: key({ kind: 'address', zeroPort: true }, 'http', 'health HTTP listener (socket-activated: FileDescriptorName=http)', { stack: CLIENT_ADDRESS }),
    'detail-from': key({ kind: 'network-list' }, 'detailFrom', 'peers (networks) that get /health\'s full detail and /metrics; others get the state only', { default: LOOPBACK_NETWORKS }),
  },
  watchdog: {
    'database-grace': key(duration(), 'databaseGraceMs', 'default grace of zeo and postgresql checks', { default: 120_000 }),
    'hang-timeout': key(duration(), 'hangTimeoutMs', 'how long a busy instance counts as busy, not hung', { default: 300_000 }),
    'dump-stacks': key({ kind: 'boolean' }, 'dumpStacks', 'every thread\'s stack in the journal before a watchdog-driven kill', { default: true }),
  },
  stop: {
    drain: key(duration(), 'drainMs', 'the longest time between reporting drain and the stop signal', { default: 10_000 }),
    signal: key({ kind: 'signal' }, 'signal', 'the instance\'s stop signal', { default: 'SIGTERM', stack: { value: { kind: 'enum', values: STOP_SIGNALS } } }),
    // zunitgen writes the timeout into TimeoutStopSec= too: whole seconds.
    timeout: key(duration(1, 'it is how long the instance has to exit after the stop signal: less is SIGKILL at once'), 'timeoutMs', 'SIGKILL after this', { default: 60_000, stack: { value: duration(1000, 'zunitgen writes it, with stop.drain, into TimeoutStopSec= in whole seconds') } }),
  },
  signals: {
    forward: key({ kind: 'signal-list' }, 'forward', 'signals passed on to the instance', { default: [], stack: { value: { kind: 'enum-list', values: FORWARDABLE_SIGNALS } } }),
    'stack-dump': key({ kind: 'enum', values: STACK_DUMP_MODES }, 'stackDump', 'hook: SIGUSR1 dumps every thread\'s stack without stopping', { default: 'off' }),
  },
  haproxy: {
    'stats-socket': key({ kind: 'text', rule: 'stats-socket' }, 'statsSocket', 'Runtime API socket: a path or host:port', { required: true }),
    backend: key({ kind: 'text', rule: 'haproxy-id' }, 'backend', 'backend name', { required: true }),
    server: key({ kind: 'text', rule: 'haproxy-id' }, 'server', 'server name', { defaultText: 'name' }),
  },
  log: {
    level: key({ kind: 'enum', values: LOG_LEVELS }, 'level', 'the least severe level logged', { default: 'info' }),
  },
} as const satisfies Record<string, WrapperSection>;

export type WrapperSectionName = Exclude<keyof typeof WRAPPER_CONFIG, 'top'>;

/** A check's key: the types that have it (every type when absent), and those that require it. */
export interface CheckKey extends WrapperKey {
  types?: readonly CheckType[];
  requiredFor?: readonly CheckType[];
}

/** The keys of a check: those of every check, then those of some types only (as docs/znotify.md lists them). */
export const CHECK_KEYS: Readonly<Record<string, CheckKey>> = {
  // The stack config names every entry: the name is how an entry finds the generated check it changes.
  name: key({ kind: 'text', rule: 'name' }, 'name', 'unique; in #reason, STATUS=, logs and metrics', { defaultText: 'the type', stack: { required: true } }),
  // An entry named like a generated check keeps that check's type unless it gives one.
  type: key({ kind: 'enum', values: CHECK_TYPES }, 'type', 'what is checked', { required: true, stack: { required: false } }),
  interval: key(duration(10, 'shorter runs the check back to back, keeping the wrapper and the instance busy with checks'), 'intervalMs', 'start to start', { default: 5000 }),
  timeout: key(duration(1, 'it is how long a run may take: less fails every run before it is answered'), 'timeoutMs', 'per run', { default: 2000 }),
  'failure-threshold': key({ kind: 'integer', min: 1, max: 1000 }, 'failureThreshold', 'consecutive failures that turn a passing check failing', { default: 3 }),
  'success-threshold': key({ kind: 'integer', min: 1, max: 1000 }, 'successThreshold', 'consecutive successes that turn a failing check passing', { default: 1 }),
  roles: key({ kind: 'roles' }, 'roles', 'any of startup, readiness, liveness', { defaultText: 'by type' }),
  grace: key(duration(), 'graceMs', 'liveness only: how long a failing check still counts as live', { defaultText: 'watchdog.database-grace for zeo and postgresql, 0 otherwise' }),
  address: { ...key({ kind: 'address' }, 'address', 'where to connect', { defaultText: 'http for http and tcp; required for zeo and postgresql', stack: { placeholders: 'n' } }), types: ['http', 'tcp', 'zeo', 'postgresql'], requiredFor: ['zeo', 'postgresql'] },
  path: { ...key({ kind: 'request-path' }, 'path', 'the path to ask', { default: '/', stack: { placeholders: 'n' } }), types: ['http'] },
  host: { ...key({ kind: 'text', rule: 'host-header' }, 'host', 'the Host: header', { stack: { placeholders: 'n' } }), types: ['http'] },
  status: { ...key({ kind: 'integer', min: 100, max: 599 }, 'status', 'expected status', { default: 200 }), types: ['http'] },
  text: { ...key({ kind: 'text' }, 'text', 'text the body must contain'), types: ['http'] },
  command: { ...key({ kind: 'argv' }, 'command', 'argv; exit 0 passes', { stack: { placeholders: 'n' } }), types: ['command'], requiredFor: ['command'] },
  'ruok-every': { ...key(duration(), 'ruokEveryMs', 'a full ruok at most this often; 0: every run', { default: 60_000 }), types: ['zeo'] },
};

/** zunitgen's own key of a `clients.checks` entry (the wrapper has none like it). */
export const STACK_CHECK_KEYS: Readonly<Record<string, WrapperKey>> = {
  enabled: key({ kind: 'boolean' }, 'enabled', 'false drops the generated check of this name (no other keys then)', { default: true }),
};

/** The value of a key as the stack config takes it: its stack rule's, else the wrapper's. */
export function stackValueOf(k: WrapperKey): WrapperValue {
  return k.stack?.value ?? k.value;
}

/** The least duration (ms) of a key (0 when none) and why, in the stack config (`stack`) or in the wrapper's file. */
export function durationFloorOf(k: WrapperKey, stack = false): { min: number; why?: string } {
  const v = stack ? stackValueOf(k) : k.value;
  return v.kind === 'duration' && v.min !== undefined ? { min: v.min, ...(v.why ? { why: v.why } : {}) } : { min: 0 };
}

/** The roles of a check that does not list its own. Databases: startup and readiness, never liveness by default. */
export const DEFAULT_ROLES: Readonly<Record<CheckType, readonly CheckRole[]>> = {
  http: ['liveness', 'readiness'],
  tcp: ['readiness'],
  zeo: ['startup', 'readiness'],
  postgresql: ['startup', 'readiness'],
  command: ['readiness'],
};

/** The keys of a section, in their order. */
export function sectionKeys(section: WrapperSectionName | 'top'): string[] {
  return Object.keys(WRAPPER_CONFIG[section]);
}

/** The keys of a section the stack config offers: all but those zunitgen writes itself (`stack.generated`). */
export function stackSectionKeys(section: WrapperSectionName): string[] {
  return Object.entries(WRAPPER_CONFIG[section] as Record<string, WrapperKey>).filter(([, k]) => !k.stack?.generated).map(([name]) => name);
}

/** The keys every check has. */
export function commonCheckKeys(): string[] {
  return Object.entries(CHECK_KEYS).filter(([, k]) => k.types === undefined).map(([name]) => name);
}

/** The keys of a check of this type: the common ones, then the type's own. */
export function checkKeys(type: CheckType): string[] {
  return [...commonCheckKeys(), ...Object.entries(CHECK_KEYS).filter(([, k]) => k.types?.includes(type)).map(([name]) => name)];
}
