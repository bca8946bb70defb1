/**
 * How long a pipeline stage may wait for one model call: the retry loop's worst case over the route.
 * @module
 */
import { ErrorCode, RuntimeError, showValue } from '../protocol/mod.ts';
import { DEFAULT_RETRY_POLICY } from './retry.ts';
import type { Deployment, RetryPolicy } from './types.ts';

/** What stageBudgetMs adds on top of the retry loop's worst case when the caller sets no margin. */
export const STAGE_BUDGET_MARGIN_MS = 1_000;

/** The policy fields the budget depends on. */
export type BudgetPolicy = Pick<
  RetryPolicy,
  'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'maxRetryAfterMs' | 'timeoutMs'
>;

/** `value` when it is a number ≥ min (a whole one for counts); else E_INVALID naming it and the fix. */
function checked(value: number, name: string, min: number, count = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (count && !Number.isInteger(value))) {
    const what = count ? `a whole number ≥ ${min}` : `a number of milliseconds ≥ ${min}`;
    const where = 'see "Timeouts" in docs/model-routing.md';
    throw new RuntimeError(ErrorCode.Invalid, `stageBudgetMs: ${name} is ${showValue(value)}: use ${what} (${where})`);
  }
  return value;
}

/**
 * The time a stage that makes one model call may take: the longest the retry loop can spend on the route
 * (the deployments `resolveRoute` gives, in order), plus `marginMs` (default 1 s) for the last abort and
 * the stage's reply to travel. Per deployment:
 *
 *   maxAttempts × timeoutMs + Σ gap(n) for n = 1 … maxAttempts − 1,
 *   gap(n) = max(min(maxDelayMs, baseDelayMs × 2^(n−1)), maxRetryAfterMs)
 *
 * where timeoutMs is the deployment's own (`params.timeoutMs`) or the policy's, each attempt being cut at it
 * end to end, and a gap is the backoff cap or, when the upstream asked for one, a Retry-After of up to
 * maxRetryAfterMs (a longer one moves on to the next model at once). Moving to the next model waits nothing.
 * `policy` is merged over DEFAULT_RETRY_POLICY, as createRetryLoop does; `route` may be a number of deployments
 * that all use the policy's timeoutMs. Circuit breakers only shorten the loop, so this is an upper bound.
 * With the default policy (3 attempts × 120 s, gaps of up to 30 s): 421 s for a route of one model, 841 s for two.
 * @example
 * stageBudgetMs({}, 1); // 421000 = 3 × 120000 + 2 × 30000 + 1000
 * stageBudgetMs(config.retry, resolveRoute(routing, 'implementer', 'complex'));
 */
export function stageBudgetMs(
  policy: Partial<RetryPolicy>,
  route: readonly Pick<Deployment, 'params'>[] | number,
  options: { marginMs?: number } = {},
): number {
  const p: BudgetPolicy = { ...DEFAULT_RETRY_POLICY, ...policy };
  const attempts = checked(p.maxAttempts, 'maxAttempts', 1, true);
  const marginMs = checked(options.marginMs ?? STAGE_BUDGET_MARGIN_MS, 'marginMs', 0);
  const timeouts = typeof route === 'number'
    ? Array.from({ length: checked(route, 'the number of deployments', 1, true) }, () => p.timeoutMs)
    : route.map((d) => d.params.timeoutMs ?? p.timeoutMs);
  if (!timeouts.length) {
    const fix = 'pass the deployments resolveRoute gives (at least one)';
    throw new RuntimeError(ErrorCode.Invalid, `stageBudgetMs: the route is empty: ${fix}`);
  }
  let gaps = 0;
  for (let n = 1; n < attempts; n++) {
    const cap = checked(p.maxDelayMs, 'maxDelayMs', 0);
    const backoff = Math.min(cap, checked(p.baseDelayMs, 'baseDelayMs', 0) * 2 ** (n - 1));
    gaps += Math.max(backoff, checked(p.maxRetryAfterMs, 'maxRetryAfterMs', 0));
  }
  let total = marginMs;
  for (const timeoutMs of timeouts) total += attempts * checked(timeoutMs, 'timeoutMs', 1) + gaps;
  return total;
}
