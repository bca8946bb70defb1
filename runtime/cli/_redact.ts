/**
 * Secrets never leave the process: what counts as one, how one is shown (`set (NAME, 40 chars)`, never
 * a fragment of the value), and scrubbing text and objects before they are printed or bundled.
 * @module
 */

type Env = Record<string, string | undefined>;

// Matched against the name in SCREAMING_SNAKE form, so apiToken, client-secret and X_API_KEY all count.
const SECRET_NAME = /(^|_)(API_KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|AUTHORIZATION|COOKIE)$/;
// Shapes of provider keys and bearer tokens, for values we were not told about.
const SECRET_SHAPES = [/\bsk-[A-Za-z0-9_-]{8,}/g, /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, /\bAKIA[0-9A-Z]{16}\b/g, /\bgh[pousr]_[A-Za-z0-9]{20,}\b/g];

/**
 * Whether a variable or field name holds a secret: *_API_KEY, *_KEY, *_TOKEN, *_SECRET, *_PASSWORD,
 * authorization, cookie, in any case style (apiKey, apiToken, client-secret, x-api-key).
 * @example isSecretName('ANTHROPIC_API_KEY'); // true
 * @example isSecretName('maxTokens'); // false
 */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[-.\s]/g, '_').toUpperCase());
}

/**
 * How a secret is shown: that it is set, where, and its length — never any part of it.
 * @example maskSecret('ANTHROPIC_API_KEY', 'sk-ant-…'); // 'set (ANTHROPIC_API_KEY, 40 chars)'
 */
export function maskSecret(name: string, value: string | undefined): string {
  return value ? `set (${name}, ${value.length} chars)` : 'not set';
}

/**
 * The secret values an environment holds (names per isSecretName, values of 4+ characters), longest
 * first so a key that contains another is replaced whole.
 * @example secretValues({ OPENAI_API_KEY: 'sk-x…', PATH: '/bin' }); // [['OPENAI_API_KEY', 'sk-x…']]
 */
export function secretValues(...envs: Env[]): Array<[string, string]> {
  const found = new Map<string, string>();
  for (const env of envs) for (const [name, value] of Object.entries(env)) if (value && value.length >= 4 && isSecretName(name)) found.set(value, name);
  return [...found.entries()].map(([value, name]) => [name, value] as [string, string]).sort((a, b) => b[1].length - a[1].length);
}

/**
 * Several lists of secrets as one, each value once, longest first (so a key that contains another is
 * replaced whole).
 * @example mergeSecrets([['A_KEY', 'abcd']], [['b in f.json', 'abcdef']]); // [['b in f.json', 'abcdef'], ['A_KEY', 'abcd']]
 */
export function mergeSecrets(...lists: Array<Array<[string, string]>>): Array<[string, string]> {
  const found = new Map<string, string>();
  for (const list of lists) for (const [name, value] of list) if (!found.has(value)) found.set(value, name);
  return [...found.entries()].map(([value, name]) => [name, value] as [string, string]).sort((a, b) => b[1].length - a[1].length);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Text with every known secret value replaced by `[REDACTED NAME]` and anything shaped like a key or
 * bearer token by `[REDACTED]`.
 * @example redactText('key=sk-abcdefgh1234', []); // 'key=[REDACTED]'
 */
export function redactText(text: string, secrets: Array<[string, string]>): string {
  let out = text;
  for (const [name, value] of secrets) out = out.split(value).join(`[REDACTED ${name}]`);
  for (const shape of SECRET_SHAPES) out = out.replace(shape, '[REDACTED]');
  // Credentials inside URLs: userinfo (https://user:pass@host) and secret-named query parameters.
  out = out.replace(URL_USERINFO, '$1[REDACTED]@');
  out = out.replace(QUERY_PARAM, (whole, lead: string, name: string) => (isSecretName(name) ? `${lead}${name}=[REDACTED]` : whole));
  return out;
}

const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi;
const QUERY_PARAM = /([?&])([^=&\s#"'<>]+)=[^&\s#"'<>]*/g;
// A long token of mixed case and digits with no spaces: how keys and passwords look, how words and ids do not.
// No '/': paths are not keys.
const KEY_LIKE = /^(?=.*[a-z])(?=.*[A-Z])(?=.*\d)[A-Za-z0-9._~+=-]{20,}$/;

/**
 * Values in a config file's text (JSON, valid or not) or an environment value that are, or look like,
 * secrets: strings under secret-named fields, URL userinfo and secret-named query values, anything
 * shaped like a key. For redacting a file we did not write, where a user may have pasted a key anywhere.
 * @example secretsInConfigText('{"plugins":{"x":{"apiToken":"abcd1234"}}}', 'orchestrator.config.json'); // [['apiToken in orchestrator.config.json', 'abcd1234']]
 */
export function secretsInConfigText(text: string, where: string): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  const add = (name: string, value: string | undefined) => {
    if (value && value.length >= 4) found.push([`${name} in ${where}`, value]);
  };
  const strings: Array<[string, string]> = [];
  try {
    const walk = (value: unknown, key: string): void => {
      if (typeof value === 'string') strings.push([key, value]);
      else if (Array.isArray(value)) value.forEach((v) => walk(v, key));
      else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, k);
    };
    walk(JSON.parse(text), '');
  } catch {
    // Not JSON (a syntax error, or an environment value): every quoted "name": "value" pair, and the text itself.
    for (const match of text.matchAll(/"([^"\\]{1,100})"\s*:\s*"((?:[^"\\]|\\.){0,4096})"/g)) strings.push([match[1], match[2]]);
    strings.push(['', text]);
  }
  for (const [key, value] of strings) {
    if (key && isSecretName(key)) add(key, value.replace(/^(Bearer|Basic)\s+/i, ''));
    for (const token of value.split(/[\s"'<>,;]+/)) {
      if (KEY_LIKE.test(token)) add(key || 'a key-like value', token);
      for (const shape of SECRET_SHAPES) for (const match of token.matchAll(new RegExp(shape.source, shape.flags))) add(key || 'a key-shaped value', match[0]);
      let url: URL | undefined;
      try {
        url = /^[a-z][a-z0-9+.-]*:\/\//i.test(token) ? new URL(token) : undefined;
      } catch {}
      if (!url) continue;
      add('a URL password', url.password);
      add('a URL password', safeDecode(url.password));
      // A token sent as the user name (https://TOKEN@host); a plain user name next to a password is not secret.
      if (!url.password && url.username.length >= 8) add('a URL user', safeDecode(url.username));
      for (const [name, v] of url.searchParams) if (isSecretName(name) || KEY_LIKE.test(v)) add(`the URL parameter ${name}`, v);
    }
  }
  return found;
}

/**
 * A deep copy with secret-named fields masked and every string scrubbed by redactText.
 * @example redactValue({ providers: [{ apiKey: 'sk-…' }] }, []); // { providers: [{ apiKey: 'set (apiKey, 40 chars)' }] }
 */
export function redactValue(value: unknown, secrets: Array<[string, string]>, key = ''): unknown {
  if (typeof value === 'string') return key && isSecretName(key) ? maskSecret(key, value) : redactText(value, secrets);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, secrets));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactValue(v, secrets, k)]));
  return value;
}
