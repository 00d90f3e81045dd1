// The JSON Schema of znotify's configuration file, derived from the one description of it (wrapper-config.ts):
// every key, its type, limits, allowed values and meaning come from there, so the schema editors use cannot
// drift from what znotify reads. `pnpm build` writes it to packages/notify/schema/znotify.schema.json.
//
// The schema is for editors: it is as strict as JSON Schema says simply and never stricter than znotify.
// znotify's own validator stays the authority (host names it cannot resolve, a check's keys for its type,
// duplicate names are its to refuse).
import { CHECK_KEYS, CHECK_ROLES, HAPROXY_ID_RULE, NAME_RULE, WRAPPER_CONFIG, type WrapperKey, type WrapperSection, type WrapperValue } from './wrapper-config.js';

type Schema = Record<string, unknown>;

/** A systemd time span (as duration.ts reads it) or a number of seconds. */
const DURATION_PATTERN = '^\\s*((\\d+(\\.\\d*)?|\\.\\d+)\\s*(us|usec|\u00b5s|\u03bcs|ms|msec|s|sec|seconds?|m|min|minutes?|h|hr|hours?|d|days?|w|weeks?|M|months?|y|years?)?\\s*)+$';
/** IPv4:port, [IPv6]:port or host-name:port. */
const ADDRESS_PATTERN = '^(\\d{1,3}(\\.\\d{1,3}){3}|\\[[0-9a-fA-F:.]+(%[A-Za-z0-9_.-]+)?\\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):\\d{1,5}$';
/** A signal name as znotify reads it: SIGTERM, TERM, sigterm. */
const SIGNAL_PATTERN = '^\\s*[A-Za-z][A-Za-z0-9+]*\\s*$';
const ONE_LINE = '^[^\\u0000-\\u001f\\u007f-\\u009f]*$';

const TEXT_PATTERNS: Record<string, string> = { name: NAME_RULE.source, 'haproxy-id': HAPROXY_ID_RULE.source };

/** The schema of one value, by its kind. */
function valueSchema(t: WrapperValue, section: string): Schema {
  switch (t.kind) {
    case 'duration':
      return { oneOf: [{ type: 'number', minimum: (t.min ?? 0) / 1000 }, { type: 'string', pattern: DURATION_PATTERN }] };
    case 'integer': return { type: 'integer', minimum: t.min, maximum: t.max };
    case 'boolean': return { type: 'boolean' };
    case 'enum': return { enum: [...t.values] };
    case 'address': return { type: 'string', pattern: ADDRESS_PATTERN };
    case 'text': return { type: 'string', minLength: 1, pattern: t.rule && TEXT_PATTERNS[t.rule] ? TEXT_PATTERNS[t.rule] : ONE_LINE };
    case 'request-path': return { type: 'string', pattern: '^/\\S*$' };
    case 'argv': return { type: 'array', minItems: 1, items: { type: 'string' } };
    case 'signal': return { type: 'string', pattern: SIGNAL_PATTERN };
    case 'signal-list': return { oneOf: [{ type: 'string', pattern: SIGNAL_PATTERN }, { type: 'array', items: { type: 'string', pattern: SIGNAL_PATTERN } }] };
    case 'roles': return { oneOf: [{ enum: [...CHECK_ROLES] }, { type: 'array', minItems: 1, items: { enum: [...CHECK_ROLES] } }] };
    case 'list': return { type: 'array', minItems: 1, maxItems: t.max, items: { $ref: `#/$defs/${t.of}` } };
    case 'network-list': return { type: 'array', items: { type: 'string', pattern: '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$' } };
    case 'section': return { $ref: `#/$defs/${section}` };
  }
}

/** What an editor shows for a key: its meaning and its default. */
function description(k: WrapperKey): string {
  const d = k.defaultText ?? (k.default === undefined ? undefined : JSON.stringify(k.default));
  return d === undefined ? k.doc : `${k.doc} (default ${d})`;
}

/** A mapping of keys: no others; required are those that have no default from elsewhere. */
function objectSchema(keys: Readonly<Record<string, WrapperKey & { types?: readonly string[] }>>, doc?: string): Schema {
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const [name, k] of Object.entries(keys)) {
    properties[name] = { ...valueSchema(k.value, name), description: k.types ? `${k.types.join(', ')}: ${description(k)}` : description(k) };
    if (k.required && k.defaultText === undefined && k.types === undefined) required.push(name);
  }
  return { type: 'object', additionalProperties: false, ...(doc ? { description: doc } : {}), ...(required.length ? { required } : {}), properties };
}

/** The JSON Schema (draft 2020-12) of znotify's configuration file. */
export function znotifyConfigSchema(): Schema {
  const { top, ...sections } = WRAPPER_CONFIG;
  const defs: Record<string, Schema> = {};
  for (const [name, keys] of Object.entries(sections) as Array<[string, WrapperSection]>) defs[name] = objectSchema(keys, top[name as keyof typeof top]?.doc);
  defs.check = objectSchema(CHECK_KEYS, 'a health check; the keys after type are for the types named');
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'znotify configuration',
    description: 'The configuration file of znotify, the Type=notify wrapper of one Zope instance (docs/znotify.md). znotify\'s own validator (znotify check --config FILE) is the authority; this schema is for editors.',
    ...objectSchema(top),
    $defs: defs,
  };
}
