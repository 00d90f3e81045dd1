// The wrapper's configuration (znotify's YAML, which zunitgen writes for every client), described once: every
// key with its type, default, limits, allowed values and a one-line meaning. znotify's validator reads the
// file by this description; zunitgen takes from it the keys the stack config offers for the wrapper
// (clients.warmup, .health, .stop, .watchdog, .signals, .checks), their limits and defaults, and the view its
// template writes; the tests hold the JSON Schema, the template and docs/znotify.md to it.
//
// Durations are in milliseconds. Where a tool is stricter than the wrapper (zunitgen wants a warm-up budget of
// at least 1 s, for TimeoutStartSec=), it says so where it reads the key, as an explicit option.
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

/** The type of a value, with its limits. */
export type WrapperValue =
  | { kind: 'duration'; min?: number }
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'address'; zeroPort?: boolean }
  /** One line of text; `rule` names the stricter syntax it follows. */
  | { kind: 'text'; rule?: 'name' | 'host-header' | 'haproxy-id' | 'stats-socket' }
  | { kind: 'request-path' }
  | { kind: 'argv' }
  | { kind: 'signal' }
  | { kind: 'signal-list' }
  | { kind: 'roles' }
  | { kind: 'list'; of: 'warmup-url' | 'check'; max: number }
  /** Networks (CIDR or one address, networks.ts), normalized to CIDR text. */
  | { kind: 'network-list' }
  | { kind: 'section' };

export interface WrapperKey {
  value: WrapperValue;
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
const duration = (min?: number): WrapperValue => (min === undefined ? { kind: 'duration' } : { kind: 'duration', min });

export const WRAPPER_CONFIG = {
  top: {
    name: key({ kind: 'text', rule: 'name' }, 'name', 'the instance: logs, STATUS=, metric label, default haproxy.server', { required: true, defaultText: '--name' }),
    command: key({ kind: 'argv' }, 'command', 'the instance\'s argv, as a list (or after `--`)', { defaultText: 'after --' }),
    http: key({ kind: 'address' }, 'http', 'the instance\'s own HTTP address: warm-up requests, default http/tcp check target', { default: '127.0.0.1:8080' }),
    warmup: key({ kind: 'section' }, 'warmup', 'the URLs requested in order before READY=1'),
    health: key({ kind: 'section' }, 'health', 'the agent-check and health HTTP listeners'),
    checks: key({ kind: 'list', of: 'check', max: MAX_CHECKS }, 'checks', 'the health checks', { defaultText: 'one http check root of /' }),
    observability: key({ kind: 'address' }, 'observability', 'plone.observability\'s probe listener: its /startup, /ready and /live become checks'),
    watchdog: key({ kind: 'section' }, 'watchdog', 'when liveness is lost, and what is written before a kill'),
    stop: key({ kind: 'section' }, 'stop', 'the graceful stop'),
    signals: key({ kind: 'section' }, 'signals', 'what the wrapper passes on to the instance'),
    haproxy: key({ kind: 'section' }, 'haproxy', 'the Runtime API the wrapper drains its server through'),
    log: key({ kind: 'section' }, 'log', 'the wrapper\'s log'),
  },
  warmup: {
    budget: key(duration(1), 'budgetMs', 'total time for warm-up and startup checks', { default: 600_000 }),
    interval: key(duration(10), 'intervalMs', 'pause before retrying a URL that failed', { default: 1000 }),
    urls: key({ kind: 'list', of: 'warmup-url', max: MAX_WARMUP_URLS }, 'urls', 'URLs requested in order, each until it passes', { defaultText: '[{path: /}]' }),
  },
  'warmup-url': {
    path: key({ kind: 'request-path' }, 'path', 'absolute request path', { required: true }),
    host: key({ kind: 'text', rule: 'host-header' }, 'host', 'Host: header to send'),
    status: key({ kind: 'integer', min: 100, max: 599 }, 'status', 'expected status', { default: 200 }),
    text: key({ kind: 'text' }, 'text', 'text the body must contain'),
    timeout: key(duration(1), 'timeoutMs', 'per request', { default: 60_000 }),
  },
  health: {
    agent: key({ kind: 'address', zeroPort: true }, 'agent', 'HAProxy agent-check listener (socket-activated: FileDescriptorName=agent)'),
    http: key({ kind: 'address', zeroPort: true }, 'http', 'health HTTP listener (socket-activated: FileDescriptorName=http)'),
    'detail-from': key({ kind: 'network-list' }, 'detailFrom', 'peers (networks) that get /health\'s full detail and /metrics; others get the state only', { default: LOOPBACK_NETWORKS }),
  },
  watchdog: {
    'database-grace': key(duration(), 'databaseGraceMs', 'default grace of zeo and postgresql checks', { default: 120_000 }),
    'hang-timeout': key(duration(), 'hangTimeoutMs', 'how long a busy instance counts as busy, not hung', { default: 300_000 }),
    'dump-stacks': key({ kind: 'boolean' }, 'dumpStacks', 'every thread\'s stack in the journal before a watchdog-driven kill', { default: true }),
  },
  stop: {
    drain: key(duration(), 'drainMs', 'the longest time between reporting drain and the stop signal', { default: 10_000 }),
    signal: key({ kind: 'signal' }, 'signal', 'the instance\'s stop signal', { default: 'SIGTERM' }),
    timeout: key(duration(1), 'timeoutMs', 'SIGKILL after this', { default: 60_000 }),
  },
  signals: {
    forward: key({ kind: 'signal-list' }, 'forward', 'signals passed on to the instance', { default: [] }),
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

/** A check's key: the types that have it (every type when absent). */
export interface CheckKey extends WrapperKey { types?: readonly CheckType[] }

/** The keys of a check: those of every check, then those of some types only (as docs/znotify.md lists them). */
export const CHECK_KEYS: Readonly<Record<string, CheckKey>> = {
  name: key({ kind: 'text', rule: 'name' }, 'name', 'unique; in #reason, STATUS=, logs and metrics', { defaultText: 'the type' }),
  type: key({ kind: 'enum', values: CHECK_TYPES }, 'type', 'what is checked', { required: true }),
  interval: key(duration(10), 'intervalMs', 'start to start', { default: 5000 }),
  timeout: key(duration(1), 'timeoutMs', 'per run', { default: 2000 }),
  'failure-threshold': key({ kind: 'integer', min: 1, max: 1000 }, 'failureThreshold', 'consecutive failures that turn a passing check failing', { default: 3 }),
  'success-threshold': key({ kind: 'integer', min: 1, max: 1000 }, 'successThreshold', 'consecutive successes that turn a failing check passing', { default: 1 }),
  roles: key({ kind: 'roles' }, 'roles', 'any of startup, readiness, liveness', { defaultText: 'by type' }),
  grace: key(duration(), 'graceMs', 'liveness only: how long a failing check still counts as live', { defaultText: 'watchdog.database-grace for zeo and postgresql, 0 otherwise' }),
  address: { ...key({ kind: 'address' }, 'address', 'where to connect', { defaultText: 'http for http and tcp; required for zeo and postgresql' }), types: ['http', 'tcp', 'zeo', 'postgresql'] },
  path: { ...key({ kind: 'request-path' }, 'path', 'the path to ask', { default: '/' }), types: ['http'] },
  host: { ...key({ kind: 'text', rule: 'host-header' }, 'host', 'the Host: header'), types: ['http'] },
  status: { ...key({ kind: 'integer', min: 100, max: 599 }, 'status', 'expected status', { default: 200 }), types: ['http'] },
  text: { ...key({ kind: 'text' }, 'text', 'text the body must contain'), types: ['http'] },
  command: { ...key({ kind: 'argv' }, 'command', 'argv; exit 0 passes', { required: true }), types: ['command'] },
  'ruok-every': { ...key(duration(), 'ruokEveryMs', 'a full ruok at most this often; 0: every run', { default: 60_000 }), types: ['zeo'] },
};

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

/** The keys every check has. */
export function commonCheckKeys(): string[] {
  return Object.entries(CHECK_KEYS).filter(([, k]) => k.types === undefined).map(([name]) => name);
}

/** The keys of a check of this type: the common ones, then the type's own. */
export function checkKeys(type: CheckType): string[] {
  return [...commonCheckKeys(), ...Object.entries(CHECK_KEYS).filter(([, k]) => k.types?.includes(type)).map(([name]) => name)];
}
