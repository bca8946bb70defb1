/**
 * Static checks before anything runs, in the sandbox worker: TypeScript is stripped of its types
 * (amaro, Node's own type stripper: types become whitespace, so lines and columns stay put), every
 * script is parsed with acorn, JSON with our position-reporting checker, HTML/SVG for
 * well-formedness. The first problem becomes a 'syntax' (or 'unsupported') report with file, line
 * and column. These are diagnostics for the implementer; security comes from isolation.
 */
import amaro from 'amaro';
import { getLineInfo, parse } from 'acorn';
import { jsonProblem } from './_json.ts';
import { isMarkup, markupProblem } from './_markup.ts';
import type { Location } from './_modules.ts';

export type StaticCheck =
  | { ok: true; sources: Record<string, string> }
  | { ok: false; reason: 'syntax' | 'unsupported'; message: string; location?: Location };

interface AmaroError {
  code?: string;
  message?: string;
  startLine?: number;
  startColumn?: number;
}

export function isTypeScript(path: string): boolean {
  return /\.[mc]?ts$/.test(path) && !path.endsWith('.d.ts');
}

/** Files the isolate can import: scripts, TypeScript (stripped) and JSON. */
export function isModule(path: string): boolean {
  return /\.(m?js|[mc]?ts|json)$/.test(path) && !path.endsWith('.d.ts');
}

function at(location: Location): string {
  return `(at ${location.file}:${location.line}:${location.column})`;
}

function stripTypes(path: string, text: string): { code: string } | { error: StaticCheck & { ok: false } } {
  try {
    return { code: amaro.transformSync(text, { mode: 'strip-only', filename: path }).code };
  } catch (thrown) {
    const error = thrown as AmaroError;
    const location = { file: path, line: error.startLine ?? 1, column: (error.startColumn ?? 0) + 1 };
    if (error.code === 'UnsupportedSyntax') {
      // enum, namespace, parameter properties: they need code generation, which would move lines.
      const fix = 'use erasable TypeScript: a const object instead of an enum, plain modules instead of namespaces, explicit fields instead of parameter properties';
      return { error: { ok: false, reason: 'syntax', message: `${path}: ${error.message ?? 'unsupported TypeScript'} ${at(location)}; ${fix}`, location } };
    }
    return { error: { ok: false, reason: 'syntax', message: `SyntaxError: ${error.message ?? 'invalid TypeScript'} ${at(location)}`, location } };
  }
}

function parseProblem(path: string, code: string): StaticCheck & { ok: false } | undefined {
  try {
    // Positions are only needed on failure, so acorn is not asked to track them.
    parse(code, { ecmaVersion: 'latest', sourceType: 'module', allowHashBang: true });
    return undefined;
  } catch (thrown) {
    const error = thrown as SyntaxError & { pos?: number };
    const info = getLineInfo(code, error.pos ?? 0);
    const location = { file: path, line: info.line, column: info.column + 1 };
    let message = String(error.message).replace(/ \(\d+:\d+\)$/, '');
    const token = code.slice(error.pos ?? 0).match(/^(\w+|\S)/)?.[0];
    if (message === 'Unexpected token' && token !== undefined) message += ` '${token}'`;
    return { ok: false, reason: 'syntax', message: `SyntaxError: ${message} ${at(location)}`, location };
  }
}

/**
 * Checks every file in `order` first (the entry, then the tests), then the rest alphabetically;
 * returns the sources the isolate should compile (TypeScript already stripped).
 *
 * `parse: false` skips acorn: the isolated-vm driver lets V8 compile first (faster, and it sees
 * the same syntax errors) and runs the full check only when something failed, so a report names
 * the same first problem either way.
 */
export function checkSources(files: Record<string, string>, order: string[], options: { parse?: boolean } = {}): StaticCheck {
  const withAcorn = options.parse ?? true;
  const sources: Record<string, string> = {};
  const paths = [...new Set([...order, ...Object.keys(files).sort()])];
  for (const path of paths) {
    const text = files[path];
    if (text === undefined) continue;
    if (/\.[jt]sx$/.test(path)) {
      const location = { file: path, line: 1, column: 1 };
      return { ok: false, reason: 'unsupported', message: `${path}: JSX is not supported by the sandbox (no React runtime); generate plain .js or .ts modules`, location };
    }
    if (path.endsWith('.json')) {
      const problem = jsonProblem(text);
      if (problem !== undefined) {
        const location = { file: path, line: problem.line, column: problem.column };
        return { ok: false, reason: 'syntax', message: `${path} is not valid JSON: ${problem.message} ${at(location)}`, location };
      }
      sources[path] = text;
    } else if (isMarkup(path)) {
      const markup = markupProblem(path, text);
      if (!markup.ok) return { ok: false, reason: 'syntax', message: markup.message, location: markup.location };
    } else if (isModule(path)) {
      let code = text;
      if (isTypeScript(path)) {
        const stripped = stripTypes(path, text);
        if ('error' in stripped) return stripped.error;
        code = stripped.code;
      }
      const problem = withAcorn ? parseProblem(path, code) : undefined;
      if (problem !== undefined) return problem;
      sources[path] = code;
    }
  }
  return { ok: true, sources };
}
