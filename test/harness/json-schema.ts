// A small validator for the JSON Schema keywords the published schemas use (stack.schema.json,
// znotify.schema.json), so their tests need no schema library. Returns one line per error, naming its path.
type Schema = Record<string, unknown>;

export function validateSchema(root: Schema, v: unknown): string[] {
  const resolve = (ref: string): Schema => ref.replace(/^#\//, '').split('/').reduce<Schema>((o, k) => o[k] as Schema, root);
  const check = (s: Schema, v: unknown, path: string): string[] => {
    if (typeof s.$ref === 'string') return check(resolve(s.$ref), v, path);
    const errs: string[] = [];
    if (s.oneOf) {
      const ok = (s.oneOf as Schema[]).filter((x) => check(x, v, path).length === 0).length;
      if (ok !== 1) errs.push(`${path}: matches ${ok} of oneOf`);
      return errs;
    }
    if (s.enum && !(s.enum as unknown[]).includes(v)) errs.push(`${path}: not in enum`);
    const t = s.type as string | undefined;
    const is = (ty: string) => ty === 'integer' ? Number.isInteger(v) : ty === 'number' ? typeof v === 'number' : ty === 'array' ? Array.isArray(v) : ty === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v) : typeof v === ty;
    if (t && !is(t)) return [...errs, `${path}: not ${t}`];
    if (typeof v === 'string') {
      if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v)) errs.push(`${path}: pattern`);
      if (typeof s.minLength === 'number' && v.length < s.minLength) errs.push(`${path}: minLength`);
      if (typeof s.maxLength === 'number' && v.length > s.maxLength) errs.push(`${path}: maxLength`);
    }
    if (typeof v === 'number') {
      if (typeof s.minimum === 'number' && v < s.minimum) errs.push(`${path}: minimum`);
      if (typeof s.maximum === 'number' && v > s.maximum) errs.push(`${path}: maximum`);
    }
    if (Array.isArray(v)) {
      if (typeof s.minItems === 'number' && v.length < s.minItems) errs.push(`${path}: minItems`);
      if (typeof s.maxItems === 'number' && v.length > s.maxItems) errs.push(`${path}: maxItems`);
      if (s.items) v.forEach((x, i) => errs.push(...check(s.items as Schema, x, `${path}[${i}]`)));
    }
    if (t === 'object' && typeof v === 'object' && v) {
      const props = (s.properties ?? {}) as Record<string, Schema>;
      for (const r of (s.required ?? []) as string[]) if (!(r in v)) errs.push(`${path}: missing ${r}`);
      for (const [k, x] of Object.entries(v)) {
        if (props[k]) errs.push(...check(props[k]!, x, `${path}.${k}`));
        else if (s.additionalProperties === false) errs.push(`${path}: unknown ${k}`);
      }
    }
    return errs;
  };
  return check(root, v, '$');
}
