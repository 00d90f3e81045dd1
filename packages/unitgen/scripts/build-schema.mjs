#!/usr/bin/env node
// Writes schema/stack.schema.json, the JSON Schema of the stack config, from stack-schema.ts: the stack's own
// sections and, from the one description of the wrapper configuration (@zope-systemd/common), the wrapper's keys
// the stack config offers. Built, not committed: the package ships it (package.json "files"). Runs as part of
// `pnpm build` (after tsc -b).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stackConfigSchema } from '../dist/stack-schema.js';

const dir = fileURLToPath(new URL('../schema/', import.meta.url));
const out = `${dir}stack.schema.json`;
mkdirSync(dir, { recursive: true });
// Written whole, then renamed: an editor never reads half a schema.
writeFileSync(`${out}.tmp`, `${JSON.stringify(stackConfigSchema(), null, 2)}\n`);
renameSync(`${out}.tmp`, out);
