import { z } from 'zod';
import { ErrorCode, RuntimeError } from './errors.ts';
import { isAddress, isTopic } from './address.ts';

/**
 * Schemas for everything that crosses a boundary. Inside the process, types are trusted; at the edge
 * every value goes through `parse`, whose error names the field, the value and the fix.
 */

export const REQUIREMENT_MAX_CHARS = 20_000;
export const PRIORITY_MIN = 1;
export const PRIORITY_MAX = 10;
export const PRIORITY_DEFAULT = 5;

export const SubmitRequirement = z.strictObject({
  requirement: z
    .string({ error: 'must be a string: the requirement in plain words' })
    .trim()
    .min(1, { error: 'must not be empty: describe what to build, e.g. "a fizzbuzz module with tests"' })
    .max(REQUIREMENT_MAX_CHARS, { error: `must be at most ${REQUIREMENT_MAX_CHARS} characters: shorten it or split it into tasks` }),
  priority: z
    .number({ error: `must be an integer from ${PRIORITY_MIN} (lowest) to ${PRIORITY_MAX} (highest)` })
    .int({ error: `must be an integer from ${PRIORITY_MIN} (lowest) to ${PRIORITY_MAX} (highest)` })
    .min(PRIORITY_MIN, { error: `must be at least ${PRIORITY_MIN}` })
    .max(PRIORITY_MAX, { error: `must be at most ${PRIORITY_MAX}` })
    .default(PRIORITY_DEFAULT),
});
export type SubmitRequirement = z.infer<typeof SubmitRequirement>;

const SAFE_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

/**
 * Why a generated file path is unsafe, or null when it is fine. Paths are relative, '/'-separated,
 * made of plain segments (no '..', no leading dot, no device names), at most 8 deep.
 */
export function unsafePathReason(path: string): string | null {
  if (typeof path !== 'string' || path.length === 0) return 'is empty';
  if (path.length > 512) return 'is longer than 512 characters';
  if (path.includes('\0')) return 'contains a NUL byte';
  if (path.includes('\\')) return "contains a backslash: use '/' between folders";
  if (path.startsWith('/')) return 'is absolute: give a path relative to the task folder';
  const segments = path.split('/');
  if (segments.length > 8) return 'is more than 8 folders deep';
  for (const segment of segments) {
    if (segment === '..' || segment === '.') return `has a "${segment}" segment: paths may not leave or name the task folder`;
    if (!SAFE_SEGMENT.test(segment)) {
      return `has the segment "${segment}": use letters, digits, '.', '_' and '-', not starting with '.' or '-'`;
    }
    if (WINDOWS_DEVICE.test(segment)) return `has the device name "${segment}"`;
  }
  return null;
}

export const GeneratedFilePath = z.string().superRefine((value, ctx) => {
  const reason = unsafePathReason(value);
  if (reason) ctx.addIssue({ code: 'custom', message: `path ${reason}` });
});

export const GeneratedFileSchema = z.strictObject({
  path: GeneratedFilePath,
  content: z.string().max(1_000_000, { error: 'file is larger than 1 MB' }),
});

export const ImplementationSchema = z.strictObject({
  files: z.array(GeneratedFileSchema).min(1, { error: 'must hold at least one file' }).max(50),
  entry: GeneratedFilePath,
  tests: z.array(GeneratedFilePath),
  notes: z.string(),
});

/** Frames a ws client may send. */
export const ClientFrame = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('resync') }),
  z.strictObject({ type: z.literal('ping'), id: z.string().max(64).optional() }),
]);
export type ClientFrame = z.infer<typeof ClientFrame>;

/** The envelope of a message that crosses a transport (payloads are checked by their receivers). */
export const MessageEnvelope = z.object({
  type: z.string().regex(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/, { error: 'must be a namespaced type such as "analysis.request"' }),
  id: z.string().min(1).max(128),
  from: z.string().refine(isAddress, { error: 'must be an address kind:name' }),
  to: z.string().refine((v) => isAddress(v) || isTopic(v), { error: 'must be an address kind:name or a topic topic:name' }),
  taskId: z.string().max(128).optional(),
  causationId: z.string().max(128).optional(),
  ts: z.number(),
  payload: z.unknown(),
});

/**
 * A value as an error message quotes it: JSON, cut at 80 characters.
 * @example showValue({ port: 'x' }); // '{"port":"x"}'
 */
export function showValue(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/**
 * Parses `input` with `schema` or throws one RuntimeError(E_INVALID) whose message names where the
 * value came from, each bad field, its value and what to do.
 * @example parse(SubmitRequirement, body, 'request body')
 */
export function parse<S extends z.ZodType>(schema: S, input: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields = result.error.issues.map((issue) => {
    const field = issue.path.length ? issue.path.map(String).join('.') : '(root)';
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') message = `has unknown field(s) ${issue.keys.join(', ')}: remove them`;
    else if (issue.code === 'invalid_type' && valueAt(input, issue.path) === undefined) message = `is required; ${message}`;
    return { field, value: valueAt(input, issue.path), message };
  });
  const text = fields
    .map((f) => `${f.field} ${f.message}${f.value === undefined ? '' : ` (got ${showValue(f.value)})`}`)
    .join('; ');
  throw new RuntimeError(ErrorCode.Invalid, `${where}: ${text}`, { details: { fields } });
}

export { z };
