import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, RuntimeError, errorMessage, parse, z } from '../protocol/mod.ts';

const ROLE = /^[a-z][a-z0-9-]{0,62}$/;

/** The shape of one transcript file: the answers a scripted model gives, per role and attempt. */
export const TranscriptSchema = z.strictObject({
  id: z
    .string({ error: 'must be a string of lower-case letters, digits and "-", e.g. "fizzbuzz"' })
    .regex(/^[a-z0-9][a-z0-9-]{0,63}$/, { error: 'must be lower-case letters, digits and "-" (at most 64), e.g. "fizzbuzz"' }),
  title: z.string({ error: 'must be a string: a short human title' }).trim().min(1, { error: 'must not be empty: give a short human title' }),
  requirement: z
    .string({ error: 'must be a string: the requirement this transcript answers' })
    .trim()
    .min(1, { error: 'must not be empty: the requirement this transcript answers' }),
  turns: z.record(
    z.string().regex(ROLE, { error: 'role names are lower-case letters, digits and "-", e.g. "implementer"' }),
    z
      .array(z.string({ error: 'each turn must be a string: the text the model answers' }), {
        error: 'must be an array of strings: one answer per attempt',
      })
      .min(1, { error: 'must hold at least one turn: the answer for attempt 0' }),
    { error: 'must be an object of role → array of answers, e.g. {"enhancer": ["..."]}' },
  ),
});

/**
 * One scripted conversation: for each agent role, the answers the model gives on attempt 0, 1, …
 * When a role's turns run out, the last turn repeats.
 */
export type Transcript = z.infer<typeof TranscriptSchema>;

/**
 * Normalises a requirement for matching: trim, lower-case, collapse whitespace, drop trailing '.'.
 * @example normaliseRequirement('  Write a FizzBuzz   module. ') // 'write a fizzbuzz module'
 */
export function normaliseRequirement(text: string): string {
  return text.trim().toLowerCase().replace(/\s+/g, ' ').replace(/[.\s]+$/, '');
}

function dirPath(dir: string | URL): string {
  return dir instanceof URL ? fileURLToPath(dir) : dir;
}

/** Reads and validates one transcript file; errors name the file and the field. */
export function readTranscript(file: string): Transcript {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new RuntimeError(ErrorCode.Invalid, `transcript file ${file} is not valid JSON: ${errorMessage(error)}; fix the file`, {
      cause: error,
      details: { file },
    });
  }
  try {
    return parse(TranscriptSchema, raw, `transcript file ${file}`);
  } catch (error) {
    if (error instanceof RuntimeError) {
      throw new RuntimeError(error.code, `${error.message}; fix the file`, { cause: error, details: { file, ...error.details } });
    }
    throw error;
  }
}

/**
 * Reads every `*.json` file in `dir` (sorted by name) as a transcript. Errors name the file and the
 * field; two transcripts with the same id or the same (normalised) requirement are refused.
 * @example const transcripts = loadTranscripts('test/fixtures/transcripts');
 */
export function loadTranscripts(dir: string | URL): Transcript[] {
  const folder = dirPath(dir);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new RuntimeError(ErrorCode.NotFound, `transcript folder ${folder} does not exist: create it or point to a folder of *.json transcripts`, {
      details: { dir: folder },
    });
  }
  const transcripts: Transcript[] = [];
  const ids = new Map<string, string>();
  const requirements = new Map<string, string>();
  for (const name of readdirSync(folder).sort()) {
    if (!name.endsWith('.json')) continue;
    const file = join(folder, name);
    const transcript = readTranscript(file);
    const sameId = ids.get(transcript.id);
    if (sameId) {
      throw new RuntimeError(ErrorCode.Invalid, `transcript file ${file}: id "${transcript.id}" is already used by ${sameId}; give each transcript its own id`, {
        details: { file, field: 'id' },
      });
    }
    const key = normaliseRequirement(transcript.requirement);
    const sameRequirement = requirements.get(key);
    if (sameRequirement) {
      throw new RuntimeError(
        ErrorCode.Invalid,
        `transcript file ${file}: requirement "${transcript.requirement}" is already answered by ${sameRequirement}; keep one of them`,
        { details: { file, field: 'requirement' } },
      );
    }
    ids.set(transcript.id, file);
    requirements.set(key, file);
    transcripts.push(transcript);
  }
  return transcripts;
}
