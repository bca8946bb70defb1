/**
 * How the retry loop explains a failed call: one label per attempt, the upstream's own detail, a
 * summary of every attempt, and the fix for each kind of failure (a key to set, a model to change).
 * @module
 */
import { ErrorCode, RuntimeError, errorMessage } from '../protocol/mod.ts';
import type { UpstreamError } from './types.ts';
import type { AttemptRecord, Deployment } from './types.ts';

/** One failed attempt as the final error explains it: `attempt` of at most `maxAttempts`, under `timeoutMs`. */
export interface Failure {
  deployment: Deployment;
  error: UpstreamError;
  timeoutMs: number;
  attempt: number;
  maxAttempts: number;
}

const KEY_ENV: Record<string, string> = { anthropic: 'ANTHROPIC_API_KEY', openai: 'OPENAI_API_KEY', deepseek: 'DEEPSEEK_API_KEY' };

/** "429 rate_limit_error", "timeout", "network error (ECONNREFUSED)": one attempt in a summary. */
export function label(error: UpstreamError): string {
  let type: string | undefined;
  try {
    const body = error.body ? JSON.parse(error.body) : undefined;
    const inner = body?.error ?? body;
    // OpenAI's `code` (invalid_api_key) says more than its `type`; Anthropic has only `type`.
    type = [inner?.code, inner?.type].find((c): c is string => typeof c === 'string' && c !== 'error');
  } catch {
    // A non-JSON body (an HTML error page) has no type worth showing.
  }
  if (error.status !== undefined) return type ? `${error.status} ${type}` : String(error.status);
  if (error.kind === 'network') return `network error (${clip(error.message, 80)})`;
  return error.kind;
}

export function upstreamDetail(error: UpstreamError): string {
  try {
    const body = error.body ? JSON.parse(error.body) : undefined;
    const message = body?.error?.message ?? body?.message;
    if (typeof message === 'string') return clip(message, 200);
  } catch {
    // fall through to the error's own message
  }
  return clip(error.message, 200);
}

export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function seconds(ms: number): string {
  return `${Math.max(0, Math.ceil(ms / 1000))} s`;
}

export function summarise(attempts: AttemptRecord[], labels: string[]): string {
  const byDeployment = new Map<string, string[]>();
  attempts.forEach((record, i) => {
    if (record.ok) return;
    const list = byDeployment.get(record.deployment) ?? [];
    list.push(labels[i] ?? record.kind ?? 'failed');
    byDeployment.set(record.deployment, list);
  });
  return [...byDeployment]
    .map(([id, list]) => {
      const runs: string[] = [];
      for (let i = 0; i < list.length; ) {
        let j = i;
        while (j < list.length && list[j] === list[i]) j++;
        runs.push(j - i > 1 ? `${list[i]} ×${j - i}` : list[i]);
        i = j;
      }
      return `${id}: ${runs.join(', ')}`;
    })
    .join('; ');
}

/**
 * The timed-out attempts, per model: "anthropic/claude-sonnet-4-5 attempt 1/2 timed out after 1000 ms",
 * "openai/gpt-5 attempts 1/3, 2/3 and 3/3 each timed out after 60000 ms".
 */
export function timedOut(failures: readonly Failure[]): string {
  const byModel = new Map<string, Failure[]>();
  for (const failure of failures) {
    if (failure.error.kind !== 'timeout') continue;
    const key = `${failure.deployment.id}\u0000${failure.timeoutMs}`;
    byModel.set(key, [...(byModel.get(key) ?? []), failure]);
  }
  return [...byModel.values()]
    .map((list) => {
      const numbers = list.map((f) => `${f.attempt}/${f.maxAttempts}`);
      const which = numbers.length > 1
        ? `attempts ${numbers.slice(0, -1).join(', ')} and ${numbers.at(-1)} each`
        : `attempt ${numbers[0]}`;
      return `${list[0].deployment.id} ${which} timed out after ${list[0].timeoutMs} ms`;
    })
    .join('; ');
}

export function fixes(errors: readonly Failure[]): string {
  const out: string[] = [];
  const auth = [...new Set(errors.filter((e) => e.error.status === 401 || e.error.status === 403).map((e) => e.deployment.provider))];
  if (auth.length) {
    const where = auth.map((p) => (KEY_ENV[p] ? `${KEY_ENV[p]} (${p})` : `the apiKey of provider '${p}' in orchestrator.config.json`));
    out.push(`Check the API key: ${where.join(', ')}.`);
  }
  if (errors.some((e) => e.error.status === 429)) {
    out.push('Rate limited: lower the task concurrency, or add a fallback model on another provider to the route in model-routing.json.');
  }
  const timeouts = errors.filter((e) => e.error.kind === 'timeout');
  if (timeouts.length) {
    const ms = Math.max(...timeouts.map((e) => e.timeoutMs));
    out.push(
      `Timed out: ${timedOut(timeouts)} (timeoutMs is per attempt, end to end); ` +
        `raise timeoutMs for the model in model-routing.json (now ${ms} ms).`,
    );
  }
  if (errors.some((e) => e.error.status !== undefined && e.error.status >= 500)) {
    out.push('The provider is failing or overloaded: try again later, or add a fallback model to the route in model-routing.json.');
  }
  if (errors.some((e) => e.error.kind === 'network')) out.push("Check that the provider's baseUrl is reachable from this machine.");
  if (errors.some((e) => e.error.kind === 'truncated' || e.error.kind === 'malformed')) {
    out.push('The provider sent an incomplete or unreadable answer: try again, or add a fallback model to the route in model-routing.json.');
  }
  if (!out.length) out.push('Add a fallback model to the route in model-routing.json.');
  return out.join(' ');
}

export function abortedError(attempts: AttemptRecord[], reason: unknown): RuntimeError {
  const why = reason === undefined ? '' : ` (${errorMessage(reason)})`;
  return new RuntimeError(ErrorCode.Llm, `aborted: the caller cancelled the model call after ${attempts.length} attempt(s)${why}`, {
    details: { attempts, reason: 'aborted' },
  });
}
