// A small validator for the JSON Schema keywords the published schemas use (stack.schema.json,
// znotify.schema.json), so their tests need no schema library. Returns one line per error, naming its path.
// Keywords it does not know are ignored: a schema using a new one must teach it here first, or its tests
// would pass for the wrong reason.
type Schema = Record<string, unknown> | boolean;

const KNOWN = new Set(['$schema', '$ref', '$defs', 'title', 'description', 'default', 'type', 'enum', 'const', 'oneOf', 'anyOf', 'allOf', 'not', 'if', 'then', 'else',
  'pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'items', 'prefixItems', 'minItems', 'maxItems', 'uniqueItems', 'properties', 'required', 'additionalProperties', 'propertyNames']);

export function validateSchema(root: Record<string, unknown>, v: unknown): string[] {
  const resolve = (ref: string): Schema => ref.replace(/^#\//, '').split('/').reduce<Record<string, unknown>>((o, k) => o[k] as Record<string, unknown>, root);
  const is = (ty: string, x: unknown) => ty === 'integer' ? Number.isInteger(x) : ty === 'number' ? typeof x === 'number' : ty === 'array' ? Array.isArray(x)
    : ty === 'object' ? typeof x === 'object' && x !== null && !Array.isArray(x) : ty === 'null' ? x === null : typeof x === ty;
  const check = (s: Schema, x: unknown, path: string): string[] => {
    if (s === true) return [];
    if (s === false) return [`${path}: not allowed`];
    for (const k of Object.keys(s)) if (!KNOWN.has(k)) throw new Error(`json-schema.ts does not know the keyword ${k} (at ${path})`);
    if (typeof s.$ref === 'string') return check(resolve(s.$ref), x, path);
    const errs: string[] = [...combinators(s, x, path)];
    if (s.enum && !(s.enum as unknown[]).includes(x)) errs.push(`${path}: not in enum`);
    if ('const' in s && s.const !== x) errs.push(`${path}: not ${JSON.stringify(s.const)}`);
    const types = s.type === undefined ? undefined : ([] as string[]).concat(s.type as string);
    if (types && !types.some((t) => is(t, x))) return [...errs, `${path}: not ${types.join(' or ')}`];
    if (typeof x === 'string') errs.push(...stringErrors(s, x, path));
    if (typeof x === 'number') {
      if (typeof s.minimum === 'number' && x < s.minimum) errs.push(`${path}: minimum`);
      if (typeof s.maximum === 'number' && x > s.maximum) errs.push(`${path}: maximum`);
    }
    if (Array.isArray(x)) {
      if (typeof s.minItems === 'number' && x.length < s.minItems) errs.push(`${path}: minItems`);
      if (typeof s.maxItems === 'number' && x.length > s.maxItems) errs.push(`${path}: maxItems`);
      if (s.uniqueItems === true && new Set(x.map((y) => JSON.stringify(y))).size !== x.length) errs.push(`${path}: uniqueItems`);
      const prefix = (s.prefixItems ?? []) as Schema[];
      x.forEach((y, i) => { const item = prefix[i] ?? s.items; if (item !== undefined) errs.push(...check(item as Schema, y, `${path}[${i}]`)); });
    }
    if (is('object', x)) errs.push(...objectErrors(s, x as Record<string, unknown>, path));
    return errs;
  };
  const combinators = (s: Record<string, unknown>, x: unknown, path: string): string[] => {
    const errs: string[] = [];
    const passing = (list: unknown) => (list as Schema[]).filter((y) => check(y, x, path).length === 0).length;
    if (s.oneOf && passing(s.oneOf) !== 1) errs.push(`${path}: matches ${passing(s.oneOf)} of oneOf`);
    if (s.anyOf && passing(s.anyOf) === 0) errs.push(`${path}: matches none of anyOf`);
    if (s.allOf) for (const y of s.allOf as Schema[]) errs.push(...check(y, x, path));
    if (s.not !== undefined && check(s.not as Schema, x, path).length === 0) errs.push(`${path}: matches what is refused (not)`);
    if (s.if !== undefined) {
      const branch = check(s.if as Schema, x, path).length === 0 ? s.then : s.else;
      if (branch !== undefined) errs.push(...check(branch as Schema, x, path));
    }
    return errs;
  };
  const stringErrors = (s: Record<string, unknown>, x: string, path: string): string[] => {
    const errs: string[] = [];
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(x)) errs.push(`${path}: pattern`);
    if (typeof s.minLength === 'number' && [...x].length < s.minLength) errs.push(`${path}: minLength`);
    if (typeof s.maxLength === 'number' && [...x].length > s.maxLength) errs.push(`${path}: maxLength`);
    return errs;
  };
  const objectErrors = (s: Record<string, unknown>, x: Record<string, unknown>, path: string): string[] => {
    const errs: string[] = [];
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const r of (s.required ?? []) as string[]) if (!(r in x)) errs.push(`${path}: missing ${r}`);
    for (const [k, y] of Object.entries(x)) {
      if (s.propertyNames !== undefined) errs.push(...check(s.propertyNames as Schema, k, `${path}{${k}}`));
      if (props[k] !== undefined) errs.push(...check(props[k]!, y, `${path}.${k}`));
      else if (s.additionalProperties === false) errs.push(`${path}: unknown ${k}`);
      else if (s.additionalProperties !== undefined) errs.push(...check(s.additionalProperties as Schema, y, `${path}.${k}`));
    }
    return errs;
  };
  return check(root, v, '$');
}
