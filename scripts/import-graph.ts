/**
 * Which module of src/ imports which: the folder-level edges (with how many
 * import statements make each), optionally per file, and the packages each
 * folder imports. Reads `import … from`, `export … from`, `import x = require()`
 * and `import('…')` with the TypeScript parser; src/generated is left out (as a
 * target it is shown as `generated/`).
 *
 *   node --import tsx scripts/import-graph.ts [root=src] [--files] [--packages]
 *
 * A node is a folder under the root (`certificates/`), or a file at the root
 * (`composition`). `N (T type-only)` counts statements; type-only ones vanish
 * at run time. Used for the "Module dependencies" section of docs/architecture.md.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'generated' ? [] : sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every module specifier of a file, with whether the statement is type-only. */
function specifiers(path: string): Array<{ specifier: string; typeOnly: boolean }> {
  const file = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: Array<{ specifier: string; typeOnly: boolean }> = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      out.push({ specifier: node.moduleSpecifier.text, typeOnly });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push({ specifier: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const expression = node.moduleReference.expression;
      if (ts.isStringLiteral(expression)) out.push({ specifier: expression.text, typeOnly: node.isTypeOnly });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteral(arg)) out.push({ specifier: arg.text, typeOnly: false });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      out.push({ specifier: node.argument.literal.text, typeOnly: true });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return out;
}

/** `certificates/` for src/certificates/x.ts, `composition` for src/composition.ts. */
function nodeOf(root: string, path: string): string {
  const parts = relative(root, path).split(sep);
  return parts.length > 1 ? `${parts[0]}/` : (parts[0] ?? '').replace(/\.ts$/, '');
}

/** The package name of a bare specifier (`@aws-sdk/client-route-53`, `node:fs` → `node:*`). */
function packageOf(specifier: string): string {
  if (specifier.startsWith('node:')) return 'node:*';
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

function main(): void {
  const args = process.argv.slice(2);
  const root = resolve(args.find((a) => !a.startsWith('--')) ?? 'src');
  const perFile = args.includes('--files');
  const withPackages = args.includes('--packages');
  const edges: Edge[] = [];
  const fileEdges = new Set<string>();
  const packages = new Map<string, Set<string>>();
  const files = sourceFiles(root).sort();
  for (const path of files) {
    const from = nodeOf(root, path);
    for (const { specifier, typeOnly } of specifiers(path)) {
      if (!specifier.startsWith('.')) {
        const set = packages.get(from) ?? new Set<string>();
        set.add(packageOf(specifier));
        packages.set(from, set);
        continue;
      }
      const target = resolve(dirname(path), specifier.replace(/\.js$/, '.ts'));
      const to = nodeOf(root, target);
      if (perFile) fileEdges.add(`${relative(root, path)} -> ${relative(root, target)}${typeOnly ? ' (type)' : ''}`);
      if (to !== from) edges.push({ from, to, typeOnly });
    }
  }
  const grouped = new Map<string, { count: number; typeOnly: number }>();
  for (const edge of edges) {
    const key = `${edge.from} -> ${edge.to}`;
    const entry = grouped.get(key) ?? { count: 0, typeOnly: 0 };
    entry.count += 1;
    if (edge.typeOnly) entry.typeOnly += 1;
    grouped.set(key, entry);
  }
  const lines = [...grouped.entries()].sort(([a], [b]) => a.localeCompare(b));
  const width = Math.max(...lines.map(([key]) => key.length));
  console.log(`# ${files.length} files, ${lines.length} folder-level edges, ${edges.length} cross-folder imports`);
  for (const [key, { count, typeOnly }] of lines) {
    console.log(`${key.padEnd(width)}  ${count}${typeOnly > 0 ? ` (${typeOnly} type-only)` : ''}`);
  }
  if (withPackages) {
    console.log('\n# packages by importer');
    for (const [from, set] of [...packages.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      console.log(`${from}: ${[...set].sort().join(', ')}`);
    }
  }
  if (perFile) {
    console.log('\n# file-level imports');
    for (const line of [...fileEdges].sort()) console.log(line);
  }
}

main();
