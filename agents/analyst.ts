import { defineAgent } from '../runtime/plugin/mod.ts';
import { ErrorCode, RuntimeError, parse, z } from '../runtime/protocol/mod.ts';
import type { Analysis } from '../runtime/protocol/mod.ts';
import { ask } from './_llm.ts';
import { answerBegan, extractJson } from './_parse.ts';

export const ANALYST_SYSTEM = [
  'You classify a software task before it is implemented as a small JavaScript ES module with tests.',
  'Answer with JSON only, no prose and no code fences, exactly this shape:',
  '{"complexity":"simple"|"complex","kind":"code"|"graphic","summary":"…"}',
  '- complexity: "simple" when one short function or a few obvious ones do it; "complex" when it needs',
  '  a parser, a state machine, several cooperating functions or careful edge-case handling.',
  '- kind: "graphic" when the result is a picture (SVG or HTML markup), otherwise "code".',
  '- summary: one sentence saying what will be built.',
].join('\n');

/** The longest summary accepted (it is "one sentence"). */
export const MAX_SUMMARY = 2000;

const word = <const T extends readonly [string, ...string[]]>(values: T, hint: string) =>
  z
    .string({ error: `must be ${hint}` })
    .trim()
    .toLowerCase()
    .pipe(z.enum(values, { error: `must be ${hint}` }));

export const AnalysisSchema = z.object({
  complexity: word(['simple', 'complex'], '"simple" or "complex"'),
  kind: word(['code', 'graphic'], '"code" or "graphic"'),
  // Bounded: the summary goes into every later prompt, so a runaway answer must stop here.
  summary: z
    .string({ error: 'must be a string: one sentence' })
    .trim()
    .min(1, { error: 'must not be empty: one sentence' })
    .max(MAX_SUMMARY, { error: `must be at most ${MAX_SUMMARY} characters: one sentence` }),
});

const WHAT = 'the JSON the analysis needs';

/** The answer's shape for providers that take a JSON schema (the answer is still checked with AnalysisSchema). */
const ANALYSIS_JSON_SCHEMA = {
  type: 'object',
  properties: {
    complexity: { type: 'string', enum: ['simple', 'complex'] },
    kind: { type: 'string', enum: ['code', 'graphic'] },
    summary: { type: 'string' },
  },
  required: ['complexity', 'kind', 'summary'],
  additionalProperties: false,
};

/**
 * Classifies the task (complexity, kind, summary). Answers `analysis.request` with an Analysis; an
 * answer that is not that JSON is E_LLM_OUTPUT naming the field and how the answer began.
 */
export const analyst = defineAgent({
  name: 'analyst',
  version: '1.0.0',
  role: 'analyst',
  description: 'Classifies a task as simple or complex, code or graphic, in one JSON answer.',
  accepts: ['analysis.request'],
  async handle(message, caps): Promise<Analysis> {
    const { requirement, prompt } = message.payload;
    const text = await ask(caps, {
      role: 'analyst',
      system: ANALYST_SYSTEM,
      user: `Requirement:\n${requirement}\n\nSpecification:\n${prompt}\n\nAnswer with the JSON only.`,
      taskId: message.taskId,
      requirement,
      attempt: 0,
      json: { name: 'analysis', schema: ANALYSIS_JSON_SCHEMA },
    });
    const value = extractJson(text, 'analyst', WHAT);
    try {
      const { complexity, kind, summary } = parse(AnalysisSchema, value, 'analysis');
      return { complexity, kind, summary };
    } catch (error) {
      if (!(error instanceof RuntimeError)) throw error;
      const why = error.message.replace(/^analysis: /, '');
      throw new RuntimeError(ErrorCode.LlmOutput, `analyst: the model's answer is not ${WHAT}: ${why}; answer began: ${answerBegan(text)}`, {
        details: error.details,
      });
    }
  },
});
