import { ErrorCode, RuntimeError, errorMessage, protectedContentReason, protectedPathReason, quotePath, unsafePathReason } from '../runtime/protocol/mod.ts';
import type { GeneratedFile } from '../runtime/protocol/mod.ts';

/**
 * Parsing of model answers, shared by the agents. Every failure is a RuntimeError(E_LLM_OUTPUT) whose
 * message says what was wrong and how the answer began, so the task log shows why a stage failed.
 */

/** The first `n` characters of an answer, on one line, for error messages. */
export function answerBegan(text: string, n = 80): string {
  const flat = text.trim().replace(/\s+/g, ' ');
  return `«${flat.length > n ? `${flat.slice(0, n)}…` : flat}»`;
}

export function outputError(agent: string, what: string, why: string, text: string): RuntimeError {
  return new RuntimeError(ErrorCode.LlmOutput, `${agent}: the model's answer is not ${what}: ${why}; answer began: ${answerBegan(text)}`);
}

/** The first balanced `{...}` in `text`, honouring JSON strings and escapes; null when there is none. */
export function firstObject(text: string): string | null {
  const start = text.indexOf('{');
  if (start < 0) return null;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{') depth++;
    else if (ch === '}' && --depth === 0) return text.slice(start, i + 1);
  }
  return null;
}

/**
 * Reads the JSON object in a model answer: drops ``` fence lines, takes the first balanced {...},
 * parses it. Throws E_LLM_OUTPUT naming the agent and `what` it needed.
 * @example extractJson('```json\n{"a":1}\n```', 'analyst', 'the JSON the analysis needs') // { a: 1 }
 */
export function extractJson(text: string, agent: string, what: string): unknown {
  const unfenced = text
    .split('\n')
    .filter((line) => !/^\s*(```|~~~)/.test(line))
    .join('\n');
  const candidate = firstObject(unfenced);
  if (candidate === null) throw outputError(agent, what, 'it holds no {...} object', text);
  try {
    return JSON.parse(candidate);
  } catch (error) {
    throw outputError(agent, what, `its {...} is not valid JSON (${errorMessage(error)})`, text);
  }
}

interface Block {
  info: string;
  lines: string[];
  /** Line numbers (0-based) of the opening and closing fences. */
  open: number;
  close: number;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;

/** Every fenced block of a Markdown answer; an unclosed one has close = -1 and runs to the end. */
function fencedBlocks(lines: string[]): Block[] {
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const opening = FENCE.exec(lines[i]);
    if (!opening) continue;
    const [, fence, info] = opening;
    const block: Block = { info: info.trim(), lines: [], open: i, close: -1 };
    for (i++; i < lines.length; i++) {
      const closing = FENCE.exec(lines[i]);
      if (closing && closing[1][0] === fence[0] && closing[1].length >= fence.length && closing[2].trim() === '') {
        block.close = i;
        break;
      }
      block.lines.push(lines[i]);
    }
    blocks.push(block);
  }
  return blocks;
}

function cleanPath(raw: string): string {
  return raw.trim().replace(/^["'`]|["'`]$/g, '').replace(/^\.\//, '');
}

/** The path a block names: `file=PATH` or `path=PATH` in the info string, or a first line `// file: PATH`. */
function pathOf(block: Block): { path: string; skipFirstLine: boolean } | null {
  const info = /(?:^|\s)(?:file|path)\s*=\s*("[^"]+"|'[^']+'|\S+)/.exec(block.info);
  if (info) return { path: cleanPath(info[1]), skipFirstLine: false };
  const first = /^\s*(?:\/\/|#|<!--)\s*(?:file|path)\s*:\s*(\S+?)\s*(?:-->)?\s*$/.exec(block.lines[0] ?? '');
  if (first) return { path: cleanPath(first[1]), skipFirstLine: true };
  return null;
}

/** The most files one answer may hold (ImplementationSchema allows as many). */
export const MAX_FILES = 50;

/**
 * The files of an implementer answer (one fenced block per file, the path in the info string) and
 * the notes (the text outside the file blocks, trimmed, at most 2000 characters).
 * Throws E_LLM_OUTPUT for no files, more than MAX_FILES, an unsafe, protected or duplicate path (runtime/protocol's
 * protected-files policy, the rule named), a package.json with an install-time script, or a block that is never closed.
 * @example parseFiles('Here:\n```js file=src/a.js\nexport const a = 1;\n```') // { files: [{ path: 'src/a.js', ... }], notes: 'Here:' }
 */
export function parseFiles(text: string, agent: string): { files: GeneratedFile[]; notes: string } {
  const what = 'a set of files';
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const files: GeneratedFile[] = [];
  // A Set, not a scan of `files`: an answer of tens of thousands of tiny blocks made the duplicate
  // check quadratic and held the server's event loop for seconds.
  const paths = new Set<string>();
  const used = new Set<number>();
  for (const block of fencedBlocks(lines)) {
    const named = pathOf(block);
    if (!named) continue;
    const { path } = named;
    if (block.close < 0) {
      throw outputError(agent, what, `the block for "${path}" is never closed with \`\`\`: the answer was probably cut off`, text);
    }
    // The protected-files policy first, so a refused name (CLAUDE.md, .npmrc) names its rule and the
    // task's error says why, instead of the file passing validation and failing only when written.
    const refused = protectedPathReason(path);
    if (refused) throw outputError(agent, what, `the file path ${quotePath(path)} is protected: it ${refused.message}`, text);
    const reason = unsafePathReason(path);
    if (reason) throw outputError(agent, what, `the file path "${path}" is unsafe: it ${reason}`, text);
    if (paths.has(path)) {
      throw outputError(agent, what, `the path "${path}" appears twice: give each file one block`, text);
    }
    if (paths.size === MAX_FILES) {
      throw outputError(agent, what, `it has more than ${MAX_FILES} file blocks (one too many: "${path}"): write at most ${MAX_FILES} files, fewer and larger`, text);
    }
    paths.add(path);
    const body = named.skipFirstLine ? block.lines.slice(1) : block.lines;
    const content = `${body.join('\n')}\n`;
    const install = protectedContentReason(path, content);
    if (install) throw outputError(agent, what, `the file ${quotePath(path)} ${install.message}`, text);
    files.push({ path, content });
    for (let i = block.open; i <= block.close; i++) used.add(i);
  }
  if (files.length === 0) {
    throw outputError(agent, what, 'no files found: put each file in a fenced block whose info string names it, e.g. ```js file=src/index.js', text);
  }
  const notes = lines
    .filter((_, i) => !used.has(i))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()
    .slice(0, 2000);
  return { files, notes };
}

export const TEST_FILE = /\.(test|spec)\.(js|mjs)$/;
export const MODULE_FILE = /\.(js|mjs)$/;
