#!/usr/bin/env node
// The zunitgen executable (package.json "bin"; npm links it as `zunitgen`). Loads the command line and runs
// it; an installation whose modules cannot be loaded (files missing, the entry copied elsewhere) ends in one
// line and exit 69 (EX_UNAVAILABLE), not a stack trace.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

let cli: typeof import('./cli.js');
try {
  cli = await import('./cli.js');
} catch (e) {
  const err = e as NodeJS.ErrnoException;
  process.stderr.write(`zunitgen: incomplete installation in ${realpathSync(fileURLToPath(new URL('.', import.meta.url)))}: ${err.code ?? err.name}: ${err.message.split('\n')[0]} (reinstall @zope-systemd/unitgen)\n`);
  process.exit(69);
}
process.exitCode = await cli.runExecutable(process.argv.slice(2));
