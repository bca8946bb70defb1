/**
 * style-reviewer: a reference drop-in plugin. It serves the optional 'reviewer' role and flags, as
 * errors, `debugger` statements, lines longer than `maxLineLength` and any word listed in `forbid`.
 * Error findings go back to the implementer like failing tests. It needs no model: it reads the files.
 * @module
 */
import { z } from 'zod';
import { defineAgent } from '../../runtime/plugin/mod.ts';
import type { GeneratedFile, ReviewFinding } from '../../runtime/protocol/mod.ts';

/**
 * The plugin's config, from `"plugins": { "style-reviewer": { ... } }` in orchestrator.config.json.
 * @example StyleReviewerConfig.parse({ maxLineLength: 120 }) // { maxLineLength: 120, forbid: ['debugger'] }
 */
const LENGTH = 'must be an integer from 40 to 1000 (the longest line allowed), e.g. 120';
export const StyleReviewerConfig = z.strictObject({
  maxLineLength: z.number({ error: LENGTH }).int({ error: LENGTH }).min(40, { error: LENGTH }).max(1000, { error: LENGTH }).default(200),
  forbid: z
    .array(z.string().min(1, { error: 'must not be empty' }), { error: 'must be an array of words, e.g. ["debugger", "eval"]' })
    .default(['debugger']),
});
export type StyleReviewerConfig = z.infer<typeof StyleReviewerConfig>;

const DEBUGGER_STATEMENT = /(?:^|[;{}])\s*debugger\s*(?:;|}|$)/;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A matcher for `word` as a whole word (or as a plain substring when it is not word-like at its ends). */
function wordMatcher(word: string): RegExp {
  const start = /^\w/.test(word) ? '\\b' : '';
  const end = /\w$/.test(word) ? '\\b' : '';
  return new RegExp(`${start}${escapeRegExp(word)}${end}`);
}

/**
 * Reviews files line by line. One finding per rule per line, lines counted from 1.
 * @example
 * review([{ path: 'src/a.js', content: 'debugger;\n' }], { maxLineLength: 200, forbid: [] })
 * // [{ file: 'src/a.js', line: 1, severity: 'error', message: 'debugger statement: remove it' }]
 */
export function review(files: GeneratedFile[], config: StyleReviewerConfig): ReviewFinding[] {
  const findings: ReviewFinding[] = [];
  const forbidden = config.forbid.map((word) => ({ word, matcher: wordMatcher(word) }));
  for (const file of files) {
    const lines = file.content.split(/\r?\n/);
    lines.forEach((text, index) => {
      const line = index + 1;
      const statement = DEBUGGER_STATEMENT.test(text);
      if (statement) findings.push({ file: file.path, line, severity: 'error', message: 'debugger statement: remove it' });
      if (text.length > config.maxLineLength) {
        findings.push({
          file: file.path,
          line,
          severity: 'error',
          message: `line is ${text.length} characters long, more than maxLineLength ${config.maxLineLength}: break it up`,
        });
      }
      for (const { word, matcher } of forbidden) {
        if (statement && word === 'debugger') continue;
        if (matcher.test(text)) {
          findings.push({ file: file.path, line, severity: 'error', message: `forbidden word "${word}": remove it or rephrase` });
        }
      }
    });
  }
  return findings;
}

/**
 * The plugin: role 'reviewer', answers 'review.request' with 'review.result'.
 * @example const { loaded } = await loadPlugins({ builtins, dirs: ['plugins'], configs: { 'style-reviewer': { maxLineLength: 120 } } });
 */
export default defineAgent<'review.request', StyleReviewerConfig>({
  name: 'style-reviewer',
  version: '1.0.0',
  role: 'reviewer',
  description: 'Flags debugger statements, over-long lines and forbidden words in generated code.',
  accepts: ['review.request'],
  config: StyleReviewerConfig,
  async handle(message, caps) {
    const findings = review(message.payload.implementation.files, caps.config);
    if (findings.length) caps.log('info', `style-reviewer: ${findings.length} finding(s)`, message.taskId);
    return { findings };
  },
});
