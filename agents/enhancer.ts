import { defineAgent } from '../runtime/plugin/mod.ts';
import { ask, nonEmpty } from './_llm.ts';

export const ENHANCER_SYSTEM = [
  'You turn a short requirement into a precise, testable specification for a small JavaScript ES module with tests.',
  'Write plain prose and bullet points, no code. State:',
  '- the module file and the exact functions it exports, with parameters, return values and thrown errors;',
  '- the behaviour for normal input, edge cases (empty input, zero, negative numbers, unusual characters) and invalid input;',
  '- for a graphic (SVG or HTML), the function that returns the markup string and what the markup must contain;',
  '- the test cases that prove the behaviour, each with a concrete input and the expected output.',
  'The code runs in a sandbox: plain JavaScript, no Node or browser APIs, no files, no network, no timers.',
  'Do not ask questions; choose sensible defaults and say which you chose. Answer with the specification only.',
].join('\n');

/**
 * Rewrites the requirement as a precise, testable specification (the prompt of every later stage).
 * Answers `enhance.request` with `{ prompt }`; an empty model answer is E_LLM_OUTPUT.
 */
export const enhancer = defineAgent({
  name: 'enhancer',
  version: '1.0.0',
  role: 'enhancer',
  description: 'Rewrites a requirement as a precise, testable specification for a small JavaScript module.',
  accepts: ['enhance.request'],
  async handle(message, caps) {
    const { requirement } = message.payload;
    const text = await ask(caps, {
      role: 'enhancer',
      system: ENHANCER_SYSTEM,
      user: `Requirement:\n${requirement}\n\nWrite the specification.`,
      taskId: message.taskId,
      requirement,
      attempt: 0,
    });
    return { prompt: nonEmpty('enhancer', text, 'the specification') };
  },
});
