// The program as its bundle (dist/zstack.cjs) gives it to the launcher (src/launcher.ts) and to the build, which
// runs warmUp() once before it stores V8's code for the bundle (src/code-cache.ts).
import { buildProgram } from './commands.js';
import { loadStack } from './stack.js';
import type { ModelCache } from './model-cache.js';

export { main } from './commands.js';
export { setImporter } from './import-module.js';

/**
 * What every `zstack status` runs before it asks anyone, run on the example stack files so that V8 compiles it
 * and the code cache holds it: the command line, and the stack file read through the model cache `cache` (a
 * temporary one: parsed and stored, then found). Reads the stack files and writes into `cache.dir`, nothing else.
 */
export function warmUp(stackFiles: readonly string[], cache: ModelCache): void {
  buildProgram().program.helpInformation();
  for (const f of stackFiles) { loadStack(f, { cache }); loadStack(f, { cache }); }
}
