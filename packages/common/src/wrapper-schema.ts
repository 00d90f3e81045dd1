// The JSON Schemas of the wrapper's configuration, derived from the one description of it (wrapper-config.ts):
// every key, its type, limits, allowed values, the keys of each check type and their meaning come from there,
// so the schemas editors use cannot drift from what the tools read. Two flavours: znotify's own file
// (`znotifyConfigSchema`, written by `pnpm build` to packages/notify/schema/znotify.schema.json), and the
// wrapper's keys as zunitgen's stack config offers them under `clients:` (`wrapperSchemaDefs` and
// `wrapperKeySchema`, which zunitgen's stack schema is built from), with each key's `stack` rule applied.
//
// A schema is for editors: as strict as JSON Schema says simply and never stricter than the tool. The tools'
// own validators stay the authority (host names they cannot resolve, duplicate names, a duration written as
// a sum below its least value are theirs to refuse).
import { DURATION_MAX, DURATION_UNIT_MS, formatTimeSpan, type DurationCeiling } from './duration.js';
import {
  CHECK_KEYS, CHECK_ROLES, CHECK_TYPES, HAPROXY_ID_RULE, NAME_RULE, STACK_CHECK_KEYS, stackValueOf, WRAPPER_CONFIG,
  type CheckKey, type StackRule, type WrapperKey, type WrapperSectionName, type WrapperValue,
} from './wrapper-config.js';

type Schema = Record<string, unknown>;

/** Which tool's reading of the keys a schema describes; defs are named `${prefix}${section}`. */
export interface WrapperSchemaFlavour { tool: 'znotify' | 'stack'; prefix: string }
const ZNOTIFY: WrapperSchemaFlavour = { tool: 'znotify', prefix: '' };

const regexQuote = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const UNIT_SPELLINGS = DURATION_UNIT_MS.flatMap(([names]) => names).sort((a, b) => b.length - a.length).map(regexQuote).join('|');
/** A systemd time span as duration.ts reads it (a sum of numbers with units; no unit: seconds; digits after a point). */
const DURATION_PATTERN = `^\\s*((\\d+(\\.\\d+)?|\\.\\d+)\\s*(${UNIT_SPELLINGS})?\\s*)+$`;
/** `{n}`, `{8080+n}`, `{n+8080}`: the client's number, in a per-client value of the stack config. */
const N_PLACEHOLDER = '\\{\\s*(n|\\d+\\s*\\+\\s*n|n\\s*\\+\\s*\\d+)\\s*\\}';
const HOST_PLACEHOLDER = '\\{\\s*host\\s*\\}';
/** A signal name as znotify reads it: SIGTERM, TERM, sigterm. */
const SIGNAL_PATTERN = '^\\s*[A-Za-z][A-Za-z0-9+]*\\s*$';
const ONE_LINE = '^[^\\u0000-\\u001f\\u007f-\\u009f]*$';
const TEXT_PATTERNS: Record<string, string> = { name: NAME_RULE.source, 'haproxy-id': HAPROXY_ID_RULE.source, 'absolute-path': '^/[^\\u0000-\\u001f\\u007f-\\u009f]*[^/\\u0000-\\u001f\\u007f-\\u009f]$' };

/** A decimal (`\d+(\.\d+)?` or `\.\d+`) whose value is below `t` (a finite decimal without trailing zeros). */
function decimalBelow(t: string): string[] {
  const [int, frac = ''] = t.split('.') as [string, string?];
  const alts: string[] = [];
  if (int !== '0') {
    // Fewer digits than t's integer part, or the same number with a smaller digit at some place.
    const parts = [int.length > 1 ? `\\d{0,${int.length - 1}}` : ''];
    for (let i = 0; i < int.length; i++) if (int[i] !== '0') parts.push(`${int.slice(0, i)}[0-${Number(int[i]) - 1}]\\d{${int.length - i - 1}}`);
    alts.push(`0*(${parts.join('|')})(\\.\\d+)?`);
  }
  if (frac) {
    const parts: string[] = [];
    for (let i = 0; i < frac.length; i++) {
      if (i > 0) parts.push(frac.slice(0, i));
      if (frac[i] !== '0') parts.push(`${frac.slice(0, i)}[0-${Number(frac[i]) - 1}]\\d*`);
    }
    // The same integer part and a smaller fraction, or none (`0`, `5` below 5.5).
    alts.push(`0*${int === '0' ? '' : int}(\\.(${parts.join('|')}))?`);
  }
  return alts;
}

/** `x` rounded down to six decimals, as text without trailing zeros: a bound that is never above `x`. */
const floorText = (x: number) => (Math.floor(x * 1e6) / 1e6).toFixed(6).replace(/\.?0+$/, '');

/**
 * A time span of one component that is shorter than `minMs`, in any unit: what the schema refuses beside the
 * least number. A sum of components below the least value is left to the tool.
 */
function tooShortPattern(minMs: number): string {
  const alts: string[] = [];
  for (const [names, ms] of [[[''], 1000] as const, ...DURATION_UNIT_MS]) {
    const bound = floorText(minMs / ms);
    if (bound === '0') continue;
    const unit = names[0] === '' ? '' : `\\s*(${names.map(regexQuote).join('|')})`;
    alts.push(`(${decimalBelow(bound).join('|')})${unit}`);
  }
  return `^\\s*(${alts.join('|')})\\s*$`;
}

/** A time span of at least `min` ms (and at most what `ceiling` allows), as a number of seconds or as text. */
export function durationSchema(min: number, ceiling: DurationCeiling = 'timer'): Schema {
  const text: Schema = { type: 'string', pattern: DURATION_PATTERN };
  if (min > 0) text.not = { pattern: tooShortPattern(min) };
  return { oneOf: [{ type: 'number', minimum: min / 1000, maximum: DURATION_MAX[ceiling].ms / 1000 }, text] };
}

/** host:port by the rules the value is read with; placeholders where the stack config takes them. */
function addressSchema(t: Extract<WrapperValue, { kind: 'address' }>, f: WrapperSchemaFlavour, placeholders: StackRule['placeholders']): Schema {
  const d = placeholders ? `(\\d|${N_PLACEHOLDER})` : '\\d';
  const hosts = [`${d}{1,3}(\\.${d}{1,3}){3}`, t.ipOnly ? '\\[[0-9a-fA-F:.]+\\]' : '\\[[0-9a-fA-F:.]+(%[A-Za-z0-9_.-]+)?\\]'];
  if (!t.ipOnly) hosts.push(placeholders ? `([A-Za-z0-9]|${N_PLACEHOLDER})([A-Za-z0-9.-]|${N_PLACEHOLDER})*` : '[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?');
  if (placeholders === 'n+host') hosts.push(HOST_PLACEHOLDER);
  const text = { type: 'string', pattern: `^(${hosts.join('|')}):${d}{1,5}$` };
  // The wrapper also reads a bare port as 127.0.0.1:port; the stack config does not.
  if (f.tool === 'stack') return text;
  const port = { type: 'integer', minimum: t.zeroPort ? 0 : 1, maximum: 65535 };
  return { anyOf: [text, port, { type: 'string', pattern: '^\\s*\\d{1,5}\\s*$' }] };
}

/** The schema of one value, by its kind. */
function valueSchema(t: WrapperValue, name: string, f: WrapperSchemaFlavour, rule?: StackRule): Schema {
  switch (t.kind) {
    case 'duration': return durationSchema(t.min ?? 0);
    case 'integer': return { type: 'integer', minimum: t.min, maximum: t.max };
    case 'boolean': return { type: 'boolean' };
    case 'enum': return { enum: [...t.values] };
    case 'enum-list': return { type: 'array', uniqueItems: true, items: { enum: [...t.values] } };
    case 'address': return addressSchema(t, f, f.tool === 'stack' ? rule?.placeholders : undefined);
    case 'text': return { type: 'string', minLength: 1, pattern: t.rule && TEXT_PATTERNS[t.rule] ? TEXT_PATTERNS[t.rule] : ONE_LINE };
    case 'request-path': return { type: 'string', pattern: '^/\\S*$' };
    case 'argv': return { type: 'array', minItems: 1, items: { type: 'string' } };
    case 'signal': return { type: 'string', pattern: SIGNAL_PATTERN };
    case 'signal-list': return { oneOf: [{ type: 'string', pattern: SIGNAL_PATTERN }, { type: 'array', uniqueItems: true, items: { type: 'string', pattern: SIGNAL_PATTERN } }] };
    case 'roles': return { oneOf: [{ enum: [...CHECK_ROLES] }, { type: 'array', minItems: 1, items: { enum: [...CHECK_ROLES] } }] };
    case 'list': return listSchema(t, f);
    case 'network-list': return { type: 'array', items: { type: 'string', pattern: '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$' } };
    case 'section': return sectionSchema(name as WrapperSectionName, f, rule);
  }
}

function listSchema(t: Extract<WrapperValue, { kind: 'list' }>, f: WrapperSchemaFlavour): Schema {
  const ref = { $ref: `#/$defs/${f.prefix}${t.of}` };
  const short = t.itemShorthand ? (WRAPPER_CONFIG[t.of as 'warmup-url'] as Record<string, WrapperKey>)[t.itemShorthand] : undefined;
  return {
    type: 'array', ...(t.min ? { minItems: t.min } : {}), ...(t.max !== undefined ? { maxItems: t.max } : {}),
    items: short ? { oneOf: [valueSchema(short.value, t.itemShorthand!, f), ref] } : ref,
  };
}

/** A section: a reference to its def; in the stack config also its shorthand (one key's value alone). */
function sectionSchema(name: WrapperSectionName, f: WrapperSchemaFlavour, rule?: StackRule): Schema {
  const ref = { $ref: `#/$defs/${f.prefix}${name}` };
  if (f.tool !== 'stack' || !rule?.shorthand) return ref;
  return { oneOf: [keySchema((WRAPPER_CONFIG[name] as Record<string, WrapperKey>)[rule.shorthand]!, rule.shorthand, f), ref] };
}

/** What an editor shows for a key: its meaning and its default. */
function description(k: CheckKey): string {
  const d = k.defaultText ?? (k.default === undefined ? undefined : k.value.kind === 'duration' ? formatTimeSpan(k.default as number) : JSON.stringify(k.default));
  const text = d === undefined ? k.doc : `${k.doc} (default ${d})`;
  return k.types ? `${k.types.join(', ')}: ${text}` : text;
}

function keySchema(k: WrapperKey, name: string, f: WrapperSchemaFlavour): Schema {
  const stack = f.tool === 'stack';
  return { ...valueSchema(stack ? stackValueOf(k) : k.value, name, f, k.stack), description: description(k) };
}

/** Whether a key must be given: in znotify's file when it is required and nothing else supplies it. */
function isRequired(k: CheckKey, f: WrapperSchemaFlavour): boolean {
  if (f.tool === 'stack' && k.stack?.required !== undefined) return k.stack.required;
  return (k.required ?? false) && k.defaultText === undefined && k.types === undefined;
}

/** A mapping of keys: no others. */
function objectSchema(keys: Readonly<Record<string, WrapperKey>>, f: WrapperSchemaFlavour, doc?: string): Schema {
  // The stack config does not offer the keys zunitgen writes itself.
  const offered = Object.entries(keys).filter(([, k]) => f.tool !== 'stack' || !k.stack?.generated);
  const properties: Record<string, Schema> = {};
  for (const [name, k] of offered) properties[name] = keySchema(k, name, f);
  const required = offered.filter(([, k]) => isRequired(k, f)).map(([name]) => name);
  return { type: 'object', additionalProperties: false, ...(doc ? { description: doc } : {}), ...(required.length ? { required } : {}), properties };
}

/**
 * A check: every key, and for each type (when `type` is given) the keys of other types refused and, in
 * znotify's file, the keys the type requires. In the stack config an entry with `enabled: false` takes no
 * other key, and required keys are left to zunitgen (a changed generated check keeps its address).
 */
function checkSchema(f: WrapperSchemaFlavour): Schema {
  const stack = f.tool === 'stack';
  const keys: Record<string, CheckKey> = stack ? { ...CHECK_KEYS, ...STACK_CHECK_KEYS } : { ...CHECK_KEYS };
  const rules: Schema[] = CHECK_TYPES.map((type) => {
    const foreign = Object.entries(CHECK_KEYS).filter(([, k]) => k.types && !k.types.includes(type)).map(([name]) => name);
    const needs = stack ? [] : Object.entries(CHECK_KEYS).filter(([, k]) => k.requiredFor?.includes(type)).map(([name]) => name);
    return {
      if: { properties: { type: { const: type } }, required: ['type'] },
      then: { properties: Object.fromEntries(foreign.map((k) => [k, false])), ...(needs.length ? { required: needs } : {}) },
    };
  });
  if (stack) {
    const others = Object.keys(keys).filter((k) => k !== 'name' && k !== 'enabled');
    rules.push({ if: { properties: { enabled: { const: false } }, required: ['enabled'] }, then: { properties: Object.fromEntries(others.map((k) => [k, false])) } });
  }
  const doc = stack
    ? 'A check of the wrapper (docs/znotify.md, Checks). Named like a generated check (root, zeo, postgresql): changes only the keys given; another name: a new check (type required). {n} in address, path, host and command arguments is the client\'s number.'
    : 'a health check; the keys after type are for the types named';
  return { ...objectSchema(keys, f, doc), allOf: rules };
}

/** The defs every wrapper key refers to: one per section, and `check`, each named `${prefix}${name}`. */
export function wrapperSchemaDefs(f: WrapperSchemaFlavour): Record<string, Schema> {
  const { top, ...sections } = WRAPPER_CONFIG;
  const defs: Record<string, Schema> = {};
  for (const [name, keys] of Object.entries(sections)) defs[`${f.prefix}${name}`] = objectSchema(keys, f, (top as Record<string, WrapperKey>)[name]?.doc);
  defs[`${f.prefix}check`] = checkSchema(f);
  return defs;
}

/** The schema of one key of a section (with its meaning), as the flavour's tool reads it. */
export function wrapperKeySchema(section: WrapperSectionName | 'top', name: string, f: WrapperSchemaFlavour): Schema {
  return keySchema((WRAPPER_CONFIG[section] as Record<string, WrapperKey>)[name]!, name, f);
}

/** The keys of a section the flavour's tool requires. */
export function wrapperRequiredKeys(section: WrapperSectionName | 'top', f: WrapperSchemaFlavour): string[] {
  return Object.entries(WRAPPER_CONFIG[section] as Record<string, WrapperKey>).filter(([, k]) => isRequired(k, f)).map(([name]) => name);
}

/** The JSON Schema (draft 2020-12) of znotify's configuration file. */
export function znotifyConfigSchema(): Schema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'znotify configuration',
    description: 'The configuration file of znotify, the Type=notify wrapper of one Zope instance (docs/znotify.md). znotify\'s own validator (znotify check --config FILE) is the authority; this schema is for editors.',
    ...objectSchema(WRAPPER_CONFIG.top, ZNOTIFY),
    $defs: wrapperSchemaDefs(ZNOTIFY),
  };
}
