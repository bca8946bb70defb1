/**
 * Turning values into short strings, for console lines and assertion messages.
 *
 * `createFormatter` runs INSIDE the isolate: the harness ships it as source text via
 * Function.prototype.toString, so its body must not reference anything outside itself (no imports,
 * no module-level helpers). It is plain JS, so the worker also calls it host-side for hints.
 */

export interface Formatter {
  /** A compact, one-line rendering: strings quoted, arrays as `[1,2]`, objects as `{a: 1}`. */
  format(value: unknown): string;
  /** console.log semantics: top-level strings raw, printf-style `%s %d %i %f %o %O %j` in the first one. */
  formatArgs(args: readonly unknown[]): string;
  /** `Name: message (at file:line:column)` for a thrown value; stack frames of `sandbox:` code are skipped. */
  describeError(error: unknown): string;
  /** Why a ReferenceError happened when the name is one the sandbox deliberately lacks, else ''. */
  hint(message: string): string;
}

export function createFormatter(): Formatter {
  const MAX_LENGTH = 1000;
  const MAX_ITEMS = 50;
  const MAX_DEPTH = 4;
  const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
  const MISSING = /^(setTimeout|setInterval|setImmediate|clearTimeout|clearInterval|requestAnimationFrame|fetch|process|require|module|exports|__dirname|__filename|Buffer|structuredClone|TextEncoder|TextDecoder|URL|URLSearchParams|atob|btoa|window|document|performance|crypto) is not defined$/;
  const toStringTag = Object.prototype.toString;
  const functionSource = Function.prototype.toString;

  function tag(value: object): string {
    return toStringTag.call(value).slice(8, -1);
  }

  function list(parts: string[], total: number, separator: string): string {
    return total > parts.length ? [...parts, `… ${total - parts.length} more`].join(separator) : parts.join(separator);
  }

  function errorHead(error: Error): string {
    const name = String(error.name ?? 'Error');
    const message = String(error.message ?? '');
    return message === '' ? name : `${name}: ${message}`;
  }

  function render(value: unknown, depth: number, seen: object[]): string {
    switch (typeof value) {
      case 'string': return JSON.stringify(value);
      case 'number': return Object.is(value, -0) ? '-0' : String(value);
      case 'bigint': return `${value}n`;
      case 'symbol': return value.toString();
      case 'undefined': return 'undefined';
      case 'boolean': return String(value);
      case 'function': {
        const name = value.name === '' ? '(anonymous)' : value.name;
        return functionSource.call(value).startsWith('class') ? `[class ${name}]` : `[Function: ${name}]`;
      }
    }
    if (value === null) return 'null';
    const object = value as Record<string, unknown>;
    if (typeof object.asymmetricMatch === 'function') return String(object);
    if (seen.includes(object)) return '[Circular]';
    const kind = tag(object);
    if (object instanceof Error) return errorHead(object);
    if (kind === 'Date') return Number.isNaN((object as unknown as Date).getTime()) ? 'Invalid Date' : (object as unknown as Date).toISOString();
    if (kind === 'RegExp') return String(object);
    if (kind === 'Promise' || kind === 'WeakMap' || kind === 'WeakSet') return `${kind} {…}`;
    if (kind === 'Number' || kind === 'String' || kind === 'Boolean') return `[${kind}: ${render((object as unknown as { valueOf(): unknown }).valueOf(), depth, seen)}]`;
    if (kind === 'ArrayBuffer') return `ArrayBuffer(${(object as unknown as ArrayBuffer).byteLength})`;
    const nested = [...seen, object];
    if (Array.isArray(object) || ArrayBuffer.isView(object)) {
      const items = object as unknown as ArrayLike<unknown>;
      const prefix = Array.isArray(object) ? '' : `${kind}(${items.length}) `;
      if (depth >= MAX_DEPTH) return `${prefix}[Array]`;
      const parts: string[] = [];
      for (let i = 0; i < Math.min(items.length, MAX_ITEMS); i++) parts.push(render(items[i], depth + 1, nested));
      return `${prefix}[${list(parts, items.length, ',')}]`;
    }
    if (kind === 'Map' || kind === 'Set') {
      const collection = object as unknown as Map<unknown, unknown>;
      if (depth >= MAX_DEPTH) return `${kind}(${collection.size}) {…}`;
      const parts: string[] = [];
      for (const [key, item] of collection.entries()) {
        if (parts.length >= MAX_ITEMS) break;
        parts.push(kind === 'Map' ? `${render(key, depth + 1, nested)} => ${render(item, depth + 1, nested)}` : render(item, depth + 1, nested));
      }
      return `${kind}(${collection.size}) {${list(parts, collection.size, ', ')}}`;
    }
    const proto = Object.getPrototypeOf(object);
    const ctorName = proto === null ? '' : typeof proto.constructor === 'function' ? String(proto.constructor.name) : '';
    const prefix = ctorName === '' || ctorName === 'Object' ? '' : `${ctorName} `;
    if (depth >= MAX_DEPTH) return `${prefix}{…}`;
    const keys = Object.keys(object);
    const parts = keys.slice(0, MAX_ITEMS).map((key) => `${IDENTIFIER.test(key) ? key : JSON.stringify(key)}: ${render(object[key], depth + 1, nested)}`);
    return parts.length === 0 ? `${prefix}{}` : `${prefix}{${list(parts, keys.length, ', ')}}`;
  }

  function format(value: unknown): string {
    let text: string;
    try {
      text = render(value, 0, []);
    } catch {
      text = '[unformattable value]';
    }
    return text.length > MAX_LENGTH ? `${text.slice(0, MAX_LENGTH)}…` : text;
  }

  function formatArgs(args: readonly unknown[]): string {
    const rest = [...args];
    const parts: string[] = [];
    if (typeof rest[0] === 'string' && rest[0].includes('%')) {
      const template = rest.shift() as string;
      parts.push(template.replace(/%([sdifoOj%])/g, (match, code: string) => {
        if (code === '%') return '%';
        if (rest.length === 0) return match;
        const arg = rest.shift();
        if (code === 's') return typeof arg === 'string' ? arg : format(arg);
        if (code === 'd' || code === 'i') return String(code === 'i' ? Math.trunc(Number(arg)) : Number(arg));
        if (code === 'f') return String(Number(arg));
        return format(arg);
      }));
    }
    for (const arg of rest) {
      if (typeof arg === 'string') parts.push(arg);
      else if (arg instanceof Error && typeof arg.stack === 'string') parts.push(arg.stack.split('\n').filter((line) => !line.includes('sandbox:')).join('\n'));
      else parts.push(format(arg));
    }
    return parts.join(' ');
  }

  function userFrame(stack: string): string {
    for (const line of stack.split('\n')) {
      const frame = line.trim();
      if (!frame.startsWith('at ')) continue;
      const where = frame.endsWith(')') ? frame.slice(frame.lastIndexOf('(') + 1, -1) : frame.slice(3).replace(/^async /, '');
      if (/^.+:\d+:\d+$/.test(where) && !where.startsWith('sandbox:') && !where.startsWith('<')) return where;
    }
    return '';
  }

  function hint(message: string): string {
    const match = MISSING.exec(message);
    if (match === null) return '';
    const name = match[1];
    if (/Timeout|Interval|Immediate|AnimationFrame/.test(name)) return ' (the sandbox has no timers)';
    if (/^(require|module|exports|__dirname|__filename)$/.test(name)) return ' (the files run as ES modules: use import and export)';
    return ' (the sandbox has no host or web APIs besides console and queueMicrotask)';
  }

  function describeError(error: unknown): string {
    if (!(error instanceof Error)) return `threw ${format(error)}`;
    const head = error.name === 'AssertionError' ? String(error.message) : `${errorHead(error)}${hint(String(error.message))}`;
    const where = typeof error.stack === 'string' ? userFrame(error.stack) : '';
    return where === '' ? head : `${head} (at ${where})`;
  }

  return { format, formatArgs, describeError, hint };
}
