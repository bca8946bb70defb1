/**
 * Checking and normalizing a ValidateInput before it crosses into the worker: paths become posix
 * and relative to the project root, limits get defaults and bounds. Bad input is a report, not a throw.
 */
import { posix } from 'node:path';
import type { SandboxReport, ValidateInput } from './mod.ts';

export const DEFAULT_MEMORY_MB = 64;
export const DEFAULT_TIMEOUT_MS = 5000;
/** isolated-vm refuses less than 8 MB; more than 1 GB per run is a bug in the caller. */
const MEMORY_BOUNDS = [8, 1024] as const;
const TIMEOUT_BOUNDS = [10, 10 * 60 * 1000] as const;

/** A ValidateInput that passed the checks: the only shape the worker accepts. */
export interface RunInput {
  files: Record<string, string>;
  entry: string;
  tests: string[];
  memoryMb: number;
  timeoutMs: number;
}

export type Normalized = { ok: true; input: RunInput } | { ok: false; report: SandboxReport };

/** 'src//a.js', './src/a.js' and 'src\\a.js' all name 'src/a.js'; undefined when the path leaves the root. */
export function normalizePath(path: string): string | undefined {
  const normal = posix.normalize(path.replaceAll('\\', '/')).replace(/^\/+/, '');
  if (normal === '..' || normal.startsWith('../') || normal === '.' || normal === '') return undefined;
  return normal;
}

function bounded(value: unknown, fallback: number, [low, high]: readonly [number, number]): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return fallback;
  return Math.min(high, Math.max(low, Math.round(value)));
}

function invalid(message: string): Normalized {
  return { ok: false, report: { ok: false, reason: 'threw', message: `invalid sandbox input: ${message}` } };
}

export function normalizeInput(input: ValidateInput): Normalized {
  const raw = input as unknown as Record<string, unknown> | null;
  if (raw === null || typeof raw !== 'object') return invalid('expected an object with files, entry and tests');
  const given = raw.files;
  if (given === null || typeof given !== 'object' || Array.isArray(given)) return invalid('files must be an object mapping paths to source text');
  const files: Record<string, string> = {};
  for (const [path, content] of Object.entries(given as Record<string, unknown>)) {
    if (typeof content !== 'string') return invalid(`the content of '${path}' is ${typeof content}, not a string`);
    const normal = normalizePath(path);
    if (normal === undefined) return invalid(`'${path}' is not a path inside the project`);
    files[normal] = content;
  }
  if (typeof raw.entry !== 'string') return invalid('entry must be the path of one of the files');
  if (!Array.isArray(raw.tests) || raw.tests.some((test) => typeof test !== 'string')) return invalid('tests must be an array of file paths');
  const known = Object.keys(files);
  const missing = (path: string, role: string): Normalized => ({
    ok: false,
    report: {
      ok: false,
      reason: 'threw',
      message: `the ${role} '${path}' is not among the files (${known.length === 0 ? 'no files were given' : `they are: ${known.slice(0, 20).join(', ')}`})`,
    },
  });
  const entry = normalizePath(raw.entry);
  if (entry === undefined || files[entry] === undefined) return missing(raw.entry, 'entry');
  const tests: string[] = [];
  for (const test of raw.tests as string[]) {
    const normal = normalizePath(test);
    if (normal === undefined || files[normal] === undefined) return missing(test, 'test file');
    if (!tests.includes(normal)) tests.push(normal);
  }
  const limits = (raw.limits ?? {}) as Record<string, unknown>;
  return {
    ok: true,
    input: {
      files,
      entry,
      tests,
      memoryMb: bounded(limits.memoryMb, DEFAULT_MEMORY_MB, MEMORY_BOUNDS),
      timeoutMs: bounded(limits.timeoutMs, DEFAULT_TIMEOUT_MS, TIMEOUT_BOUNDS),
    },
  };
}

/** "Deno 2.5.0", "Node.js 20.1.0", … for messages about what this process runs on. */
export function runtimeLabel(): string {
  const deno = (globalThis as { Deno?: { version?: { deno?: string } } }).Deno;
  if (deno !== undefined) return `Deno ${deno.version?.deno ?? '(unknown version)'}`;
  const bun = (globalThis as { Bun?: { version?: string } }).Bun;
  if (bun !== undefined) return `Bun ${bun.version ?? '(unknown version)'}`;
  return typeof process === 'object' && process.versions?.node ? `Node.js ${process.versions.node}` : 'an unknown JavaScript runtime';
}
