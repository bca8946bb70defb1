import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createCache, type CacheOptions } from '../../runtime/llm/cache.ts';
import { cacheKey, credentialNamespace, normaliseForCache } from '../../runtime/llm/_canonical.ts';
import type { CacheEntry } from '../../runtime/llm/types.ts';
import { ErrorCode, RuntimeError } from '../../runtime/protocol/mod.ts';
import { openStore, type Store } from '../../runtime/store/mod.ts';

const dirs: string[] = [];
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'orch-cache-'));
  dirs.push(dir);
  return join(dir, 'state.db');
}

function fakeClock(start = 1_000_000): { now(): number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

function json(body: string, meta: Record<string, unknown> = { status: 200 }): CacheEntry {
  return { kind: 'json', body, meta };
}

/** UTF-8 bytes of an entry as the cache counts them. */
function bytesOf(entry: CacheEntry): number {
  return Buffer.byteLength(entry.body) + Buffer.byteLength(JSON.stringify(entry.meta));
}

async function rowCount(store: Store): Promise<number> {
  return (await store.cache.totals()).size; // cache rows are written behind (~50 ms): totals() writes them first
}

function throwsInvalid(fn: () => unknown, ...fragments: string[]): void {
  try {
    fn();
  } catch (error) {
    assert.instance(error, RuntimeError);
    assert.is((error as RuntimeError).code, ErrorCode.Invalid);
    for (const f of fragments) assert.ok((error as Error).message.includes(f), `"${(error as Error).message}" should mention "${f}"`);
    return;
  }
  assert.unreachable('expected E_INVALID');
}

// ---------------------------------------------------------------------------------------------
// Memory tier

test('LRU evicts the least recently used entry past maxEntries', async () => {
  const cache = createCache({ maxEntries: 2 });
  assert.ok(await cache.set('ns', 'a', json('A')));
  assert.ok(await cache.set('ns', 'b', json('B')));
  assert.is((await cache.get('ns', 'a'))?.body, 'A'); // a is now the most recent
  assert.ok(await cache.set('ns', 'c', json('C')));
  assert.is(await cache.get('ns', 'b'), undefined);
  assert.is((await cache.get('ns', 'a'))?.body, 'A');
  assert.is((await cache.get('ns', 'c'))?.body, 'C');
  assert.is((await cache.stats()).size, 2);
});

test('LRU evicts by bytes (UTF-8 body + meta JSON) past maxBytes', async () => {
  const entry = json('é'.repeat(20)); // 40 bytes of body, 20 characters
  const each = bytesOf(entry);
  assert.is(each, 40 + JSON.stringify({ status: 200 }).length);
  const cache = createCache({ maxEntries: 100, maxBytes: each * 2 + 1, maxEntryBytes: each });
  await cache.set('ns', 'a', entry);
  await cache.set('ns', 'b', entry);
  assert.is((await cache.stats()).bytes, each * 2);
  await cache.set('ns', 'c', entry);
  assert.is((await cache.stats()).size, 2);
  assert.is((await cache.stats()).bytes, each * 2);
  assert.is(await cache.get('ns', 'a'), undefined);
  assert.ok(await cache.get('ns', 'b'));
  assert.ok(await cache.get('ns', 'c'));
});

test('replacing a key keeps one entry and the right byte count', async () => {
  const cache = createCache();
  await cache.set('ns', 'k', json('short'));
  await cache.set('ns', 'k', json('a longer body'));
  assert.is((await cache.stats()).size, 1);
  assert.is((await cache.stats()).bytes, bytesOf(json('a longer body')));
  assert.is((await cache.get('ns', 'k'))?.body, 'a longer body');
});

test('TTL expires memory entries by the injected clock, from insertion', async () => {
  const clock = fakeClock();
  const cache = createCache({ ttlSeconds: 10, clock });
  await cache.set('ns', 'k', json('x'));
  clock.advance(9_999);
  assert.is((await cache.get('ns', 'k'))?.body, 'x'); // a hit does not extend the life
  clock.advance(1);
  assert.is(await cache.get('ns', 'k'), undefined);
  const stats = await cache.stats();
  assert.is(stats.hits, 1);
  assert.is(stats.misses, 1);
  assert.is(stats.size, 0);
});

test('a returned entry is a copy: mutating it does not change the cache', async () => {
  const cache = createCache();
  const meta = { status: 200, usage: { input_tokens: 3 } };
  await cache.set('ns', 'k', json('x', meta));
  meta.usage.input_tokens = 99;
  const first = (await cache.get('ns', 'k'))!;
  (first.meta.usage as { input_tokens: number }).input_tokens = 42;
  assert.equal((await cache.get('ns', 'k'))?.meta, { status: 200, usage: { input_tokens: 3 } });
});

test('ttlSeconds 0 disables the cache entirely', async () => {
  const cache = createCache({ ttlSeconds: 0 });
  assert.is(await cache.set('ns', 'k', json('x')), false);
  assert.is(await cache.get('ns', 'k'), undefined);
  assert.is((await cache.stats()).size, 0);
  assert.is((await cache.stats()).misses, 1);
});

// ---------------------------------------------------------------------------------------------
// Cacheability

test('refuses partial SSE, non-200 answers, missing status, secret meta and oversize bodies', async () => {
  const store = openStore(':memory:');
  const cache = createCache({ store, maxBytes: 400 }); // entries above 100 bytes are refused
  const refused: CacheEntry[] = [
    { kind: 'sse', body: 'event: message_start\n\n', meta: { status: 200 } },
    { kind: 'sse', body: 'event: message_start\n\n', meta: { status: 200, complete: false } },
    { kind: 'json', body: '{"type":"error"}', meta: { status: 500 } },
    { kind: 'json', body: '{}', meta: {} },
    { kind: 'text', body: 'x', meta: { status: 429 } },
    { kind: 'json', body: '{}', meta: { status: 200, headers: { 'content-type': 'application/json' } } },
    { kind: 'json', body: 'x'.repeat(101), meta: { status: 200 } },
    { kind: 'bogus' as 'json', body: 'x', meta: { status: 200 } },
  ];
  for (const [i, entry] of refused.entries()) assert.is(await cache.set('ns', `k${i}`, entry), false, `entry ${i} should be refused`);
  assert.is((await cache.stats()).size, 0);
  assert.is(await rowCount(store), 0);
  for (let i = 0; i < refused.length; i++) assert.is(await cache.get('ns', `k${i}`), undefined);

  assert.ok(await cache.set('ns', 'sse', { kind: 'sse', body: 'event: message_stop\n\n', meta: { status: 200, complete: true } }));
  assert.ok(await cache.set('ns', 'text', { kind: 'text', body: 'an agent answer', meta: { model: 'm' } }));
  assert.ok(await cache.set('ns', 'edge', { kind: 'json', body: 'x'.repeat(100 - bytesOf(json(''))), meta: { status: 200 } }));
  assert.is(await rowCount(store), 3);
  await store.close();
});

test('invalid options throw E_INVALID naming the option, the value and the fix', async () => {
  throwsInvalid(() => createCache({ maxEntries: -1 }), 'maxEntries', '-1', 'whole number');
  throwsInvalid(() => createCache({ ttlSeconds: 1.5 }), 'ttlSeconds', '1.5');
  throwsInvalid(() => createCache({ maxBytes: Number.NaN }), 'maxBytes', 'NaN');
  throwsInvalid(() => createCache({ maxPersistentBytes: -5 }), 'maxPersistentBytes', '-5');
  throwsInvalid(() => createCache({ clock: {} as CacheOptions['clock'] }), 'clock');
});

// ---------------------------------------------------------------------------------------------
// Persistent tier

test('delete drops one entry from both tiers, even one still queued for its row', async () => {
  const store = openStore(':memory:');
  const cache = createCache({ store });
  const entry = { kind: 'text' as const, body: 'an unusable answer', meta: { model: 'm' } };
  assert.ok(await cache.set('ns', 'bad', entry));
  assert.ok(await cache.set('ns', 'good', { ...entry, body: 'a usable answer' }));
  assert.ok(await cache.delete('ns', 'bad'), 'there was one');
  assert.is(await cache.get('ns', 'bad'), undefined);
  assert.is(await createCache({ store }).get('ns', 'bad'), undefined, 'not in the SQLite tier either');
  assert.equal((await createCache({ store }).get('ns', 'good'))?.body, 'a usable answer', 'the other entry stays');
  assert.not.ok(await cache.delete('ns', 'bad'), 'nothing left to delete');
  await store.close();
});

test('the SQLite tier survives a reopen and promotes a hit into memory', async () => {
  const path = tempDb();
  const clock = fakeClock();
  const first = openStore(path);
  const writer = createCache({ store: first, clock, ttlSeconds: 60 });
  assert.ok(await writer.set('ns', 'k', { kind: 'sse', body: 'data: hi\n\n', meta: { status: 200, complete: true, model: 'm' } }));
  await first.close();

  const second = openStore(path);
  const reader = createCache({ store: second, clock, ttlSeconds: 60 });
  assert.is((await reader.stats()).size, 0);
  assert.equal((await reader.stats()).persistent, { size: 1, bytes: bytesOf({ kind: 'sse', body: 'data: hi\n\n', meta: { status: 200, complete: true, model: 'm' } }) });
  assert.equal(await reader.get('ns', 'k'), { kind: 'sse', body: 'data: hi\n\n', meta: { status: 200, complete: true, model: 'm' } });
  assert.is((await reader.stats()).size, 1); // promoted
  await second.cache.clear();
  assert.is((await reader.get('ns', 'k'))?.body, 'data: hi\n\n'); // served from memory now
  // The promoted entry keeps its original expiry.
  clock.advance(60_000);
  assert.is(await reader.get('ns', 'k'), undefined);
  await second.close();
});

test('expired SQLite rows are misses, deleted on read, and pruned', async () => {
  const store = openStore(tempDb());
  const clock = fakeClock();
  await createCache({ store, clock, ttlSeconds: 10 }).set('ns', 'a', json('A'));
  const other = createCache({ store, clock, ttlSeconds: 10 });
  await other.set('ns', 'b', json('B'));
  await other.set('ns', 'c', json('C'));
  assert.is(await rowCount(store), 3);

  clock.advance(10_000);
  const fresh = createCache({ store, clock, ttlSeconds: 10 });
  assert.is(await rowCount(store), 0, 'opening the cache pruned the expired rows');
  assert.is(await fresh.get('ns', 'a'), undefined);
  await fresh.set('ns', 'd', json('D'));
  await fresh.set('ns', 'e', json('E'));
  clock.advance(10_000);
  assert.is(await fresh.prune(), 2);
  assert.is(await rowCount(store), 0);

  // A row that expires while a cache is open is a miss and is deleted on read.
  const reader = createCache({ store, clock, ttlSeconds: 10 });
  await fresh.set('ns', 'g', json('G'));
  clock.advance(10_000);
  assert.is(await rowCount(store), 1);
  assert.is(await reader.get('ns', 'g'), undefined);
  assert.is(await rowCount(store), 0);
  await store.close();
});

test('the SQLite tier evicts the oldest rows past maxPersistentBytes', async () => {
  const store = openStore(tempDb());
  const clock = fakeClock();
  const entry = json('x'.repeat(28));
  const each = bytesOf(entry);
  const cache = createCache({ store, clock, maxPersistentBytes: each * 3 });
  for (const key of ['a', 'b', 'c', 'd', 'e']) {
    await cache.set('ns', key, entry);
    clock.advance(1);
  }
  assert.equal((await cache.stats()).persistent, { size: 3, bytes: each * 3 });
  const cold = createCache({ store, clock }); // nothing in memory: SQLite answers alone
  assert.is(await cold.get('ns', 'a'), undefined);
  assert.is(await cold.get('ns', 'b'), undefined);
  for (const key of ['c', 'd', 'e']) assert.ok(await cold.get('ns', key), key);
  await store.close();
});

// ---------------------------------------------------------------------------------------------
// Isolation

test('the same prompt under two credentials never cross-hits (memory and SQLite)', async () => {
  const store = openStore(tempDb());
  const cache = createCache({ store });
  const body = { model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] };
  const key = cacheKey('anthropic', 'anthropic/claude-sonnet-4-5', body);
  const alice = credentialNamespace('sk-ant-alice');
  const bob = credentialNamespace('sk-ant-bob');
  assert.is.not(alice, bob);
  await cache.set(alice, key, json('for alice'));
  assert.is(await cache.get(bob, key), undefined);
  assert.is(await createCache({ store }).get(bob, key), undefined);
  assert.is(await cache.get(credentialNamespace(undefined), key), undefined);
  assert.is((await cache.get(alice, key))?.body, 'for alice');
  await cache.set(bob, key, json('for bob'));
  assert.is((await cache.get(alice, key))?.body, 'for alice');
  assert.is((await createCache({ store }).get(bob, key))?.body, 'for bob');
  await store.close();
});

test('a canary credential never reaches SQLite nor the namespace', async () => {
  const canary = 'sk-ant-canary-Q7xZ9';
  const fragments = Array.from({ length: canary.length - 4 }, (_, i) => canary.slice(i, i + 5));
  const path = tempDb();
  const store = openStore(path);
  const cache = createCache({ store });
  const ns = credentialNamespace(canary);
  assert.match(ns, /^[0-9a-f]{32}$/);
  assert.is(credentialNamespace(canary), ns);
  for (const f of fragments) assert.not.ok(ns.includes(f), f);

  const body = { model: 'm', metadata: { user_id: 'u' }, messages: [{ role: 'user', content: 'hello' }] };
  const key = cacheKey('anthropic', 'anthropic/m', body);
  assert.ok(await cache.set(ns, key, json('{"content":[]}', { status: 200, contentType: 'application/json', usage: { input_tokens: 1 } })));
  assert.ok(await cache.set(ns, `${key}:sse`, { kind: 'sse', body: 'event: message_stop\n\n', meta: { status: 200, complete: true } }));
  // A caller that puts the credential into meta as headers is refused.
  assert.is(await cache.set(ns, 'leak', json('{}', { status: 200, headers: { 'x-api-key': canary } })), false);
  assert.is(await cache.set(ns, 'leak2', json('{}', { status: 200, upstream: { Authorization: `Bearer ${canary}` } })), false);
  await store.close();

  const db = new DatabaseSync(path, { readOnly: true });
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
  assert.ok(tables.some((t) => t.name === 'llm_cache'));
  let cells = 0;
  for (const { name } of tables) {
    for (const row of db.prepare(`SELECT * FROM "${name}"`).all()) {
      for (const value of Object.values(row)) {
        const text = String(value);
        cells++;
        for (const f of fragments) assert.not.ok(text.includes(f), `table ${name} holds "${f}"`);
      }
    }
  }
  assert.ok(cells >= 16, 'the scan saw the cache rows');
  db.close();
  // And nothing on disk (main file, WAL, shm) holds it either.
  for (const file of readdirSync(join(path, '..'))) {
    const raw = readFileSync(join(path, '..', file)).toString('latin1');
    for (const f of fragments) assert.not.ok(raw.includes(f), `${file} holds "${f}"`);
  }
});

test('credentialNamespace: anonymous without a credential, distinct per credential', async () => {
  assert.is(credentialNamespace(undefined), 'anonymous');
  assert.is(credentialNamespace(''), 'anonymous');
  assert.is.not(credentialNamespace('a'), credentialNamespace('b'));
  // Domain-separated: not a plain sha256 prefix of the credential.
  assert.is.not(credentialNamespace('a'), 'ca978112ca1bbdcafac231b39a23dc4d');
});

// ---------------------------------------------------------------------------------------------
// clear and stats

test('clear() counts each key once across tiers, frees memory, keeps counters', async () => {
  const store = openStore(':memory:');
  const cache = createCache({ store });
  await cache.set('ns', 'both1', json('1'));
  await cache.set('ns', 'both2', json('2'));
  await cache.set('ns', 'memoryOnly', json('3'));
  assert.ok(await store.cache.delete('ns', 'memoryOnly'));
  await createCache({ store }).set('other', 'sqliteOnly', json('4'));
  await cache.get('ns', 'both1');
  await cache.get('ns', 'nope');
  const before = await cache.stats();
  assert.is(before.size, 3);
  assert.is(before.persistent.size, 3);

  assert.equal(await cache.clear(), { cleared: 4, freedMemory: before.bytes });
  const after = await cache.stats();
  assert.is(after.size, 0);
  assert.is(after.bytes, 0);
  assert.equal(after.persistent, { size: 0, bytes: 0 });
  assert.is(after.hits, 1);
  assert.is(after.misses, 1);
  assert.is(await cache.get('ns', 'both1'), undefined);
  assert.equal(await cache.clear(), { cleared: 0, freedMemory: 0 });
  await store.close();

  const memoryOnly = createCache();
  await memoryOnly.set('a', 'k', json('x'));
  await memoryOnly.set('b', 'k', json('yy'));
  assert.equal(await memoryOnly.clear(), { cleared: 2, freedMemory: bytesOf(json('x')) + bytesOf(json('yy')) });
});

test('stats() shape and hitRate rounded to 4 decimals', async () => {
  const empty = createCache({ maxEntries: 7, maxBytes: 4096, ttlSeconds: 30 });
  assert.equal(await empty.stats(), {
    hits: 0, misses: 0, hitRate: 0, size: 0, maxSize: 7, bytes: 0, maxBytes: 4096, ttlSeconds: 30,
    persistent: { size: 0, bytes: 0 },
  });
  const store = openStore(':memory:');
  const cache = createCache({ store });
  await cache.set('ns', 'k', json('abc'));
  await cache.get('ns', 'k');
  await cache.get('ns', 'x');
  await cache.get('ns', 'y');
  assert.equal(await cache.stats(), {
    hits: 1, misses: 2, hitRate: 0.3333, size: 1, maxSize: 1000, bytes: bytesOf(json('abc')), maxBytes: 64 * 1024 * 1024,
    ttlSeconds: 3600, persistent: { size: 1, bytes: bytesOf(json('abc')) },
  });
  await cache.get('ns', 'k');
  assert.is((await cache.stats()).hitRate, 0.5);
  await store.close();
});

// ---------------------------------------------------------------------------------------------
// Keys and normalisation

function claudeCodeBody(session: { user: string; version: string; date: string; cwd: string; home: string; turn: number }): Record<string, unknown> {
  const messages: Array<Record<string, unknown>> = [
    {
      role: 'user',
      content: [
        { type: 'text', text: `<system-reminder>\n# currentDate\nToday's date is ${session.date}.\n</system-reminder>` },
        { type: 'text', text: 'Write fizzbuzz' },
      ],
    },
    { role: 'assistant', content: [{ type: 'text', text: 'Sure.' }] },
    { role: 'user', content: [{ type: 'text', text: 'Now in TypeScript' }] },
  ];
  // Claude Code moves the cache breakpoint to the last block of the conversation each turn.
  const last = session.turn === 1 ? messages[0] : messages[2];
  ((last.content as Array<Record<string, unknown>>).at(-1) as Record<string, unknown>).cache_control = { type: 'ephemeral' };
  return {
    model: 'claude-sonnet-4-5',
    max_tokens: 64000,
    stream: true,
    metadata: { user_id: session.user },
    thinking: { type: 'enabled', budget_tokens: 4000 },
    system: [
      { type: 'text', text: `x-anthropic-billing-header: cc_version=${session.version}; cc_entrypoint=cli; cch=00000;` },
      { type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } },
      {
        type: 'text',
        text:
          `<env>\nWorking directory: ${session.cwd}\nIs directory a git repo: Yes\nPlatform: linux\nToday's date: ${session.date}\n</env>\n` +
          `Config lives in ${session.home}/.claude and HOME=${session.home}. The project at ${session.cwd}/src was last built ${session.date}.`,
      },
    ],
    tools: [{ name: 'Bash', description: 'Run a command', input_schema: { type: 'object', properties: { command: { type: 'string' } } } }],
    messages,
  };
}

const sessionA = { user: 'user_abc_account_1_session_1111', version: '2.1.197.a1b', date: '2026-11-02', cwd: '/home/alice/work/fizz', home: '/home/alice', turn: 1 };
const sessionB = { user: 'user_def_account_2_session_2222', version: '2.1.329.f9e', date: '2026-11-05', cwd: '/Users/bob/src/other', home: '/Users/bob', turn: 2 };

test('Claude Code bodies differing only in session noise get the same key', async () => {
  const a = claudeCodeBody(sessionA);
  const b = claudeCodeBody(sessionB);
  const snapshot = structuredClone(a);
  assert.is(cacheKey('anthropic', 'anthropic/claude-sonnet-4-5', a), cacheKey('anthropic', 'anthropic/claude-sonnet-4-5', b));
  assert.equal(a, snapshot, 'the caller object is not mutated');

  const normal = normaliseForCache('anthropic', a) as Record<string, unknown>;
  assert.is(normal.metadata, undefined);
  const text = JSON.stringify(normal);
  assert.not.ok(text.includes('cache_control'));
  assert.not.ok(text.includes('alice'));
  assert.not.ok(text.includes('2026-11-02'));
  assert.not.ok(text.includes('cc_version'));
  const system = normal.system as Array<{ text: string }>;
  assert.is(system[0].text, 'x-anthropic-billing-header:');
  assert.ok(system[2].text.includes('Working directory: <cwd>\n'));
  assert.ok(system[2].text.includes("Today's date: <date>\n"));
  assert.ok(system[2].text.includes('<home>/.claude and HOME=<home>.'));
  assert.ok(system[2].text.includes('The project at <cwd>/src was last built <date>.'));
  assert.is(Object.keys(normal).join(), [...Object.keys(normal)].sort().join(), 'keys are sorted');
  const multiLine = { system: [{ type: 'text', text: 'x-anthropic-billing-header: cc_version=9; cch=1;\nmore' }] };
  assert.equal(normaliseForCache('anthropic', multiLine), { system: [{ text: 'x-anthropic-billing-header:', type: 'text' }] });
  // A string system prompt loses only its billing line's value.
  assert.equal(normaliseForCache('anthropic', { system: 'x-anthropic-billing-header: cc_version=9;\nBe brief.' }), {
    system: 'x-anthropic-billing-header:\nBe brief.',
  });
});

test('Claude Code bodies differing in what matters get different keys', async () => {
  const base = claudeCodeBody(sessionA);
  const key = (body: unknown, target = 'anthropic/claude-sonnet-4-5'): string => cacheKey('anthropic', target, body);
  const variants: Array<[string, (b: Record<string, any>) => void]> = [
    ['a message', (b) => (b.messages[2].content[0].text = 'Now in Rust')],
    ['the model', (b) => (b.model = 'claude-opus-4-1')],
    ['the tools', (b) => b.tools.push({ name: 'Read', input_schema: { type: 'object' } })],
    ['max_tokens', (b) => (b.max_tokens = 128000)],
    ['stream', (b) => (b.stream = false)],
    ['temperature', (b) => (b.temperature = 0.2)],
    ['thinking', (b) => (b.thinking.budget_tokens = 8000)],
    ['the system prompt', (b) => (b.system[1].text = 'You are a pirate.')],
    ['a user date', (b) => (b.messages[2].content[0].text = 'What happened on 2026-11-02?')],
    ['other metadata', (b) => (b.metadata.tenant = 't1')],
  ];
  const seen = new Set([key(base)]);
  for (const [what, change] of variants) {
    const body = structuredClone(base);
    change(body);
    const k = key(body);
    assert.not.ok(seen.has(k), `a different ${what} must give a different key`);
    seen.add(k);
  }
  assert.is.not(key(base, 'anthropic/other'), key(base));
  assert.is.not(cacheKey('openai-chat', 'anthropic/claude-sonnet-4-5', base), key(base));
  assert.match(key(base), /^[0-9a-f]{64}$/);
});

test('key order does not matter and undefined is dropped', async () => {
  const a = { model: 'm', messages: [{ role: 'user', content: 'x' }], temperature: undefined };
  const b = { messages: [{ content: 'x', role: 'user' }], model: 'm' };
  assert.is(cacheKey('anthropic', 't', a), cacheKey('anthropic', 't', b));
  assert.equal(normaliseForCache('agent', { system: 's', params: { b: 1, a: undefined }, messages: [] }), { messages: [], params: { b: 1 }, system: 's' });
  assert.is(cacheKey('agent', 't', { system: 's', messages: [], params: { x: 1 } }), cacheKey('agent', 't', { params: { x: 1 }, messages: [], system: 's' }));
});

test('OpenAI chat: per-user fields dropped, system text normalised, the rest kept', async () => {
  const chat = (user: string, date: string, cwd: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    model: 'gpt-5',
    stream: true,
    stream_options: { include_usage: true, include_obfuscation: user === 'u1' },
    user,
    metadata: { run: user },
    safety_identifier: `sid-${user}`,
    prompt_cache_key: `conv-${user}`,
    store: user === 'u1',
    messages: [
      { role: 'system', content: `Current date: ${date}\ncwd: ${cwd}` },
      { role: 'developer', content: [{ type: 'text', text: `Working directory: ${cwd}` }] },
      { role: 'user', content: 'hi' },
    ],
    ...extra,
  });
  const k = (body: unknown): string => cacheKey('openai-chat', 'openai/gpt-5', body);
  const base = chat('u1', '2026-11-02', '/home/u1/p');
  assert.is(k(base), k(chat('u2', '2026-12-24', '/root/q')));
  assert.equal(normaliseForCache('openai-chat', base), {
    messages: [
      { content: 'Current date: <date>\ncwd: <cwd>', role: 'system' },
      { content: [{ text: 'Working directory: <cwd>', type: 'text' }], role: 'developer' },
      { content: 'hi', role: 'user' },
    ],
    model: 'gpt-5',
    stream: true,
    stream_options: { include_usage: true },
  });
  assert.is.not(k(base), k(chat('u1', '2026-11-02', '/home/u1/p', { stream_options: { include_usage: false } })));
  assert.is.not(k(base), k(chat('u1', '2026-11-02', '/home/u1/p', { stream: false })));
  assert.is.not(k(base), k(chat('u1', '2026-11-02', '/home/u1/p', { response_format: { type: 'json_object' } })));
  assert.is.not(k(base), k({ ...base, messages: [...(base.messages as unknown[]).slice(0, 2), { role: 'user', content: 'hello' }] }));
});

test('OpenAI responses: instructions and injected environment context normalised', async () => {
  const responses = (date: string, cwd: string, cacheKeyValue: string): Record<string, unknown> => ({
    model: 'gpt-5-codex',
    stream: true,
    prompt_cache_key: cacheKeyValue,
    instructions: `You are Codex. Today's date is ${date}.`,
    input: [
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: `<environment_context>\n  <cwd>${cwd}</cwd>\n</environment_context>` }] },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: `list files in ${cwd}` }] },
    ],
    tools: [{ type: 'function', name: 'shell' }],
  });
  const k = (body: unknown): string => cacheKey('openai-responses', 'openai/gpt-5-codex', body);
  const a = responses('2026-11-02', '/tmp/a', 'conv-1');
  assert.is(k(a), k(responses('2026-11-03', '/tmp/a', 'conv-2')));
  // The user's own words are never rewritten, so a different cwd there is a different prompt.
  assert.is.not(k(a), k(responses('2026-11-02', '/tmp/b', 'conv-1')));
  const normal = normaliseForCache('openai-responses', a) as { instructions: string; input: Array<{ content: Array<{ text: string }> }> };
  // Mid-line, only the ISO date itself is replaced (a line-leading "Today's date is …" loses its whole value).
  assert.is(normal.instructions, "You are Codex. Today's date is <date>.");
  assert.is(normal.input[0].content[0].text, '<environment_context>\n  <cwd><cwd></cwd>\n</environment_context>');
  assert.is(normal.input[1].content[0].text, 'list files in /tmp/a');
});

test("Codex responses bodies differing only in client_metadata and per-run msg_ ids get the same key; the words still count", async () => {
  const codex = (run: string, words: string) => ({
    model: 'gpt-5-codex',
    stream: true,
    client_metadata: { thread_id: `th_${run}`, turn_id: `tu_${run}`, 'x-codex-window-id': run },
    input: [
      { type: 'message', id: `msg_${run}a`, role: 'developer', content: [{ type: 'input_text', text: 'You are a coding agent' }] },
      { type: 'message', id: `msg_${run}b`, role: 'user', content: [{ type: 'input_text', text: words }] },
    ],
  });
  assert.is(cacheKey('openai-responses', 't', codex('1', 'say hi')), cacheKey('openai-responses', 't', codex('2', 'say hi')));
  assert.is.not(cacheKey('openai-responses', 't', codex('1', 'say hi')), cacheKey('openai-responses', 't', codex('1', 'say bye')));
});

// How long a key of this size takes is `npm run bench -- parsing` (against serialising and hashing the
// same body); a test asserts only what does not depend on the machine's speed.
test('keying a large body never mutates it, and the same body always gets the same key', async () => {
  const body = claudeCodeBody(sessionA);
  (body.messages as unknown[]).push(...Array.from({ length: 200 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: [{ type: 'text', text: 'x'.repeat(500) }] })));
  const snapshot = structuredClone(body);
  const keys = new Set(Array.from({ length: 20 }, () => cacheKey('anthropic', 't', body)));
  assert.is(keys.size, 1, 'one key for twenty calls on the same 100 KB body');
  assert.equal(body, snapshot);
});

test.after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test.run();
