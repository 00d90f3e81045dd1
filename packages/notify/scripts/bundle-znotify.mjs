#!/usr/bin/env node
// Builds dist/znotify/cli.js, the `znotify` executable: dist/znotify/main.js (tsc's output) with commander,
// pino and yaml bundled into ONE minified ES module. koffi stays outside (a native addon, loaded from
// node_modules on the first notification).
// Why (docs/benchmarks/znotify-memory.md): the wrapper stays resident as long as its instance. Loading ~150
// module files from node_modules costs resident memory (each module's source and loader records) and start
// time; measured on the same run: -1.1 to -1.7 MiB RSS after a long run of checks, and `znotify check`
// 284 -> 179 ms. dist/znotify/main.js remains the unbundled entry (same behaviour, for debugging).
// Runs as part of `pnpm build` (after tsc -b); the esbuild setup is scripts/bundle-executable.mjs.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleExecutable } from '../../../scripts/bundle-executable.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
export const ENTRY = here('../dist/znotify/main.js');
export const OUT = here('../dist/znotify/cli.js');

export async function bundleZnotify() {
  // main.js sets V8 flags and only then loads the rest with `await import()`: esbuild keeps that order (dynamic
  // imports of bundled modules become lazy initialisers).
  await bundleExecutable({ from: import.meta.url, entry: ENTRY, out: OUT, hashbang: true });
  const wide = firstWideChar(readFileSync(OUT, 'utf8'));
  if (wide) {
    throw new Error(`${OUT}:${wide.line}: U+${wide.code.toString(16).toUpperCase().padStart(4, '0')} (${JSON.stringify(wide.char)}) in the bundle. `
      + 'One character above U+00FF makes V8 keep the whole source (~290 KB) as two bytes per character, +280 KiB resident '
      + 'for the life of the wrapper. Write it as an escape (\\u....) in the source, also inside regular expressions, '
      + 'which esbuild does not escape.');
  }
  return OUT;
}

/** The first character above U+00FF, with its line, or undefined: V8 stores a Latin-1 source one byte per char. */
export function firstWideChar(text) {
  for (let i = 0; i < text.length; i++) {
    const code = text.codePointAt(i);
    if (code > 0xff) return { code, char: String.fromCodePoint(code), line: text.slice(0, i).split('\n').length };
  }
  return undefined;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(`wrote ${await bundleZnotify()}`);
}
