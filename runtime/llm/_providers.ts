import { ErrorCode, RuntimeError, errorMessage } from '../protocol/mod.ts';
import type { Clock } from '../protocol/mod.ts';
import type { LlmRequest, LlmResponse } from '../plugin/mod.ts';
import type { LlmProvider } from './mod.ts';
import { normaliseRequirement } from './_transcripts.ts';
import type { Transcript } from './_transcripts.ts';
import { sleep, systemClock } from '../bus/mod.ts';

export interface TranscriptProviderOptions {
  transcripts: Transcript[];
  /** 'demo' for the bundled transcripts the dashboard labels as demo; 'test' for test fixtures. */
  label: 'demo' | 'test';
  /** Wait this long before each answer (so a person can watch the demo run); default 0. */
  delayMs?: number;
  /** `now` measures `ms`, `setTimeout` runs the optional delay. */
  clock?: Clock;
}

function noTranscript(label: 'demo' | 'test'): RuntimeError {
  const subject = label === 'demo' ? 'demo mode has' : 'the test transcripts have';
  return new RuntimeError(
    ErrorCode.Llm,
    `${subject} no transcript for this requirement; configure a provider (set ANTHROPIC_API_KEY or OPENAI_API_KEY) or submit one of the sample requirements listed at GET /api/demo`,
  );
}

/**
 * A provider that answers from scripted transcripts. The transcript is the one whose requirement
 * matches `request.meta.requirement` (see normaliseRequirement); the answer is
 * `turns[request.role][min(meta.attempt ?? 0, n - 1)]`: when a role's turns run out, the last turn repeats.
 * Its delay stops when the call is withdrawn (`request.signal`).
 */
export function createTranscriptProvider(options: TranscriptProviderOptions): LlmProvider {
  const { label } = options;
  const clock = options.clock ?? systemClock;
  const delayMs = options.delayMs ?? 0;
  if (!Number.isFinite(delayMs) || delayMs < 0) {
    throw new RuntimeError(ErrorCode.Invalid, `transcript provider delayMs is ${delayMs}: use a number of milliseconds ≥ 0`);
  }
  const byRequirement = new Map<string, Transcript>();
  for (const transcript of options.transcripts) byRequirement.set(normaliseRequirement(transcript.requirement), transcript);
  const models = options.transcripts.map((t) => `${label}/${t.id}`);

  return {
    name: label,
    demo: label === 'demo',
    describe: () => ({ name: label, demo: label === 'demo', models: [...models] }),
    async complete(request: LlmRequest): Promise<LlmResponse> {
      const started = clock.now();
      const requirement = request.meta?.requirement;
      const transcript = typeof requirement === 'string' ? byRequirement.get(normaliseRequirement(requirement)) : undefined;
      if (!transcript) throw noTranscript(label);
      const turns = transcript.turns[request.role];
      if (!turns || turns.length === 0) {
        const roles = Object.keys(transcript.turns).join(', ') || 'none';
        throw new RuntimeError(
          ErrorCode.Llm,
          `transcript "${transcript.id}" has no turns for the role "${request.role}" (it has: ${roles}); add "${request.role}" to its turns`,
          { details: { transcript: transcript.id, role: request.role } },
        );
      }
      const attempt = Math.max(0, Math.floor(request.meta?.attempt ?? 0));
      const text = turns[Math.min(attempt, turns.length - 1)];
      await sleep(clock, delayMs, request.signal);
      return {
        text,
        provider: label,
        model: `${label}/${transcript.id}`,
        usage: { inputTokens: 0, outputTokens: 0 },
        ms: clock.now() - started,
        demo: label === 'demo',
      };
    },
  };
}

/**
 * An in-process test double: `fn` computes the answer text. A RuntimeError from `fn` passes through;
 * any other throw (or a non-string answer) becomes E_LLM, as a real provider's failure would.
 */
export function createFunctionProvider(name: string, fn: (request: LlmRequest) => string | Promise<string>): LlmProvider {
  const model = `${name}/function`;
  return {
    name,
    demo: false,
    describe: () => ({ name, demo: false, models: [model] }),
    async complete(request: LlmRequest): Promise<LlmResponse> {
      const started = Date.now();
      let text: unknown;
      try {
        text = await fn(request);
      } catch (error) {
        if (error instanceof RuntimeError) throw error;
        throw new RuntimeError(ErrorCode.Llm, `provider ${name} failed for role "${request.role}": ${errorMessage(error)}`, { cause: error });
      }
      if (typeof text !== 'string') {
        throw new RuntimeError(ErrorCode.Llm, `provider ${name} answered ${typeof text} for role "${request.role}": the function must return a string`);
      }
      return { text, provider: name, model, usage: { inputTokens: 0, outputTokens: 0 }, ms: Date.now() - started, demo: false };
    },
  };
}
