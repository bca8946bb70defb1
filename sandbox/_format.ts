/**
 * Turning values into short strings, for console lines and assertion messages.
 *
 * `createFormatter` runs INSIDE the isolate: the harness ships it as source text via
 * Function.prototype.toString, so its body must not reference anything outside itself (no imports,
 * no module-level helpers, no globals: the built-ins it uses come in as primordials, taken before
 * generated code ran). It is plain JS, so the worker also calls it host-side for hints.
 */
import type { Clipper } from './_limits.ts';
import type { Primordials } from './_primordials.ts';

export interface Formatter {
  /** A compact, one-line rendering: strings quoted, arrays as `[1,2]`, objects as `{a: 1}`. */
  format(value: unknown): string;
  /** console.log semantics: top-level strings raw, printf-style `%s %d %i %f %o %O %j` in the first one. */
  formatArgs(args: readonly unknown[]): string;
  /**
   * `Name: message (at file:line:column)` for a thrown value, within `maxBytes` (the message is cut
   * with the "…cut (N bytes more)" marker, the location kept); stack frames of `sandbox:` code are skipped.
   */
  describeError(error: unknown, maxBytes: number): string;
  /** Why a ReferenceError happened when the name is one the sandbox deliberately lacks, else ''. */
  hint(message: string): string;
  /** Makes `matcher` an asymmetric matcher (`expect.any(…)`, …) shown as `description`. */
  registerMatcher(matcher: object, description: string): void;
  /** The description of one of our asymmetric matchers, or undefined for any other value. */
  matcherDescription(value: unknown): string | undefined;
}

export function createFormatter(p: Primordials, clipper: Clipper): Formatter {
  const MAX_LENGTH = 1000;
  const MAX_ITEMS = 50;
  const MAX_DEPTH = 4;
  const MAX_FRAMES = 64;
  const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
  const FRAME = /^.+:\d+:\d+$/;
  const PRINTF = /%([sdifoOj%])/g;
  const TIMER = /Timeout|Interval|Immediate|AnimationFrame/;
  const MODULE_SCOPE = /^(require|module|exports|__dirname|__filename)$/;
  const MISSING = /^(setTimeout|setInterval|setImmediate|clearTimeout|clearInterval|requestAnimationFrame|fetch|process|require|module|exports|__dirname|__filename|Buffer|structuredClone|TextEncoder|TextDecoder|URL|URLSearchParams|atob|btoa|window|document|performance|crypto) is not defined$/;
  const { String, StringPrototypeSlice: slice, StringPrototypeStartsWith: startsWith, StringPrototypeIndexOf: indexOf, RegExpPrototypeExec: exec } = p;
  const matchers = new p.WeakMap<object, string>();

  const matches = (pattern: RegExp, text: string) => exec(pattern, text) !== null;

  function list(parts: string[], total: number, separator: string): string {
    let text = '';
    for (let i = 0; i < parts.length; i++) text += (i === 0 ? '' : separator) + parts[i];
    return total > parts.length ? text + (parts.length === 0 ? '' : separator) + '… ' + (total - parts.length) + ' more' : text;
  }

  function errorHead(error: Error): string {
    const name = String(error.name ?? 'Error');
    const message = String(error.message ?? '');
    return message === '' ? name : name + ': ' + message;
  }

  function render(value: unknown, depth: number, seen: object[]): string {
    switch (typeof value) {
      // Only the start of a long string is shown: the rest would be cut anyway.
      case 'string': return p.JSONStringify(value.length > MAX_LENGTH ? slice(value, 0, MAX_LENGTH + 1) : value);
      case 'number': return p.ObjectIs(value, -0) ? '-0' : String(value);
      case 'bigint': return String(value) + 'n';
      case 'symbol': return String(value);
      case 'undefined': return 'undefined';
      case 'boolean': return value ? 'true' : 'false';
      case 'function': {
        const name = value.name === '' ? '(anonymous)' : String(value.name);
        return startsWith(p.FunctionPrototypeToString(value), 'class') ? '[class ' + name + ']' : '[Function: ' + name + ']';
      }
    }
    if (value === null) return 'null';
    const object = value as Record<string, unknown>;
    const described = p.WeakMapPrototypeGet(matchers, object);
    if (described !== undefined) return described;
    for (let i = 0; i < seen.length; i++) if (seen[i] === object) return '[Circular]';
    const kind = p.kindOf(object);
    if (kind === 'Error') return errorHead(object as unknown as Error);
    if (kind === 'Date') return p.NumberIsNaN(p.DatePrototypeGetTime(object)) ? 'Invalid Date' : p.DatePrototypeToISOString(object);
    if (kind === 'RegExp') return '/' + p.RegExpPrototypeGetSource(object as unknown as RegExp) + '/' + p.regExpFlags(object as unknown as RegExp, true);
    if (kind === 'Promise' || kind === 'WeakMap' || kind === 'WeakSet') return kind + ' {…}';
    if (kind === 'Number') return '[Number: ' + render(p.NumberPrototypeValueOf(object), depth, seen) + ']';
    if (kind === 'String') return '[String: ' + render(p.StringPrototypeValueOf(object), depth, seen) + ']';
    if (kind === 'Boolean') return '[Boolean: ' + render(p.BooleanPrototypeValueOf(object), depth, seen) + ']';
    if (kind === 'ArrayBuffer') return 'ArrayBuffer(' + p.ArrayBufferPrototypeGetByteLength(object) + ')';
    const nested: object[] = [];
    for (let i = 0; i < seen.length; i++) p.append(nested, seen[i]);
    p.append(nested, object);
    if (kind === 'Array' || kind === 'TypedArray') {
      const items = object as unknown as ArrayLike<unknown>;
      const length = kind === 'Array' ? items.length : p.TypedArrayPrototypeGetLength(object);
      const prefix = kind === 'Array' ? '' : p.TypedArrayPrototypeGetName(object) + '(' + length + ') ';
      if (depth >= MAX_DEPTH) return prefix + '[Array]';
      const parts: string[] = [];
      for (let i = 0; i < p.MathMin(length, MAX_ITEMS); i++) p.append(parts, render(items[i], depth + 1, nested));
      return prefix + '[' + list(parts, length, ',') + ']';
    }
    if (kind === 'Map' || kind === 'Set') {
      const size = kind === 'Map' ? p.MapPrototypeGetSize(object) : p.SetPrototypeGetSize(object);
      if (depth >= MAX_DEPTH) return kind + '(' + size + ') {…}';
      const parts: string[] = [];
      if (kind === 'Map') {
        const entries = p.mapEntries(object as unknown as Map<unknown, unknown>, MAX_ITEMS);
        for (let i = 0; i < entries.length; i++) p.append(parts, render(entries[i][0], depth + 1, nested) + ' => ' + render(entries[i][1], depth + 1, nested));
      } else {
        const values = p.setValues(object as unknown as Set<unknown>, MAX_ITEMS);
        for (let i = 0; i < values.length; i++) p.append(parts, render(values[i], depth + 1, nested));
      }
      return kind + '(' + size + ') {' + list(parts, size, ', ') + '}';
    }
    const proto = p.ObjectGetPrototypeOf(object) as { constructor?: unknown } | null;
    const ctorName = proto === null ? '' : typeof proto.constructor === 'function' ? String(proto.constructor.name) : '';
    const prefix = ctorName === '' || ctorName === 'Object' ? '' : ctorName + ' ';
    if (depth >= MAX_DEPTH) return prefix + '{…}';
    const keys = p.ObjectKeys(object);
    const parts: string[] = [];
    for (let i = 0; i < p.MathMin(keys.length, MAX_ITEMS); i++) {
      const key = keys[i];
      p.append(parts, (matches(IDENTIFIER, key) ? key : p.JSONStringify(key)) + ': ' + render(object[key], depth + 1, nested));
    }
    return parts.length === 0 ? prefix + '{}' : prefix + '{' + list(parts, keys.length, ', ') + '}';
  }

  function format(value: unknown): string {
    let text: string;
    try {
      text = render(value, 0, []);
    } catch {
      text = '[unformattable value]';
    }
    return text.length > MAX_LENGTH ? slice(text, 0, MAX_LENGTH) + '…' : text;
  }

  /** The lines of `text` that do not name `sandbox:` code (our harness's frames in a stack). */
  function withoutHarnessLines(text: string): string {
    let kept = '';
    let start = 0;
    while (start <= text.length) {
      let end = indexOf(text, '\n', start);
      if (end < 0) end = text.length;
      const line = slice(text, start, end);
      if (indexOf(line, 'sandbox:') < 0) kept += (kept === '' ? '' : '\n') + line;
      start = end + 1;
    }
    return kept;
  }

  function formatArgs(args: readonly unknown[]): string {
    let next = 0;
    let text = '';
    const first = args[0];
    if (typeof first === 'string' && indexOf(first, '%') >= 0) {
      next = 1;
      let at = 0;
      PRINTF.lastIndex = 0;
      for (let match = exec(PRINTF, first); match !== null; match = exec(PRINTF, first)) {
        const code = match[1];
        let replacement = match[0];
        if (code === '%') replacement = '%';
        else if (next < args.length) {
          const arg = args[next++];
          if (code === 's') replacement = typeof arg === 'string' ? arg : format(arg);
          else if (code === 'd' || code === 'i') replacement = String(code === 'i' ? p.MathTrunc(p.Number(arg)) : p.Number(arg));
          else if (code === 'f') replacement = String(p.Number(arg));
          else replacement = format(arg);
        }
        text += slice(first, at, match.index) + replacement;
        at = match.index + match[0].length;
      }
      text += slice(first, at);
    }
    for (let i = next; i < args.length; i++) {
      const arg = args[i];
      let part: string;
      if (typeof arg === 'string') part = arg;
      else if (p.isError(arg) && typeof arg.stack === 'string') part = withoutHarnessLines(arg.stack);
      else part = format(arg);
      text += (i === 0 ? '' : ' ') + part;
    }
    return text;
  }

  function userFrame(stack: string): string {
    // V8 starts a stack with the message, which may be huge: the frames begin at the first "at" line.
    let start = startsWith(stack, '    at ') ? 0 : indexOf(stack, '\n    at ');
    for (let frames = 0; start >= 0 && start < stack.length && frames < MAX_FRAMES; frames++) {
      let end = indexOf(stack, '\n', start + 1);
      if (end < 0) end = stack.length;
      const frame = p.StringPrototypeTrim(slice(stack, start, end));
      start = end;
      if (!startsWith(frame, 'at ')) continue;
      let where = p.StringPrototypeEndsWith(frame, ')') ? slice(frame, p.StringPrototypeLastIndexOf(frame, '(') + 1, -1) : slice(frame, 3);
      if (startsWith(where, 'async ')) where = slice(where, 6);
      if (matches(FRAME, where) && !startsWith(where, 'sandbox:') && !startsWith(where, '<')) return where;
    }
    return '';
  }

  function hint(message: string): string {
    // Checked only on short messages: the pattern is anchored, but an engine may still try every position.
    const match = message.length < 200 ? exec(MISSING, message) : null;
    if (match === null) return '';
    const name = match[1];
    if (matches(TIMER, name)) return ' (the sandbox has no timers)';
    if (matches(MODULE_SCOPE, name)) return ' (the files run as ES modules: use import and export)';
    return ' (the sandbox has no host or web APIs besides console and queueMicrotask)';
  }

  function describeError(error: unknown, maxBytes: number): string {
    try {
      if (!p.isError(error)) return clipper.clip('threw ' + format(error), maxBytes);
      const head = error.name === 'AssertionError' ? String(error.message) : errorHead(error);
      const extra = error.name === 'AssertionError' ? '' : hint(String(error.message));
      let stack: unknown;
      try {
        stack = error.stack;
      } catch {
        stack = undefined;
      }
      const where = typeof stack === 'string' ? userFrame(stack) : '';
      return clipper.clipHead(head, extra + (where === '' ? '' : ' (at ' + clipper.clip(where, 600) + ')'), maxBytes);
    } catch {
      return 'threw an error whose name, message or stack could not be read';
    }
  }

  return {
    format,
    formatArgs,
    describeError,
    hint,
    registerMatcher: (matcher, description) => void p.WeakMapPrototypeSet(matchers, matcher, description),
    matcherDescription: (value) => (value !== null && typeof value === 'object' ? p.WeakMapPrototypeGet(matchers, value) : undefined),
  };
}
