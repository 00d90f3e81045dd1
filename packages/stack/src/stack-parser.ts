// zunitgen's parser as zstack reads a stack file with it: the model, or every problem as file:line:col lines. The
// installed program has it in a bundle of its own (dist/zstack-parser.cjs, loaded by ./stack-parser-loader.ts on the
// first parse), so a status served from the model cache (./model-cache.ts) never reads, compiles or runs the YAML
// reader and the validation, half of the program's code. It answers with plain data: its bundle has its own copy of
// the classes it uses.
import { ConfigError, formatIssue, parseStack, type StackModel } from '@zope-systemd/unitgen';

export type ParseOutcome = { model: StackModel } | { problems: string };

/** The model of `text` read from `file`, or its problems (ConfigError), one file:line:col line each. */
export function parseStackFile(text: string, file: string): ParseOutcome {
  try {
    return { model: parseStack(text, { file }) };
  } catch (e) {
    if (e instanceof ConfigError) return { problems: e.issues.map(formatIssue).join('\n') };
    throw e;
  }
}
