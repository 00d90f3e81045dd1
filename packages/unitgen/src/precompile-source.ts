// Builds the text of src/builtin-templates.ts (used by scripts/precompile.mjs and by the test that checks
// the committed file is current).
import { leanModuleSource } from './lean.js';
import { loadTemplates } from './templates.js';

export function builtinTemplatesSource(templatesDir?: string): string {
  return leanModuleSource(loadTemplates(templatesDir));
}
