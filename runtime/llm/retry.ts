/**
 * The one retry loop of the gateway (SDK retries are off): deployments in route order, per-attempt
 * timeouts, backoff or Retry-After on the injected clock, a circuit breaker per deployment that
 * outlives calls, and one coded error that says what failed and what to do about it.
 * @module
 */
import { sleep, systemClock } from '../bus/mod.ts';
import { ErrorCode, RuntimeError, errorMessage } from '../protocol/mod.ts';
import type { Clock } from '../protocol/mod.ts';
import { UpstreamError } from './types.ts';
import type { AttemptRecord, Deployment, DeploymentHealth, RetryPolicy } from './types.ts';
import { abortedError, clip, fixes, label, seconds, summarise, upstreamDetail } from './_failures.ts';
import type { Failure } from './_failures.ts';

/** The longest delay a timer can wait (2^31-1 ms, about 24.8 days): a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The policy used when a route or config sets none (close to the official SDKs' own defaults).
 * @example createRetryLoop({ policy: { ...DEFAULT_RETRY_POLICY, maxAttempts: 5 } });
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  maxAttempts: 3,
  baseDelayMs: 500,
  maxDelayMs: 8000,
  maxRetryAfterMs: 30_000,
  timeoutMs: 120_000,
  failureThreshold: 3,
  cooldownMs: 30_000,
});

/** What one call of the loop hands back. */
export interface RetryResult<T> {
  value: T;
  deployment: Deployment;
  attempts: AttemptRecord[];
}

/** The long-lived loop: one per gateway, so circuits are shared by every call. */
export interface RetryLoop {
  run<T>(
    deployments: Deployment[],
    call: (deployment: Deployment, signal: AbortSignal, attempt: number) => Promise<T>,
    options?: { signal?: AbortSignal; onAttempt?: (record: AttemptRecord) => void },
  ): Promise<RetryResult<T>>;
  health(): DeploymentHealth[];
  reset(): void;
}

type HeaderSource = Headers | Record<string, string | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

/**
 * How long the upstream asks us to wait, in ms: `retry-after-ms` first, then `retry-after` as
 * seconds or an HTTP date (relative to `now`); undefined when absent or unreadable.
 * @example
 * retryAfterFrom({ 'retry-after': '2' }, Date.now()); // 2000
 * retryAfterFrom(new Headers({ 'retry-after-ms': '150', 'retry-after': '9' }), 0); // 150
 */
export function retryAfterFrom(headers: HeaderSource, now: number): number | undefined {
  const ms = header(headers, 'retry-after-ms')?.trim();
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Number(ms);
  const value = header(headers, 'retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The upstream's own verdict from `x-should-retry`: 'true' → true, 'false' → false, else undefined.
 * @example shouldRetryFrom({ 'x-should-retry': 'false' }); // false
 */
export function shouldRetryFrom(headers: HeaderSource): boolean | undefined {
  const value = header(headers, 'x-should-retry')?.trim().toLowerCase();
  return value === 'true' ? true : value === 'false' ? false : undefined;
}

/** What the loop does after a failed attempt. */
type Verdict = 'retry' | 'fallback' | 'auth' | 'fatal';

const FATAL_STATUSES = new Set([400, 404, 413, 422]);
const RETRYABLE_STATUSES = new Set([408, 409, 429]);

function verdictFor(error: UpstreamError, shouldRetry: boolean | undefined): Verdict {
  const status = error.status;
  if (shouldRetry === true) return 'retry';
  // The request itself is bad: every other model would reject it the same way.
  if (status !== undefined && FATAL_STATUSES.has(status)) return 'fatal';
  if (shouldRetry === false) return 'fallback';
  if (status === 401 || status === 403) return 'auth';
  if (status !== undefined && (RETRYABLE_STATUSES.has(status) || status >= 500)) return 'retry';
  if (status === undefined && error.kind !== 'http' && error.kind !== 'aborted') return 'retry';
  return 'fallback';
}

interface Circuit {
  failures: number;
  open: boolean;
  cooldownUntil: number;
  trialInFlight: boolean;
}

/**
 * Creates the gateway's retry loop. Time and randomness are injected so tests never sleep.
 * @example
 * const loop = createRetryLoop({ policy: { maxAttempts: 2 } });
 * const { value, attempts } = await loop.run(resolveRoute(routing, 'implementer', 'complex'),
 *   (deployment, signal) => provider.complete(deployment, request, { signal }));
 */
export function createRetryLoop(options: { policy?: Partial<RetryPolicy>; clock?: Clock; random?: () => number } = {}): RetryLoop {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.policy };
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const circuits = new Map<string, Circuit>();

  function circuitOf(id: string): Circuit {
    let circuit = circuits.get(id);
    if (!circuit) circuits.set(id, (circuit = { failures: 0, open: false, cooldownUntil: 0, trialInFlight: false }));
    return circuit;
  }

  function openCircuit(circuit: Circuit): void {
    circuit.open = true;
    circuit.cooldownUntil = clock.now() + policy.cooldownMs;
  }

  function backoff(attempt: number): number {
    return Math.round(random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1)));
  }

  /** Waits `ms` on the clock; rejects at once when the caller aborts (a signal that already aborted is checked by the loop). */
  const wait = (ms: number, signal: AbortSignal | undefined): Promise<void> => (ms > 0 ? sleep(clock, ms, signal) : Promise.resolve());

  /**
   * One attempt with its own timeout, end to end: from the call until its promise settles (an agent's
   * streamed call settles at the stream's last event). The call is raced against the abort so a deaf call
   * cannot hang us.
   */
  async function attemptOnce<T>(
    deployment: Deployment,
    call: (deployment: Deployment, signal: AbortSignal, attempt: number) => Promise<T>,
    attempt: number,
    outer: AbortSignal | undefined,
  ): Promise<{ ok: true; value: T } | { ok: false; error: unknown; timedOut: boolean }> {
    const controller = new AbortController();
    let timedOut = false;
    const timeoutMs = deployment.params.timeoutMs ?? policy.timeoutMs;
    const handle = clock.setTimeout(() => {
      timedOut = true;
      controller.abort(timedOutError(deployment, attempt, timeoutMs));
    }, Math.min(timeoutMs, MAX_TIMER_MS));
    const onOuterAbort = (): void => controller.abort(outer!.reason);
    outer?.addEventListener('abort', onOuterAbort, { once: true });
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(controller.signal.reason);
      controller.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const pending = Promise.resolve().then(() => call(deployment, controller.signal, attempt));
      pending.catch(() => {}); // it may settle after we gave up on it
      return { ok: true, value: await Promise.race([pending, aborted]) };
    } catch (error) {
      return { ok: false, error, timedOut };
    } finally {
      clock.clearTimeout(handle);
      outer?.removeEventListener('abort', onOuterAbort);
      if (onAbort) controller.signal.removeEventListener('abort', onAbort);
    }
  }

  function timedOutError(deployment: Deployment, attempt: number, timeoutMs: number, cause?: unknown): UpstreamError {
    const text = `${deployment.id}: attempt ${attempt}/${policy.maxAttempts} timed out after ${timeoutMs} ms`;
    return new UpstreamError('timeout', text, cause === undefined ? {} : { cause });
  }

  async function run<T>(
    deployments: Deployment[],
    call: (deployment: Deployment, signal: AbortSignal, attempt: number) => Promise<T>,
    runOptions: { signal?: AbortSignal; onAttempt?: (record: AttemptRecord) => void } = {},
  ): Promise<RetryResult<T>> {
    const { signal, onAttempt } = runOptions;
    const attempts: AttemptRecord[] = [];
    const labels: string[] = [];
    const failures: Failure[] = [];
    const skipped: Array<{ id: string; until: number }> = [];
    if (!deployments.length) {
      throw new RuntimeError(ErrorCode.Invalid, 'no models to call: the route is empty; list at least one "provider/model" in model-routing.json');
    }
    if (signal?.aborted) throw abortedError(attempts, signal.reason);

    const record = (entry: AttemptRecord, text: string): void => {
      attempts.push(entry);
      labels.push(text);
      onAttempt?.(entry);
    };

    for (const deployment of deployments) {
      const circuit = circuitOf(deployment.id);
      let trial = false;
      if (circuit.open) {
        if (clock.now() < circuit.cooldownUntil || circuit.trialInFlight) {
          skipped.push({ id: deployment.id, until: circuit.cooldownUntil });
          continue;
        }
        // Cooled down: exactly one trial attempt decides whether the circuit closes.
        trial = true;
        circuit.trialInFlight = true;
      }
      const timeoutMs = deployment.params.timeoutMs ?? policy.timeoutMs;
      // The call sees the timeoutMs in force, so a provider can set its HTTP client's limits from it.
      const timed = deployment.params.timeoutMs === timeoutMs
        ? deployment
        : { ...deployment, params: { ...deployment.params, timeoutMs } };
      let waitMs = 0;
      try {
        for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
          const started = clock.now();
          const outcome = await attemptOnce(timed, call, attempt, signal);
          const ms = clock.now() - started;
          if (outcome.ok) {
            circuit.failures = 0;
            circuit.open = false;
            circuit.cooldownUntil = 0;
            record({ deployment: deployment.id, attempt, ok: true, waitMs, ms }, 'ok');
            return { value: outcome.value, deployment, attempts };
          }
          if (signal?.aborted) {
            record({ deployment: deployment.id, attempt, ok: false, kind: 'aborted', waitMs, ms, error: 'aborted by the caller' }, 'aborted');
            throw abortedError(attempts, signal.reason);
          }
          // A RuntimeError is the caller's own verdict on what came back (an answer past the size cap):
          // another attempt would get the same, and the model is not down, so no retry and no circuit.
          if (!outcome.timedOut && outcome.error instanceof RuntimeError) {
            record({ deployment: deployment.id, attempt, ok: false, kind: 'malformed', waitMs, ms, error: clip(outcome.error.message, 300) }, 'refused');
            throw outcome.error;
          }
          const error = outcome.timedOut
            ? timedOutError(deployment, attempt, timeoutMs, outcome.error)
            : outcome.error instanceof UpstreamError
              ? outcome.error
              : new UpstreamError('network', errorMessage(outcome.error), { cause: outcome.error });
          record(
            { deployment: deployment.id, attempt, ok: false, status: error.status, kind: error.kind, waitMs, ms, error: clip(error.message, 300) },
            label(error),
          );
          failures.push({ deployment, error, timeoutMs, attempt, maxAttempts: policy.maxAttempts });
          const verdict = verdictFor(error, error.shouldRetry ?? shouldRetryFrom(error.headers));
          if (verdict === 'fatal') {
            throw new RuntimeError(
              ErrorCode.Llm,
              `${deployment.id} rejected the request (${label(error)}: ${upstreamDetail(error)}): fix the request; ` +
                'other models were not tried because they would reject it the same way',
              { cause: error, details: { attempts } },
            );
          }
          circuit.failures++;
          if (verdict === 'auth' || trial || circuit.failures >= policy.failureThreshold) {
            openCircuit(circuit);
            break;
          }
          if (verdict === 'fallback' || attempt === policy.maxAttempts) break;
          const retryAfterMs = error.retryAfterMs ?? retryAfterFrom(error.headers, clock.now());
          // A long Retry-After is cheaper to route around than to sit out.
          if (retryAfterMs !== undefined && retryAfterMs > policy.maxRetryAfterMs) break;
          waitMs = retryAfterMs ?? backoff(attempt);
          try {
            await wait(waitMs, signal);
          } catch (reason) {
            throw abortedError(attempts, reason);
          }
        }
      } finally {
        if (trial) circuit.trialInFlight = false;
      }
    }

    const cooling = skipped.map((s) => `${s.id} cools down in ${seconds(s.until - clock.now())}`).join(', ');
    if (!attempts.length) {
      throw new RuntimeError(
        ErrorCode.Llm,
        `every model in the route is cooling down after repeated failures: ${cooling}: wait, or add a fallback model to the route in model-routing.json`,
        { details: { attempts, skipped } },
      );
    }
    const models = new Set(attempts.map((a) => a.deployment)).size;
    const last = failures[failures.length - 1];
    const skippedText = skipped.length ? ` (skipped, cooling down: ${cooling})` : '';
    throw new RuntimeError(
      ErrorCode.Llm,
      `${attempts.length} attempts on ${models} model(s) failed: ${summarise(attempts, labels)}${skippedText}. ${fixes(failures)}`,
      { cause: last?.error, details: { attempts, skipped } },
    );
  }

  return {
    run,
    health() {
      const now = clock.now();
      return [...circuits].map(([deployment, c]) => ({
        deployment,
        state: !c.open ? 'closed' : now < c.cooldownUntil ? 'open' : 'half-open',
        consecutiveFailures: c.failures,
        cooldownUntil: c.open ? c.cooldownUntil : 0,
      }));
    },
    reset() {
      circuits.clear();
    },
  };
}
