// Folder boundaries (STYLE.md rule 5): every folder is entered only through its mod.ts. A file may import any
// file of its own folder (the `_private.ts` ones included) but, from another folder, only that folder's mod.ts.
// Scanned: runtime/, agents/, plugins/, sandbox/, ui/src/. Not scanned: test/ and bench/ are consumers that
// may reach into a folder to test or measure its parts; ui/build.ts is build tooling, not part of the UI.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import ts from 'typescript';

const root = new URL('../..', import.meta.url).pathname;
const SOURCE_ROOTS = ['runtime', 'agents', 'plugins', 'sandbox', 'ui/src'];

// Exceptions (`importing file -> imported file`): none. An entry that matches no import fails the suite, so
// the list can only shrink; keep it empty.
const ALLOWED: readonly string[] = [];

/** The folder a file belongs to: runtime/<name>, plugins/<name>, agents, sandbox, ui/src; a subfolder without
 * its own mod.ts (ui/src/components, runtime/llm/transcripts) is part of the folder above it. */
function folderOf(path: string): string | undefined {
  const [top, second] = path.split('/');
  if (top === 'runtime' || top === 'plugins') return path.split('/').length > 2 ? `${top}/${second}` : top;
  if (top === 'agents' || top === 'sandbox') return top;
  if (top === 'ui' && second === 'src') return 'ui/src';
  return undefined;
}

interface ImportSite {
  line: number;
  specifier: string;
}

/** Every module specifier a file names: `import … from`, `export … from`, `import('…')` and `import('…').T`. */
function importSites(fileName: string, source: string): ImportSite[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const sites: ImportSite[] = [];
  const add = (node: ts.Node | undefined): void => {
    if (node && ts.isStringLiteralLike(node)) {
      sites.push({ line: file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1, specifier: node.text });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0]);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
    ts.forEachChild(node, visit);
  };
  visit(file);
  return sites;
}

interface Offender {
  file: string;
  line: number;
  target: string;
  message: string;
}

/** The imports of `files` (repository-relative path → source) that enter another folder past its mod.ts. */
function offenders(files: ReadonlyMap<string, string>): Offender[] {
  const found: Offender[] = [];
  for (const [file, source] of files) {
    const own = folderOf(file);
    for (const { line, specifier } of importSites(file, source)) {
      if (!specifier.startsWith('./') && !specifier.startsWith('../')) continue;
      const target = posix.normalize(posix.join(posix.dirname(file), specifier));
      const folder = folderOf(target);
      if (folder === own || target === `${folder}/mod.ts`) continue;
      const fix = folder
        ? `import it through ${folder}/mod.ts (add the export there)`
        : `it lies outside ${SOURCE_ROOTS.join('/, ')}/, which may not depend on it`;
      found.push({ file, line, target, message: `${file}:${line} imports ${target}: ${fix}` });
    }
  }
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(posix.join(root, dir)).flatMap((name) => {
    const path = `${dir}/${name}`;
    if (name === 'node_modules' || name === 'dist') return [];
    if (statSync(posix.join(root, path)).isDirectory()) return sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(name) ? [path] : [];
  });
}

const pair = (o: Offender): string => `${o.file} -> ${o.target}`;

test('scanner: a folder may use its own private files and another folder only through its mod.ts', () => {
  const card = "import { theme } from '../theme.ts';\nimport type { T } from '../../../runtime/protocol/mod.ts';";
  const files = new Map([
    ['runtime/proxy/mod.ts', "import { a } from './_http.ts';\nimport type { B } from '../llm/mod.ts';"],
    ['runtime/cli/start.ts', "export { c } from './_log.ts';\nconst d = await import('../server/mod.ts');"],
    ['ui/src/components/card.ts', card],
    ['runtime/llm/mod.ts', "export const DIR = new URL('./transcripts/', import.meta.url);\nimport x from 'node:fs';"],
  ]);
  assert.equal(offenders(files), []);
});

test('scanner: private and non-mod files of another folder are refused, in every import form', () => {
  const files = new Map([
    ['runtime/proxy/mod.ts', [
      "import { cacheKey } from '../llm/_canonical.ts';",
      '// a comment naming ../llm/types.ts is not an import',
      "import type {",
      "  Usage,",
      "} from '../llm/providers.ts';",
      "export { servable } from '../llm/gateway.ts';",
      "const config = await import('../server/config.ts');",
      "type Config = import('../server/config.ts').ServerConfig;",
      "const text = \"import { x } from '../store/_store.ts'\";",
    ].join('\n')],
    ['plugins/x/mod.ts', "import { load } from '../../runtime/plugin/load.ts';\nimport '../y/mod.ts';"],
    ['sandbox/_run.ts', "import { tmp } from '../bench/lib.ts';"],
  ]);
  const found = offenders(files);
  assert.equal(found.map((o) => `${o.file}:${o.line} ${o.target}`), [
    'runtime/proxy/mod.ts:1 runtime/llm/_canonical.ts',
    'runtime/proxy/mod.ts:5 runtime/llm/providers.ts',
    'runtime/proxy/mod.ts:6 runtime/llm/gateway.ts',
    'runtime/proxy/mod.ts:7 runtime/server/config.ts',
    'runtime/proxy/mod.ts:8 runtime/server/config.ts',
    'plugins/x/mod.ts:1 runtime/plugin/load.ts',
    'sandbox/_run.ts:1 bench/lib.ts',
  ]);
  const fix = 'import it through runtime/llm/mod.ts (add the export there)';
  assert.is(found[0].message, `runtime/proxy/mod.ts:1 imports runtime/llm/_canonical.ts: ${fix}`);
  assert.match(found[6].message, 'outside runtime/, agents/, plugins/, sandbox/, ui/src/');
});

test('every folder is entered only through its mod.ts', () => {
  const files = new Map(SOURCE_ROOTS.flatMap(sourceFiles).map((f) => [f, readFileSync(posix.join(root, f), 'utf8')]));
  assert.ok(files.size > 100, `expected the whole source tree, scanned ${files.size} files`);
  const found = offenders(files);
  const left = found.filter((o) => !ALLOWED.includes(pair(o)));
  const list = left.map((o) => o.message).join('\n');
  assert.ok(left.length === 0, `${left.length} imports cross a folder boundary:\n${list}`);
  const stale = ALLOWED.filter((entry) => !found.some((o) => pair(o) === entry));
  assert.ok(stale.length === 0, `allowlist entries that match no import any more (delete them):\n${stale.join('\n')}`);
});

test('the store owns the database: no file outside runtime/store opens SQLite', () => {
  // The Store interface is what a networked store (cluster mode) implements; a module with its own SQL
  // would be tied to the embedded SQLite file. Only the import is checked: without it there is no SQL to run.
  const files = SOURCE_ROOTS.flatMap(sourceFiles).filter((f) => !f.startsWith('runtime/store/'));
  const sqlite = files.filter((f) => importSites(f, readFileSync(posix.join(root, f), 'utf8')).some((site) => /^(node:)?sqlite$/.test(site.specifier)));
  assert.equal(sqlite, [], `these files open SQLite themselves; give the store a method instead:\n${sqlite.join('\n')}`);
  assert.ok(files.some((f) => f === 'runtime/cli/health.ts'), 'the scan saw the whole tree');
});

test.run();
