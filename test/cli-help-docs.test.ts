// Every option the three CLIs offer in --help (every subcommand's too) is in the tool's doc file, in what the doc
// says about that command, so the docs cannot fall behind the command line again. The built executables'
// --help is read as a user reads it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { REPO_ROOT } from './harness/proc.js';

const TOOLS = [
  { tool: 'znotify', cli: 'packages/notify/dist/znotify/cli.js', doc: 'docs/znotify.md' },
  { tool: 'zunitgen', cli: 'packages/unitgen/dist/cli.js', doc: 'docs/unitgen.md' },
  { tool: 'zstack', cli: 'packages/stack/dist/cli.js', doc: 'docs/zstack.md' },
] as const;

function help(cli: string, args: string[]): string {
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, cli), ...args, '--help'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** The lines of one section of commander's help ("Options:", "Commands:"), continuation lines left out. */
function section(text: string, title: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(`${title}:`);
  if (start < 0) return [];
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (!l.startsWith('  ')) break;
    if (/^ {2}\S/.test(l)) out.push(l.trim());
  }
  return out;
}

/** The long options of a help text (--help itself aside). */
const longOptions = (text: string): string[] => section(text, 'Options').map((l) => /--[a-z][a-z-]*/.exec(l.split(/\s{2,}/)[0]!)?.[0]).filter((o): o is string => o !== undefined && o !== '--help');

/**
 * What the doc says about one command: its list entries (`- \`tool cmd ...` and their indented continuation),
 * synopsis lines (`tool cmd ...`), its own section (`## cmd`), table rows naming it (`| \`cmd --x\``), and a
 * "Command line" section (the flags table all of a tool's commands share).
 */
function entriesOf(doc: string, tool: string, command: string): string {
  const lines = doc.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const heading = /^(#{2,3}) (.*)$/.exec(l);
    if (heading && (heading[2] === command || heading[2] === `\`${command}\`` || heading[2] === 'Command line')) {
      for (let j = i + 1; j < lines.length && !/^#{1,3} /.test(lines[j]!); j++) out.push(lines[j]!);
    } else if (l.startsWith(`- \`${tool} ${command} `) || l.startsWith(`- \`${tool} ${command}\``)) {
      out.push(l);
      for (let j = i + 1; j < lines.length && /^ {2,}\S/.test(lines[j]!); j++) out.push(lines[j]!);
    } else if (l.startsWith(`${tool} ${command} `) || l.includes(`| \`${command} --`)) {
      out.push(l);
    }
  }
  return out.join('\n');
}

for (const { tool, cli, doc } of TOOLS) {
  test(`${tool}: every option of --help and of each command's --help is in ${doc}, with its command`, () => {
    const text = readFileSync(path.join(REPO_ROOT, doc), 'utf8');
    const top = help(cli, []);
    const missing: string[] = [];
    for (const o of longOptions(top)) if (!text.includes(o)) missing.push(`${tool} ${o}`);
    const commands = section(top, 'Commands').map((l) => l.split(/\s/)[0]!).filter((c) => c !== 'help');
    assert.ok(commands.length >= 2, top);
    for (const command of commands) {
      const entries = entriesOf(text, tool, command);
      if (entries === '') { missing.push(`${tool} ${command} (no entry at all)`); continue; }
      for (const o of longOptions(help(cli, [command]))) {
        if (!new RegExp(`${o}(?![a-z-])`).test(entries)) missing.push(`${tool} ${command} ${o}`);
      }
    }
    assert.deepEqual(missing, [], `options --help offers that ${doc} does not describe with their command`);
  });
}

test('zunitgen: the limits of clients.count that the parser enforces are the ones docs/unitgen.md states', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'help-docs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const stack = path.join(dir, 'plone.yaml');
  writeFileSync(stack, readFileSync(path.join(REPO_ROOT, 'examples/stack/plone.yaml'), 'utf8').replace(/^ {2}count: \d+$/m, '  count: 100000'));
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'packages/unitgen/dist/cli.js'), 'check', stack], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 78, r.stderr);
  const [, min, max] = /clients\.count: expected an integer (\d+)\.\.(\d+)/.exec(r.stderr) ?? [];
  assert.ok(max, r.stderr);
  assert.match(readFileSync(path.join(REPO_ROOT, 'docs/unitgen.md'), 'utf8'), new RegExp(`^ {2}count: \\d+ +# ${min} to ${max} `, 'm'));
});
