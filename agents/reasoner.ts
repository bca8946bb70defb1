import { defineAgent } from '../runtime/plugin/mod.ts';
import { ask, nonEmpty } from './_llm.ts';

export const REASONER_SYSTEM = [
  'You plan the implementation of a small JavaScript ES module before anyone writes code.',
  'Answer with a numbered, step-by-step plan in plain prose (no code blocks):',
  '1. the files to create and what each exports;',
  '2. the algorithm or data flow, step by step, including how edge cases and invalid input are handled;',
  '3. the tests to write, each with its input and expected result, covering the tricky cases first.',
  'Keep it short and concrete: the implementer follows it literally.',
].join('\n');

/**
 * Writes a step-by-step plan for complex tasks (the pipeline calls it only when the analysis says
 * "complex"). Answers `reasoning.request` with `{ plan }`; an empty answer is E_LLM_OUTPUT.
 */
export const reasoner = defineAgent({
  name: 'reasoner',
  version: '1.0.0',
  role: 'reasoner',
  description: 'Writes a step-by-step implementation plan for complex tasks.',
  accepts: ['reasoning.request'],
  async handle(message, caps) {
    const { requirement, prompt, analysis } = message.payload;
    const user = [
      `Requirement:\n${requirement}`,
      `Specification:\n${prompt}`,
      `Analysis: ${analysis.complexity} ${analysis.kind} task. ${analysis.summary}`,
      'Write the plan.',
    ].join('\n\n');
    const text = await ask(caps, { role: 'reasoner', system: REASONER_SYSTEM, user, taskId: message.taskId, requirement, attempt: 0, complexity: analysis.complexity });
    return { plan: nonEmpty('reasoner', text, 'a step-by-step plan') };
  },
});
