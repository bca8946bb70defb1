// Helpers for messages about what a person typed: JSON syntax errors with their position, and
// "did you mean" hints for misspelled names.
import { ErrorCode, RuntimeError, errorMessage } from './errors.ts';

/** Where JSON.parse gave up, found by a small scanner (V8 omits the position for some errors). */
function syntaxErrorOffset(text: string): number {
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const string = (): void => {
    for (i++; i < text.length; i++) {
      if (text[i] === '"') return void i++;
      if (text[i] === '\\') i++;
      else if (text[i] < ' ') fail();
    }
    fail();
  };
  const value = (): void => {
    ws();
    const open = text[i];
    if (open === '{' || open === '[') {
      const close = open === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) return void i++;
      for (;;) {
        if (open === '{') {
          ws();
          if (text[i] !== '"') fail();
          string();
          ws();
          if (text[i] !== ':') fail();
          i++;
        }
        value();
        ws();
        if (text[i] === close) return void i++;
        if (text[i] !== ',') fail();
        i++;
      }
    }
    if (open === '"') return string();
    for (const literal of ['true', 'false', 'null']) if (text.startsWith(literal, i)) return void (i += literal.length);
    NUMBER.lastIndex = i;
    if (!NUMBER.test(text)) fail();
    i = NUMBER.lastIndex;
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
    return -1;
  } catch (at) {
    return at as number;
  }
}

/**
 * The error for a file that is not valid JSON: it names the file, the line and column (found by a
 * small scanner where V8 leaves the position out) and the usual causes; `example` shows a valid file.
 * @example
 * try { JSON.parse(text); } catch (error) { throw jsonSyntaxError(text, 'model-routing.json', error, '{ "routes": { … } }'); }
 */
export function jsonSyntaxError(text: string, file: string, error: unknown, example: string): RuntimeError {
  if (!text.trim()) {
    return new RuntimeError(
      ErrorCode.Invalid,
      `${file}: the file is empty: write JSON such as ${example}`,
      { cause: error, details: { file } },
    );
  }
  const offset = syntaxErrorOffset(text);
  let where = '';
  if (offset >= 0) {
    const before = text.slice(0, offset).split('\n');
    where = ` at line ${before.length}, column ${before[before.length - 1].length + 1}`;
  }
  const reason = errorMessage(error)
    .replace(/, (\.\.\.)?".*" is not valid JSON$/s, '')
    .replace(/\s*(in JSON )?at position \d+.*$/s, '');
  return new RuntimeError(
    ErrorCode.Invalid,
    `${file}: not valid JSON${where}: ${reason}: fix the syntax (a trailing comma, a missing comma or an unquoted key is the usual cause)`,
    { cause: error, details: { file, line: where ? Number(/line (\d+)/.exec(where)![1]) : undefined } },
  );
}

/**
 * The closest name within two edits (insert, delete, replace, or swap two neighbours: "stauts" is one
 * edit from "status"), for "did you mean" hints; the first of equally close names.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const a = word.toLowerCase();
    const b = candidate.toLowerCase();
    // Optimal string alignment distance, three rows kept.
    let before: number[] = [];
    let row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const next = [i];
      for (let j = 1; j <= b.length; j++) {
        next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) next[j] = Math.min(next[j], before[j - 2] + 1);
      }
      [before, row] = [row, next];
    }
    if (row[b.length] < bestDistance) [best, bestDistance] = [candidate, row[b.length]];
  }
  return best;
}

/** ` (did you mean 'x'?)` when a candidate is within two edits, else ''. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const guess = closest(word, candidates);
  return guess ? ` (did you mean '${guess}'?)` : '';
}
