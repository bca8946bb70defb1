/**
 * Secrets never leave the process. The one detector for every place that shows text or values: the
 * server's log and console lines, the model gateway's upstream errors, config error messages, and the
 * CLI's config view and diagnostics bundle. What counts as a secret (by its name, by its look), how one
 * is shown (`set (NAME, 40 chars)`, never a fragment of it), and scrubbing text and values.
 */

type Env = Record<string, string | undefined>;

/** A secret to scrub from text: a bare value (shown as `[REDACTED]`) or `[name, value]` (`[REDACTED name]`). */
export type KnownSecret = string | undefined | readonly [name: string, value: string];

// Matched against the name in SCREAMING_SNAKE form, so apiToken, client-secret and X_API_KEY all count.
const SECRET_NAME = /(^|_)(API_KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|AUTHORIZATION|COOKIE)$/;
// Shapes of provider keys, bearer and basic credentials, AWS access key ids and GitHub tokens, for values we
// were not told about. A credential ends at a space, a quote or an angle bracket (the text around it stays).
const SECRET_SHAPES = [
  /\bsk-[A-Za-z0-9_-]{8,}/g,
  /\b(Bearer|Basic)\s+[^\s"'<>]{8,}/gi,
  /\bAKIA[0-9A-Z]{16}\b/g,
  /\bgh[pousr]_[A-Za-z0-9]{20,}\b/g,
];
// Runs of token characters; a run of 20+ with lower case, upper case and a digit is how keys and passwords
// look, and how words and ids do not. No '/': paths are not keys.
const TOKEN_RUN = /[A-Za-z0-9._~+=-]{20,}/g;
// A whole value that carries an Authorization credential, whatever its characters (a shape above cuts the
// credential out of text; a value that holds one is hidden whole).
const CREDENTIAL = /\b(Bearer|Basic)\s+\S{8,}/i;
// Credentials inside a URL: userinfo, or a query string (where some gateways take ?api_key=).
const URL_CREDENTIALS = /[a-z][a-z0-9+.-]*:\/\/[^\s/?#@]+@|[a-z][a-z0-9+.-]*:\/\/[^\s]*\?\S*=/i;
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi;
const QUERY_PARAM = /([?&])([^=&\s#"'<>]+)=[^&\s#"'<>]*/g;
// Secrets shorter than this are not looked for in text: they would match everywhere.
const MIN_SECRET = 4;

/**
 * Whether a variable or field name holds a secret: *_API_KEY, *_KEY, *_TOKEN, *_SECRET, *_PASSWORD,
 * authorization, cookie, in any case style (apiKey, apiToken, client-secret, x-api-key).
 * @example isSecretName('ANTHROPIC_API_KEY'); // true
 * @example isSecretName('maxTokens'); // false
 */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[-.\s]/g, '_').toUpperCase());
}

/** The runs of 20+ token characters in `text` that mix lower case, upper case and digits. */
function keyLikeRuns(text: string): string[] {
  const runs = [...text.matchAll(TOKEN_RUN)].map((match) => match[0]);
  return runs.filter((run) => /[a-z]/.test(run) && /[A-Z]/.test(run) && /\d/.test(run));
}

/**
 * Whether a field named `key` holding `value` may be a secret: by its name (isSecretName), or by the
 * value's look (a key or credential shape, a long run of mixed case and digits, credentials in a URL).
 * @example mayBeSecret('apiToken', 'abcd'); // true
 * @example mayBeSecret(undefined, 'https://user:pass@host/v1'); // true
 * @example mayBeSecret('model', 'claude-sonnet-4-5'); // false
 */
export function mayBeSecret(key: string | number | undefined, value: string): boolean {
  if (typeof key === 'string' && isSecretName(key)) return true;
  if (SECRET_SHAPES.some((shape) => value.search(shape) >= 0)) return true;
  return CREDENTIAL.test(value) || keyLikeRuns(value).length > 0 || URL_CREDENTIALS.test(value);
}

/**
 * A copy of a value fit for an error message or a log: every string that may be a secret (see
 * mayBeSecret) replaced by its length, so a key pasted into the wrong field is never echoed.
 * @example
 * hideSecrets({ apiToken: 'abcdefgh', port: 'x' }); // { apiToken: '<hidden: 8 characters>', port: 'x' }
 */
export function hideSecrets(value: unknown, key?: string | number): unknown {
  if (typeof value === 'string') return mayBeSecret(key, value) ? `<hidden: ${value.length} characters>` : value;
  if (Array.isArray(value)) return value.map((v) => hideSecrets(v, key));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hideSecrets(v, k)]));
  }
  return value;
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
  for (const env of envs) {
    for (const [name, value] of Object.entries(env)) {
      if (value && value.length >= MIN_SECRET && isSecretName(name)) found.set(value, name);
    }
  }
  return longestFirst(found);
}

/**
 * Several lists of secrets as one, each value once (under the first name given for it), longest first
 * (so a key that contains another is replaced whole).
 * @example
 * mergeSecrets([['A_KEY', 'abcd']], [['b in f.json', 'abcdef']]); // [['b in f.json', 'abcdef'], ['A_KEY', 'abcd']]
 */
export function mergeSecrets(...lists: Array<Array<[string, string]>>): Array<[string, string]> {
  const found = new Map<string, string>();
  for (const list of lists) for (const [name, value] of list) if (!found.has(value)) found.set(value, name);
  return longestFirst(found);
}

/** value → name as [name, value] pairs, longest value first. */
function longestFirst(found: Map<string, string>): Array<[string, string]> {
  const pairs = [...found.entries()].map(([value, name]): [string, string] => [name, value]);
  return pairs.sort((a, b) => b[1].length - a[1].length);
}

/**
 * Text with every known secret replaced (`[REDACTED NAME]`, or `[REDACTED]` for a bare value; values of
 * fewer than 4 characters are not looked for), then anything shaped like a key or a bearer credential,
 * URL userinfo and secret-named query parameters replaced by `[REDACTED]`.
 * @example redactText('key=sk-abcdefgh1234', []); // 'key=[REDACTED]'
 * @example redactText('upstream said: bad key abcd1234', ['abcd1234']); // 'upstream said: bad key [REDACTED]'
 */
export function redactText(text: string, secrets: ReadonlyArray<KnownSecret>): string {
  const named: Array<readonly [string, string]> = [];
  for (const secret of secrets) {
    const [name, value] = typeof secret === 'string' ? ['', secret] : (secret ?? ['', '']);
    if (value.length >= MIN_SECRET) named.push([name, value]);
  }
  named.sort((a, b) => b[1].length - a[1].length);
  let out = text;
  for (const [name, value] of named) out = out.split(value).join(name ? `[REDACTED ${name}]` : '[REDACTED]');
  for (const shape of SECRET_SHAPES) out = out.replace(shape, '[REDACTED]');
  // Credentials inside URLs: userinfo (https://user:pass@host) and secret-named query parameters.
  out = out.replace(URL_USERINFO, '$1[REDACTED]@');
  out = out.replace(QUERY_PARAM, (whole, lead: string, name: string) => {
    return isSecretName(name) ? `${lead}${name}=[REDACTED]` : whole;
  });
  return out;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Values in a config file's text (JSON, valid or not) or an environment value that are, or look like,
 * secrets: strings under secret-named fields, URL userinfo and secret-named query values, anything
 * shaped like a key. For redacting a file we did not write, where a user may have pasted a key anywhere.
 * @example
 * secretsInConfigText('{"plugins":{"x":{"apiToken":"abcd1234"}}}', 'orchestrator.config.json');
 * // [['apiToken in orchestrator.config.json', 'abcd1234']]
 */
export function secretsInConfigText(text: string, where: string): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  const add = (name: string, value: string | undefined) => {
    if (value && value.length >= MIN_SECRET) found.push([`${name} in ${where}`, value]);
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
    // Not JSON (a syntax error, or an environment value): every quoted "name": "value" pair, and the text.
    const pairs = text.matchAll(/"([^"\\]{1,100})"\s*:\s*"((?:[^"\\]|\\.){0,4096})"/g);
    for (const match of pairs) strings.push([match[1], match[2]]);
    strings.push(['', text]);
  }
  for (const [key, value] of strings) {
    if (key && isSecretName(key)) add(key, value.replace(/^(Bearer|Basic)\s+/i, ''));
    for (const token of value.split(/[\s"'<>,;]+/)) {
      for (const run of keyLikeRuns(token)) add(key || 'a key-like value', run);
      for (const shape of SECRET_SHAPES) {
        for (const match of token.matchAll(shape)) add(key || 'a key-shaped value', match[0]);
      }
      let url: URL | undefined;
      try {
        url = /^[a-z][a-z0-9+.-]*:\/\//i.test(token) ? new URL(token) : undefined;
      } catch {}
      if (!url) continue;
      add('a URL password', url.password);
      add('a URL password', safeDecode(url.password));
      // A token sent as the user name (https://TOKEN@host); a user name next to a password is not secret.
      if (!url.password && url.username.length >= 8) add('a URL user', safeDecode(url.username));
      for (const [name, v] of url.searchParams) {
        if (isSecretName(name) || keyLikeRuns(v).length) add(`the URL parameter ${name}`, v);
      }
    }
  }
  return found;
}

/**
 * A deep copy with secret-named fields masked and every string scrubbed by redactText.
 * @example
 * redactValue({ providers: [{ apiKey: 'sk-…' }] }, []); // { providers: [{ apiKey: 'set (apiKey, 40 chars)' }] }
 */
export function redactValue(value: unknown, secrets: ReadonlyArray<KnownSecret>, key = ''): unknown {
  if (typeof value === 'string') return key && isSecretName(key) ? maskSecret(key, value) : redactText(value, secrets);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, secrets));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactValue(v, secrets, k)]));
  }
  return value;
}
