#!/usr/bin/env node
// Regenerates src/builtin-templates.ts from templates/*.hbs (plain functions, src/lean.ts). Run after editing a
// template, then `pnpm build`:   node packages/unitgen/scripts/precompile.mjs
// (test/builtin.test.ts fails when the two are out of step.)
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { builtinTemplatesSource } from '../dist/precompile-source.js';

const target = fileURLToPath(new URL('../src/builtin-templates.ts', import.meta.url));
writeFileSync(target, builtinTemplatesSource());
console.log(`wrote ${target}`);
