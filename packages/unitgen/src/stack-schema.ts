// The JSON Schema of zunitgen's stack config, for editors (yaml-language-server): `pnpm build` writes it to
// schema/stack.schema.json (scripts/build-schemas.mjs), which the package ships. The stack's own
// sections are written here; the wrapper's keys the stack config offers under `clients:` (http, health,
// observability, warmup, stop, watchdog, signals, checks) and `log-level` come from the one description of
// the wrapper configuration (@zope-systemd/common, wrapper-config.ts), read with each key's `stack` rule.
// zunitgen's own parser (parse.ts) is the authority; a test holds both to the same good and bad configs.
import { durationSchema, formatTimeSpan, wrapperKeySchema, wrapperRequiredKeys, wrapperSchemaDefs, type WrapperSchemaFlavour } from '@zope-systemd/common';
import { RESTART_BURST, STACK_DURATIONS, type StackDuration, type StackDurationKey } from './stack-durations.js';

type Schema = Record<string, unknown>;

/** The wrapper's defs in this schema are named wrapper-<section> (beside the stack's own `address`, `size`, ...). */
const STACK: WrapperSchemaFlavour = { tool: 'stack', prefix: 'wrapper-' };

/** The wrapper's keys under `clients:`, in the order of KEYS.clients. */
const CLIENT_WRAPPER_KEYS = ['http', 'health', 'observability', 'warmup', 'stop', 'watchdog', 'signals', 'checks'] as const;

/** One of the stack's own durations: its least value and meaning from stack-durations.ts. */
function stackDuration(key: StackDurationKey): Schema {
  const d: StackDuration = STACK_DURATIONS[key];
  return { ...durationSchema(d.min, d.max), description: `${d.doc}: a systemd time span (500ms, 30s, 2min, 1h 30min) or seconds, at least ${formatTimeSpan(d.min)}`, ...(d.default === undefined ? {} : { default: formatTimeSpan(d.default) }) };
}

/** The stack's own value types. */
const STACK_DEFS: Record<string, Schema> = {
  "environment": {
    "type": "object", "description": "Environment= of the units, NAME: value. Stack-wide at the top; clients.environment and zeo.environment add or override",
    "propertyNames": { "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,127}$", "not": { "pattern": "^(NOTIFY_SOCKET|LISTEN_(PID|FDS|FDNAMES)|WATCHDOG_(PID|USEC)|MAINPID|INVOCATION_ID|SYSTEMD_EXEC_PID)$" } },
    "additionalProperties": { "type": ["string", "number", "boolean"] }
  },
  "text": { "type": "string", "minLength": 1, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$" },
  "path": { "type": "string", "pattern": "^/[A-Za-z0-9._/+@,:=~%-]*$", "description": "Absolute, normalized; letters, digits and . _ / + @ , : = ~ - %" },
  "executable": { "type": "string", "pattern": "^/[A-Za-z0-9._/+@,:=~-]*$" },
  "tool": {
    "oneOf": [
      { "$ref": "#/$defs/executable" },
      { "type": "array", "minItems": 1, "prefixItems": [ { "$ref": "#/$defs/executable" } ], "items": { "type": "string" }, "description": "argv prefix, e.g. [/usr/bin/node, .../cli.js]" }
    ]
  },
  "address": { "type": "string", "pattern": "^(\\d{1,3}(\\.\\d{1,3}){3}|\\[[0-9a-fA-F:.]+\\]):\\d{1,5}$", "description": "IP:port, IPv6 in brackets" },
  "hostName": { "type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,30}$", "description": "a name from hosts:" },
  "host": {
    "type": "object", "additionalProperties": false, "required": ["name", "address"],
    "description": "One machine of the stack: its services bind to address; deploy and systemctl -H reach it over ssh",
    "properties": {
      "name": { "$ref": "#/$defs/hostName" },
      "address": { "type": "string", "pattern": "^(\\d{1,3}(\\.\\d{1,3}){3}|[0-9a-fA-F.]*:[0-9a-fA-F:.]*)$", "description": "IP literal (IPv6 without brackets) the host's services bind to" },
      "ssh": { "type": "string", "pattern": "^([A-Za-z0-9._][A-Za-z0-9._-]{0,31}@)?([A-Za-z0-9][A-Za-z0-9.-]*|\\[[0-9A-Fa-f:.]+\\])$", "description": "ssh destination, [user@]host (default root@<address>)" },
      "ssh-options": { "type": "object", "additionalProperties": { "oneOf": [ { "type": "string" }, { "type": "number" } ] }, "description": "ssh_config(5) options for this host, e.g. { Port: 2222 }" }
    }
  },
  "size": { "oneOf": [ { "type": "integer", "minimum": 1 }, { "type": "string", "pattern": "^(\\d+(\\.\\d+)?\\s*[KMGTP]?|\\d+(\\.\\d+)?%|infinity)$" } ], "description": "bytes, with K/M/G/T/P (base 1024), a percentage, or infinity" },
  "command": {
    "oneOf": [
      { "type": "string", "minLength": 1, "description": "split at spaces; a relative executable is taken relative to directory" },
      { "type": "array", "minItems": 1, "items": { "type": "string" }, "description": "exact argv" }
    ]
  },
  "memory": {
    "type": "object", "additionalProperties": false,
    "properties": { "high": { "$ref": "#/$defs/size" }, "max": { "$ref": "#/$defs/size" } }
  },
  "unit": { "type": "string", "pattern": "^[A-Za-z0-9:_.\\\\-]+(@[A-Za-z0-9:_.\\\\-]+)?\\.(service|socket|target|slice|mount|automount|swap|path|timer|device|scope)$", "maxLength": 255 }
};

/** The top-level keys before `clients`. */
const STACK_TOP: Record<string, Schema> = {
  "hosts": { "type": "array", "minItems": 1, "items": { "$ref": "#/$defs/host" }, "description": "The machines of a stack that spans hosts; leave out for one machine" },
  "stack": { "$ref": "#/$defs/text", "description": "Name of the stack: prefix of every unit (systemd-escaped), e.g. plone -> plone.target" },
  "description": { "$ref": "#/$defs/text" },
  "user": { "type": "string", "pattern": "^[a-z_][a-z0-9_-]{0,30}$" },
  "group": { "type": "string", "pattern": "^[a-z_][a-z0-9_-]{0,30}$" },
  "directory": { "$ref": "#/$defs/path", "description": "The buildout / instance home; WorkingDirectory=, <directory>/var is writable" },
  "znotify": { "$ref": "#/$defs/tool", "default": "/usr/local/bin/znotify" },
  "zunitgen": { "$ref": "#/$defs/tool", "default": "/usr/local/bin/zunitgen" },
  "zstack": { "$ref": "#/$defs/tool", "default": "/usr/local/bin/zstack" },
  "hardening": { "type": "boolean", "default": true },
  "read-write-paths": { "type": "array", "items": { "$ref": "#/$defs/path" } },
  "environment": { "$ref": "#/$defs/environment" },
  "database": {
    "type": "object", "additionalProperties": false,
    "properties": {
      "postgresql": {
        "type": "object", "additionalProperties": false, "required": ["unit"],
        "properties": { "unit": { "$ref": "#/$defs/unit" }, "address": { "$ref": "#/$defs/address" }, "host": { "$ref": "#/$defs/hostName", "description": "the host that runs it (with hosts:)" } }
      }
    }
  },
  "zeo": {
    "type": "object", "additionalProperties": false, "required": ["command", "address"],
    "properties": {
      "command": { "$ref": "#/$defs/command" },
      "address": { "$ref": "#/$defs/address" },
      "memory": { "$ref": "#/$defs/memory" },
      "ready-timeout": stackDuration('zeo.ready-timeout'),
      "host": { "$ref": "#/$defs/hostName", "description": "the host that runs ZEO (with hosts:)" },
      "environment": { "$ref": "#/$defs/environment" }
    }
  }
};

/** The keys of `clients:` that are zunitgen's own. */
const CLIENT_OWN: Record<string, Schema> = {
  "count": { "type": "integer", "minimum": 1, "maximum": 128 },
  "hosts": {
    "type": "object", "description": "which host runs which client: host: count (numbered host by host) or host: [client numbers]",
    "additionalProperties": { "oneOf": [ { "type": "integer", "minimum": 0, "maximum": 128 }, { "type": "array", "items": { "type": "integer", "minimum": 1, "maximum": 128 } } ] }
  },
  "command": { "$ref": "#/$defs/command" },
  "memory": { "$ref": "#/$defs/memory" },
  "threads": { "type": "integer", "minimum": 1, "maximum": 1024, "description": "the instances' waitress worker threads: every HAProxy server's maxconn (without it 4, waitress's default)" },
  "environment": { "$ref": "#/$defs/environment" },
  "recycle": {
    "type": "object", "additionalProperties": false,
    "description": "zstack recycle, run by a generated timer: restart (drain first) at most one client over these thresholds",
    "properties": {
      "memory": { "$ref": "#/$defs/size", "description": "instance RSS above which a client is recycled; below memory.high and memory.max" },
      "max-age": stackDuration('clients.recycle.max-age'),
      "every": stackDuration('clients.recycle.every')
    }
  }
};

/** The top-level keys after `clients`. */
const STACK_REST: Record<string, Schema> = {
  "limits": {
    "type": "object", "additionalProperties": false,
    "properties": {
      "memory-max": { "$ref": "#/$defs/size" },
      "memory-high": { "$ref": "#/$defs/size" },
      "cpu-weight": { "type": "integer", "minimum": 1, "maximum": 10000 },
      "io-weight": { "type": "integer", "minimum": 1, "maximum": 10000 },
      "tasks-max": { "oneOf": [ { "type": "integer", "minimum": 1 }, { "type": "string", "pattern": "^(\\d+(\\.\\d+)?%|infinity)$" } ] }
    }
  },
  "watchdog": stackDuration('watchdog'),
  "restart": {
    "type": "object", "additionalProperties": false,
    "description": "How systemd restarts ZEO and the clients after a failure, and when it gives up on one that fails at every start (docs/unitgen.md, Restarts and the start limit)",
    "properties": {
      "delay": stackDuration('restart.delay'),
      "burst": { "type": "integer", "minimum": RESTART_BURST.min, "maximum": RESTART_BURST.max, "default": RESTART_BURST.default, "description": "StartLimitBurst= of ZEO and the clients: starts allowed within restart.interval; one more and the unit ends failed" },
      "interval": stackDuration('restart.interval')
    }
  },
  "haproxy": {
    "type": "object", "additionalProperties": false,
    "properties": {
      "backend": { "type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$" },
      "stats-socket": { "oneOf": [ { "$ref": "#/$defs/path" }, { "$ref": "#/$defs/address" } ], "description": "the Runtime API socket: a path, or IP:port" },
      "wrapper-socket": { "oneOf": [ { "$ref": "#/$defs/path" }, { "$ref": "#/$defs/address" } ], "description": "the Runtime API socket the wrappers use as the stack's user (level user suffices): default /run/haproxy/<backend>-wrappers.sock with a path stats-socket, the stats-socket itself with IP:port" },
      "balance": { "enum": ["leastconn", "roundrobin", "first", "source"] },
      "maxconn": { "type": "integer", "minimum": 1, "maximum": 100000, "description": "every server's maxconn, over clients.threads (default: clients.threads, else 4)" },
      "check-interval": stackDuration('haproxy.check-interval'),
      "queue-timeout": stackDuration('haproxy.queue-timeout'),
      "frontend": { "$ref": "#/$defs/address", "description": "also write haproxy-<stack>-standalone.cfg, a complete configuration whose frontend listens here" },
      "server-state-file": { "$ref": "#/$defs/path", "description": "with frontend: where HAProxy reads the server states saved before a reload (default /var/lib/haproxy/server-state)" },
      "install": {
        "type": "object", "additionalProperties": false, "required": ["file"],
        "description": "zunitgen deploy installs the backend file here (checked with haproxy -c first) and reloads HAProxy; a stack with hosts only",
        "properties": {
          "host": { "type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,30}$", "description": "the host (of hosts:) that runs HAProxy; default: the machine deploy runs on" },
          "file": { "type": "string", "pattern": "^/[A-Za-z0-9_.@+/-]*\\.cfg$", "description": "an absolute path ending in .cfg, e.g. /etc/haproxy/conf.d/plone.cfg" },
          "config": { "type": "array", "minItems": 1, "items": { "$ref": "#/$defs/path" }, "description": "what HAProxy loads (-f each), in its order; default [/etc/haproxy/haproxy.cfg, the file's directory]" },
          "unit": { "type": "string", "pattern": "^[A-Za-z0-9:_.@-]{1,250}\\.service$", "default": "haproxy.service" }
        }
      }
    }
  },
  "wanted-by": { "oneOf": [ { "$ref": "#/$defs/unit" }, { "type": "array", "items": { "$ref": "#/$defs/unit" } } ] }
};

const CLIENT_DOCS: Record<string, string> = {
  checks: 'The wrapper\'s checks, combined with the generated ones (root, zeo, postgresql) by name',
  signals: 'The wrapper\'s signals: options (docs/znotify.md, Signals): nothing reaches the instance unless forwarded',
  watchdog: 'The wrapper\'s watchdog: options (docs/znotify.md)',
};

/** `clients:`: zunitgen's own keys and the wrapper's, in the order zunitgen lists them. */
function clientsSchema(): Schema {
  const wrapper = Object.fromEntries(CLIENT_WRAPPER_KEYS.map((k) => {
    const s = wrapperKeySchema('top', k, STACK);
    return [k, CLIENT_DOCS[k] ? { ...s, description: CLIENT_DOCS[k] } : s];
  }));
  const { count, hosts, command, memory, threads, environment, recycle } = CLIENT_OWN;
  return {
    type: 'object', additionalProperties: false,
    required: ['command', ...wrapperRequiredKeys('top', STACK).filter((k) => (CLIENT_WRAPPER_KEYS as readonly string[]).includes(k))],
    anyOf: [{ required: ['count'] }, { required: ['hosts'] }],
    properties: { count, command, http: wrapper.http, health: wrapper.health, observability: wrapper.observability, warmup: wrapper.warmup, memory, threads, stop: wrapper.stop, watchdog: wrapper.watchdog, signals: wrapper.signals, checks: wrapper.checks, environment, recycle, hosts },
  };
}

/** The defs `properties` refer to, directly or through other defs: the wrapper's haproxy: and log: sections are not offered here. */
function referencedDefs(properties: Schema, defs: Record<string, Schema>): Record<string, Schema> {
  const kept = new Set<string>();
  const visit = (s: unknown) => {
    for (const m of JSON.stringify(s).matchAll(/"#\/\$defs\/([^"]+)"/g)) {
      if (!kept.has(m[1]!)) { kept.add(m[1]!); visit(defs[m[1]!]); }
    }
  };
  visit(properties);
  return Object.fromEntries(Object.entries(defs).filter(([name]) => kept.has(name)));
}

/** The JSON Schema (draft 2020-12) of a stack config. */
export function stackConfigSchema(): Schema {
  const properties = {
    ...STACK_TOP,
    clients: clientsSchema(),
    ...STACK_REST,
    'log-level': { ...wrapperKeySchema('log', 'level', STACK), description: 'the wrappers\' log.level; silent: no log lines (a failed start still says why on stderr)' },
  };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'zunitgen stack',
    description: 'One Plone/Zope stack (PostgreSQL -> ZEO -> clients) for zunitgen. zunitgen\'s own validator (zunitgen check FILE) is the authority; this schema is for editors.',
    type: 'object',
    additionalProperties: false,
    required: ['stack', 'user', 'directory', 'clients'],
    $defs: referencedDefs(properties, { ...STACK_DEFS, ...wrapperSchemaDefs(STACK) }),
    properties,
  };
}
