// Function-length check, run by `pnpm test` (package.json "lint"): no function in packages/*/src longer than
// LIMIT lines, so that each part stays something a maintainer can read in one sitting. The functions listed in
// KNOWN are over it today and may not grow; each is to be split, and then leaves the list (a known function
// that is back under the limit is reported too, so the list only shrinks).
//
//   node --import tsx scripts/check-function-length.ts      exit 0, or 1 with one line per function
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LIMIT = 80;
/** `file:function` -> the most lines it may have until it is split. */
const KNOWN = new Map<string, number>([
]);

function sources(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  for (const pkg of fs.readdirSync(path.join(ROOT, 'packages'))) {
    const src = path.join(ROOT, 'packages', pkg, 'src');
    if (fs.existsSync(src)) walk(src);
  }
  return out;
}

function nameOf(n: ts.FunctionLikeDeclaration): string {
  if (n.name) return n.name.getText();
  const p = n.parent;
  if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) return p.name.getText();
  return '(anonymous)';
}

const problems: string[] = [];
for (const file of sources()) {
  const rel = path.relative(ROOT, file);
  const src = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const visit = (n: ts.Node): void => {
    if (ts.isFunctionLike(n) && (n as ts.FunctionLikeDeclaration).body) {
      const f = n as ts.FunctionLikeDeclaration;
      const lines = src.getLineAndCharacterOfPosition(f.getEnd()).line - src.getLineAndCharacterOfPosition(f.getStart()).line + 1;
      const key = `${rel}:${nameOf(f)}`;
      const allowed = KNOWN.get(key) ?? LIMIT;
      const line = src.getLineAndCharacterOfPosition(f.getStart()).line + 1;
      if (lines > allowed) problems.push(`${rel}:${line}: ${nameOf(f)} has ${lines} lines, more than ${allowed}: split it into parts named for what they do`);
      else if (KNOWN.has(key) && lines <= LIMIT) problems.push(`${rel}:${line}: ${nameOf(f)} is down to ${lines} lines: remove it from KNOWN in scripts/check-function-length.ts`);
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
}
for (const p of problems) process.stderr.write(`${p}\n`);
process.exitCode = problems.length ? 1 : 0;
