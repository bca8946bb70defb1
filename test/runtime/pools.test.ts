// Agent pools and cancellation on a simulated clock: a role served by N instances from one mailbox
// (requests side by side), 'serial' plugins, a crashed instance restarting alone while its siblings
// serve, the pool's restart intensity, and a withdrawn request that stops its work and frees its
// instance at once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createBus, simulatedClock } from '../../runtime/bus/mod.ts';
import { checkPlugin, defineAgent } from '../../runtime/plugin/mod.ts';
import { setup } from 'xstate';
import type { AnyAgentPlugin, Capabilities, LlmRequest } from '../../runtime/plugin/mod.ts';
import { poolSize, startSupervisor } from '../../runtime/supervisor/mod.ts';
import { RuntimeError } from '../../runtime/protocol/mod.ts';
import type { Message } from '../../runtime/protocol/mod.ts';

const flush = async (turns = 3) => {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setTimeout(resolve, 0));
};

function start(plugins: AnyAgentPlugin[], concurrency: { default?: number; roles?: Record<string, number> }, llm?: unknown) {
  const clock = simulatedClock();
  const bus = createBus({ clock });
  const logs: string[] = [];
  const supervisor = startSupervisor({
    bus,
    plugins: plugins.map((plugin) => ({ plugin, source: 'test', builtin: true, config: {} })),
    capabilities: { llm, log: (_level: string, text: string) => logs.push(text) } as never,
    policy: { backoffMs: 100, maxBackoffMs: 1000, maxCrashes: 3, windowMs: 10_000 },
    concurrency,
  });
  return { bus, clock, logs, supervisor, pool: (name: string) => supervisor.agents().find((a) => a.name === name)! };
}

/** An enhancer whose every request waits until the test releases it by requirement. */
function gated(name: string, extra: Partial<Parameters<typeof defineAgent>[0]> = {}) {
  const open = new Map<string, { release: () => void; signal: AbortSignal | undefined }>();
  const crashed = new Set<string>();
  const plugin = defineAgent({
    name, version: '1.0.0', role: 'enhancer', accepts: ['enhance.request'],
    async handle(message, caps) {
      const requirement = (message.payload as { requirement: string }).requirement;
      if (requirement === 'crash' || (requirement === 'crash-once' && !crashed.has(requirement))) {
        crashed.add(requirement);
        throw new Error(`crashed on ${requirement}`);
      }
      await new Promise<void>((resolve) => open.set(requirement, { release: resolve, signal: caps.signal }));
      open.delete(requirement);
      return { prompt: `done ${requirement}` };
    },
    ...extra,
  } as Parameters<typeof defineAgent>[0]);
  return { plugin, open };
}

test('a pool of 3 serves three requests side by side from one mailbox; the fourth waits for a free instance', async () => {
  const { plugin, open } = gated('wide');
  const { bus, pool, supervisor } = start([plugin], { default: 3 });
  assert.is(pool('wide').concurrency, 3);
  assert.equal(pool('wide').instances.map((i) => i.id), ['wide#1', 'wide#2', 'wide#3']);
  const replies = ['a', 'b', 'c', 'd'].map((r) => bus.send('role:enhancer', 'enhance.request', { requirement: r }, { timeoutMs: 60_000 }));
  await flush();
  assert.equal([...open.keys()].sort(), ['a', 'b', 'c'], 'three handled at once');
  assert.equal({ busy: pool('wide').busy, idle: pool('wide').idle, status: pool('wide').status }, { busy: 3, idle: 0, status: 'working' });
  open.get('b')!.release();
  await flush();
  assert.ok(open.has('d'), 'the fourth took the freed instance');
  for (const r of ['a', 'c', 'd']) open.get(r)!.release();
  assert.equal(await Promise.all(replies), ['a', 'b', 'c', 'd'].map((r) => ({ prompt: `done ${r}` })));
  assert.equal({ busy: pool('wide').busy, idle: pool('wide').idle, done: pool('wide').done }, { busy: 0, idle: 3, done: 4 });
  supervisor.stop();
});

test("a plugin that says 'serial' gets one instance whatever the config; config overrides a plugin's own number", async () => {
  const serial = gated('one', { concurrency: 'serial' });
  const { bus, pool, supervisor } = start([serial.plugin], { default: 8, roles: { enhancer: 4 } });
  assert.is(pool('one').concurrency, 1);
  const replies = ['a', 'b'].map((r) => bus.send('role:enhancer', 'enhance.request', { requirement: r }, { timeoutMs: 60_000 }));
  await flush();
  assert.equal([...serial.open.keys()], ['a'], 'one at a time');
  serial.open.get('a')!.release();
  await flush();
  serial.open.get('b')!.release();
  await Promise.all(replies);
  supervisor.stop();
  const declared = gated('two', { concurrency: 2 }).plugin;
  assert.is(poolSize(declared, { default: 8 }), 2, "the plugin's number over the default");
  assert.is(poolSize(declared, { default: 8, roles: { enhancer: 5 } }), 5, 'config over the plugin');
  assert.is(poolSize(gated('none').plugin, { default: 8 }), 8, 'the default when nobody says');
});

test('a plugin declaring a bad concurrency is refused at load, naming the field and the fix', () => {
  const plugin = { ...gated('bad').plugin, concurrency: 0 };
  assert.throws(() => checkPlugin(plugin, 'plugins/bad'), (e: RuntimeError) => e.code === 'E_PLUGIN_LOAD' && /concurrency is 0: use an integer from 1 to 256, or "serial"/.test(e.message));
});

test('a crashed instance restarts alone after backoff while its siblings keep serving; its request is redelivered', async () => {
  const { plugin, open } = gated('pool');
  const { bus, clock, pool, supervisor } = start([plugin], { default: 3 });
  const slow = ['a', 'b'].map((r) => bus.send('role:enhancer', 'enhance.request', { requirement: r }, { timeoutMs: 60_000 }));
  await flush();
  const crash = bus.send('role:enhancer', 'enhance.request', { requirement: 'crash-once' }, { timeoutMs: 60_000 });
  await flush();
  const view = pool('pool');
  const crashed = view.instances.find((i) => i.restarts === 1)!;
  assert.ok(crashed, 'one instance crashed');
  assert.is(crashed.status, 'restarting');
  assert.equal(view.instances.filter((i) => i.id !== crashed.id).map((i) => [i.status, i.restarts]), [['working', 0], ['working', 0]], 'siblings untouched, still working');
  assert.is(view.status, 'working');
  // A sibling frees up during the backoff: the crashed request is redelivered to it, and it serves.
  open.get('a')!.release();
  await flush();
  assert.ok(open.has('crash-once'), 'redelivered to a sibling while the crashed instance waits out its backoff');
  assert.is(pool('pool').instances.find((i) => i.id === crashed.id)!.status, 'restarting');
  clock.advance(100);
  await flush();
  assert.is(pool('pool').instances.find((i) => i.id === crashed.id)!.status, 'ready', 'restarted after its backoff');
  const next = bus.send('role:enhancer', 'enhance.request', { requirement: 'e' }, { timeoutMs: 60_000 });
  await flush();
  assert.ok(open.has('e'), 'the restarted instance serves again');
  for (const r of ['b', 'crash-once', 'e']) open.get(r)!.release();
  assert.equal(await Promise.all([...slow, crash, next]), ['a', 'b', 'crash-once', 'e'].map((r) => ({ prompt: `done ${r}` })));
  assert.equal(pool('pool').instances.map((i) => i.restarts).sort(), [0, 0, 1], 'only the crashed instance restarted');
  supervisor.stop();
});

test("a pool's restart intensity: maxCrashes crashes of its instances within the window fail the pool, and its requests with the reason", async () => {
  const { plugin } = gated('doomed');
  const { bus, clock, pool, supervisor } = start([plugin], { default: 3 });
  const crash = bus.send('role:enhancer', 'enhance.request', { requirement: 'crash' }, { timeoutMs: 60_000 }).catch((e) => e);
  for (let i = 0; i < 6; i++) {
    await flush();
    clock.advance(1000);
  }
  const error = await crash;
  assert.instance(error, RuntimeError);
  assert.is(error.code, 'E_AGENT_FAILED');
  assert.match(error.message, /agent doomed crashed 3 times within 10 s and is marked failed/);
  assert.equal({ status: pool('doomed').status, down: pool('doomed').down }, { status: 'failed', down: 3 });
  supervisor.stop();
});

test('a withdrawn request: the sender is answered at once, the work sees its signal abort, the instance is free for the next request', async () => {
  const calls: Array<{ request: LlmRequest; aborted: () => boolean }> = [];
  const llm = {
    complete(request: LlmRequest) {
      calls.push({ request, aborted: () => request.signal?.aborted === true });
      return new Promise((_, reject) => request.signal?.addEventListener('abort', () => reject(request.signal!.reason)));
    },
  };
  const asker = defineAgent({
    name: 'asker', version: '1.0.0', role: 'enhancer', accepts: ['enhance.request'], concurrency: 'serial',
    async handle(message, caps) {
      if (message.payload.requirement === 'quick') return { prompt: 'quick' };
      const answer = await caps.llm.complete({ role: 'enhancer', system: 's', messages: [{ role: 'user', content: 'u' }] });
      return { prompt: answer.text };
    },
  });
  const { bus, pool, supervisor } = start([asker], { default: 1 }, llm);
  const controller = new AbortController();
  const slow = bus.send('role:enhancer', 'enhance.request', { requirement: 'slow' }, { timeoutMs: 60_000, signal: controller.signal }).catch((e) => e);
  const queued = new AbortController();
  const never = bus.send('role:enhancer', 'enhance.request', { requirement: 'quick' }, { timeoutMs: 60_000, signal: queued.signal }).catch((e) => e);
  await flush();
  assert.is(calls.length, 1, 'the model call started');
  assert.is(pool('asker').busy, 1);
  queued.abort('the task was cancelled');
  controller.abort(new RuntimeError('E_CANCELLED', 'task t-1 was cancelled by request'));
  const error = await slow;
  assert.instance(error, RuntimeError);
  assert.equal([error.code, error.message], ['E_CANCELLED', 'task t-1 was cancelled by request']);
  assert.ok(calls[0].aborted(), "the model call's signal aborted");
  await flush();
  assert.equal({ busy: pool('asker').busy, idle: pool('asker').idle }, { busy: 0, idle: 1 }, 'the instance is free again');
  const queuedError = await never;
  assert.equal([queuedError.code, queuedError.message], ['E_CANCELLED', 'enhance.request to role:enhancer was cancelled: the task was cancelled']);
  assert.equal(await bus.send('role:enhancer', 'enhance.request', { requirement: 'quick' }, { timeoutMs: 60_000 }), { prompt: 'quick' }, 'the next request is served at once');
  assert.is(calls.length, 1, 'the withdrawn queued request never reached the agent');
  supervisor.stop();
});

test('a request that times out withdraws its work: the signal aborts with E_TIMEOUT', async () => {
  let seen: AbortSignal | undefined;
  const waiter = defineAgent({
    name: 'waiter', version: '1.0.0', role: 'enhancer', accepts: ['enhance.request'],
    handle: (_message, caps) => new Promise((_, reject) => {
      seen = caps.signal;
      caps.signal!.addEventListener('abort', () => reject(caps.signal!.reason));
    }),
  });
  const { bus, clock, pool, supervisor } = start([waiter], { default: 1 });
  const reply = bus.send('role:enhancer', 'enhance.request', { requirement: 'x' }, { timeoutMs: 5000 }).catch((e) => e);
  await flush();
  clock.advance(5000);
  const error = await reply;
  assert.is(error.code, 'E_TIMEOUT');
  assert.ok(seen?.aborted, 'the work was told');
  await flush();
  assert.is(pool('waiter').idle, 1);
  supervisor.stop();
});

test("stopping an instance (the server draining) aborts its request's work with E_STOPPED", async () => {
  const { plugin, open } = gated('drained');
  const { bus, supervisor } = start([plugin], { default: 2 });
  const reply = bus.send('role:enhancer', 'enhance.request', { requirement: 'a' }, { timeoutMs: 60_000 }).catch((e) => e);
  await flush();
  const signal = open.get('a')!.signal!;
  assert.not.ok(signal.aborted);
  supervisor.stop();
  assert.ok(signal.aborted, 'the work was told');
  assert.is((signal.reason as RuntimeError).code, 'E_STOPPED');
  assert.match((signal.reason as RuntimeError).message, /drained stopped/);
  assert.is((await reply).code, 'E_STOPPED');
});

test("defineAgent's logic carries the chart of the states it moves through, and an instance's snapshot names its state and request", async () => {
  const { plugin, open } = gated('charted');
  const chart = (plugin.logic as unknown as { chart: { nodes: Array<{ key: string }>; edges: Array<{ source: string; target: string[]; event: string }> } }).chart;
  assert.equal(chart.nodes.map((n) => n.key), ['charted', 'ready', 'working']);
  assert.equal(chart.edges.map((e) => `${e.source} -${e.event}-> ${e.target.join()}`), [
    'charted.ready -enhance.request-> charted.working',
    'charted.working -agent.finished-> charted.ready',
    'charted.working -agent.cancel-> charted.ready',
  ]);
  const { bus, supervisor } = start([plugin], { default: 1 });
  const instance = supervisor.actor.getSnapshot().context.refs['charted#1'];
  assert.is((instance.getSnapshot() as { value: string }).value, 'ready');
  const reply = bus.send('role:enhancer', 'enhance.request', { requirement: 'a' }, { timeoutMs: 60_000 });
  await flush();
  const working = instance.getSnapshot() as { value: string; context: { current: { type: string } } };
  assert.equal([working.value, working.context.current.type], ['working', 'enhance.request']);
  open.get('a')!.release();
  await reply;
  assert.is((instance.getSnapshot() as { value: string }).value, 'ready');
  supervisor.stop();
});

test('listeners hear each pool once per burst of changes, and the last view they hear is the current one', async () => {
  const { plugin, open } = gated('heard');
  const { bus, pool, supervisor } = start([plugin], { default: 2 });
  const heard: Array<{ busy: number; done: number }> = [];
  supervisor.onAgentChange((agent) => heard.push({ busy: agent.busy, done: agent.done }));
  const replies = ['a', 'b'].map((r) => bus.send('role:enhancer', 'enhance.request', { requirement: r }, { timeoutMs: 60_000 }));
  await flush();
  assert.equal(heard, [{ busy: 2, done: 0 }], 'two requests taken in one turn: one update');
  open.get('a')!.release();
  open.get('b')!.release();
  await Promise.all(replies);
  await flush();
  assert.equal(heard.at(-1), { busy: 0, done: 2 });
  assert.equal(heard.at(-1), { busy: pool('heard').busy, done: pool('heard').done });
  supervisor.stop();
});

test('an instance that ignores agent.cancel is restarted after the grace period, and serves again', async () => {
  let served = 0;
  const logic = setup({ types: { input: {} as Capabilities, context: {} as { caps: Capabilities }, events: {} as Message } }).createMachine({
    context: ({ input }) => ({ caps: input }),
    initial: 'ready',
    states: {
      ready: {
        on: {
          'enhance.request': [
            { guard: ({ event }) => (event as Message<'enhance.request'>).payload.requirement === 'stall', target: 'stalled' },
            { actions: ({ context, event }) => context.caps.reply(event.id, { prompt: `served ${++served}` }) },
          ],
        },
      },
      stalled: {},
    },
  });
  const deaf: AnyAgentPlugin = { name: 'deaf', version: '1.0.0', role: 'enhancer', accepts: ['enhance.request'], emits: ['enhance.result'], logic };
  const { bus, clock, pool, supervisor } = start([deaf], { default: 1 });
  const controller = new AbortController();
  const stalled = bus.send('role:enhancer', 'enhance.request', { requirement: 'stall' }, { timeoutMs: 60_000, signal: controller.signal }).catch((e) => e);
  await flush();
  controller.abort();
  assert.is((await stalled).code, 'E_CANCELLED');
  await flush();
  assert.is(pool('deaf').busy, 1, 'still busy: it has not acknowledged');
  clock.advance(10_000);
  await flush();
  assert.is(pool('deaf').instances[0].status, 'restarting');
  assert.match(pool('deaf').lastError ?? '', /still busy 10000 ms after its enhance.request was withdrawn/);
  clock.advance(100);
  await flush();
  assert.equal(await bus.send('role:enhancer', 'enhance.request', { requirement: 'next' }, { timeoutMs: 60_000 }), { prompt: 'served 1' });
  supervisor.stop();
});

test.run();
