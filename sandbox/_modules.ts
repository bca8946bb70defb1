/**
 * The generated files as ES modules inside one isolate: every module is compiled up front (so a
 * syntax error anywhere is reported before anything runs), imports resolve only among the files
 * (plus the virtual 'sandbox:test'), and each module is loaded through a tiny loader module so a
 * top-level await that never settles is noticed. Compiling and linking are synchronous; evaluation
 * is too, or on the isolate's thread for a metered run (so the worker can watch its CPU time);
 * isolated-vm's `timeout` bounds it either way, microtasks included.
 *
 * `sources` are the statically checked files: TypeScript already stripped, JSON still JSON.
 */
import { posix } from 'node:path';
import type IVM from 'isolated-vm';
import { testModuleSource } from './_harness_source.ts';
import { jsonModuleSource } from './_json.ts';

export interface Location {
  file: string;
  line: number;
  column: number;
}

export interface Problem {
  message: string;
  location?: Location;
}

export interface ModuleGraph {
  /** Instantiates and evaluates `file` and what it imports; false when its top-level await never settled. */
  load(file: string, timeoutMs: number, onIsolateThread: boolean): Promise<boolean>;
  /** Whether `file`'s loader has finished (after `load` returned false: a top-level await settled since). */
  loaded(file: string): boolean;
  /** Why linking failed, when the resolver refused an import (set before the error reaches the caller). */
  linkProblem(): Problem | undefined;
  /** Where V8's "does not provide an export named" link error points, when a file's text shows it. */
  locateMissingExport(message: string): Problem | undefined;
}

export type Compiled = { ok: true; graph: ModuleGraph } | { ok: false; problem: Problem };

const TEST_MODULES = ['sandbox:test', 'vitest'];
const LOADER = 'sandbox:loader';

/** What a specifier may name: itself, TypeScript's './x.js' meaning './x.ts', or an extensionless path. */
function candidatesFor(base: string): string[] {
  if (/\.(json|[mc]?ts)$/.test(base)) return [base];
  if (/\.m?js$/.test(base)) return [base, base.replace(/js$/, 'ts')];
  return [base, ...['.js', '.mjs', '.ts', '.mts', '/index.js', '/index.mjs', '/index.ts'].map((suffix) => base + suffix)];
}

/** The 1-based position of `needle` in a file, preferring its quoted form (an import specifier). */
export function locate(files: Record<string, string>, file: string, needle: string): Location | undefined {
  const text = files[file] ?? '';
  let at = -1;
  for (const form of [`'${needle}'`, `"${needle}"`, needle]) {
    at = text.indexOf(form);
    if (at >= 0) break;
  }
  if (at < 0) return undefined;
  const lines = text.slice(0, at).split('\n');
  return { file, line: lines.length, column: lines[lines.length - 1].length + 1 };
}

function syntaxProblem(error: unknown): Problem | undefined {
  if (!(error instanceof Error) || error.name !== 'SyntaxError') return undefined;
  const match = /^([\s\S]*) \[(.+):(\d+):(\d+)\]$/.exec(error.message);
  if (match === null) return { message: `SyntaxError: ${error.message}` };
  const location = { file: match[2], line: Number(match[3]), column: Number(match[4]) };
  return { message: `SyntaxError: ${match[1]} (at ${location.file}:${location.line}:${location.column})`, location };
}

/**
 * Compiles every module of `sources` (the files the static check passed), `first` first.
 * `files` are the originals, for locating import specifiers in messages.
 */
export function compileModules(isolate: IVM.Isolate, context: IVM.Context, files: Record<string, string>, sources: Record<string, string>, first: string[]): Compiled {
  const paths = [...new Set([...first.filter((path) => sources[path] !== undefined), ...Object.keys(sources).sort()])];
  const modules = new Map<string, IVM.Module>();
  const owner = new Map<IVM.Module, string>();
  for (const path of paths) {
    try {
      const code = path.endsWith('.json') ? jsonModuleSource(sources[path]) : sources[path];
      const module = isolate.compileModuleSync(code, { filename: path });
      modules.set(path, module);
      owner.set(module, path);
    } catch (error) {
      const problem = syntaxProblem(error);
      if (problem === undefined) throw error;
      return { ok: false, problem };
    }
  }
  let testModule: IVM.Module | undefined;
  // Without an `await` anywhere there is no top-level await: every load finishes synchronously and
  // needs no look at its loader (`await` cannot be spelled with escapes where it is a keyword).
  const mayAwait = Object.values(sources).some((code) => code.includes('await'));
  const loaders = new Map<IVM.Module, string>();
  const byFile = new Map<string, IVM.Module>();
  const imports: Array<{ from: string; specifier: string }> = [];
  let refused: Problem | undefined;

  function refuse(message: string, location: Location | undefined): never {
    refused ??= location === undefined ? { message } : { message, location };
    throw new Error(message);
  }

  function resolve(specifier: string, referrer: IVM.Module): IVM.Module {
    const target = loaders.get(referrer);
    if (target !== undefined) return modules.get(target) as IVM.Module;
    const from = owner.get(referrer) ?? '(unknown module)';
    imports.push({ from, specifier });
    if (TEST_MODULES.includes(specifier)) {
      testModule ??= isolate.compileModuleSync(testModuleSource(), { filename: 'sandbox:test' });
      return testModule;
    }
    const where = () => locate(files, from, specifier);
    if (!/^\.{0,2}\//.test(specifier)) {
      refuse(`${from} imports '${specifier}', which is not available: imports are limited to the generated files (relative paths such as './util.js') and 'sandbox:test'`, where());
    }
    const base = posix.normalize(specifier.startsWith('/') ? specifier.slice(1) : posix.join(posix.dirname(from), specifier));
    if (base === '..' || base.startsWith('../')) refuse(`${from} imports '${specifier}', which points outside the generated files`, where());
    const candidates = candidatesFor(base);
    const found = candidates.find((candidate) => files[candidate] !== undefined);
    if (found === undefined) {
      refuse(`${from} imports '${specifier}', but no generated file matches it (looked for ${candidates.join(', ')}): imports are limited to the generated files`, where());
    }
    const module = modules.get(found);
    if (module === undefined) refuse(`${from} imports '${specifier}' (${found}), which is not a module: only .js, .mjs, .ts, .mts and .json files can be imported`, where());
    return module;
  }

  const graph: ModuleGraph = {
    async load(file, timeoutMs, onIsolateThread) {
      const loader = isolate.compileModuleSync(`import ${JSON.stringify(file)};\nexport const loaded = true;\n`, { filename: LOADER });
      loaders.set(loader, file);
      byFile.set(file, loader);
      loader.instantiateSync(context, resolve);
      if (onIsolateThread) await loader.evaluate({ timeout: timeoutMs });
      else loader.evaluateSync({ timeout: timeoutMs });
      return !mayAwait || graph.loaded(file);
    },
    loaded(file) {
      try {
        return byFile.get(file)?.namespace.getSync('loaded') === true;
      } catch {
        // The binding is still in its temporal dead zone: the loader's body has not run yet.
        return false;
      }
    },
    linkProblem: () => refused,
    locateMissingExport(message) {
      const match = /The requested module '(.+?)' does not provide an export named '(.+?)'/.exec(message);
      if (match === null) return undefined;
      const [, specifier, name] = match;
      const importer = imports.find((entry) => entry.specifier === specifier && (files[entry.from] ?? '').includes(name));
      const hint = TEST_MODULES.includes(specifier) ? ` ('${specifier}' provides describe, suite, it, test, expect, beforeAll, afterAll, beforeEach, afterEach and a default export)` : '';
      const text = `SyntaxError: ${importer === undefined ? '' : `${importer.from} imports '${name}' from '${specifier}', but `}the module '${specifier}' does not export '${name}'${hint}`;
      const location = importer === undefined ? undefined : locate(files, importer.from, name);
      return location === undefined ? { message: text } : { message: text, location };
    },
  };
  return { ok: true, graph };
}
