/**
 * JSON files as modules: checked up front so a broken one is a 'syntax' report with a location
 * (V8's JSON.parse message often has no position), then turned into `export default <value>`.
 */

export interface JsonProblem {
  message: string;
  line: number;
  column: number;
}

/** Offset of the first character that makes `text` invalid JSON (RFC 8259), or -1 when it is valid. */
function firstErrorOffset(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const string = () => {
    i++;
    while (i < text.length) {
      const char = text[i];
      if (char === '"') {
        i++;
        return;
      }
      if (char < ' ') fail();
      if (char === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) {
          fail();
        }
      }
      i++;
    }
    fail();
  };
  const value = (): void => {
    space();
    const char = text[i];
    if (char === '{' || char === '[') {
      const close = char === '{' ? '}' : ']';
      i++;
      space();
      if (text[i] === close) {
        i++;
        return;
      }
      for (;;) {
        if (close === '}') {
          space();
          if (text[i] !== '"') fail();
          string();
          space();
          if (text[i] !== ':') fail();
          i++;
        }
        value();
        space();
        if (text[i] === close) {
          i++;
          return;
        }
        if (text[i] !== ',') fail();
        i++;
      }
    }
    if (char === '"') return string();
    const literal = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
    literal.lastIndex = i;
    if (!literal.test(text)) fail();
    i = literal.lastIndex;
  };
  try {
    value();
    space();
    if (i < text.length) fail();
    return -1;
  } catch (thrown) {
    if (typeof thrown === 'number') return thrown;
    return 0;
  }
}

/** Why `text` is not valid JSON, with a 1-based line and column, or undefined when it is valid. */
export function jsonProblem(text: string): JsonProblem | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch {
    const offset = Math.max(0, firstErrorOffset(text));
    const before = text.slice(0, offset).split('\n');
    const found = offset >= text.length ? 'end of input' : `'${text[offset]}'`;
    return { message: `unexpected ${found}`, line: before.length, column: before[before.length - 1].length + 1 };
  }
}

/** An ES module whose default export is the parsed value; parsing inside keeps `__proto__` keys plain. */
export function jsonModuleSource(text: string): string {
  return `export default JSON.parse(${JSON.stringify(text)});\n`;
}
