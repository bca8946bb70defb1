import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { simulatedClock } from '../../runtime/bus/mod.ts';
import { RuntimeError } from '../../runtime/protocol/mod.ts';
import { DEFAULT_RETRY_POLICY, createRetryLoop, retryAfterFrom, shouldRetryFrom } from '../../runtime/llm/retry.ts';
import { UpstreamError } from '../../runtime/llm/types.ts';
import type { AttemptRecord, Deployment, RetryPolicy } from '../../runtime/llm/types.ts';

const A: Deployment = { id: 'anthropic/claude-sonnet-4-5', provider: 'anthropic', model: 'claude-sonnet-4-5', params: {} };
const B: Deployment = { id: 'openai/gpt-5', provider: 'openai', model: 'gpt-5', params: {} };

/** A simulated clock whose step() jumps exactly to its next due timer. */
const steppingClock = () => simulatedClock(0);
type SteppingClock = ReturnType<typeof steppingClock>;

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Runs a promise to completion, firing the clock's timers one by one (never sleeping). */
async function drive<T>(clock: SteppingClock, promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: RuntimeError }> {
  let outcome: { ok: true; value: T } | { ok: false; error: RuntimeError } | undefined;
  promise.then(
    (value) => (outcome = { ok: true, value }),
    (error) => (outcome = { ok: false, error }),
  );
  for (let i = 0; i < 1000; i++) {
    await flush();
    if (outcome) return outcome;
    if (!clock.step()) {
      await flush();
      if (outcome) return outcome;
      throw new Error('the loop is stuck: no timer pending and no result');
    }
  }
  throw new Error('too many steps');
}

async function fails(clock: SteppingClock, promise: Promise<unknown>): Promise<RuntimeError> {
  const outcome = await drive(clock, promise);
  if (outcome.ok) throw new Error('expected a rejection');
  assert.instance(outcome.error, RuntimeError);
  return outcome.error;
}

function http(status: number, options: { retryAfterMs?: number; shouldRetry?: boolean; headers?: Record<string, string>; type?: string } = {}) {
  const type = options.type ?? (status === 429 ? 'rate_limit_error' : status === 401 ? 'authentication_error' : 'api_error');
  const body = JSON.stringify({ type: 'error', error: { type, message: `upstream says ${status}` } });
  return new UpstreamError('http', `${status} ${type}`, { status, body, ...options });
}

/** A scripted upstream: each call takes the next outcome for its deployment; records call times. */
function script(clock: SteppingClock, plan: Record<string, Array<UpstreamError | Error | 'ok' | 'hang'>>) {
  const calls: Array<{ id: string; at: number; attempt: number; signal: AbortSignal }> = [];
  const call = async (deployment: Deployment, signal: AbortSignal, attempt: number) => {
    calls.push({ id: deployment.id, at: clock.now(), attempt, signal });
    const next = plan[deployment.id]?.shift() ?? 'ok';
    if (next === 'ok') return `answer from ${deployment.id}`;
    if (next === 'hang') return new Promise<string>(() => {});
    throw next;
  };
  return { calls, call };
}

function setup(policy: Partial<RetryPolicy> = {}, random = () => 0.5) {
  const clock = steppingClock();
  const loop = createRetryLoop({ clock, policy, random });
  return { clock, loop };
}

test('the default policy is the documented one', () => {
  assert.equal(DEFAULT_RETRY_POLICY, {
    maxAttempts: 3,
    baseDelayMs: 500,
    maxDelayMs: 8000,
    maxRetryAfterMs: 30000,
    timeoutMs: 120000,
    failureThreshold: 3,
    cooldownMs: 30000,
  });
});

test('429 with retry-after: waits exactly that long on the clock, records the wait, then succeeds', async () => {
  const { clock, loop } = setup();
  const { calls, call } = script(clock, { [A.id]: [http(429, { retryAfterMs: 1234 }), 'ok'] });
  const seen: AttemptRecord[] = [];
  const outcome = await drive(clock, loop.run([A, B], call, { onAttempt: (r) => seen.push(r) }));
  assert.ok(outcome.ok);
  if (!outcome.ok) return;
  assert.is(outcome.value.value, `answer from ${A.id}`);
  assert.is(outcome.value.deployment, A);
  assert.equal(calls.map((c) => [c.id, c.at, c.attempt]), [[A.id, 0, 1], [A.id, 1234, 2]]);
  assert.equal(
    outcome.value.attempts.map((a) => [a.attempt, a.ok, a.status, a.waitMs]),
    [[1, false, 429, 0], [2, true, undefined, 1234]],
  );
  assert.equal(seen, outcome.value.attempts);
});

test('retry headers: retry-after-ms wins over retry-after, both read from the error headers when not pre-parsed', async () => {
  assert.is(retryAfterFrom({ 'Retry-After-Ms': '150', 'retry-after': '9' }, 0), 150);
  assert.is(retryAfterFrom(new Headers({ 'retry-after-ms': '150', 'retry-after': '9' }), 0), 150);
  assert.is(retryAfterFrom({ 'retry-after': '2' }, 0), 2000);
  assert.is(retryAfterFrom({ 'retry-after': 'soon' }, 0), undefined);
  assert.is(retryAfterFrom({}, 0), undefined);
  const { clock, loop } = setup();
  const { calls, call } = script(clock, { [A.id]: [http(429, { headers: { 'retry-after-ms': '250', 'retry-after': '5' } }), 'ok'] });
  const outcome = await drive(clock, loop.run([A], call));
  assert.ok(outcome.ok);
  assert.equal(calls.map((c) => c.at), [0, 250]);
});

test('retry-after as an HTTP date is the time until that date', () => {
  const now = Date.parse('Wed, 21 Oct 2026 07:28:00 GMT');
  assert.is(retryAfterFrom({ 'retry-after': 'Wed, 21 Oct 2026 07:28:07 GMT' }, now), 7000);
  assert.is(retryAfterFrom({ 'retry-after': 'Wed, 21 Oct 2026 07:27:00 GMT' }, now), 0);
});

test('x-should-retry is read as true, false or undecided', () => {
  assert.is(shouldRetryFrom({ 'x-should-retry': 'true' }), true);
  assert.is(shouldRetryFrom(new Headers({ 'X-Should-Retry': 'false' })), false);
  assert.is(shouldRetryFrom({ 'x-should-retry': 'maybe' }), undefined);
  assert.is(shouldRetryFrom({}), undefined);
});

test('a retry-after longer than maxRetryAfterMs falls back to the next model without waiting', async () => {
  const { clock, loop } = setup();
  const { calls, call } = script(clock, { [A.id]: [http(429, { retryAfterMs: 60_000 })] });
  const outcome = await drive(clock, loop.run([A, B], call));
  assert.ok(outcome.ok);
  assert.equal(calls.map((c) => [c.id, c.at]), [[A.id, 0], [B.id, 0]]);
  if (outcome.ok) assert.is(outcome.value.deployment, B);
});

test('500 twice then success: three attempts on the same model with jittered backoff', async () => {
  const { clock, loop } = setup({}, () => 0.5);
  const { calls, call } = script(clock, { [A.id]: [http(500), http(500), 'ok'] });
  const outcome = await drive(clock, loop.run([A, B], call));
  assert.ok(outcome.ok);
  if (!outcome.ok) return;
  assert.is(outcome.value.attempts.length, 3);
  assert.equal(outcome.value.attempts.map((a) => a.waitMs), [0, 250, 500]);
  assert.equal(calls.map((c) => c.at), [0, 250, 750]);
  assert.is(loop.health()[0].state, 'closed');
  assert.is(loop.health()[0].consecutiveFailures, 0);
});

test('529 exhausts the attempts on the first model, then the second model answers', async () => {
  const { clock, loop } = setup({ failureThreshold: 10 });
  const { calls, call } = script(clock, { [A.id]: [http(529), http(529), http(529)] });
  const outcome = await drive(clock, loop.run([A, B], call));
  assert.ok(outcome.ok);
  if (!outcome.ok) return;
  assert.equal(calls.map((c) => c.id), [A.id, A.id, A.id, B.id]);
  assert.is(outcome.value.deployment, B);
  assert.equal(outcome.value.attempts.map((a) => [a.deployment, a.attempt, a.ok]), [
    [A.id, 1, false],
    [A.id, 2, false],
    [A.id, 3, false],
    [B.id, 1, true],
  ]);
});

test('400 is fatal after one attempt: no retry, no fallback, the upstream message is shown', async () => {
  const { clock, loop } = setup();
  const { calls, call } = script(clock, { [A.id]: [http(400, { type: 'invalid_request_error' })] });
  const error = await fails(clock, loop.run([A, B], call));
  assert.is(error.code, 'E_LLM');
  assert.is(calls.length, 1);
  assert.match(error.message, /anthropic\/claude-sonnet-4-5 rejected the request \(400 invalid_request_error: upstream says 400\)/);
  assert.match(error.message, /other models were not tried/);
  assert.is((error.cause as UpstreamError).status, 400);
});

test('401 is not retried: the circuit opens at once and the next model answers', async () => {
  const { clock, loop } = setup();
  const { calls, call } = script(clock, { [A.id]: [http(401)] });
  const outcome = await drive(clock, loop.run([A, B], call));
  assert.ok(outcome.ok);
  assert.equal(calls.map((c) => c.id), [A.id, B.id]);
  const health = loop.health().find((h) => h.deployment === A.id)!;
  assert.is(health.state, 'open');
  assert.is(health.cooldownUntil, 30_000);
});

test('x-should-retry false on a 500 is not retried; true on a 400 is retried', async () => {
  {
    const { clock, loop } = setup();
    const { calls, call } = script(clock, { [A.id]: [http(500, { shouldRetry: false })] });
    const outcome = await drive(clock, loop.run([A, B], call));
    assert.ok(outcome.ok);
    assert.equal(calls.map((c) => c.id), [A.id, B.id]);
  }
  {
    const { clock, loop } = setup();
    const { calls, call } = script(clock, { [A.id]: [http(400, { headers: { 'x-should-retry': 'true' } }), 'ok'] });
    const outcome = await drive(clock, loop.run([A, B], call));
    assert.ok(outcome.ok);
    assert.equal(calls.map((c) => [c.id, c.attempt]), [[A.id, 1], [A.id, 2]]);
  }
});

test("a timeout aborts the attempt's signal at the route's timeoutMs and the attempt is retried", async () => {
  const { clock, loop } = setup();
  const slow: Deployment = { ...A, params: { timeoutMs: 5000 } };
  const { calls, call } = script(clock, { [A.id]: ['hang', 'ok'] });
  const outcome = await drive(clock, loop.run([slow], call));
  assert.ok(outcome.ok);
  if (!outcome.ok) return;
  assert.ok(calls[0].signal.aborted);
  assert.is(calls[1].signal.aborted, false);
  assert.equal(outcome.value.attempts.map((a) => [a.ok, a.kind, a.ms]), [[false, 'timeout', 5000], [true, undefined, 0]]);
  assert.is(calls[1].at, 5000 + 250);
});

test("the caller's abort stops everything at once: no more attempts, no waits", async () => {
  const { clock, loop } = setup();
  const controller = new AbortController();
  const { calls, call } = script(clock, { [A.id]: ['hang'] });
  const pending = loop.run([A, B], call, { signal: controller.signal });
  pending.catch(() => {});
  await flush();
  controller.abort();
  await flush();
  const error = await fails(clock, pending);
  assert.is(error.code, 'E_LLM');
  assert.match(error.message, /^aborted/);
  assert.is(calls.length, 1);
  assert.ok(calls[0].signal.aborted);
  assert.is(clock.now(), 0);
  const attempts = error.details!.attempts as AttemptRecord[];
  assert.equal(attempts.map((a) => a.kind), ['aborted']);

  // An abort during a backoff wait ends the wait at once too.
  const second = new AbortController();
  const again = script(clock, { [A.id]: [http(500)] });
  const waiting = loop.run([A], again.call, { signal: second.signal });
  waiting.catch(() => {});
  await flush();
  second.abort();
  const stopped = await fails(clock, waiting);
  assert.match(stopped.message, /^aborted/);
  assert.is(again.calls.length, 1);
  assert.is(clock.now(), 0);
});

test('the circuit opens after failureThreshold failures and the next call skips the model', async () => {
  const { clock, loop } = setup({ maxAttempts: 3, failureThreshold: 3 });
  const first = script(clock, { [A.id]: [http(503), http(503), http(503)] });
  const outcome = await drive(clock, loop.run([A, B], first.call));
  assert.ok(outcome.ok);
  const health = loop.health().find((h) => h.deployment === A.id)!;
  assert.is(health.state, 'open');
  assert.is(health.consecutiveFailures, 3);
  const second = script(clock, {});
  const next = await drive(clock, loop.run([A, B], second.call));
  assert.ok(next.ok);
  assert.equal(second.calls.map((c) => c.id), [B.id]);
});

test('after the cooldown one trial call is allowed: a failure re-opens, a success closes', async () => {
  const { clock, loop } = setup({ maxAttempts: 1, failureThreshold: 1, cooldownMs: 10_000 });
  const open = script(clock, { [A.id]: [http(500)] });
  await drive(clock, loop.run([A, B], open.call));
  assert.is(loop.health()[0].state, 'open');
  clock.advance(10_000);
  assert.is(loop.health()[0].state, 'half-open');

  const failedTrial = script(clock, { [A.id]: [http(500)] });
  await drive(clock, loop.run([A, B], failedTrial.call));
  assert.equal(failedTrial.calls.map((c) => c.id), [A.id, B.id]);
  assert.is(loop.health()[0].state, 'open');
  assert.is(loop.health()[0].cooldownUntil, 20_000);

  clock.advance(10_000);
  const goodTrial = script(clock, {});
  const outcome = await drive(clock, loop.run([A, B], goodTrial.call));
  assert.ok(outcome.ok);
  assert.equal(goodTrial.calls.map((c) => c.id), [A.id]);
  assert.equal(loop.health()[0], { deployment: A.id, state: 'closed', consecutiveFailures: 0, cooldownUntil: 0 });
});

test('a half-open model gets one trial attempt, not a full retry series', async () => {
  const { clock, loop } = setup({ maxAttempts: 3, failureThreshold: 3, cooldownMs: 1000 });
  await drive(clock, loop.run([A, B], script(clock, { [A.id]: [http(401)] }).call));
  clock.advance(1000);
  assert.is(loop.health()[0].state, 'half-open');
  const trial = script(clock, { [A.id]: [http(500), http(500)] });
  await drive(clock, loop.run([A, B], trial.call));
  assert.equal(trial.calls.map((c) => c.id), [A.id, B.id]);
});

test('every model cooling down: the error names each one, when it cools down, and the fix', async () => {
  const { clock, loop } = setup({ maxAttempts: 1, failureThreshold: 1, cooldownMs: 30_000 });
  await fails(clock, loop.run([A, B], script(clock, { [A.id]: [http(500)], [B.id]: [http(500)] }).call));
  clock.advance(5_000);
  const none = script(clock, {});
  const error = await fails(clock, loop.run([A, B], none.call));
  assert.is(none.calls.length, 0);
  assert.is(error.code, 'E_LLM');
  assert.match(error.message, /anthropic\/claude-sonnet-4-5 cools down in 25 s/);
  assert.match(error.message, /openai\/gpt-5 cools down in 25 s/);
  assert.match(error.message, /wait, or add a fallback model to the route in model-routing\.json/);
});

test('backoff doubles per attempt and is capped at maxDelayMs (random() = 1)', async () => {
  const { clock, loop } = setup({ maxAttempts: 6, failureThreshold: 100, baseDelayMs: 500, maxDelayMs: 3000 }, () => 1);
  const { calls, call } = script(clock, { [A.id]: [http(502), http(502), http(502), http(502), http(502)] });
  const outcome = await drive(clock, loop.run([A], call));
  assert.ok(outcome.ok);
  if (!outcome.ok) return;
  assert.equal(outcome.value.attempts.map((a) => a.waitMs), [0, 500, 1000, 2000, 3000, 3000]);
  assert.equal(calls.map((c) => c.at), [0, 500, 1500, 3500, 6500, 9500]);
});

test('a thrown non-upstream error is a retryable network failure with its message kept', async () => {
  const { clock, loop } = setup();
  const { calls, call } = script(clock, { [A.id]: [new Error('connect ECONNREFUSED 127.0.0.1:9'), 'ok'] });
  const outcome = await drive(clock, loop.run([A], call));
  assert.ok(outcome.ok);
  if (!outcome.ok) return;
  assert.is(calls.length, 2);
  assert.equal([outcome.value.attempts[0].kind, outcome.value.attempts[0].error], ['network', 'connect ECONNREFUSED 127.0.0.1:9']);
});

test('the final error summarises every attempt with a fix, keeps the last upstream error as cause and the attempts as details', async () => {
  const { clock, loop } = setup({ failureThreshold: 10 });
  const last = http(401);
  const { call } = script(clock, { [A.id]: [http(429), http(429), http(429)], [B.id]: [last] });
  const seen: AttemptRecord[] = [];
  const error = await fails(clock, loop.run([A, B], call, { onAttempt: (r) => seen.push(r) }));
  assert.is(error.code, 'E_LLM');
  assert.ok(
    error.message.startsWith('4 attempts on 2 model(s) failed: anthropic/claude-sonnet-4-5: 429 rate_limit_error ×3; openai/gpt-5: 401 authentication_error.'),
    error.message,
  );
  assert.match(error.message, /Check the API key: OPENAI_API_KEY \(openai\)/);
  assert.match(error.message, /lower the task concurrency, or add a fallback model/);
  assert.is(error.cause, last);
  const attempts = error.details!.attempts as AttemptRecord[];
  assert.equal(attempts.map((a) => [a.deployment, a.attempt, a.status, a.kind]), [
    [A.id, 1, 429, 'http'],
    [A.id, 2, 429, 'http'],
    [A.id, 3, 429, 'http'],
    [B.id, 1, 401, 'http'],
  ]);
  assert.equal(seen, attempts);
});

test('timeouts in the final error suggest raising timeoutMs', async () => {
  const { clock, loop } = setup({ maxAttempts: 2, timeoutMs: 1000 });
  const { call } = script(clock, { [A.id]: ['hang', 'hang'] });
  const error = await fails(clock, loop.run([A], call));
  assert.match(error.message, /^2 attempts on 1 model\(s\) failed: anthropic\/claude-sonnet-4-5: timeout ×2\./);
  assert.match(error.message, /raise timeoutMs for the model in model-routing\.json \(now 1000 ms\)/);
  assert.is((error.cause as UpstreamError).kind, 'timeout');
});

test('reset closes every circuit', async () => {
  const { clock, loop } = setup({ maxAttempts: 1 });
  await drive(clock, loop.run([A, B], script(clock, { [A.id]: [http(401)] }).call));
  assert.is(loop.health()[0].state, 'open');
  loop.reset();
  assert.equal(loop.health(), []);
});

test.run();
