#!/usr/bin/env node
// Writes schema/znotify.schema.json, the JSON Schema of znotify's configuration file, from the one description
// of the wrapper configuration (@zope-systemd/common, wrapper-schema.ts). Built, not committed: the package
// ships it (package.json "files"). Runs as part of `pnpm build` (after tsc -b).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { znotifyConfigSchema } from '@zope-systemd/common';

const dir = fileURLToPath(new URL('../schema/', import.meta.url));
const out = `${dir}znotify.schema.json`;
mkdirSync(dir, { recursive: true });
// Written whole, then renamed: an editor never reads half a schema.
writeFileSync(`${out}.tmp`, `${JSON.stringify(znotifyConfigSchema(), null, 2)}\n`);
renameSync(`${out}.tmp`, out);
