// The supervisor on a simulated clock: restart backoff, escalation, redelivery, status and counts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createBus, simulatedClock } from '../../runtime/bus/mod.ts';
import { defineAgent } from '../../runtime/plugin/mod.ts';
import type { AnyAgentPlugin } from '../../runtime/plugin/mod.ts';
import { startSupervisor } from '../../runtime/supervisor/mod.ts';
import { RuntimeError } from '../../runtime/protocol/mod.ts';

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

function start(plugins: AnyAgentPlugin[], clock = simulatedClock()) {
  const bus = createBus({ clock });
  const logs: string[] = [];
  const supervisor = startSupervisor({
    bus,
    plugins: plugins.map((plugin) => ({ plugin, source: 'test', builtin: true, config: {} })),
    capabilities: { log: (_level: string, text: string) => logs.push(text) } as never,
    policy: { backoffMs: 100, maxBackoffMs: 1000, maxCrashes: 3, windowMs: 10_000 },
  });
  return { bus, clock, logs, supervisor, agent: (name: string) => supervisor.agents().find((a) => a.name === name)! };
}

test('a crash is restarted after backoff and the request is redelivered to the new actor', async () => {
  let calls = 0;
  const flaky = defineAgent({
    name: 'flaky', version: '1.0.0', role: 'enhancer', accepts: ['enhance.request'],
    async handle(message) {
      if (++calls === 1) throw new TypeError('first call crashes');
      return { prompt: `ok ${message.payload.requirement}` };
    },
  });
  const { bus, clock, agent, supervisor } = start([flaky]);
  const reply = bus.send('role:enhancer', 'enhance.request', { requirement: 'x' }, { timeoutMs: 60_000 });
  await flush();
  assert.is(agent('flaky').status, 'restarting');
  assert.is(agent('flaky').restarts, 1);
  clock.advance(99);
  await flush();
  assert.is(agent('flaky').status, 'restarting', 'not before the backoff');
  clock.advance(1);
  await flush();
  assert.equal(await reply, { prompt: 'ok x' });
  assert.is(agent('flaky').status, 'ready');
  assert.is(agent('flaky').done, 1);
  assert.is(calls, 2);
  supervisor.stop();
});

test('backoff doubles per crash; maxCrashes within the window marks the agent failed; queued requests fail with the reason', async () => {
  const broken = defineAgent({
    name: 'broken', version: '1.0.0', role: 'enhancer', accepts: ['enhance.request'],
    async handle() {
      throw new Error('always');
    },
  });
  const { bus, clock, agent, supervisor, logs } = start([broken]);
  const first = bus.send('role:enhancer', 'enhance.request', { requirement: 'a' }, { timeoutMs: 60_000 }).catch((e) => e);
  const second = bus.send('agent:broken', 'enhance.request', { requirement: 'b' }, { timeoutMs: 60_000 }).catch((e) => e);
  await flush();
  assert.is(agent('broken').restarts, 1);
  clock.advance(100); // first backoff
  await flush();
  assert.is(agent('broken').restarts, 2, 'crashed again right after the restart');
  clock.advance(199);
  await flush();
  assert.is(agent('broken').status, 'restarting', 'second backoff is 200 ms');
  clock.advance(1);
  await flush();
  assert.is(agent('broken').status, 'failed');
  const [a, b] = await Promise.all([first, second]);
  for (const error of [a, b]) {
    assert.instance(error, RuntimeError);
    assert.is(error.code, 'E_AGENT_FAILED');
    assert.match(error.message, /agent broken crashed 3 times within 10 s and is marked failed; last error: always/);
  }
  assert.is(agent('broken').failed, 2, 'both requests counted as failed');
  assert.ok(logs.some((l) => /marked failed/.test(l)));
  assert.not.ok(supervisor.servesRole('enhancer'));
  supervisor.stop();
});

test('crashes outside the window do not accumulate', async () => {
  let calls = 0;
  const sometimes = defineAgent({
    name: 'sometimes', version: '1.0.0', role: 'enhancer', accepts: ['enhance.request'],
    async handle() {
      if (++calls % 2 === 1) throw new Error('odd calls crash');
      return { prompt: 'ok' };
    },
  });
  const { bus, clock, agent, supervisor } = start([sometimes]);
  for (let i = 0; i < 4; i++) {
    const reply = bus.send('role:enhancer', 'enhance.request', { requirement: 'x' }, { timeoutMs: 60_000 });
    await flush();
    clock.advance(100);
    await flush();
    assert.equal(await reply, { prompt: 'ok' });
    clock.advance(11_000);
  }
  assert.is(agent('sometimes').status, 'ready');
  assert.is(agent('sometimes').restarts, 4);
  supervisor.stop();
});

test('an expected failure (RuntimeError) is an answer, not a crash', async () => {
  const picky = defineAgent({
    name: 'picky', version: '1.0.0', role: 'analyst', accepts: ['analysis.request'],
    async handle() {
      throw new RuntimeError('E_LLM_OUTPUT', 'the model answered nonsense');
    },
  });
  const { bus, agent, supervisor } = start([picky]);
  const error = await bus.send('role:analyst', 'analysis.request', { requirement: 'x', prompt: 'y' }).catch((e) => e);
  assert.is(error.code, 'E_LLM_OUTPUT');
  assert.is(agent('picky').status, 'ready');
  assert.is(agent('picky').restarts, 0);
  assert.is(agent('picky').failed, 1);
  supervisor.stop();
});

test('a hung agent (no answer within requestTimeoutMs) is restarted like a crash', async () => {
  let calls = 0;
  const sleepy = defineAgent({
    name: 'sleepy', version: '1.0.0', role: 'enhancer', accepts: ['enhance.request'],
    handle: () => (++calls === 1 ? new Promise(() => {}) : Promise.resolve({ prompt: 'awake' })),
  });
  const clock = simulatedClock();
  const bus = createBus({ clock });
  const supervisor = startSupervisor({
    bus,
    plugins: [{ plugin: sleepy, source: 'test', builtin: true, config: {} }],
    capabilities: { log: () => {} } as never,
    policy: { backoffMs: 10 },
    requestTimeoutMs: 1000,
  });
  const reply = bus.send('role:enhancer', 'enhance.request', { requirement: 'x' }, { timeoutMs: 60_000 });
  await flush();
  clock.advance(1000);
  await flush();
  assert.match(supervisor.agents()[0].lastError ?? '', /no answer to enhance.request within 1000 ms/);
  clock.advance(10);
  await flush();
  assert.equal(await reply, { prompt: 'awake' });
  supervisor.stop();
});

test.run();
