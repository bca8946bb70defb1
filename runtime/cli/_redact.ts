/**
 * Secrets never leave the process: what counts as one, how one is shown (`set (NAME, 40 chars)`, never
 * a fragment of the value), and scrubbing text and objects before they are printed or bundled.
 * @module
 */

type Env = Record<string, string | undefined>;

const SECRET_NAME = /(^|_)(API_KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$|^(apiKey|authorization|x-api-key|token|secret|password)$/i;
// Shapes of provider keys and bearer tokens, for values we were not told about.
const SECRET_SHAPES = [/\bsk-[A-Za-z0-9_-]{8,}/g, /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, /\bAKIA[0-9A-Z]{16}\b/g, /\bgh[pousr]_[A-Za-z0-9]{20,}\b/g];

/**
 * Whether a variable or field name holds a secret: *_API_KEY, *_KEY, *_TOKEN, *_SECRET, *_PASSWORD, apiKey, authorization.
 * @example isSecretName('ANTHROPIC_API_KEY'); // true
 */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
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
 * Text with every known secret value replaced by `[REDACTED NAME]` and anything shaped like a key or
 * bearer token by `[REDACTED]`.
 * @example redactText('key=sk-abcdefgh1234', []); // 'key=[REDACTED]'
 */
export function redactText(text: string, secrets: Array<[string, string]>): string {
  let out = text;
  for (const [name, value] of secrets) out = out.split(value).join(`[REDACTED ${name}]`);
  for (const shape of SECRET_SHAPES) out = out.replace(shape, '[REDACTED]');
  return out;
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
