// Timeouts that mean what the docs say: a route's timeoutMs is the limit of each attempt, end to end, for
// streaming and non-streaming calls alike; the HTTP client under the SDKs follows it (no hidden 300 s cut of
// Node's fetch); a failure names the attempts; stageBudgetMs bounds what the retry loop can spend on a route.
// The SDKs run against the fake upstream; no test asserts a speed, only generous safety bounds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { simulatedClock } from '../../runtime/bus/mod.ts';
import { ErrorCode, RuntimeError } from '../../runtime/protocol/mod.ts';
import { stageBudgetMs } from '../../runtime/llm/_budget.ts';
import { createCache } from '../../runtime/llm/cache.ts';
import { createProviderClients } from '../../runtime/llm/providers.ts';
import type { AgentCall } from '../../runtime/llm/providers.ts';
import { createRetryLoop } from '../../runtime/llm/retry.ts';
import { parseRouting } from '../../runtime/llm/routing.ts';
import { UpstreamError } from '../../runtime/llm/types.ts';
import type { Deployment, ProviderSpec, RetryPolicy } from '../../runtime/llm/types.ts';
import { createUsageLedger } from '../../runtime/llm/usage.ts';
import { proxyRoutes } from '../../runtime/proxy/mod.ts';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.ts';

let fake: FakeUpstream;
let specs: ProviderSpec[];

test.before(async () => {
  fake = await startFakeUpstream();
  specs = [
    { name: 'anthropic', kind: 'anthropic', baseUrl: fake.url, keySource: 'test', apiKey: 'sk-ant-timeouts-test' },
    { name: 'openai', kind: 'openai', baseUrl: `${fake.url}/v1`, keySource: 'test', apiKey: 'sk-openai-timeouts-test' },
  ];
});

test.after(async () => {
  await fake?.close();
});

const KINDS = ['anthropic', 'openai'] as const;
const CALL: AgentCall = { system: 'Be brief', messages: [{ role: 'user', content: 'hello' }], maxTokens: 64 };
/** A generous bound for "about 1 s": a safety limit on a loaded machine, not a speed. */
const ABOUT_ONE_SECOND_MS = 3_000;

function deployment(provider: string, model: string, timeoutMs?: number): Deployment {
  return { id: `${provider}/${model}`, provider, model, params: timeoutMs === undefined ? {} : { timeoutMs } };
}

/** One agent call through the retry loop and the SDK, as the gateway makes it. */
async function agentCall(route: Deployment[], policy: Partial<RetryPolicy>) {
  const clients = createProviderClients(specs);
  const loop = createRetryLoop({ policy: { baseDelayMs: 10, maxDelayMs: 20, ...policy } });
  const started = performance.now();
  try {
    const result = await loop.run(route, (d, signal) => clients.complete(d, CALL, signal, () => {}));
    return { ok: true as const, text: result.value.text, attempts: result.attempts, ms: performance.now() - started };
  } catch (error) {
    return { ok: false as const, error: error as RuntimeError, ms: performance.now() - started };
  }
}

function failed(outcome: Awaited<ReturnType<typeof agentCall>>): RuntimeError {
  if (outcome.ok) assert.unreachable(`expected a failure, got the answer ${JSON.stringify(outcome.text)}`);
  assert.instance(outcome.error, RuntimeError, String(outcome.error));
  return outcome.error as RuntimeError;
}

// ---------------------------------------------------------------- the HTTP client follows timeoutMs

/** Where Node's fetch (undici) takes its dispatcher from; wrapped here to observe what each request asks of it. */
const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');
type Dispatch = { dispatch(options: Record<string, unknown>, handler: unknown): boolean };

type Seen = Array<Record<string, unknown>>;

async function observingDispatches<T>(run: () => Promise<T>): Promise<{ value: T; seen: Seen }> {
  const global = globalThis as Record<symbol, Dispatch | undefined>;
  await fetch(`${fake.url}/`, { method: 'HEAD' }); // fetch is loaded, so its global dispatcher exists
  const real = global[GLOBAL_DISPATCHER];
  assert.ok(real, "Node's fetch keeps its dispatcher at Symbol.for('undici.globalDispatcher.1')");
  const seen: Seen = [];
  global[GLOBAL_DISPATCHER] = {
    dispatch(options, handler) {
      seen.push({ path: options.path, headersTimeout: options.headersTimeout, bodyTimeout: options.bodyTimeout });
      return real.dispatch(options, handler);
    },
  };
  try {
    return { value: await run(), seen };
  } finally {
    global[GLOBAL_DISPATCHER] = real;
  }
}

test('timeoutMs 900000 reaches the HTTP client (headers and body timeouts) and the SDK: no 300 s cut', async () => {
  for (const kind of KINDS) {
    fake.reset();
    const route = [deployment(kind, 'long-thinker', 900_000)];
    const { value, seen } = await observingDispatches(() => agentCall(route, { maxAttempts: 1 }));
    assert.ok(value.ok, `${kind}: the call succeeds`);
    const generation = seen.filter((s) => /\/(messages|chat\/completions)$/.test(String(s.path)));
    assert.is(generation.length, 1, `${kind}: one request reached Node's HTTP client (${JSON.stringify(seen)})`);
    // Unset, undici falls back to its 300 s defaults: the cut that stopped 900 s attempts at about 300 s.
    const expected = { path: generation[0].path, headersTimeout: 900_000, bodyTimeout: 900_000 };
    assert.equal(generation[0], expected, `${kind}: HTTP timeouts`);
    const sent = fake.requests.find((r) => r.protocol !== 'other')!;
    // The SDK announces its own timeout (in whole seconds): not its 600 s client default, not less than the route's.
    assert.is(sent.headers['x-stainless-timeout'], '900', `${kind}: the SDK's own timeout`);
  }
});

test("a route without timeoutMs runs under the retry policy's timeoutMs, the HTTP client included", async () => {
  fake.reset();
  const route = [deployment('anthropic', 'policy-timeout')];
  const { value, seen } = await observingDispatches(() => agentCall(route, { maxAttempts: 1, timeoutMs: 450_000 }));
  assert.ok(value.ok);
  const generation = seen.find((s) => String(s.path).endsWith('/messages'));
  assert.equal([generation?.headersTimeout, generation?.bodyTimeout], [450_000, 450_000]);
  assert.is(fake.requests.find((r) => r.protocol === 'anthropic')?.headers['x-stainless-timeout'], '450');
});

// ---------------------------------------------------------------- (c) against the fake upstream, streaming

test('streaming, first byte after 3 s: 4000 ms succeeds, 1000 ms fails at about 1 s naming the attempt', async () => {
  fake.reset();
  fake.script({ match: { model: 'slow-start' }, times: Infinity, respond: { delayMs: 3_000, text: 'worth the wait' } });
  const outcomes = await Promise.all(
    KINDS.flatMap((kind) => [
      agentCall([deployment(kind, 'slow-start', 4_000)], { maxAttempts: 2 }),
      agentCall([deployment(kind, 'slow-start', 1_000)], { maxAttempts: 1 }),
    ]),
  );
  for (const [i, kind] of KINDS.entries()) {
    const [passed, cut] = [outcomes[2 * i], outcomes[2 * i + 1]];
    assert.ok(passed.ok, `${kind}: ${passed.ok ? '' : passed.error.message}`);
    if (passed.ok) {
      assert.is(passed.text, 'worth the wait');
      assert.is(passed.attempts.length, 1, `${kind}: one attempt, no retry`);
    }
    const error = failed(cut);
    assert.is(error.code, ErrorCode.Llm);
    assert.match(error.message, `${kind}/slow-start attempt 1/1 timed out after 1000 ms`);
    assert.match(error.message, /raise timeoutMs for the model in model-routing\.json \(now 1000 ms\)/);
    assert.is((error.cause as UpstreamError).kind, 'timeout');
    // It waited for the timeout (not a connection failure), and did not wait for the answer.
    assert.ok(cut.ms >= 900 && cut.ms < ABOUT_ONE_SECOND_MS, `${kind}: failed after ${Math.round(cut.ms)} ms`);
  }
});

test('streaming, events over 3 s: timeoutMs bounds the whole stream; each timed-out attempt is named', async () => {
  fake.reset();
  // Anthropic sends 9 events here and OpenAI chat 7, 500 ms apart: the last one comes 3 s or more after the first.
  const respond = { eventDelayMs: 500, text: 'every word counts' };
  fake.script({ match: { model: 'slow-stream' }, times: Infinity, respond });
  const outcomes = await Promise.all(
    KINDS.flatMap((kind) => [
      agentCall([deployment(kind, 'slow-stream', 8_000)], { maxAttempts: 1 }),
      agentCall([deployment(kind, 'slow-stream', 1_000)], { maxAttempts: 2 }),
    ]),
  );
  for (const [i, kind] of KINDS.entries()) {
    const [passed, cut] = [outcomes[2 * i], outcomes[2 * i + 1]];
    assert.ok(passed.ok, `${kind}: ${passed.ok ? '' : passed.error.message}`);
    if (passed.ok) assert.is(passed.text, 'every word counts');
    const error = failed(cut);
    assert.match(error.message, `${kind}/slow-stream attempts 1/2 and 2/2 each timed out after 1000 ms`);
    assert.match(error.message, /^2 attempts on 1 model\(s\) failed: /);
    assert.ok(cut.ms >= 1_800 && cut.ms < 2 * ABOUT_ONE_SECOND_MS, `${kind}: failed after ${Math.round(cut.ms)} ms`);
  }
});

// ---------------------------------------------------------------- (c) non-streaming, through the proxy

function proxy(aliases: Record<string, Array<{ model: string; timeoutMs: number }>>) {
  const text = JSON.stringify({ routes: { default: ['anthropic/unused'] }, aliases });
  const routing = parseRouting(text, 'test routing', ['anthropic', 'openai']);
  const { routes } = proxyRoutes({
    clients: createProviderClients(specs),
    routing: () => routing,
    retry: createRetryLoop({ policy: { maxAttempts: 1 } }),
    cache: createCache(),
    usage: createUsageLedger({}),
    version: 'test',
  });
  return async (path: string, body: Record<string, unknown>) => {
    const route = routes.find((r) => r.method === 'POST' && r.path.test(path))!;
    const started = performance.now();
    const headers = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };
    const request = new Request(`http://proxy.test${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    const response = await route.handle(request);
    return { status: response.status, json: await response.json(), ms: performance.now() - started };
  };
}

const MESSAGES = [{ role: 'user', content: 'hello' }];
const requests = {
  anthropic: (model: string) => ['/v1/messages', { model, max_tokens: 64, messages: MESSAGES }] as const,
  openai: (model: string) => ['/v1/chat/completions', { model, messages: MESSAGES }] as const,
};

test('non-streaming (proxy), first byte after 3 s: 4000 ms answers, 1000 ms gives 504 at about 1 s', async () => {
  fake.reset();
  fake.script({ match: { stream: false }, times: Infinity, respond: { delayMs: 3_000, text: 'a late answer' } });
  const post = proxy({
    'json-patient': [{ model: 'anthropic/json-patient', timeoutMs: 4_000 }],
    'json-hasty': [{ model: 'anthropic/json-hasty', timeoutMs: 1_000 }],
    'gpt-patient': [{ model: 'openai/gpt-patient', timeoutMs: 4_000 }],
    'gpt-hasty': [{ model: 'openai/gpt-hasty', timeoutMs: 1_000 }],
  });
  const [okA, cutA, okO, cutO] = await Promise.all([
    post(...requests.anthropic('json-patient')),
    post(...requests.anthropic('json-hasty')),
    post(...requests.openai('gpt-patient')),
    post(...requests.openai('gpt-hasty')),
  ]);
  assert.is(okA.status, 200, JSON.stringify(okA.json));
  assert.is(okA.json.content[0].text, 'a late answer');
  assert.is(okO.status, 200, JSON.stringify(okO.json));
  assert.is(okO.json.choices[0].message.content, 'a late answer');
  for (const [cut, id] of [[cutA, 'anthropic/json-hasty'], [cutO, 'openai/gpt-hasty']] as const) {
    assert.is(cut.status, 504, JSON.stringify(cut.json));
    assert.match(cut.json.error.message, `${id} attempt 1/1 timed out after 1000 ms`);
    assert.ok(cut.ms >= 900 && cut.ms < ABOUT_ONE_SECOND_MS, `${id}: answered after ${Math.round(cut.ms)} ms`);
  }
});

test('non-streaming (proxy), headers at once and the body after 3 s: a 1000 ms limit covers the body too', async () => {
  fake.reset();
  fake.script({ match: { stream: false }, times: Infinity, respond: { bodyDelayMs: 3_000 } });
  const post = proxy({ 'slow-body': [{ model: 'anthropic/slow-body', timeoutMs: 1_000 }] });
  const cut = await post(...requests.anthropic('slow-body'));
  assert.is(cut.status, 504, JSON.stringify(cut.json));
  assert.match(cut.json.error.message, 'anthropic/slow-body attempt 1/1 timed out after 1000 ms');
  assert.ok(cut.ms >= 900 && cut.ms < ABOUT_ONE_SECOND_MS, `answered after ${Math.round(cut.ms)} ms`);
});

// ---------------------------------------------------------------- stageBudgetMs

test('stageBudgetMs: attempts × timeoutMs + the longest waits between attempts, per model, + a margin', async () => {
  // Defaults: 3 × 120 s, and two gaps of up to 30 s each (a Retry-After the loop still honours), + 1 s.
  assert.is(stageBudgetMs({}, 1), 3 * 120_000 + 2 * 30_000 + 1_000);
  assert.is(stageBudgetMs({}, 2), 2 * (3 * 120_000 + 2 * 30_000) + 1_000);
  assert.is(stageBudgetMs({}, [deployment('anthropic', 'a'), deployment('openai', 'b')]), stageBudgetMs({}, 2));
  // Without Retry-After the gaps are the backoff caps: min(maxDelayMs, baseDelayMs × 2^(n-1)).
  const policy = { maxAttempts: 6, baseDelayMs: 500, maxDelayMs: 8_000, maxRetryAfterMs: 0, timeoutMs: 60_000 };
  assert.is(stageBudgetMs(policy, 1, { marginMs: 0 }), 6 * 60_000 + 500 + 1_000 + 2_000 + 4_000 + 8_000);
  // Each model's own timeoutMs counts; the policy's stands in for a model without one.
  const route = [deployment('anthropic', 'slow', 900_000), deployment('openai', 'fast')];
  assert.is(stageBudgetMs({ ...policy, maxAttempts: 2 }, route), 2 * 900_000 + 500 + 2 * 60_000 + 500 + 1_000);
  assert.is(stageBudgetMs({ maxAttempts: 1, timeoutMs: 4_000 }, 1, { marginMs: 250 }), 4_250);
});

/** Runs `promise` to its end on a simulated clock, jumping to each next due timer (never sleeping). */
async function settle(clock: ReturnType<typeof simulatedClock>, promise: Promise<unknown>): Promise<void> {
  let done = false;
  promise.then(() => (done = true), () => (done = true));
  for (let i = 0; i < 10_000 && !done; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    if (!done) clock.step();
  }
  assert.ok(done, 'the loop settled');
}

test("stageBudgetMs is the retry loop's worst case: every attempt and gap at its longest ends inside it", async () => {
  const route = [deployment('anthropic', 'a', 1_000), deployment('openai', 'b', 2_000)];
  // Every attempt fails just before its limit, with the longest Retry-After the loop still waits out.
  const withRetryAfter = { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 40, maxRetryAfterMs: 300 };
  // Every attempt hangs to its limit; with maximal jitter the loop waits the backoff caps.
  const withBackoff = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 250, maxRetryAfterMs: 0 };
  for (const [policy, slow] of [[withRetryAfter, 'retry-after'], [withBackoff, 'hang']] as const) {
    const clock = simulatedClock(0);
    const loop = createRetryLoop({ policy: { ...policy, failureThreshold: 100 }, clock, random: () => 1 });
    const call = (d: Deployment) =>
      new Promise<never>((_, reject) => {
        if (slow === 'hang') return;
        const retryAfterMs = policy.maxRetryAfterMs;
        const limited = new UpstreamError('http', `${d.id}: 429`, { status: 429, retryAfterMs });
        clock.setTimeout(() => reject(limited), d.params.timeoutMs! - 1);
      });
    const run = loop.run(route, call);
    run.catch(() => {});
    await settle(clock, run);
    const spent = clock.now();
    const budget = stageBudgetMs(policy, route, { marginMs: 0 });
    assert.ok(spent <= budget, `${slow}: the loop spent ${spent} ms, within the ${budget} ms budget`);
    const close = `${slow}: the budget (${budget} ms) is the worst case, not far above it (${spent} ms)`;
    assert.ok(budget - spent <= 2 * policy.maxAttempts, close);
  }
});

test('stageBudgetMs refuses what it cannot bound, naming the value and the fix', async () => {
  const refuses = (fn: () => unknown, ...fragments: string[]) => {
    try {
      fn();
    } catch (error) {
      assert.instance(error, RuntimeError);
      assert.is((error as RuntimeError).code, ErrorCode.Invalid);
      for (const fragment of fragments) assert.match((error as RuntimeError).message, fragment);
      return;
    }
    assert.unreachable('expected E_INVALID');
  };
  refuses(() => stageBudgetMs({ maxAttempts: 0 }, 1), 'maxAttempts is 0', 'a whole number ≥ 1');
  refuses(() => stageBudgetMs({}, []), 'the route is empty', 'resolveRoute');
  refuses(() => stageBudgetMs({}, [deployment('anthropic', 'x', Number.NaN)]), 'timeoutMs is', 'milliseconds');
  refuses(() => stageBudgetMs({}, 1.5), 'the number of deployments is 1.5');
});

test.run();
