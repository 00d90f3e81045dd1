// Dead-export check, run by `pnpm test` (package.json "lint"): every exported value of packages/*/src must be imported
// somewhere else: by another source file, a test, a benchmark or a script, or be part of a package's public
// API (re-exported by its src/index.ts). An export nobody imports is either dead code or a name that should
// not be exported; both make the code harder to read. tsc's noUnusedLocals covers what is not exported.
//
// It uses the TypeScript compiler the workspace already has: one program over tsconfig.test.json (tests,
// benchmarks, scripts) plus every source file, and the type checker to resolve each identifier to the
// declaration it names, through imports and re-exports.
//
//   node --import tsx scripts/check-exports.ts        exit 0, or 1 with one line per unused export
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Source files whose exports are the point of them: package entries and executables. */
const ENTRY = /\/packages\/[^/]+\/src\/(znotify\/)?(index|main|cli|generator-main)\.ts$/;
/** Exports reached by name where the checker cannot follow: `file:name`. */
const KEPT = new Set<string>([
  // Takes the place of ./stack-parser.js in zstack's bundle (packages/stack/scripts/bundle-zstack.mjs).
  'packages/stack/src/stack-parser-loader.ts:parseStackFile',
]);

function program(): ts.Program {
  const configPath = path.join(ROOT, 'tsconfig.test.json');
  const cfg = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(cfg.config, ts.sys, ROOT);
  const sources = ts.sys.readDirectory(path.join(ROOT, 'packages'), ['.ts'], ['**/node_modules/**', '**/dist/**'], ['*/src/**/*.ts']);
  return ts.createProgram([...parsed.fileNames, ...sources], parsed.options);
}

function isSource(f: ts.SourceFile): boolean {
  return /\/packages\/[^/]+\/src\//.test(f.fileName) && !f.isDeclarationFile;
}

/** The declaration a symbol stands for, through import/export aliases. */
function target(checker: ts.TypeChecker, s: ts.Symbol): ts.Symbol {
  return s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
}

/**
 * Symbols another file names: imported, re-exported, reached through a namespace import (`ns.x`,
 * `import('m').T`), or taken from a dynamic import (`const { x } = await import('./m.js')`). Only those
 * nodes are resolved, not every identifier: the check stays fast.
 */
function usedElsewhere(p: ts.Program, checker: ts.TypeChecker): Set<ts.Symbol> {
  const used = new Set<ts.Symbol>();
  const mark = (s: ts.Symbol | undefined) => { if (s) used.add(target(checker, s)); };
  const markModule = (spec: ts.Expression) => {
    const m = checker.getSymbolAtLocation(spec);
    if (m) for (const e of checker.getExportsOfModule(m)) mark(e);
  };
  const isNamespace = (n: ts.Node) => {
    const s = ts.isIdentifier(n) ? checker.getSymbolAtLocation(n) : undefined;
    return s?.declarations?.some((d) => ts.isNamespaceImport(d)) ?? false;
  };
  const isDynamicImport = (e: ts.Expression | undefined): boolean =>
    e !== undefined && ts.isAwaitExpression(e) && ts.isCallExpression(e.expression) && e.expression.expression.kind === ts.SyntaxKind.ImportKeyword;
  for (const f of p.getSourceFiles()) {
    if (f.fileName.includes('/node_modules/')) continue;
    const visit = (node: ts.Node): void => {
      if (ts.isImportSpecifier(node) || ts.isExportSpecifier(node)) mark(checker.getSymbolAtLocation(node.propertyName ?? node.name));
      else if (ts.isImportClause(node) && node.name) mark(checker.getSymbolAtLocation(node.name));
      else if (ts.isExportDeclaration(node) && !node.exportClause && node.moduleSpecifier) markModule(node.moduleSpecifier);
      else if ((ts.isPropertyAccessExpression(node) && isNamespace(node.expression)) || (ts.isQualifiedName(node) && isNamespace(node.left))) {
        mark(checker.getSymbolAtLocation(ts.isPropertyAccessExpression(node) ? node.name : node.right));
      } else if (ts.isImportTypeNode(node) && node.qualifier) mark(checker.getSymbolAtLocation(node.qualifier));
      else if (ts.isObjectBindingPattern(node) && ts.isVariableDeclaration(node.parent) && isDynamicImport(node.parent.initializer)) {
        const type = checker.getTypeAtLocation(node);
        for (const el of node.elements) {
          const name = el.propertyName ?? el.name;
          if (ts.isIdentifier(name)) mark(type.getProperty(name.text));
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(f);
  }
  return used;
}

function unusedExports(): string[] {
  const p = program();
  const checker = p.getTypeChecker();
  const used = usedElsewhere(p, checker);
  const out: string[] = [];
  for (const f of p.getSourceFiles()) {
    if (!isSource(f) || ENTRY.test(f.fileName)) continue;
    const mod = checker.getSymbolAtLocation(f);
    if (!mod) continue;
    for (const e of checker.getExportsOfModule(mod)) {
      const t = target(checker, e);
      // Values only: an exported type nobody imports costs nothing at run time and often documents a signature.
      if (!(t.flags & ts.SymbolFlags.Value)) continue;
      if (used.has(t) || KEPT.has(`${path.relative(ROOT, f.fileName)}:${e.name}`) || !t.declarations?.some((d) => d.getSourceFile() === f)) continue;
      const decl = t.declarations.find((d) => d.getSourceFile() === f)!;
      const { line } = f.getLineAndCharacterOfPosition(decl.getStart());
      out.push(`${path.relative(ROOT, f.fileName)}:${line + 1}: ${e.name} is exported but imported nowhere: remove the export, or the code`);
    }
  }
  return out;
}

const problems = unusedExports();
for (const line of problems) process.stderr.write(`${line}\n`);
process.exitCode = problems.length ? 1 : 0;
