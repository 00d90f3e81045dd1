#!/usr/bin/env node
// Writes the two JSON Schemas editors read (yaml-language-server), both from the one description of the wrapper
// configuration (@zope-systemd/common): packages/notify/schema/znotify.schema.json for znotify's config file, and
// packages/unitgen/schema/stack.schema.json for the stack config (its own sections from stack-schema.ts). Built,
// not committed: each package ships its schema (package.json "files"). Runs as part of `pnpm build` (after tsc -b).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { znotifyConfigSchema } from '../packages/common/dist/index.js';
import { stackConfigSchema } from '../packages/unitgen/dist/stack-schema.js';

/** Writes `schema` to packages/<pkg>/schema/<name> whole, then renames it: an editor never reads half a schema. */
function writeSchema(pkg, name, schema) {
  const dir = fileURLToPath(new URL(`../packages/${pkg}/schema/`, import.meta.url));
  const out = `${dir}${name}`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${out}.tmp`, `${JSON.stringify(schema, null, 2)}\n`);
  renameSync(`${out}.tmp`, out);
}

writeSchema('notify', 'znotify.schema.json', znotifyConfigSchema());
writeSchema('unitgen', 'stack.schema.json', stackConfigSchema());
