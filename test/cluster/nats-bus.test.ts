// The bus on the NATS transport, across nodes: each "node" is its own bus with its own NATS connection
// (and, last, its own process), on a real nats-server. The in-process bus's contract holds across
// them: request/reply, E_NO_HANDLER, typed errors, a withdrawn request aborting the remote work, the
// work timeout starting when the remote mailbox hands the request over, topics to every node, a role
// served by pools on two nodes taking each request once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { connect } from '@nats-io/transport-node';
import { connectNatsTransport, createBus, subjectOf } from '../../runtime/bus/mod.ts';
import type { Bus, NatsTransport } from '../../runtime/bus/mod.ts';
import { ErrorCode, RuntimeError } from '../../runtime/protocol/mod.ts';
import type { Message } from '../../runtime/protocol/mod.ts';
import { defineAgent } from '../../runtime/plugin/mod.ts';
import { startSupervisor } from '../../runtime/supervisor/mod.ts';
import { startNats } from '../helpers/nats.ts';
import type { NatsCluster } from '../helpers/nats.ts';
import { rejection } from '../helpers/errors.ts';

let nats: NatsCluster;
const open: Array<{ bus: Bus; transport: NatsTransport }> = [];

async function node(name: string): Promise<{ bus: Bus; transport: NatsTransport }> {
  const transport = await connectNatsTransport({ servers: [nats.nodes[0].url], node: name });
  const pair = { bus: createBus({ transport }), transport };
  open.push(pair);
  return pair;
}

/** Every node's subscriptions are registered with the server (serve and subscribe send them asynchronously). */
const ready = () => Promise.all(open.map(({ transport }) => transport.connection.flush()));

const until = async (what: string, check: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

test.before(async () => {
  nats = await startNats(1);
});

test.after.each(async () => {
  for (const { bus, transport } of open.splice(0)) {
    bus.close();
    await transport.drain();
  }
});

test.after(async () => {
  await nats.stop();
});

test('a request served on node B answers node A; the headers carry the task id, a trace id and the sender node', async () => {
  const a = await node('a');
  const b = await node('b');
  let seen: Message | undefined;
  b.bus.serve('role:analyst', (message) => ((seen = message), { complexity: 'simple', summary: 'ok', kind: 'code' }));
  await ready();
  const raw = await connect({ servers: [nats.nodes[0].url] });
  const heard: Array<Record<string, string | undefined>> = [];
  raw.subscribe(subjectOf('orch', 'role:analyst'), { callback: (_e, msg) => void heard.push({ task: msg.headers?.get('Orch-Task-Id'), trace: msg.headers?.get('Orch-Trace-Id'), node: msg.headers?.get('Orch-Node') }) });
  await raw.flush();
  const reply = await a.bus.send('role:analyst', 'analysis.request', { requirement: 'r', prompt: 'p' }, { from: 'task:t1', taskId: 't1', timeoutMs: 5000 });
  assert.equal(reply, { complexity: 'simple', summary: 'ok', kind: 'code' });
  assert.equal([seen?.type, seen?.from, seen?.taskId], ['analysis.request', 'task:t1', 't1']);
  await until('the raw subscriber', () => heard.length === 1);
  assert.equal(heard[0], { task: 't1', trace: seen!.id, node: 'a' });
  await raw.close();
});

test('nobody serving the address anywhere is E_NO_HANDLER naming it', async () => {
  const a = await node('a');
  const error = await rejection(a.bus.send('role:nobody', 'enhance.request', { requirement: 'x' }, { timeoutMs: 5000 }));
  assert.is(error.code, ErrorCode.NoHandler);
  assert.match(error.message, /nobody serves "role:nobody" on the cluster/);
});

test("a handler's RuntimeError reaches the sender with its code, message and details", async () => {
  const a = await node('a');
  const b = await node('b');
  b.bus.serve('role:implementer', () => {
    throw new RuntimeError(ErrorCode.LlmOutput, 'the implementer answer held no files', { details: { answer: 'hello' } });
  });
  b.bus.serve('role:validator', () => {
    throw new Error('a plain bug');
  });
  await ready();
  const typed = await rejection(a.bus.send('role:implementer', 'enhance.request' as never, { requirement: 'x' } as never, { timeoutMs: 5000 }));
  assert.equal([typed.code, typed.message, typed.details], [ErrorCode.LlmOutput, 'the implementer answer held no files', { answer: 'hello' }]);
  const plain = await rejection(a.bus.send('role:validator', 'enhance.request' as never, { requirement: 'x' } as never, { timeoutMs: 5000 }));
  assert.is(plain.code, ErrorCode.Handler);
  assert.match(plain.message, /role:validator failed on enhance.request: a plain bug/);
});

test('a request withdrawn on node A aborts its work on node B with the reason; one timing out likewise', async () => {
  const a = await node('a');
  const b = await node('b');
  const signals: AbortSignal[] = [];
  b.bus.serve('role:enhancer', (_message, delivery) => new Promise((_, reject) => {
    signals.push(delivery.signal);
    delivery.signal.addEventListener('abort', () => reject(delivery.signal.reason));
  }), { concurrency: 4 });
  await ready();
  const controller = new AbortController();
  const cancelled = rejection(a.bus.send('role:enhancer', 'enhance.request', { requirement: 'x' }, { timeoutMs: 60_000, signal: controller.signal }));
  await until('node B to take it', () => signals.length === 1);
  controller.abort(new RuntimeError(ErrorCode.Cancelled, 'task t-9 was cancelled by request'));
  assert.equal([(await cancelled).code, (await cancelled).message], [ErrorCode.Cancelled, 'task t-9 was cancelled by request']);
  await until("node B's work to see the abort", () => signals[0].aborted);
  assert.is((signals[0].reason as RuntimeError).message, 'task t-9 was cancelled by request');
  const timedOut = await rejection(a.bus.send('role:enhancer', 'enhance.request', { requirement: 'y' }, { timeoutMs: 300 }));
  assert.is(timedOut.code, ErrorCode.Timeout);
  await until("node B's second work to see the abort", () => signals.length === 2 && signals[1].aborted);
  assert.is((signals[1].reason as RuntimeError).code, ErrorCode.Timeout);
});

test("workTimeoutMs starts when node B's mailbox hands the request over: a wait behind a busy handler is not timed out", async () => {
  const a = await node('a');
  const b = await node('b');
  const releases: Array<() => void> = [];
  b.bus.serve('role:enhancer', () => new Promise((resolve) => releases.push(() => resolve({ prompt: 'done' }))));
  await ready();
  const first = a.bus.send('role:enhancer', 'enhance.request', { requirement: '1' }, { timeoutMs: 10_000, workTimeoutMs: 800 });
  const second = a.bus.send('role:enhancer', 'enhance.request', { requirement: '2' }, { timeoutMs: 10_000, workTimeoutMs: 800 }).catch((error: unknown) => error);
  await until('the first to be taken', () => releases.length === 1);
  await new Promise((resolve) => setTimeout(resolve, 700));
  releases[0]();
  assert.equal(await first, { prompt: 'done' });
  // The second has waited ~700 ms in B's mailbox; it is given 500 ms more of work before its release:
  // 1.2 s after it reached B, within its 800 ms work limit only because that counts from when it was taken.
  await until('the second to be taken', () => releases.length === 2);
  await new Promise((resolve) => setTimeout(resolve, 500));
  releases[1]();
  assert.equal(await second, { prompt: 'done' });
  const third = rejection(a.bus.send('role:enhancer', 'enhance.request', { requirement: '3' }, { timeoutMs: 10_000, workTimeoutMs: 300 }));
  const error = await third;
  assert.equal([error.code, (error.details as { limit: string }).limit], [ErrorCode.Timeout, 'work']);
});

test('a topic reaches its subscribers on every node, and the wildcard', async () => {
  const a = await node('a');
  const b = await node('b');
  const got: string[] = [];
  a.bus.subscribe('topic:tasks', (m) => got.push(`a ${m.type}`));
  b.bus.subscribe('topic:tasks', (m) => got.push(`b ${m.type}`));
  b.bus.subscribe('topic:*', (m) => got.push(`b* ${m.to}`));
  await ready();
  a.bus.publish('topic:tasks', 'log.entry', { level: 'info', source: 'test', text: 'hello' });
  await until('three deliveries', () => got.length === 3);
  assert.equal(got.sort(), ['a log.entry', 'b log.entry', 'b* topic:tasks']);
});

test('a role served by agent pools on two nodes: every request is served once, by both nodes', async () => {
  const a = await node('a');
  const pools = await Promise.all(['b', 'c'].map(async (name) => {
    const { bus } = await node(name);
    const served: string[] = [];
    const plugin = defineAgent({
      name: 'enhancer', version: '1.0.0', role: 'enhancer', accepts: ['enhance.request'],
      async handle(message) {
        served.push(message.payload.requirement);
        await new Promise((resolve) => setTimeout(resolve, 20));
        return { prompt: `${name}: ${message.payload.requirement}` };
      },
    });
    const supervisor = startSupervisor({ bus, plugins: [{ plugin, source: 'test', builtin: true, config: {} }], capabilities: { log: () => {} } as never, concurrency: { default: 2 } });
    return { name, served, supervisor };
  }));
  await ready();
  const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => a.bus.send('role:enhancer', 'enhance.request', { requirement: `r${i}` }, { timeoutMs: 20_000 })));
  const all = pools.flatMap((p) => p.served).sort();
  assert.equal(all, Array.from({ length: 40 }, (_, i) => `r${i}`).sort(), 'each request served exactly once');
  assert.ok(pools.every((p) => p.served.length > 0), `both nodes served (${pools.map((p) => `${p.name}: ${p.served.length}`).join(', ')})`);
  assert.ok(replies.every((r, i) => (r as { prompt: string }).prompt.endsWith(`: r${i}`)));
  for (const p of pools) p.supervisor.stop();
});

test('a node in another process serves a role; when it is killed, requests fail with E_NO_HANDLER instead of hanging', async () => {
  const a = await node('a');
  const child = spawn(process.execPath, ['--no-node-snapshot', '--input-type=module', '-e', `
    import { connectNatsTransport, createBus } from ${JSON.stringify(new URL('../../runtime/bus/mod.ts', import.meta.url).href)};
    const transport = await connectNatsTransport({ servers: [${JSON.stringify(nats.nodes[0].url)}], node: 'other' });
    const bus = createBus({ transport });
    bus.serve('role:reasoner', (m) => ({ plan: 'plan from pid ' + process.pid + ' for ' + m.payload.requirement }));
    await transport.connection.flush();
    console.log('ready');
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`the other node exited with ${code}`)));
  });
  const reply = await a.bus.send('role:reasoner', 'reasoning.request', { requirement: 'r', prompt: 'p', analysis: { complexity: 'complex', summary: 's', kind: 'code' } }, { timeoutMs: 5000 });
  assert.is((reply as { plan: string }).plan, `plan from pid ${child.pid} for r`);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  // The server notices the dead connection; until then a request may still go to it and time out.
  let error: RuntimeError | undefined;
  const end = Date.now() + 15_000;
  while (Date.now() < end) {
    error = await rejection(a.bus.send('role:reasoner', 'reasoning.request', { requirement: 'r', prompt: 'p', analysis: { complexity: 'complex', summary: 's', kind: 'code' } }, { timeoutMs: 1000 }));
    if (error.code === ErrorCode.NoHandler) break;
  }
  assert.is(error?.code, ErrorCode.NoHandler);
});

test('no NATS at the address is E_UNAVAILABLE naming it and the fix', async () => {
  const error = await rejection(connectNatsTransport({ servers: ['nats://127.0.0.1:1'], connectTimeoutMs: 1000 }));
  assert.is(error.code, ErrorCode.Unavailable);
  assert.match(error.message, /cannot reach NATS at nats:\/\/127\.0\.0\.1:1 .*start nats-server there, or fix --cluster \/ ORCHESTRATOR_CLUSTER/);
});

test.run();
