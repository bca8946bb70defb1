import { z } from 'zod';
import { ErrorCode, RuntimeError } from './errors.ts';
import { isAddress, isTopic } from './address.ts';
import { hideSecrets } from './secrets.ts';
import { didYouMean } from './typos.ts';

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

const SEGMENT_MAX = 128;
const SEGMENT_CHAR = /[A-Za-z0-9._-]/;
const SEGMENT_CHARS = /^[A-Za-z0-9._-]*$/;
// Reserved by Windows in any folder and with any extension (CON, nul.txt, com1.js, LPT9).
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

/**
 * A file path (or part of one) quoted for an error message: JSON-quoted, and every character that is
 * not printable ASCII escaped as \uXXXX, so control, bidi-override or lookalike characters chosen by
 * a model can neither reach a terminal or a log line raw nor pass for something else.
 * @example quotePath('a\u202Eb') // '"a\\u202eb"'
 */
export function quotePath(path: string): string {
  return JSON.stringify(path).replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A character for a message: itself when printable ASCII, else its code point (U+FF0E). */
function showChar(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  if (code > 0x20 && code < 0x7f) return `'${char}'`;
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Why a generated file path is unsafe, or null when it is fine. Paths are relative, '/'-separated,
 * made of plain ASCII segments (letters, digits, '.', '_', '-'; no '..', no leading '.' or '-', no
 * trailing '.', no Windows device names), at most 128 characters a segment, 512 in all, 8 deep.
 * Nothing is decoded or normalised first: '%2e%2e', fullwidth dots or slashes, control characters
 * and '~' are refused as characters, never interpreted. Reasons quote the offending segment with
 * quotePath, so control characters in it cannot reach a terminal or a log line raw.
 */
export function unsafePathReason(path: string): string | null {
  if (typeof path !== 'string' || path.length === 0) return 'is empty';
  if (path.length > 512) return `is ${path.length} characters long, more than 512`;
  if (path.includes('\0')) return 'contains a NUL byte';
  if (path.includes('\\')) return "contains a backslash: use '/' between folders";
  if (path.startsWith('/')) return 'is absolute: give a path relative to the task folder';
  if (/^[A-Za-z]:/.test(path)) return 'starts with a drive letter: give a path relative to the task folder';
  if (path.startsWith('~')) return "starts with '~' (a home folder): give a path relative to the task folder";
  const segments = path.split('/');
  if (segments.length > 8) return 'is more than 8 folders deep';
  for (const segment of segments) {
    if (segment === '') return "has an empty segment ('//', or '/' at the end)";
    if (segment === '..' || segment === '.') return `has a "${segment}" segment: paths may not leave or name the task folder`;
    if (segment.length > SEGMENT_MAX) return `has a segment of ${segment.length} characters, more than ${SEGMENT_MAX}`;
    // One test for the common case; the character by character search only to name the bad one.
    const bad = SEGMENT_CHARS.test(segment) ? undefined : [...segment].find((char) => !SEGMENT_CHAR.test(char));
    if (bad !== undefined) {
      const hint = bad === '%' ? ' (percent-encoding is never decoded)' : bad.charCodeAt(0) > 0x7f ? " (only ASCII: lookalikes of '.' and '/' are refused)" : '';
      return `has the segment ${quotePath(segment)} with the character ${showChar(bad)}${hint}: use letters, digits, '.', '_' and '-'`;
    }
    if (segment.startsWith('.') || segment.startsWith('-')) {
      return `has the segment ${quotePath(segment)}, which starts with '${segment[0]}': hidden files and option-like names are never written`;
    }
    if (segment.endsWith('.')) return `has the segment ${quotePath(segment)}, which ends with '.' (Windows drops it): remove the trailing dot`;
    if (WINDOWS_DEVICE.test(segment)) return `has the device name ${quotePath(segment)}, reserved on Windows: rename it`;
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
 * A value as an error message quotes it: JSON, secrets hidden (hideSecrets), cut at 80 characters.
 * `key` is the field it came from, when known.
 * @example showValue({ port: 'x' }); // '{"port":"x"}'
 * @example showValue('sk-ant-api03-…'); // '"<hidden: 40 characters>"'
 */
export function showValue(value: unknown, key?: string | number): string {
  let text: string;
  try {
    text = JSON.stringify(hideSecrets(value, key)) ?? String(value);
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
/** The field names of the object `schema` has at `path` (through optional, default, nullable, record and array), or []. */
function fieldsAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  type Def = { type: string; innerType?: { _zod: { def: Def } }; shape?: Record<string, { _zod: { def: Def } }>; valueType?: { _zod: { def: Def } }; element?: { _zod: { def: Def } } };
  let def = (schema as unknown as { _zod: { def: Def } })._zod.def;
  const unwrap = () => {
    while (def.innerType && ['optional', 'default', 'nullable', 'readonly', 'prefault', 'catch'].includes(def.type)) def = def.innerType._zod.def;
  };
  unwrap();
  for (const key of path) {
    const next = def.type === 'object' ? def.shape?.[String(key)] : def.type === 'record' ? def.valueType : def.type === 'array' ? def.element : undefined;
    if (!next) return [];
    def = next._zod.def;
    unwrap();
  }
  return def.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

const A_OR_AN = (word: string) => (/^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`);
const either = (values: readonly unknown[]) => {
  const shown = values.map((v) => JSON.stringify(v));
  return shown.length > 1 ? `${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}` : (shown[0] ?? 'nothing');
};

/**
 * A schema library's default wording in plain words ("Too small: expected number to be >=1" → "must be
 * at least 1"); a message a schema wrote itself is kept as written.
 */
function plainWords(issue: z.core.$ZodIssue): string {
  const i = issue as z.core.$ZodIssue & { expected?: string; values?: unknown[]; origin?: string; minimum?: number | bigint; maximum?: number | bigint; inclusive?: boolean };
  if (!/^(Invalid input|Invalid option|Too small|Too big)\b/.test(issue.message)) return issue.message;
  const unit = i.origin === 'string' ? ' characters' : i.origin === 'array' || i.origin === 'set' ? ' items' : '';
  switch (issue.code) {
    case 'invalid_type':
      return i.expected ? `must be ${A_OR_AN(i.expected)}` : issue.message;
    case 'invalid_value':
      return i.values ? `must be ${i.values.length === 1 ? JSON.stringify(i.values[0]) : `one of ${either(i.values)}`}` : issue.message;
    case 'too_small':
      return `must be ${i.inclusive === false ? 'more than' : 'at least'} ${String(i.minimum)}${unit}`;
    case 'too_big':
      return `must be ${i.inclusive === false ? 'less than' : 'at most'} ${String(i.maximum)}${unit}`;
    default:
      return issue.message;
  }
}

export function parse<S extends z.ZodType>(schema: S, input: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields = result.error.issues.map((issue) => {
    const field = issue.path.length ? issue.path.map(String).join('.') : '(root)';
    const key = issue.path.at(-1) as string | number | undefined;
    let message = plainWords(issue);
    // An unknown field is named, never quoted: it is where a key pasted into the wrong place ends up.
    if (issue.code === 'unrecognized_keys') {
      const known = fieldsAt(schema, issue.path);
      const hints = known.length ? issue.keys.map((k) => didYouMean(k, known)).join('') : '';
      return { field, value: undefined, message: `has unknown field(s) ${issue.keys.join(', ')}${hints}: remove them${known.length ? ` (the fields are ${known.join(', ')})` : ''}` };
    }
    if (issue.code === 'invalid_type' && valueAt(input, issue.path) === undefined) message = `is required: it ${message}`;
    return { field, value: hideSecrets(valueAt(input, issue.path), key), message };
  });
  const text = fields
    .map((f) => `${f.field} ${f.message}${f.value === undefined ? '' : ` (got ${showValue(f.value)})`}`)
    .join('; ');
  throw new RuntimeError(ErrorCode.Invalid, `${where}: ${text}`, { details: { fields } });
}

export { z };
