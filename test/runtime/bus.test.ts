import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Mailbox, createBus, simulatedClock } from '../../runtime/bus/mod.ts';
import { RuntimeError, topic, address } from '../../runtime/protocol/mod.ts';
import { rejection } from '../helpers/errors.ts';

const analysis = { complexity: 'simple', summary: 'ok', kind: 'code' } as const;

test('send is request/reply: the handler gets the envelope, the caller gets the payload', async () => {
  const bus = createBus();
  let seen: any;
  bus.serve('role:analyst', (message) => ((seen = message), analysis));
  const reply = await bus.send('role:analyst', 'analysis.request', { requirement: 'r', prompt: 'p' }, { from: 'task:t1', taskId: 't1' });
  assert.equal(reply, analysis);
  assert.is(seen.type, 'analysis.request');
  assert.is(seen.from, 'task:t1');
  assert.is(seen.taskId, 't1');
  assert.type(seen.id, 'string');
});

test('nobody serving the address is a typed E_NO_HANDLER naming it', async () => {
  const error = await rejection(createBus().send('role:nobody', 'enhance.request', { requirement: 'x' }));
  assert.is(error.code, 'E_NO_HANDLER');
  assert.match(error.message, /nobody serves "role:nobody"/);
});

test('a reply that never comes is E_TIMEOUT on the injected clock (no sleeping)', async () => {
  const clock = simulatedClock();
  const bus = createBus({ clock });
  bus.serve('role:enhancer', () => new Promise(() => {}));
  const pending = rejection(bus.send('role:enhancer', 'enhance.request', { requirement: 'x' }, { timeoutMs: 500 }));
  clock.advance(499);
  await Promise.resolve();
  clock.advance(1);
  const error = await pending;
  assert.is(error.code, 'E_TIMEOUT');
  assert.match(error.message, /no reply from role:enhancer to enhance.request within 500 ms/);
});

test('workTimeoutMs counts from when the receiver takes the request: a wait behind a busy handler is not timed out; its own work is', async () => {
  const clock = simulatedClock();
  const bus = createBus({ clock });
  const release: Array<() => void> = [];
  // One request at a time; each takes until the test releases it.
  bus.serve('role:enhancer', () => new Promise((resolve) => release.push(() => resolve({ prompt: 'done' }))));
  const options = { timeoutMs: 10_000, workTimeoutMs: 1000 };
  const first = bus.send('role:enhancer', 'enhance.request', { requirement: 'a' }, options);
  const second = bus.send('role:enhancer', 'enhance.request', { requirement: 'b' }, options);
  await Promise.resolve();
  clock.advance(900);
  release.shift()!();
  assert.equal(await first, { prompt: 'done' });
  // The second waited 900 ms in the mailbox; its 1000 ms start now.
  clock.advance(900);
  await Promise.resolve();
  release.shift()!();
  assert.equal(await second, { prompt: 'done' }, 'answered 1800 ms after it was sent, 900 ms after it was taken');
  const third = rejection(bus.send('role:enhancer', 'enhance.request', { requirement: 'c' }, options));
  await Promise.resolve();
  clock.advance(1000);
  const error = await third;
  assert.equal([error.code, error.details], ['E_TIMEOUT', { limit: 'work', ms: 1000 }]);
  assert.match(error.message, /role:enhancer took enhance.request but gave no reply within 1000 ms/);
  // The total still bounds a request that is never taken.
  const stuck = rejection(bus.send('role:enhancer', 'enhance.request', { requirement: 'd' }, { timeoutMs: 300, workTimeoutMs: 1000 }));
  const behind = rejection(bus.send('role:enhancer', 'enhance.request', { requirement: 'e' }, { timeoutMs: 300, workTimeoutMs: 1000 }));
  await Promise.resolve();
  clock.advance(300);
  assert.equal((await behind).details, { limit: 'total', ms: 300 });
  assert.equal((await stuck).details, { limit: 'total', ms: 300 });
});

test('a handler that throws rejects the sender with E_HANDLER; the endpoint keeps serving', async () => {
  const bus = createBus();
  let n = 0;
  bus.serve('role:enhancer', () => {
    if (n++ === 0) throw new Error('first fails');
    return { prompt: 'ok' };
  });
  const error = await rejection(bus.send('role:enhancer', 'enhance.request', { requirement: 'x' }));
  assert.is(error.code, 'E_HANDLER');
  assert.equal(await bus.send('role:enhancer', 'enhance.request', { requirement: 'x' }), { prompt: 'ok' });
});

test('an endpoint handles one message at a time, in order', async () => {
  const bus = createBus();
  const log: string[] = [];
  bus.serve('role:enhancer', async (m) => {
    const r = (m.payload as { requirement: string }).requirement;
    log.push(`start ${r}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
    log.push(`end ${r}`);
    return { prompt: r };
  });
  await Promise.all(['a', 'b', 'c'].map((r) => bus.send('role:enhancer', 'enhance.request', { requirement: r })));
  assert.equal(log, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
});

test('a full mailbox rejects with E_MAILBOX_FULL (reject policy): backpressure, not loss', async () => {
  const bus = createBus();
  let release!: () => void;
  bus.serve('role:enhancer', () => new Promise((resolve) => (release = () => resolve({ prompt: 'x' }))), { capacity: 2 });
  const first = bus.send('role:enhancer', 'enhance.request', { requirement: '1' }); // being processed
  const second = bus.send('role:enhancer', 'enhance.request', { requirement: '2' });
  const third = bus.send('role:enhancer', 'enhance.request', { requirement: '3' });
  const error = await rejection(bus.send('role:enhancer', 'enhance.request', { requirement: '4' }));
  assert.is(error.code, 'E_MAILBOX_FULL');
  assert.match(error.message, /full \(2 queued\)/);
  release();
  await first;
  release();
  await second;
  release();
  await third;
});

test('publish fans out to every subscriber and the wildcard', () => {
  const bus = createBus();
  const a: string[] = [];
  const b: string[] = [];
  const all: string[] = [];
  bus.subscribe('topic:logs', (m) => a.push((m.payload as { text: string }).text));
  bus.subscribe('topic:logs', (m) => b.push((m.payload as { text: string }).text));
  bus.subscribe('topic:*', (m) => all.push(m.to));
  const n = bus.publish('topic:logs', 'log.entry', { level: 'info', source: 't', text: 'hello' });
  assert.is(n, 3);
  assert.equal(a, ['hello']);
  assert.equal(b, ['hello']);
  assert.equal(all, ['topic:logs']);
  assert.is(bus.publish('topic:nobody', 'log.entry', { level: 'info', source: 't', text: 'x' }), 1, 'only the wildcard');
});

test('a mailbox under drop-oldest keeps the newest and counts what it dropped', async () => {
  const processed: number[] = [];
  let release!: () => void;
  const mailbox = new Mailbox<number>('observer', (n) => {
    processed.push(n);
    return new Promise<void>((resolve) => (release = resolve));
  }, { capacity: 2, overflow: 'drop-oldest' });
  for (const n of [1, 2, 3, 4]) mailbox.push(n); // 1 is being processed; 2 is dropped for 4
  assert.is(mailbox.stats.dropped, 1);
  for (let i = 0; i < 3; i++) {
    release();
    await new Promise((r) => setTimeout(r, 0));
  }
  assert.equal(processed, [1, 3, 4]);
});

test('interceptors observe, rewrite and drop', async () => {
  const bus = createBus();
  bus.serve('role:enhancer', (m) => ({ prompt: (m.payload as { requirement: string }).requirement }));
  const seen: string[] = [];
  const replies: unknown[] = [];
  const off = bus.intercept({
    name: 'rewrite',
    onSend: (m) => (seen.push(m.type), m.type === 'enhance.request' ? ({ ...m, payload: { requirement: 'rewritten' } } as typeof m) : undefined),
    onReply: (_, outcome) => replies.push(outcome.ok && outcome.payload),
  });
  assert.equal(await bus.send('role:enhancer', 'enhance.request', { requirement: 'original' }), { prompt: 'rewritten' });
  assert.equal(seen, ['enhance.request']);
  assert.equal(replies, [{ prompt: 'rewritten' }]);
  off();
  bus.intercept({ name: 'firewall', onSend: () => null, onPublish: () => null });
  const error = await rejection(bus.send('role:enhancer', 'enhance.request', { requirement: 'x' }));
  assert.is(error.code, 'E_DROPPED');
  assert.match(error.message, /interceptor "firewall"/);
  assert.is(bus.publish('topic:logs', 'log.entry', { level: 'info', source: 't', text: 'x' }), 0);
});

test('addresses and topics are validated where they are made', async () => {
  assert.is(address('role', 'analyst'), 'role:analyst');
  assert.is(topic('agents'), 'topic:agents');
  assert.throws(() => address('role', '../x'), /address "role:..\/x" is invalid/);
  assert.throws(() => topic('Bad Topic'), /topic "topic:Bad Topic" is invalid/);
  const bus = createBus();
  assert.throws(() => bus.serve('nope' as never, () => 1), /not an address/);
  assert.is((await rejection(bus.send('x:y' as never, 'enhance.request', { requirement: 'x' }))).code, 'E_INVALID');
  bus.serve('role:a', () => 1);
  assert.throws(() => bus.serve('role:a', () => 2), /already served/);
});

test.run();
