// The fake upstream, driven by the official SDKs: if they parse it, its wire formats are the real ones.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import * as zlib from 'node:zlib';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startFakeUpstream } from './upstream.ts';
import type { FakeUpstream } from './upstream.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
let fake: FakeUpstream;
let anthropic: Anthropic;
let openai: OpenAI;

const ask = { model: 'claude-test', max_tokens: 100, messages: [{ role: 'user' as const, content: 'What is the answer to everything?' }] };
const chatAsk = { model: 'gpt-test', messages: [{ role: 'user' as const, content: 'hello chat' }] };
const tool = { name: 'get_weather', input: { city: 'Paris', days: 3, units: 'metric', detail: { hourly: true } } };

async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.unreachable('expected a rejection');
}

function post(path: string, body: unknown, headers: Record<string, string> = { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' }): Promise<Response> {
  return fetch(fake.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

test.before(async () => {
  fake = await startFakeUpstream();
  // logLevel off: the malformed-stream test would make the SDK log the bad line
  anthropic = new Anthropic({ apiKey: 'sk-ant-test', baseURL: fake.url, maxRetries: 0, logLevel: 'off' });
  openai = new OpenAI({ apiKey: 'sk-test', baseURL: fake.url + '/v1', maxRetries: 0 });
});
test.after(() => fake.close());
test.before.each(() => fake.reset());

test('anthropic: a plain answer, different on every call, recorded with its protocol', async () => {
  const a = await anthropic.messages.create(ask);
  const b = await anthropic.messages.create(ask);
  assert.match(a.id, /^msg_fake_\d+$/);
  assert.is.not(a.id, b.id);
  assert.is(a.model, 'claude-test');
  assert.is(a.stop_reason, 'end_turn');
  const block = a.content[0];
  assert.is(block.type, 'text');
  assert.match(block.type === 'text' ? block.text : '', /^fake answer #\d+ to: What is the answer to everything\?$/);
  assert.ok(a.usage.input_tokens > 10 && a.usage.output_tokens > 3, JSON.stringify(a.usage));
  assert.is(a.usage.cache_read_input_tokens, 0);
  assert.is(fake.requests.length, 2);
  assert.is(fake.requests[0].protocol, 'anthropic');
  assert.is(fake.requests[0].path, '/v1/messages');
  assert.equal((fake.requests[0].body as any).messages, ask.messages);
});

test('anthropic: messages.stream() gives text deltas, a ping, and the same final message', async () => {
  const stream = anthropic.messages.stream(ask);
  const texts: string[] = [];
  const raw: string[] = [];
  stream.on('text', (t) => texts.push(t));
  stream.on('streamEvent', (e) => raw.push(e.type));
  const final = await stream.finalMessage();
  assert.ok(texts.length >= 3, `deltas: ${texts.length}`);
  const block = final.content[0];
  assert.is(block.type === 'text' && block.text, texts.join(''));
  assert.equal(raw.slice(0, 2), ['message_start', 'content_block_start']);
  assert.equal(raw.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
  assert.ok(final.usage.output_tokens > 1);
  assert.is(final.stop_reason, 'end_turn');
  const sent = fake.requests[0].body as any;
  assert.is(sent.stream, true);
  // the ping the SDK filters out is on the wire
  const res = await post('/v1/messages', { ...ask, stream: true });
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  assert.match(await res.text(), /event: ping\ndata: \{"type":"ping"\}\n\n/);
});

test('anthropic: a tool_use round trip, streamed (input in 2+ JSON parts) and not', async () => {
  fake.script({ match: { hasToolResult: false }, times: 2, respond: { toolUse: tool } });
  const plain = await anthropic.messages.create({ ...ask, tools: [{ name: 'get_weather', input_schema: { type: 'object' } }] });
  assert.is(plain.stop_reason, 'tool_use');
  const use = plain.content[0];
  assert.ok(use.type === 'tool_use');
  assert.equal(use.input, tool.input);
  assert.is(use.name, 'get_weather');

  const stream = anthropic.messages.stream(ask);
  const parts: string[] = [];
  stream.on('streamEvent', (e) => e.type === 'content_block_delta' && e.delta.type === 'input_json_delta' && parts.push(e.delta.partial_json));
  const final = await stream.finalMessage();
  assert.ok(parts.length >= 2, `parts: ${parts.length}`);
  const streamed = final.content.find((b) => b.type === 'tool_use');
  assert.ok(streamed && streamed.type === 'tool_use');
  assert.equal(streamed.input, tool.input);
  assert.is(final.stop_reason, 'tool_use');

  // with the tool result sent back, the rule no longer matches: the default answer
  const next = await anthropic.messages.create({
    ...ask,
    messages: [
      ...ask.messages,
      { role: 'assistant', content: [{ type: 'tool_use', id: streamed.id, name: 'get_weather', input: tool.input }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: streamed.id, content: 'sunny, 21 C' }] },
    ],
  });
  const text = next.content[0];
  assert.is(text.type === 'text' && text.text.endsWith('to: sunny, 21 C'), true, JSON.stringify(next.content));
});

test('anthropic: a thinking block with its signature, streamed and not', async () => {
  fake.script({ times: 2, respond: { thinking: 'Let me think about this carefully.', text: 'Forty-two.' } });
  const plain = await anthropic.messages.create(ask);
  const [thinking, text] = plain.content;
  assert.ok(thinking.type === 'thinking' && thinking.signature.length > 10);
  assert.is(thinking.type === 'thinking' && thinking.thinking, 'Let me think about this carefully.');
  assert.is(text.type === 'text' && text.text, 'Forty-two.');
  const streamed = await anthropic.messages.stream(ask).finalMessage();
  const [sThinking, sText] = streamed.content;
  assert.ok(sThinking.type === 'thinking' && sThinking.signature.length > 10);
  assert.is(sThinking.type === 'thinking' && sThinking.thinking, 'Let me think about this carefully.');
  assert.is(sText.type === 'text' && sText.text, 'Forty-two.');
});

test('anthropic: countTokens and models.list', async () => {
  const count = await anthropic.messages.countTokens({ model: 'claude-test', messages: ask.messages });
  assert.ok(count.input_tokens > 5);
  assert.is(fake.requests[0].path, '/v1/messages/count_tokens');
  const ids: string[] = [];
  for await (const model of anthropic.models.list()) {
    assert.is(model.type, 'model');
    ids.push(model.id);
  }
  assert.ok(ids.length >= 2 && ids.every((id) => id.startsWith('claude-')), ids.join());
});

test('anthropic: error statuses become the SDK typed errors, retry headers readable', async () => {
  fake.script(
    { respond: { status: 429, headers: { 'retry-after': '7', 'x-should-retry': 'false' } } },
    { respond: { status: 529 } },
    { respond: { status: 400, error: { message: 'prompt is too long' } } },
  );
  const limited = await rejection(anthropic.messages.create(ask));
  assert.instance(limited, Anthropic.RateLimitError);
  assert.is(limited.status, 429);
  assert.is(limited.headers.get('retry-after'), '7');
  assert.is(limited.headers.get('x-should-retry'), 'false');
  assert.is(limited.error.type, 'error');
  assert.is(limited.error.error.type, 'rate_limit_error');
  assert.match(limited.requestID ?? '', /^req_fake_/);
  const overloaded = await rejection(anthropic.messages.create(ask));
  assert.is(overloaded.status, 529);
  assert.is(overloaded.error.error.type, 'overloaded_error');
  const bad = await rejection(anthropic.messages.create(ask));
  assert.instance(bad, Anthropic.BadRequestError);
  assert.is(bad.error.error.message, 'prompt is too long');
  // after the three rules: normal again
  assert.ok((await anthropic.messages.create(ask)).id);
});

test('anthropic: a truncated stream, an error event and a malformed stream make the SDK throw', async () => {
  fake.script({ respond: { truncate: true } }, { respond: { errorEvent: true } }, { respond: { malformed: true } }, { respond: { truncate: true } });
  assert.ok(await rejection(anthropic.messages.stream(ask).finalMessage()));
  const overloaded = await rejection(anthropic.messages.stream(ask).finalMessage());
  assert.is(overloaded.error?.error?.type, 'overloaded_error', String(overloaded));
  assert.ok(await rejection(anthropic.messages.stream(ask).finalMessage()));
  // non-streaming truncation: half a JSON body, then the socket dies
  assert.ok(await rejection(anthropic.messages.create(ask)));
});

test('http: auth, unknown paths, path prefix and query, HEAD /, websocket refusal, validation', async () => {
  const noAuth = await post('/v1/messages', ask, {});
  assert.is(noAuth.status, 401);
  assert.is((await noAuth.json()).error.type, 'authentication_error');
  const openaiNoAuth = await post('/v1/chat/completions', chatAsk, {});
  assert.is(openaiNoAuth.status, 401);
  assert.is((await openaiNoAuth.json()).error.code, 'missing_api_key');
  const unknown = await post('/v1/nope', {}, { authorization: 'Bearer k' });
  assert.is(unknown.status, 404);
  assert.equal(Object.keys((await unknown.json()).error), ['message', 'type', 'param', 'code']);
  const prefixed = await post('/some/prefix/v1/messages?beta=true', ask);
  assert.is(prefixed.status, 200);
  assert.is((await prefixed.json()).type, 'message');
  assert.is(fake.requests.at(-1)!.path, '/some/prefix/v1/messages?beta=true');
  assert.is((await fetch(fake.url, { method: 'HEAD' })).status, 200);
  const missing = await post('/v1/messages', { model: 'm', messages: [] });
  assert.is(missing.status, 400);
  assert.match((await missing.json()).error.message, /max_tokens/);

  const upgrade = await new Promise<number>((resolve, reject) => {
    const req = request(`${fake.url}/v1/responses`, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('upgrade', () => reject(new Error('upgraded')));
    req.on('error', reject);
    req.end();
  });
  assert.is(upgrade, 426);
});

test('rules: times, model, stream and path matching; delay; hang until the client aborts', async () => {
  fake.script(
    { match: { model: 'other-model' }, times: Infinity, respond: { text: 'other' } },
    { match: { stream: true, protocol: 'openai-chat' }, respond: { text: 'streamed chat' } },
    { match: { path: 'count_tokens' }, respond: { status: 503 } },
  );
  for (let i = 0; i < 3; i++) {
    const r = await anthropic.messages.create({ ...ask, model: 'other-model' });
    assert.is(r.content[0].type === 'text' && r.content[0].text, 'other');
  }
  const plain = await openai.chat.completions.create(chatAsk);
  assert.match(plain.choices[0].message.content ?? '', /^fake answer/);
  const streamed = await openai.chat.completions.stream(chatAsk).finalChatCompletion();
  assert.is(streamed.choices[0].message.content, 'streamed chat');
  assert.is((await rejection(anthropic.messages.countTokens({ model: 'x', messages: ask.messages }))).status, 503);

  fake.script({ respond: { delayMs: 150 } });
  const t0 = Date.now();
  await anthropic.messages.create(ask);
  assert.ok(Date.now() - t0 >= 140, `took ${Date.now() - t0} ms`);

  // eventDelayMs: the stream arrives event by event, the first long before the last
  fake.script({ respond: { eventDelayMs: 40 } });
  const res = await post('/v1/messages', { ...ask, stream: true });
  const reader = res.body!.getReader();
  const t1 = Date.now();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.match(first, /^event: message_start\n/);
  assert.not.match(first, /message_stop/);
  let rest = '';
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += new TextDecoder().decode(chunk.value);
  assert.ok(Date.now() - t1 >= 200, `rest took ${Date.now() - t1} ms`);
  assert.match(rest, /event: message_stop/);

  fake.script({ respond: { hang: true } });
  const controller = new AbortController();
  const hung = rejection(anthropic.messages.create(ask, { signal: controller.signal }));
  setTimeout(() => controller.abort(), 100);
  assert.instance(await hung, Anthropic.APIUserAbortError);
});

test('openai chat: plain, streamed with include_usage, tool calls both ways', async () => {
  const plain = await openai.chat.completions.create(chatAsk);
  assert.match(plain.id, /^chatcmpl-fake\d+$/);
  assert.is(plain.model, 'gpt-test');
  assert.is(plain.object, 'chat.completion');
  assert.ok(plain.usage && plain.usage.total_tokens === plain.usage.prompt_tokens + plain.usage.completion_tokens);
  assert.is(fake.requests[0].protocol, 'openai-chat');
  assert.match(fake.requests[0].headers.authorization, /^Bearer sk-test$/);

  const chunks = [];
  for await (const chunk of await openai.chat.completions.create({ ...chatAsk, stream: true, stream_options: { include_usage: true } })) chunks.push(chunk);
  const last = chunks.at(-1)!;
  assert.equal(last.choices, []);
  assert.ok(last.usage && last.usage.completion_tokens > 0);
  const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
  assert.match(text, /^fake answer #\d+ to: hello chat$/);
  assert.ok(chunks.filter((c) => c.choices[0]?.delta.content).length >= 3);
  assert.is(chunks.at(-2)!.choices[0].finish_reason, 'stop');

  fake.script({ times: 2, respond: { toolUse: tool } });
  const call = await openai.chat.completions.create(chatAsk);
  assert.is(call.choices[0].finish_reason, 'tool_calls');
  const fn = call.choices[0].message.tool_calls![0];
  assert.ok(fn.type === 'function');
  assert.equal(JSON.parse(fn.function.arguments), tool.input);
  const streamed = await openai.chat.completions.stream(chatAsk).finalChatCompletion();
  const sfn = streamed.choices[0].message.tool_calls![0];
  assert.ok(sfn.type === 'function');
  assert.is(sfn.function.name, 'get_weather');
  assert.equal(JSON.parse(sfn.function.arguments), tool.input);
  assert.is(streamed.choices[0].finish_reason, 'tool_calls');
});

test('openai responses: plain and streamed, text and function_call; models.list; error shapes', async () => {
  const plain = await openai.responses.create({ model: 'gpt-test', input: 'hello responses', instructions: 'be brief' });
  assert.match(plain.id, /^resp_fake_\d+$/);
  assert.match(plain.output_text, /^fake answer #\d+ to: hello responses$/);
  assert.is(plain.usage?.total_tokens, plain.usage!.input_tokens + plain.usage!.output_tokens);
  assert.is(fake.requests[0].protocol, 'openai-responses');

  const stream = openai.responses.stream({ model: 'gpt-test', input: [{ role: 'user', content: [{ type: 'input_text', text: 'streamed question' }] }] });
  const deltas: string[] = [];
  const seqs: number[] = [];
  stream.on('response.output_text.delta', (e) => deltas.push(e.delta));
  stream.on('event', (e) => seqs.push(e.sequence_number));
  const final = await stream.finalResponse();
  assert.ok(deltas.length >= 3);
  assert.is(final.output_text, deltas.join(''));
  assert.match(final.output_text, /to: streamed question$/);
  assert.equal(seqs, seqs.map((_, i) => i));

  fake.script({ times: 2, respond: { toolUse: tool } });
  const call = await openai.responses.create({ model: 'gpt-test', input: 'weather?' });
  const item = call.output[0];
  assert.ok(item.type === 'function_call');
  assert.equal(JSON.parse(item.arguments), tool.input);
  const sfinal = await openai.responses.stream({ model: 'gpt-test', input: 'weather?' }).finalResponse();
  const sitem = sfinal.output.find((o) => o.type === 'function_call');
  assert.ok(sitem && sitem.type === 'function_call');
  assert.is(sitem.name, 'get_weather');
  assert.equal(JSON.parse(sitem.arguments), tool.input);

  const models = [];
  for await (const m of openai.models.list()) models.push(m);
  assert.ok(models.length > 0 && models.every((m) => m.object === 'model' && m.owned_by));

  fake.script({ respond: { status: 429, headers: { 'retry-after-ms': '250' } } }, { respond: { status: 500 } });
  const limited = await rejection(openai.responses.create({ model: 'gpt-test', input: 'x' }));
  assert.instance(limited, OpenAI.RateLimitError);
  assert.is(limited.code, 'rate_limit_exceeded');
  assert.is(limited.headers.get('retry-after-ms'), '250');
  const broken = await rejection(openai.chat.completions.create(chatAsk));
  assert.instance(broken, OpenAI.InternalServerError);
  assert.is(broken.type, 'server_error');

  fake.script({ respond: { truncate: true } }, { respond: { errorEvent: true } });
  assert.ok(await rejection(openai.responses.stream({ model: 'gpt-test', input: 'x' }).finalResponse()));
  assert.ok(await rejection(openai.chat.completions.stream(chatAsk).finalChatCompletion()));
});

test('encodings: gzip/br/zstd responses; a gzip request body is recorded decoded', async () => {
  for (const encoding of ['gzip', 'br', 'zstd'] as const) {
    fake.script({ respond: { encoding, text: `packed with ${encoding}` } });
    const res = await post('/v1/messages', ask);
    assert.is(res.headers.get('content-encoding'), encoding);
    assert.is((await res.json()).content[0].text, `packed with ${encoding}`);
  }
  // fetch in Node 24 decodes zstd; also decode the raw bytes with zlib to prove they are real zstd
  fake.script({ respond: { encoding: 'zstd', text: 'packed with zstd' } });
  const raw = await new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
    const req = request(`${fake.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': 'k', 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(ask));
  });
  assert.is(raw.encoding, 'zstd');
  assert.is(JSON.parse(zlib.zstdDecompressSync(raw.body).toString()).content[0].text, 'packed with zstd');

  fake.script({ match: { stream: true }, respond: { encoding: 'gzip' } });
  const sse = await post('/v1/messages', { ...ask, stream: true });
  assert.match(await sse.text(), /event: message_stop/);

  const res = await fetch(`${fake.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer k', 'content-type': 'application/json', 'content-encoding': 'gzip' },
    body: zlib.gzipSync(JSON.stringify(chatAsk)),
  });
  assert.is(res.status, 200);
  assert.equal(fake.requests.at(-1)!.body, chatAsk);
});

test('cli: prints its URL, is scriptable over HTTP, stops on SIGTERM', async () => {
  const child = spawn(`${ROOT}node_modules/.bin/node`, [`${ROOT}test/fakes/upstream.ts`, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', () => reject(new Error('exited before printing its URL')));
    });
    const { url, port } = JSON.parse(line);
    assert.is(url, `http://127.0.0.1:${port}`);
    const scripted = await fetch(`${url}/__fake/script`, { method: 'POST', body: JSON.stringify([{ match: { protocol: 'anthropic' }, times: null, respond: { text: 'from the cli' } }]) });
    assert.is(scripted.status, 200);
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: url, maxRetries: 0 });
    for (let i = 0; i < 2; i++) {
      const m = await client.messages.create(ask);
      assert.is(m.content[0].type === 'text' && m.content[0].text, 'from the cli');
    }
    const recorded = await (await fetch(`${url}/__fake/requests`)).json();
    assert.is(recorded.length, 2);
    assert.is(recorded[0].protocol, 'anthropic');
    await fetch(`${url}/__fake/reset`, { method: 'POST' });
    assert.equal(await (await fetch(`${url}/__fake/requests`)).json(), []);

    // A hold keeps every generation request waiting (control requests still answer) until released.
    const hold = (body: unknown) => fetch(`${url}/__fake/hold`, { method: 'POST', body: JSON.stringify(body) });
    assert.equal(await (await hold({ on: true })).json(), { ok: true, held: 0 });
    let answered = 0;
    const calls = [0, 1, 2].map(() => client.messages.create(ask).then((m) => (answered++, m)));
    for (let i = 0; i < 500 && (await (await fetch(`${url}/__fake/requests`)).json()).length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    assert.is(answered, 0, 'no held call was answered');
    assert.equal(await (await hold({ on: true })).json(), { ok: true, held: 3 });
    assert.equal(await (await hold({ on: false })).json(), { ok: true, held: 0 });
    for (const m of await Promise.all(calls)) assert.match(m.content[0].type === 'text' ? m.content[0].text : '', /^fake answer #\d+ to: What is the answer/);
    const bad = await hold({ on: 'yes' });
    assert.is(bad.status, 400);
    assert.match((await bad.json()).message, /takes \{"on": true\|false\}/);
  } finally {
    child.kill('SIGTERM');
  }
  assert.is(await exited, 0);
});

test.run();
