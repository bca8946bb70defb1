import { ErrorCode, RuntimeError, errorMessage } from '../runtime/protocol/mod.ts';
import type { Capabilities } from '../runtime/plugin/mod.ts';

export interface AskOptions {
  /** The agent role asking (routing and the transcripts pick the answer by it). */
  role: string;
  system: string;
  user: string;
  taskId: string | undefined;
  requirement: string;
  attempt: number;
  maxTokens?: number;
  /** 'simple' | 'complex' from the analyst: lets model-routing.json pick a per-complexity route. */
  complexity?: string;
  /** Ask for one JSON object matching this schema (the agent still validates what comes back). */
  json?: { name: string; schema: Record<string, unknown> };
}

/**
 * Asks the model once and returns its text. A provider failure is the task's to see: a RuntimeError
 * passes through, anything else becomes E_LLM naming the role (an unreachable model is not a defect
 * of the agent, so it must not crash it).
 */
export async function ask(caps: Capabilities<unknown>, options: AskOptions): Promise<string> {
  try {
    const response = await caps.llm.complete({
      role: options.role,
      system: options.system,
      messages: [{ role: 'user', content: options.user }],
      taskId: options.taskId,
      maxTokens: options.maxTokens,
      json: options.json,
      meta: { requirement: options.requirement, attempt: options.attempt, ...(options.complexity ? { complexity: options.complexity } : {}) },
    });
    return response.text;
  } catch (error) {
    if (error instanceof RuntimeError) throw error;
    throw new RuntimeError(ErrorCode.Llm, `${options.role}: the model call failed: ${errorMessage(error)}; check the provider configuration and retry`, {
      cause: error,
    });
  }
}

/** The trimmed answer, or E_LLM_OUTPUT when it is empty. */
export function nonEmpty(agent: string, text: string, what: string): string {
  const trimmed = text.trim();
  if (!trimmed) {
    throw new RuntimeError(ErrorCode.LlmOutput, `${agent}: the model's answer is empty; it should be ${what}. Retry, or pick another model for the "${agent}" role`);
  }
  return trimmed;
}
