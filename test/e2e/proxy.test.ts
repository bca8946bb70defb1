// The gateway's proxy as the official SDKs see it: a real server (child process) in front of the fake
// upstream that speaks both providers' wire protocols. Calls work, the second identical call is a cache
// hit with an identical body, faults end in success after retry/fallback or in a clear error with the
// attempts counted, and the provider keys never show anywhere a user could see them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.ts';
import { api, startServer, tempDir, watch, type StartedServer } from '../helpers/server.ts';
import { describeHits, haystacksOfDatabase, haystacksOfDir, scanForCanaries } from '../helpers/canary.ts';

const ANTHROPIC_CANARY = 'sk-ant-canary-7Qx2Lp9ZwR4mT8vB';
const OPENAI_CANARY = 'sk-oai-canary-K3nJ6yH1sD5fG0aQ';
const CLIENT_KEY = 'client-key-not-a-provider-key';

let fake: FakeUpstream;
let server: StartedServer;
let frames: { frames: any[]; close(): void };
const errorBodies: string[] = [];

test.before(async () => {
  fake = await startFakeUpstream();
  const dir = tempDir('orch-proxy-');
  // timeoutMs: only the scripted hang reaches it; every other answer must come back well inside it,
  // also on a busy machine, or the exact request sequences below would gain a retry.
  writeFileSync(join(dir, 'orchestrator.config.json'), JSON.stringify({ retry: { baseDelayMs: 5, maxDelayMs: 20, timeoutMs: 4000, failureThreshold: 1000, maxAttempts: 3 } }));
  writeFileSync(
    join(dir, 'model-routing.json'),
    JSON.stringify({
      routes: { default: ['anthropic/claude-sonnet-4-5'] },
      aliases: { 'fallback-model': ['anthropic/always-overloaded', 'anthropic/steady'], 'gpt-fallback': ['openai/gpt-broken', 'openai/gpt-steady'] },
    }),
  );
  server = await startServer({
    dataDir: join(dir, 'data'),
    env: {
      ANTHROPIC_API_KEY: ANTHROPIC_CANARY,
      OPENAI_API_KEY: OPENAI_CANARY,
      ANTHROPIC_BASE_URL: fake.url,
      OPENAI_BASE_URL: `${fake.url}/v1`,
      ORCHESTRATOR_CONFIG: join(dir, 'orchestrator.config.json'),
      ORCHESTRATOR_ROUTING: join(dir, 'model-routing.json'),
    },
  });
  frames = await watch(server);
});

test.after(async () => {
  frames?.close();
  await server?.stop();
  await fake?.close();
});

const anthropic = () => new Anthropic({ apiKey: CLIENT_KEY, baseURL: server.url, maxRetries: 0 });
const openai = () => new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${server.url}/v1`, maxRetries: 0 });

async function raw(path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01', ...headers }, body: JSON.stringify(body) });
  const text = await response.text();
  if (response.status >= 400) errorBodies.push(text);
  return { status: response.status, headers: response.headers, text };
}

test('Anthropic SDK: create, then the identical call is a cache hit with an identical body; the server key replaces the client key', async () => {
  fake.reset();
  const before = (await api(server, '/api/cache/stats')).body;
  const params = { model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user' as const, content: 'cache me please' }] };
  const first = await anthropic().messages.create(params).withResponse();
  const second = await anthropic().messages.create(params).withResponse();
  assert.is(first.data.content[0].type, 'text');
  assert.equal(second.data, first.data, 'identical body');
  assert.is(first.response.headers.get('x-orchestrator-cache'), 'miss');
  assert.is(second.response.headers.get('x-orchestrator-cache'), 'hit');
  assert.is(fake.requests.length, 1, 'one upstream call for two client calls');
  assert.is(fake.requests[0].headers['x-api-key'], ANTHROPIC_CANARY, "the gateway's key goes upstream");
  const after = (await api(server, '/api/cache/stats')).body;
  assert.is(after.hits - before.hits, 1);
  assert.is(after.misses - before.misses, 1);
  for (const field of ['hits', 'misses', 'hitRate', 'size', 'maxSize', 'bytes', 'ttlSeconds']) assert.ok(field in after, `stats has ${field}`);
});

test('Anthropic SDK: a stream passes through, and the cached stream replays as valid SSE', async () => {
  fake.reset();
  const params = { model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user' as const, content: 'stream me' }] };
  const firstStream = anthropic().messages.stream(params);
  let streamed = '';
  firstStream.on('text', (t) => (streamed += t));
  const first = await firstStream.finalMessage();
  const second = await anthropic().messages.stream(params).finalMessage();
  assert.ok(streamed.length > 0, 'text events arrived');
  assert.equal(second, first, 'the replayed stream yields the same message');
  assert.is(fake.requests.length, 1);
  assert.match(String(fake.requests[0].path), /\/v1\/messages/);
});

test('Anthropic SDK: tool use and thinking blocks come through intact; count_tokens works', async () => {
  fake.reset();
  fake.script({ match: { model: 'claude-tools' }, times: 2, respond: { toolUse: { name: 'read_file', input: { path: 'a.txt' } }, thinking: 'let me look' } });
  const tools = [{ name: 'read_file', description: 'read', input_schema: { type: 'object' as const, properties: { path: { type: 'string' } } } }];
  const plain = await anthropic().messages.create({ model: 'claude-tools', max_tokens: 100, tools, messages: [{ role: 'user', content: 'read a.txt' }] });
  const streamed = await anthropic().messages.stream({ model: 'claude-tools', max_tokens: 100, tools, messages: [{ role: 'user', content: 'read a.txt, streamed' }] }).finalMessage();
  for (const message of [plain, streamed]) {
    assert.is(message.stop_reason, 'tool_use');
    const tool = message.content.find((b) => b.type === 'tool_use');
    assert.equal(tool && tool.type === 'tool_use' ? tool.input : null, { path: 'a.txt' });
    const thinking = message.content.find((b) => b.type === 'thinking');
    assert.ok(thinking && thinking.type === 'thinking' && thinking.signature, 'thinking with signature');
  }
  const count = await anthropic().messages.countTokens({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'how many tokens is this' }] });
  assert.ok(count.input_tokens > 0);
});

test('anthropic-version, anthropic-beta, the query string and unknown body fields reach the upstream', async () => {
  fake.reset();
  const result = await raw('/v1/messages?beta=true', { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'pass through' }], some_future_field: { x: 1 } }, { 'anthropic-beta': 'fancy-2099-01-01' });
  assert.is(result.status, 200);
  const seen = fake.requests[0];
  assert.is(seen.path, '/v1/messages?beta=true');
  assert.is(seen.headers['anthropic-beta'], 'fancy-2099-01-01');
  assert.is(seen.headers['anthropic-version'], '2023-06-01');
  assert.equal((seen.body as any).some_future_field, { x: 1 });
});

test('a base-URL path prefix is accepted (ANTHROPIC_BASE_URL=http://host:port/some/prefix)', async () => {
  const client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: `${server.url}/some/prefix`, maxRetries: 0 });
  const message = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'prefixed' }] });
  assert.is(message.type, 'message');
});

test('OpenAI SDK: chat (JSON and stream with a usage chunk) and responses (JSON and stream), each cached', async () => {
  fake.reset();
  const client = openai();
  const chatParams = { model: 'gpt-5', messages: [{ role: 'user' as const, content: 'chat with me' }] };
  const a = await client.chat.completions.create(chatParams);
  const b = await client.chat.completions.create(chatParams);
  assert.equal(b, a);
  let text = '';
  let usageSeen = false;
  for await (const chunk of await client.chat.completions.create({ ...chatParams, stream: true, stream_options: { include_usage: true } })) {
    text += chunk.choices[0]?.delta?.content ?? '';
    if (chunk.usage) usageSeen = true;
  }
  assert.ok(text.length > 0 && usageSeen, 'stream text and a usage chunk');
  const r1 = await client.responses.create({ model: 'gpt-5', input: 'respond to me' });
  const r2 = await client.responses.create({ model: 'gpt-5', input: 'respond to me' });
  assert.equal(r2, r1);
  assert.ok(r1.output_text.length > 0);
  const stream = client.responses.stream({ model: 'gpt-5', input: 'respond, streamed' });
  const final = await stream.finalResponse();
  const again = await client.responses.stream({ model: 'gpt-5', input: 'respond, streamed' }).finalResponse();
  assert.equal(again, final);
  assert.is(fake.requests.length, 4, 'chat, chat stream, responses, responses stream: the repeats are hits');
  assert.is(fake.requests[0].headers.authorization, `Bearer ${OPENAI_CANARY}`);
});

test('GET /v1/models answers in both shapes; HEAD / and /api/hello answer', async () => {
  const list = await openai().models.list();
  assert.ok(list.data.some((m) => m.id === 'fallback-model'));
  const a = await fetch(`${server.url}/v1/models`, { headers: { 'anthropic-version': '2023-06-01' } }).then((r) => r.json());
  assert.is(a.data[0].type, 'model');
  assert.is((await fetch(server.url + '/', { method: 'HEAD' })).status, 200);
  assert.is((await api(server, '/api/hello')).body.ok, true);
});

test('a WebSocket upgrade on a proxy path gets 426 (Codex tries one first); gzip request bodies and compressed upstream answers pass', async () => {
  const { request } = await import('node:http');
  const status = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path: '/v1/responses', headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
    req.on('response', (res) => resolve(res.statusCode ?? 0));
    req.on('upgrade', () => reject(new Error('upgraded')));
    req.on('error', reject);
    req.end();
  });
  assert.is(status, 426);

  const { gzipSync } = await import('node:zlib');
  fake.reset();
  fake.script({ match: { model: 'squeezed' }, times: 2, respond: { encoding: 'br' } });
  const body = gzipSync(JSON.stringify({ model: 'squeezed', max_tokens: 10, messages: [{ role: 'user', content: 'compressed both ways' }] }));
  const response = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'x-api-key': CLIENT_KEY }, body });
  const answer = await response.json();
  assert.is(response.status, 200);
  assert.is(answer.type, 'message');
  assert.is(response.headers.get('content-encoding'), null, 'the proxy decoded the br answer (it reads usage and caches plain text)');
  assert.is((fake.requests[0].body as any).messages[0].content, 'compressed both ways', 'the gzip request body was decoded before forwarding');
});

test('a 5 MB request body passes through', async () => {
  fake.reset();
  const result = await raw('/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'x'.repeat(5 * 1024 * 1024) }] });
  assert.is(result.status, 200);
  assert.is(((fake.requests[0].body as any).messages[0].content as string).length, 5 * 1024 * 1024);
});

test('429 with retry-after: waits, retries, succeeds (2 attempts)', async () => {
  fake.reset();
  fake.script({ match: { model: 'rate-limited' }, respond: { status: 429, headers: { 'retry-after': '0' } } });
  const result = await raw('/v1/messages', { model: 'rate-limited', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  assert.is(result.status, 200);
  assert.is(fake.requests.length, 2);
});

test('500 then 529: retried to success (3 attempts)', async () => {
  fake.reset();
  fake.script({ match: { model: 'flaky' }, respond: { status: 500 } }, { match: { model: 'flaky' }, respond: { status: 529 } });
  const result = await raw('/v1/messages', { model: 'flaky', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  assert.is(result.status, 200);
  assert.is(fake.requests.length, 3);
});

test('529 on every attempt falls back to the next model of the alias (3 + 1 attempts)', async () => {
  fake.reset();
  fake.script({ match: { model: 'always-overloaded' }, times: Infinity, respond: { status: 529 } });
  const result = await raw('/v1/messages', { model: 'fallback-model', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  assert.is(result.status, 200);
  assert.is(result.headers.get('x-orchestrator-model'), 'anthropic/steady');
  assert.equal(fake.requests.map((r) => (r.body as any).model), ['always-overloaded', 'always-overloaded', 'always-overloaded', 'steady']);
});

test('a timeout, a truncated body and malformed JSON are each retried to success', async () => {
  fake.reset();
  fake.script(
    { match: { model: 'slow' }, respond: { hang: true } },
    { match: { model: 'cut' }, respond: { truncate: true } },
    { match: { model: 'garbled' }, respond: { malformed: true } },
  );
  for (const model of ['slow', 'cut', 'garbled']) {
    const result = await raw('/v1/messages', { model, max_tokens: 10, messages: [{ role: 'user', content: model }] });
    assert.is(result.status, 200, `${model} ends in success`);
  }
  assert.equal(fake.requests.map((r) => (r.body as any).model), ['slow', 'slow', 'cut', 'cut', 'garbled', 'garbled']);
});

test('401 is never retried: one attempt, and the client sees the 401', async () => {
  fake.reset();
  fake.script({ match: { model: 'bad-key' }, times: Infinity, respond: { status: 401 } });
  const result = await raw('/v1/messages', { model: 'bad-key', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  assert.is(result.status, 401);
  assert.is(JSON.parse(result.text).error.type, 'authentication_error');
  assert.is(fake.requests.length, 1);
});

test('429 on every attempt ends in a clear 429 with the retry header forwarded, never cached', async () => {
  fake.reset();
  fake.script({ match: { model: 'gpt-broken' }, times: Infinity, respond: { status: 429, headers: { 'retry-after-ms': '1' } } });
  const response = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` }, body: JSON.stringify({ model: 'openai/gpt-broken', messages: [{ role: 'user', content: 'x' }] }) });
  const text = await response.text();
  errorBodies.push(text);
  assert.is(response.status, 429);
  assert.is(response.headers.get('retry-after-ms'), '1');
  assert.is(fake.requests.length, 3);
  const again = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` }, body: JSON.stringify({ model: 'openai/gpt-broken', messages: [{ role: 'user', content: 'x' }] }) });
  await again.text();
  assert.is(fake.requests.length, 6, 'errors are not cached');
});

test('a stream cut mid-way reaches the client cut and is not cached', async () => {
  fake.reset();
  fake.script({ match: { model: 'cut-stream' }, times: 2, respond: { truncate: true } });
  const params = { model: 'cut-stream', max_tokens: 10, messages: [{ role: 'user' as const, content: 'x' }] };
  let failed = 0;
  for (let i = 0; i < 2; i++) {
    try {
      await anthropic().messages.stream(params).finalMessage();
    } catch {
      failed++;
    }
  }
  assert.is(failed, 2, 'both cut streams fail at the client');
  assert.is(fake.requests.length, 2, 'the second call went upstream again: nothing partial was cached');
});

test('a stream that carries an error event (overloaded mid-stream) reaches the client as sent and is not cached', async () => {
  fake.reset();
  fake.script({ match: { model: 'mid-stream-error' }, times: 2, respond: { errorEvent: true } });
  const body = { model: 'mid-stream-error', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'x' }] };
  for (let i = 0; i < 2; i++) {
    const result = await raw('/v1/messages', body);
    assert.is(result.status, 200);
    assert.match(result.text, /event: error/);
    assert.match(result.text, /overloaded_error/);
  }
  assert.is(fake.requests.length, 2, 'the second call went upstream again');
});

test("with no server key, the caller's own key goes upstream, and its 401s open only that caller's circuit", async () => {
  const dir = tempDir('orch-proxy-passthrough-');
  writeFileSync(join(dir, 'orchestrator.config.json'), JSON.stringify({ retry: { baseDelayMs: 5, maxDelayMs: 20, failureThreshold: 1 } }));
  const bare = await startServer({ dataDir: join(dir, 'data'), env: { ANTHROPIC_BASE_URL: fake.url, ORCHESTRATOR_CONFIG: join(dir, 'orchestrator.config.json') } });
  try {
    fake.reset();
    fake.script({ match: { model: 'claude-sonnet-4-5' }, times: 1, respond: { status: 401 } });
    const call = (key?: string) =>
      fetch(`${bare.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) }, body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: `hi ${key}` }] }) });
    assert.is((await call('bad-caller-key')).status, 401, "the upstream's 401 for a bad key");
    assert.is(fake.requests[0].headers.authorization, 'Bearer bad-caller-key', 'passed through in the style it came');
    const good = await call('good-caller-key');
    assert.is(good.status, 200, "another caller is not blocked by the first caller's open circuit");
    const none = await call();
    assert.is(none.status, 401);
    assert.match((await none.json()).error.message, /no API key for anthropic/);
    assert.is(fake.requests.length, 2, 'a call without any key never reaches the upstream');
  } finally {
    await bare.stop();
  }
});

test('two credentials never share a cache entry', async () => {
  fake.reset();
  const body = { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'namespaced' }] };
  const a = await raw('/v1/messages', body, { 'x-api-key': 'caller-one' });
  const b = await raw('/v1/messages', body, { 'x-api-key': 'caller-two' });
  assert.is.not(a.text, b.text);
  assert.is(fake.requests.length, 2);
  assert.is(b.headers.get('x-orchestrator-cache'), 'miss');
});

test('bad input gets a provider-shaped 400; usage is accounted; cache clear answers', async () => {
  const bad = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
  const badText = await bad.text();
  errorBodies.push(badText);
  assert.is(bad.status, 400);
  assert.is(JSON.parse(badText).error.type, 'invalid_request_error');
  const usage = (await api(server, '/api/usage')).body;
  assert.ok(usage.total.calls > 10, 'calls are accounted');
  assert.ok(usage.byAgent.proxy, 'under the proxy');
  const project = (await api(server, '/api/project/stats')).body;
  assert.ok(project.cache && project.usage && project.tasks);
  const cleared = (await api(server, '/api/cache/clear', { method: 'POST', body: {} })).body;
  assert.is(cleared.status, 'cleared');
  assert.ok(cleared.cleared > 0 && cleared.freedMemory > 0);
});

test('the provider keys appear in no log line, database row, ws frame or error body', async () => {
  const haystacks = {
    logs: server.output(),
    ...haystacksOfDatabase(join(server.dataDir, 'orchestrator.db')),
    ...haystacksOfDir(server.dataDir, { skip: ['token'] }),
    ws: JSON.stringify(frames.frames),
    errors: errorBodies.join('\n'),
    health: JSON.stringify((await api(server, '/api/health')).body),
  };
  assert.ok(frames.frames.length > 1, 'ws frames were collected');
  const hits = scanForCanaries(haystacks, { ANTHROPIC_CANARY, OPENAI_CANARY });
  assert.equal(hits.length, 0, `\n${describeHits(hits)}`);
});

test.run();
