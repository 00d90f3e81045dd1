// The wrapper's health checks of every client (`clients.checks` in the stack config, `checks:` in each generated
// <stack>-clientN.znotify.yaml). zunitgen generates three: an http check `root` of /, `zeo` (ZEO's ruok) when
// `zeo:` is set and `postgresql` when `database.postgresql.address` is. The operator's entries combine with them
// by name:
//   - an entry named like a generated check changes only the keys it gives; the others stay as generated (keys
//     the entry's type does not have are dropped when it changes the type);
//   - `enabled: false` drops a generated check (nothing else may be given then);
//   - any other name adds a check, after the generated ones, in the order written.
// Entries use the wrapper's own keys and values (docs/znotify.md, "Checks"; packages/notify/src/znotify/config.ts
// is the authority, and the tests run the built `znotify check` on what is generated). They are validated here,
// with positions in the stack config, because the wrapper only ever sees the generated file. `{n}` in address,
// path, host and command arguments is the client's number, as in the other per-client values.

import { isSeq, type Node, type YAMLMap } from 'yaml';
import type { CheckModel, CheckRole, CheckType } from './model.js';
import { CHECK_KEYS as WRAPPER_CHECK_KEYS, CHECK_ROLES, CHECK_TYPES, commonCheckKeys, durationFloorOf, NAME_RULE, NAME_RULE_TEXT, parseRequestPath, STACK_CHECK_KEYS, type WrapperValue } from '@zope-systemd/common';
import { didYouMean, expandTemplate, hasPlaceholder, isHostHeader, parseAddress, q, type Address } from './values.js';
import { command, describe, quotedDelta, type Walker } from './yaml-reader.js';

// The wrapper's check keys, types and roles are described once (@zope-systemd/common, wrapper-config.ts).
export { CHECK_ROLES, CHECK_TYPES };
/** The wrapper's keys of every check, plus zunitgen's own (`enabled`: false drops a generated check). */
const COMMON_KEYS: readonly string[] = commonCheckKeys().flatMap((k) => (k === 'type' ? [k, ...Object.keys(STACK_CHECK_KEYS)] : [k]));
/** The wrapper's further keys of each type. */
export const TYPE_KEYS: Readonly<Record<CheckType, readonly string[]>> = Object.fromEntries(CHECK_TYPES.map((t) => [t,
  Object.entries(WRAPPER_CHECK_KEYS).filter(([, k]) => k.types?.includes(t)).map(([name]) => name)])) as Record<CheckType, string[]>;
/** The keys that belong to some types only (named alike in the wrapper's YAML; CheckModel's fields besides). */
const TYPE_SPECIFIC: readonly string[] = Object.entries(WRAPPER_CHECK_KEYS).filter(([, k]) => k.types).flatMap(([name, k]) => [name, k.field]);
/** Every key a `clients.checks` entry may have (KEYS.check; the schema's $defs/check). */
export const CHECK_KEYS: readonly string[] = [...COMMON_KEYS, ...Object.keys(WRAPPER_CHECK_KEYS).filter((k) => TYPE_SPECIFIC.includes(k))];

/** The limits the wrapper holds a check key to. */
function limitOf(key: string): WrapperValue {
  return WRAPPER_CHECK_KEYS[key]!.value;
}
/** The least duration of a check key and why (the wrapper's; the stack config offers check durations as they are). */
const floorOf = (key: string) => durationFloorOf(WRAPPER_CHECK_KEYS[key]!, true);
const rangeOf = (key: string) => limitOf(key) as { min: number; max: number };

/**
 * The checks zunitgen generates for every client. An address is `undefined` only when its section of the config
 * is itself invalid (already reported): the check still exists by name, so that entries changing it are not
 * reported a second time, and the model is discarded anyway.
 */
const DATABASE_ROLES: CheckRole[] = ['startup', 'readiness'];

export function generatedChecks(o: { zeo?: { address: Address | undefined }; postgresql?: { address: Address | undefined } }): CheckModel[] {
  const out: CheckModel[] = [{ name: 'root', type: 'http', path: '/', roles: ['liveness', 'readiness'] }];
  // The databases are startup and readiness checks, not liveness: a client cannot fix its database by restarting
  // (it reconnects by itself when the database is back, with its caches warm), and a liveness role would have the
  // watchdog restart every client at once after a long outage, all warming up together. A startup role: READY=1
  // (and with it the next client's start) waits for the database, reported in STATUS=.
  if (o.zeo) out.push({ name: 'zeo', type: 'zeo', address: o.zeo.address!, roles: [...DATABASE_ROLES] });
  if (o.postgresql) out.push({ name: 'postgresql', type: 'postgresql', address: o.postgresql.address!, roles: [...DATABASE_ROLES] });
  return out;
}

/** A string that may hold `{n}`, and where it is (errors point at the placeholder). */
interface Template { text: string; node: Node | null }

/** One `clients.checks` entry, validated, its per-client strings not yet expanded. */
interface Entry {
  where: string;
  name: string;
  type: CheckType;
  /** The values given that do not depend on the client. */
  fixed: Omit<CheckModel, 'name' | 'type' | 'address' | 'path' | 'host' | 'command'>;
  address?: Template;
  path?: Template;
  host?: Template;
  command?: Node;
}

/** What every client gets, in order: a generated check (perhaps changed by an entry), or an entry of its own. */
export type CheckPlan = ReadonlyArray<{ base: CheckModel; entry?: Entry } | { base?: undefined; entry: Entry }>;

/**
 * Validates `clients.checks` against the generated checks. Every problem is recorded in `w`, and `ok` is false
 * then; the plan still holds the valid entries, so that expanding it (checksFor) reports their problems too.
 */
/** The most checks (and warm-up URLs) one wrapper config may hold: znotify refuses more, so zunitgen does too. */
export const MAX_WRAPPER_CHECKS = 64;

export function parseChecks(w: Walker, node: Node | null, generated: readonly CheckModel[]): { plan: CheckPlan; ok: boolean } {
  const before = w.issues.length;
  if (!isSeq(node)) {
    w.err(node, `clients.checks: expected a list of checks, got ${describe(node)}`, 'e.g. checks: [{ name: root, interval: 30s }]');
    return { plan: [], ok: false };
  }
  const plan: Array<{ base?: CheckModel; entry?: Entry }> = generated.map((base) => ({ base }));
  const seen = new Map<string, string>();
  for (const [i, item] of (node.items as Array<Node | null>).entries()) {
    const where = `clients.checks[${i}]`;
    const r = parseEntry(w, item, where, generated);
    if (!r) continue;
    const earlier = seen.get(r.name);
    if (earlier !== undefined) {
      w.err(r.nameNode, `${where}.name: ${q(r.name)} is already used by ${earlier}`, 'give every check its own name (an entry named like a generated check changes that check)');
      continue;
    }
    seen.set(r.name, where);
    const at = plan.findIndex((p) => p.base?.name === r.name);
    if (!r.entry) { if (at >= 0) plan.splice(at, 1); }
    else if (at >= 0) plan[at] = { base: plan[at]!.base!, entry: r.entry };
    else plan.push({ entry: r.entry });
  }
  if (plan.length > MAX_WRAPPER_CHECKS) {
    w.err(node, `clients.checks: ${plan.length} checks per client, more than the wrapper runs (${MAX_WRAPPER_CHECKS})`, `configure at most ${MAX_WRAPPER_CHECKS} checks`);
  }
  return { plan: plan as CheckPlan, ok: w.issues.length === before };
}

/**
 * One entry: a change of a generated check, a new check, or (entry undefined) a generated check dropped.
 * Undefined when the entry is unusable; its other keys are still validated, so that no problem hides another.
 */
function parseEntry(w: Walker, item: Node | null, where: string, generated: readonly CheckModel[]): { name: string; nameNode: Node | null; entry?: Entry } | undefined {
  const m = w.map(item, where, CHECK_KEYS, ['name']);
  if (!m) return undefined;
  const get = (k: string) => m.get(k) ?? null;
  const keyNode = (k: string): Node | null => ((item as YAMLMap<Node, Node>).items.find((p) => (p.key as { value?: unknown } | null)?.value === k)?.key ?? null);
  const nameNode = get('name');
  let name = m.has('name') ? w.str(nameNode, `${where}.name`) : undefined;
  if (name !== undefined && !NAME_RULE.test(name)) {
    w.err(nameNode, `${where}.name: ${q(name)} is not a check name`, `${NAME_RULE_TEXT} (it names the check in the wrapper's /health, STATUS= and logs)`);
    name = undefined;
  }
  const names = generated.map((g) => g.name);
  const base = generated.find((g) => g.name === name);
  const dym = name === undefined || base ? undefined : didYouMean(name, names);

  const enabled = m.has('enabled') ? w.bool(get('enabled'), `${where}.enabled`) : true;
  if (enabled === false) {
    if (name !== undefined && !base) {
      w.err(nameNode, `${where}: there is no generated check ${q(name)} to drop (enabled: false)`,
        dym ? `did you mean ${q(dym)}?` : `generated here: ${names.join(', ')}; an entry of your own is dropped by removing it`);
    }
    for (const k of m.keys()) {
      if (k !== 'name' && k !== 'enabled') w.err(keyNode(k), `${where}.${k}: a dropped check (enabled: false) takes no other keys`, 'remove the key, or remove enabled: false to change the check instead');
    }
    return name === undefined ? undefined : { name, nameNode };
  }

  // The type: given, or the generated check's. Without one, only the keys every check has can be checked.
  let type = m.has('type') ? w.enumOf(get('type'), `${where}.type`, CHECK_TYPES) as CheckType | undefined : base?.type;
  if (!m.has('type') && !base && name !== undefined) {
    w.err(item, `${where}: missing required key "type" (${q(name)} is a new check)`,
      `one of ${CHECK_TYPES.join(', ')}; only an entry named like a generated check (here: ${names.join(', ')}) may leave it out${dym ? `; did you mean ${q(dym)}?` : ''}`);
  }
  const has = (k: string) => m.has(k) && (type === undefined ? !TYPE_SPECIFIC.includes(k) : COMMON_KEYS.includes(k) || TYPE_KEYS[type].includes(k));
  if (type !== undefined) {
    for (const k of m.keys()) {
      if (!has(k)) w.err(keyNode(k), `${where}.${k}: a ${type} check has no ${q(k)}`, `keys of a ${type} check: ${[...COMMON_KEYS, ...TYPE_KEYS[type]].join(', ')}`);
    }
  }

  const fixed: Entry['fixed'] = {};
  const set = (key: string, value: unknown) => { (fixed as Record<string, unknown>)[WRAPPER_CHECK_KEYS[key]!.field] = value; };
  for (const key of ['interval', 'timeout', 'grace', 'ruok-every']) if (has(key)) set(key, w.duration(get(key), `${where}.${key}`, floorOf(key).min, floorOf(key).why));
  for (const key of ['failure-threshold', 'success-threshold', 'status']) if (has(key)) set(key, w.int(get(key), `${where}.${key}`, rangeOf(key).min, rangeOf(key).max));
  if (has('roles')) fixed.roles = roles(w, get('roles'), `${where}.roles`);
  if (has('text')) fixed.text = w.str(get('text'), `${where}.text`);
  const templates: Pick<Entry, 'address' | 'path' | 'host' | 'command'> = {};
  for (const k of ['address', 'path', 'host'] as const) {
    if (!has(k)) continue;
    const text = w.str(get(k), `${where}.${k}`);
    if (text !== undefined) templates[k] = { text, node: get(k) };
  }
  if (has('command')) {
    const c = get('command');
    if (isSeq(c)) templates.command = c;
    else {
      const words = typeof w.scalar(c) === 'string' ? String(w.scalar(c)).split(' ').filter(Boolean) : [];
      w.err(c, `${where}.command: expected a list of arguments, got ${describe(c)}`,
        words.length ? `write it as a list, as the wrapper does: [${words.join(', ')}]` : 'e.g. command: [/usr/bin/test, -w, /srv/plone/var]');
    }
  }
  if (name === undefined || type === undefined) return undefined;

  // What the wrapper requires of the type, given or kept from the generated check.
  const needs = Object.entries(WRAPPER_CHECK_KEYS).find(([, k]) => k.requiredFor?.includes(type))?.[0];
  if (needs && !m.has(needs) && !(base && TYPE_KEYS[type].includes(needs) && Object.hasOwn(base, needs))) {
    w.err(item, `${where}: a ${type} check needs ${q(needs)}`,
      needs === 'command' ? 'e.g. command: [/usr/bin/test, -w, /srv/plone/var]' : `e.g. address: 127.0.0.1:${type === 'zeo' ? 8100 : 5432}`);
  }
  return { name, nameNode, entry: { where, name, type, fixed, ...templates } };
}

function roles(w: Walker, node: Node | null, where: string): CheckRole[] | undefined {
  const items = isSeq(node) ? (node.items as Array<Node | null>) : [node];
  if (items.length === 0) { w.err(node, `${where}: must not be empty`, `list at least one of ${CHECK_ROLES.join(', ')}`); return undefined; }
  const out: CheckRole[] = [];
  for (const item of items) {
    const r = w.enumOf(item, where, CHECK_ROLES) as CheckRole | undefined;
    if (r === undefined) return undefined;
    if (out.includes(r)) { w.err(item, `${where}: ${q(r)} is listed twice`); return undefined; }
    out.push(r);
  }
  return out;
}

/**
 * The checks of client `n`, in the wrapper's order: generated ones first (as changed), then the operator's.
 * Problems with the expanded values (an address whose port runs past 65535 for this client) are recorded in `w`,
 * naming the client when the value has a placeholder; undefined then.
 */
export function checksFor(w: Walker, plan: CheckPlan, n: number, directory: string, reported = new Set<Node | null>()): CheckModel[] | undefined {
  const before = w.issues.length;
  let failed = false;
  const out: CheckModel[] = [];
  for (const item of plan) {
    if (!item.entry) { if (item.base) out.push(item.base); continue; }
    const { base, entry } = item;
    const c: CheckModel = { name: entry.name, type: entry.type };
    if (base) {
      // Keep what the generated check sets, except what the entry's type does not have.
      for (const [k, v] of Object.entries(base)) {
        if (k === 'name' || k === 'type' || (TYPE_SPECIFIC.includes(k) && !TYPE_KEYS[entry.type].includes(k))) continue;
        (c as unknown as Record<string, unknown>)[k] = v;
      }
    }
    Object.assign(c, entry.fixed);
    // One report per value: a port that runs past 65535 at client 40 is not listed again for 41..128.
    const bad = (t: Template, key: string, message: string, hint?: string, at?: number) => {
      failed = true;
      if (reported.has(t.node)) return;
      reported.add(t.node);
      // A value that varies names the client it broke for; a malformed placeholder is the same for all (at: its offset).
      const client = at === undefined && hasPlaceholder(t.text) ? ` (client${n})` : '';
      w.err(t.node, `${entry.where}.${key}${client}: ${message}`, hint, at);
    };
    const expand = (t: Template, key: string): string | undefined => {
      const r = expandTemplate(t.text, n);
      if (!r.ok) { bad(t, key, r.message, r.hint, quotedDelta(t.node) + (r.offset ?? 0)); return undefined; }
      return r.value;
    };
    if (entry.address) {
      const v = expand(entry.address, 'address');
      // A name too: the wrapper resolves it when it connects (a database behind a DNS name).
      const a = v === undefined ? undefined : parseAddress(v, { names: true });
      if (a?.ok) c.address = a.value;
      else if (a) bad(entry.address, 'address', a.message, a.hint);
    }
    if (entry.path) {
      const v = expand(entry.path, 'path');
      const p = v === undefined ? undefined : parseRequestPath(v);
      if (p?.ok) c.path = p.value;
      else if (p) bad(entry.path, 'path', p.message, p.hint);
    }
    if (entry.host) {
      const v = expand(entry.host, 'host');
      if (v !== undefined && isHostHeader(v)) c.host = v;
      else if (v !== undefined) bad(entry.host, 'host', `not a host name: ${q(v)}`, 'the Host: header to send, e.g. www.example.org or www.example.org:8080');
    }
    if (entry.command) {
      // The command's problems do not depend on n (placeholders only insert digits): checked once, at client1.
      const argv = reported.has(entry.command) ? undefined : command(w, entry.command, `${entry.where}.command`, directory, n);
      if (argv) c.command = argv;
      else { failed = true; reported.add(entry.command); }
    }
    out.push(c);
  }
  return failed || w.issues.length !== before ? undefined : out;
}
