// The validated model of one stack: everything the renderer needs, already expanded per instance, with
// units, paths and numbers in their final form. Produced by parse.ts, consumed by render.ts; pure data (and the
// one constant that decides part of it).

import type { Address, Size } from './values.js';
import type { MaxconnSource } from './haproxy-maxconn.js';

/** What ProtectHome= covers (systemd.exec(5)): hidden with yes, read-only with read-only (protectHome). */
export const HOME_DIRS: readonly string[] = ['/home', '/root', '/run/user'];

/** 1-based line and column of a value in the stack file. */
export interface SourcePosition { line: number; col: number }

/**
 * Where each value of the stack file is written, by its dotted key path as messages name it: `directory`,
 * `znotify[1]`, `clients.checks[0].command[2]`; a list item that is a mapping with a `name:` is also reachable by
 * that name, `clients.checks[name=zeo].command[0]` (the model keeps a check's name, not its place in the list).
 * Read it with placeOf/positionOf (./source-place.ts), which fall back to the enclosing key.
 */
export type SourcePositions = Record<string, SourcePosition>;

export interface MemoryLimits {
  high?: Size;
  max?: Size;
}

export interface WarmupUrl {
  path: string;
  host?: string;
  status: number;
  text?: string;
  timeoutMs?: number;
}

/** The wrapper's check types and roles (docs/znotify.md, "Checks"), as its configuration's description has them. */
export type { CheckRole, CheckType } from '@zope-systemd/common';
import type { CheckRole, CheckType } from '@zope-systemd/common';

/**
 * One check of a client's wrapper config, expanded for that client (check-config.ts). Holds only what zunitgen
 * generates or the stack config sets; the wrapper's defaults apply to the rest (an http check without an
 * address asks the client's own http address).
 */
export interface CheckModel {
  name: string;
  type: CheckType;
  address?: Address;
  path?: string;
  host?: string;
  status?: number;
  text?: string;
  /** argv, absolute executable. */
  command?: string[];
  intervalMs?: number;
  timeoutMs?: number;
  failureThreshold?: number;
  successThreshold?: number;
  graceMs?: number;
  /** zeo: a full ruok at most this often (the wrapper keeps one connection open in between). */
  ruokEveryMs?: number;
  roles?: CheckRole[];
}

/** One machine of a stack that spans hosts (hosts.ts). */
/** Where `zunitgen deploy` installs the HAProxy backend file, and how that HAProxy is checked and reloaded. */
export interface HaproxyInstall {
  /** The host (of hosts:) that runs HAProxy; absent: the machine deploy runs on. */
  host?: string;
  /** Absolute path of the backend file there (*.cfg). */
  file: string;
  /** What HAProxy loads, in its order (files, or directories of *.cfg files): `haproxy -c -f ...` of all of it. */
  config: string[];
  /** The unit reloaded after the file changed (try-reload-or-restart: a stopped HAProxy stays stopped). */
  unit: string;
}

export interface HostModel {
  /** Short name: the directory of its unit set, the first part of its clients' HAProxy server names. */
  name: string;
  /** IP literal (IPv6 without brackets) its services bind to and are reached at. */
  address: string;
  /** ssh destination for deploy and `systemctl -H` (default root@<address>). */
  ssh: string;
  /** ssh_config options for this host, passed as `-o Key=Value`, in the order written. */
  sshOptions: Array<[string, string]>;
  zeo: boolean;
  postgresql: boolean;
  /** Names of the clients it runs (client3, ...), in start order. */
  clients: string[];
}

export interface ClientModel {
  /** 1-based instance number. */
  n: number;
  /** `client1`: the wrapper's --name. */
  name: string;
  /** The HAProxy server name: the client's name, or `<host>-<client>` when the stack spans hosts. */
  server: string;
  /** The host that runs it, when the stack has hosts. */
  host?: string;
  unit: string;            // plone-client1.service
  agentSocket: string;     // plone-client1-agent.socket
  healthSocket?: string;   // plone-client1-health.socket (only when an HTTP health address is configured)
  /** The instance's own argv (absolute executable). */
  command: string[];
  http: Address;
  /** detailFrom: the networks whose peers get the wrapper's full /health detail (the wrapper's default: loopback). */
  health: { agent: Address; http?: Address; detailFrom?: string[] };
  /** plone.observability's probe listener of this client (clients.observability): the wrapper's `observability:`. */
  observability?: Address;
  memory: MemoryLimits;
  /** The wrapper's checks: the generated ones combined with clients.checks (check-config.ts). */
  checks: CheckModel[];
  /** Units this client is ordered after (the database units, and the previous client). It pulls in none of them. */
  after: string[];
}

export interface StackModel {
  /** Path of the config file as given (named in every generated-by header). */
  source: string;
  /** Where each value is written in `source`: checks made after parsing name the exact key with it. */
  positions: SourcePositions;
  stack: string;
  /** systemd-escape(stack): the prefix of every unit name. */
  prefix: string;
  description: string;
  user: string;
  group?: string;
  directory: string;
  /** argv prefix that runs znotify (usually one absolute path). */
  znotify: string[];
  /** argv prefix that runs zunitgen (ExecStartPost= wait-tcp of the ZEO unit). */
  zunitgen: string[];
  /** argv prefix that runs zstack (the recycle timer's service). */
  zstack: string[];
  hardening: boolean;
  protectHome: 'yes' | 'read-only';
  /** <directory>/var: writable, and ignored when missing (ReadWritePaths=-...), e.g. a RelStorage instance without var/. */
  varPath: string;
  /** read-write-paths from the config: writable, must exist. */
  readWritePaths: string[];
  target: string;
  slice: string;
  limits: {
    memoryMax?: Size;
    memoryHigh?: Size;
    cpuWeight?: number;
    ioWeight?: number;
    tasksMax?: number | Size;
  };
  /** The ZEO server's environment: the stack-wide one with zeo.environment over it. */
  postgresql?: { unit: string; address?: Address; host?: string };
  zeo?: { unit: string; command: string[]; address: Address; memory: MemoryLimits; readyTimeoutMs: number; host?: string; environment: Record<string, string> };
  /** The machines of a stack that spans hosts; absent for a one-machine stack. */
  hosts?: HostModel[];
  /** `environment:` (stack-wide), and the clients' (with clients.environment over it). Environment= of the units. */
  environment: Record<string, string>;
  clientEnvironment: Record<string, string>;
  clients: ClientModel[];
  threads?: number;
  warmup: { budgetMs: number; intervalMs: number; urls: WarmupUrl[] };
  watchdogMs: number;
  clientWatchdog: { databaseGraceMs?: number; hangTimeoutMs?: number; dumpStacks?: boolean };
  /** The wrapper's `signals:` (clients.signals): what it forwards, and what SIGUSR1 means. */
  clientSignals: { forward?: string[]; stackDump?: 'hook' | 'off' };
  stop: { drainMs: number; timeoutMs: number; signal: string };
  /**
   * restart: how ZEO and the clients are restarted after a failure: RestartSec= and the start limit (unit-timing.ts).
   * intervalMs absent: each unit's StartLimitIntervalSec= is burst times its longest failing start and restart.
   */
  restart: { delayMs: number; burst: number; intervalMs?: number };
  /** clients.recycle: the thresholds of `zstack recycle` and the period of its timer (absent: no timer). */
  recycle?: { memory?: Size; maxAgeMs?: number; everyMs: number };
  /** frontend: where the complete HAProxy configuration (haproxy-<prefix>-standalone.cfg) listens. */
  haproxy: {
    backend: string; statsSocket?: string;
    /** The socket the wrappers use: haproxy.wrapper-socket, by default /run/haproxy/<stack>-wrappers.sock (level user). */
    wrapperSocket?: string;
    balance: string; checkInterMs: number; frontend?: Address;
    /** Every server's maxconn (haproxy-maxconn.ts): haproxy.maxconn, else clients.threads, else waitress's default. */
    maxconn: number; maxconnFrom: MaxconnSource;
    /** HAProxy's `timeout queue` of the backend: a request waits this long for a free server slot, then 503. */
    queueTimeoutMs: number;
    /** With frontend: the server-state-file the standalone configuration loads at every (re)start. */
    serverStateFile: string;
    install?: HaproxyInstall;
  };
  wantedBy: string[];
  logLevel: string;
}
