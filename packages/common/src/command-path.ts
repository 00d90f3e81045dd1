// Where a command given as argv (no shell) will be found when it is run: argv[0] as execvp(3) resolves it. A name
// with a slash is that file (relative to the working directory); a bare name is the first executable regular file
// of that name in PATH's directories (an empty entry is the working directory; PATH unset: the default below).
// znotify resolves its instance's command by it before it opens anything, zstack the command after `--` before it
// drains anything, so that a typo is refused up front instead of found after the work it was meant to follow.
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { parsed, refused, type ParseResult } from './parse-result.js';

/** PATH when the environment has none (the search list znotify has always used). */
const DEFAULT_COMMAND_PATH = '/usr/local/bin:/usr/bin:/bin';

function executableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch { return false; }
}

/**
 * The file argv[0] names as it will be run, or why it cannot be run: the message names the command, what is wrong
 * and what was searched; a hint, where there is more to say than the message's own parenthesis.
 */
export function findCommand(cmd: string, env: NodeJS.ProcessEnv = process.env): ParseResult<string> {
  if (cmd === '') return refused('command is empty', 'give the program to run');
  if (cmd.includes('/')) {
    let st;
    try { st = statSync(cmd); } catch { return refused(`command not found: ${cmd} (no such file)`, 'check the path'); }
    if (st.isDirectory()) return refused(`command is a directory: ${cmd} (give the path of a program, not a directory)`);
    if (!executableFile(cmd)) return refused(`command not executable: ${cmd} (check its mode and the x bit)`);
    return parsed(cmd);
  }
  const search = env.PATH ?? DEFAULT_COMMAND_PATH;
  for (const dir of search.split(':')) {
    const p = path.join(dir || '.', cmd);
    if (executableFile(p)) return parsed(p);
  }
  return refused(`command not found: ${cmd} (searched PATH=${search})`, 'give its absolute path, or add its directory to PATH');
}
