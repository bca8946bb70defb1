import { defineAgent } from '../runtime/plugin/mod.ts';
import { ErrorCode, ImplementationSchema, RuntimeError, parse } from '../runtime/protocol/mod.ts';
import type { GeneratedFile, Implementation, MessageMap } from '../runtime/protocol/mod.ts';
import { ask } from './_llm.ts';
import { MODULE_FILE, TEST_FILE, answerBegan, outputError, parseFiles } from './_parse.ts';

export const IMPLEMENTER_SYSTEM = `You write small JavaScript ES modules and their tests. The code runs in a locked-down sandbox.

Output format (follow it exactly):
- Answer with one fenced code block per file. The block's info string carries the file path, e.g.
  \`\`\`js file=src/fizzbuzz.js
  export function fizzbuzz(n) { ... }
  \`\`\`
- Paths are relative ("src/fizzbuzz.js", "test/fizzbuzz.test.js"): letters, digits, ".", "_", "-", no "..".
- Write code, tests and docs only: no configuration that tools act on by themselves (CLAUDE.md, AGENTS.md,
  lockfiles, bunfig.toml, mise.toml, CI or editor settings, install scripts in package.json). They are refused.
- Give every file in full, never a diff or "rest unchanged". Text outside the blocks is kept as notes.

Sandbox rules:
- ES modules only (import/export), no require, no CommonJS.
- Imports only between the generated files: relative specifiers with the .js extension ("./fizzbuzz.js", "../src/csv.js").
- No Node or host modules (no "node:*", no "fs", no npm packages), no network, no timers (setTimeout, setInterval),
  no process, no DOM. Pure computation only; the run has a time and memory limit.

Tests:
- Put tests in files named *.test.js. Use the globals describe, it and expect (Jest-like matchers: toBe, toEqual,
  toThrow, toContain, toMatch, toBeTruthy, toBeFalsy, toBeGreaterThan, toBeLessThan, toHaveLength, and .not),
  or import them: import { describe, it, expect } from 'sandbox:test';
- Cover normal input, edge cases and invalid input. Every test must pass against your module.

Graphics (SVG or HTML): write a module that exports a function returning the markup as a string
(e.g. export function barChart(data, options) returning '<svg ...>...</svg>'), escape text you put into markup,
and write tests that check the markup (elements present, counts, labels, escaping).`;

type Request = MessageMap['implementation.request'];

function fileBlocks(files: GeneratedFile[]): string {
  return files.map((file) => `\`\`\`${file.path.endsWith('.js') || file.path.endsWith('.mjs') ? 'js' : ''} file=${file.path}\n${file.content.replace(/\n$/, '')}\n\`\`\``).join('\n\n');
}

/** The user message: the task, the plan, and on a retry the previous files and what failed. */
export function implementerPrompt(payload: Request): string {
  const { requirement, prompt, analysis, plan, feedback, previous } = payload;
  const parts = [
    `Requirement:\n${requirement}`,
    `Specification:\n${prompt}`,
    `Analysis: ${analysis.complexity} ${analysis.kind} task. ${analysis.summary}`,
  ];
  if (plan) parts.push(`Plan:\n${plan}`);
  if (!feedback) {
    parts.push('Write the module and its tests now, one fenced block per file.');
    return parts.join('\n\n');
  }
  const { report } = feedback;
  const failure = report.ok
    ? 'The sandbox run passed, but a review found problems.'
    : `The sandbox run failed (${report.reason}): ${report.message}${report.location ? ` at ${report.location.file}:${report.location.line}:${report.location.column}` : ''}`;
  if (previous?.length) parts.push(`Your previous files (attempt ${feedback.iteration}):\n\n${fileBlocks(previous)}`);
  parts.push(failure);
  if (feedback.findings.length) parts.push(`Failing tests and findings:\n${feedback.findings.map((f) => `- ${f}`).join('\n')}`);
  parts.push(
    'Fix the code (or a test that asserts something the specification does not say). Answer with the complete corrected set of files, every file in full, one fenced block per file.',
  );
  return parts.join('\n\n');
}

/** Turns an implementer answer into a checked Implementation (E_LLM_OUTPUT when it is not one). */
export function parseImplementation(text: string): Implementation {
  const { files, notes } = parseFiles(text, 'implementer');
  const tests = files.filter((file) => TEST_FILE.test(file.path)).map((file) => file.path);
  const entry = files.find((file) => MODULE_FILE.test(file.path) && !TEST_FILE.test(file.path))?.path;
  if (!entry) {
    throw outputError(
      'implementer',
      'a set of files',
      `no module file: besides tests (${tests.join(', ') || 'none'}) it needs a .js or .mjs module, e.g. src/index.js`,
      text,
    );
  }
  try {
    return parse(ImplementationSchema, { files, entry, tests, notes }, 'implementer output');
  } catch (error) {
    if (!(error instanceof RuntimeError)) throw error;
    throw new RuntimeError(ErrorCode.LlmOutput, `${error.message}; answer began: ${answerBegan(text)}`, { details: error.details });
  }
}

/**
 * Writes the module and its tests (and, with feedback, the corrected set). Answers
 * `implementation.request` with an Implementation; an answer without usable file blocks is E_LLM_OUTPUT.
 */
export const implementer = defineAgent({
  name: 'implementer',
  version: '1.0.0',
  role: 'implementer',
  description: 'Writes a JavaScript ES module and its tests as fenced file blocks, and fixes them from feedback.',
  accepts: ['implementation.request'],
  async handle(message, caps) {
    const { payload } = message;
    const text = await ask(caps, {
      role: 'implementer',
      system: IMPLEMENTER_SYSTEM,
      user: implementerPrompt(payload),
      taskId: message.taskId,
      requirement: payload.requirement,
      attempt: payload.feedback ? payload.feedback.iteration : 0,
      complexity: payload.analysis.complexity,
    });
    return parseImplementation(text);
  },
});
