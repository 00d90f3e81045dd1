// In the bundled program (scripts/bundle-zstack.mjs), ./stack-parser.js is this module: it loads zunitgen's parser
// from its own bundle, dist/zstack-parser.cjs, with V8's code cache, the first time a stack file is parsed, and
// never when status finds the model in its cache (./model-cache.ts). Unbundled, ./stack-parser.js is itself.
import { fileURLToPath } from 'node:url';
import { loadProgram } from './code-cache.js';
import type { ParseOutcome } from './stack-parser.js';

let parse: ((text: string, file: string) => ParseOutcome) | undefined;

export function parseStackFile(text: string, file: string): ParseOutcome {
  if (!parse) {
    const program = fileURLToPath(new URL('./zstack-parser.cjs', import.meta.url));
    parse = loadProgram(program, { cacheFile: `${program}.cache` }).exports.parseStackFile as typeof parse;
  }
  return parse!(text, file);
}
