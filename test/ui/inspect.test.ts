// The /ws/inspect channel and its HTTP twin, from a plain ws client in Node (no browser): a finished
// demo task's machine definition, persisted history and state; frames validated with clear errors;
// /ws still serves the hub beside it; GET /api/machine.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import { api, finished, startServer, type StartedServer } from '../helpers/server.ts';

let server: StartedServer;

test.before(async () => {
  server = await startServer();
});

test.after(async () => {
  await server?.stop();
  if (server) rmSync(server.dataDir, { recursive: true, force: true });
});

/** Opens a ws to `path` and collects its frames. */
async function connect(path: string): Promise<{ ws: WebSocket; frames: Array<Record<string, any>>; next(type: string): Promise<Record<string, any>> }> {
  const ws = new WebSocket(server.wsUrl(path));
  const frames: Array<Record<string, any>> = [];
  const waiters: Array<() => void> = [];
  ws.onmessage = (event) => {
    frames.push(JSON.parse(String(event.data)));
    for (const wake of waiters.splice(0)) wake();
  };
  await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
  let read = 0;
  return {
    ws,
    frames,
    async next(type) {
      const deadline = Date.now() + 30_000; // a safety limit: frames come in milliseconds, slower on a busy machine
      for (;;) {
        while (read < frames.length) if (frames[read++].type === type) return frames[read - 1];
        if (Date.now() > deadline) throw new Error(`no ${type} frame; got ${frames.map((f) => f.type).join(',')}`);
        await new Promise<void>((resolve) => (waiters.push(resolve), setTimeout(resolve, 200)));
      }
    },
  };
}

test('subscribe to a task: machine definition, persisted history, state', async () => {
  const { body } = await api(server, '/api/requirements', { body: { requirement: 'Write a fizzbuzz module with tests', priority: 5 } });
  const id: string = body.taskId;
  await finished(server, id);
  const c = await connect('/ws/inspect');
  const actors = await c.next('actors');
  assert.ok(actors.actors.includes('supervisor') && actors.actors.includes('agent:implementer') && actors.actors.includes(`task:${id}`));
  // The same actors as one supervision tree: the root, its agents (pools, instances) and tasks subtrees.
  assert.equal([actors.tree.id, actors.tree.actor, actors.tree.children.map((c: { id: string }) => c.id)], ['root', 'supervisor', ['agents', 'tasks']]);
  const implementer = actors.tree.children[0].children.find((p: { id: string }) => p.id === 'pool:implementer');
  assert.equal([implementer.kind, implementer.actor, implementer.children[0].kind], ['pool', 'agent:implementer', 'instance']);
  assert.is((await api(server, '/api/actors')).body.children[1].detail.maxRunning, actors.tree.children[1].detail.maxRunning, 'GET /api/actors is the same tree');

  c.ws.send(JSON.stringify({ type: 'subscribe', actor: `task:${id}` }));
  const machine = await c.next('machine');
  assert.is(machine.actor, `task:${id}`);
  assert.is(machine.definition.version, 'pipeline@1');
  const keys = machine.definition.nodes.map((n: { key: string }) => n.key);
  for (const k of ['queued', 'enhancing', 'analyzing', 'implementing', 'validating', 'integrating', 'completed', 'failed', 'cancelled']) assert.ok(keys.includes(k), k);
  assert.is(machine.definition.nodes.find((n: { key: string }) => n.key === 'completed').type, 'final');
  const edges = machine.definition.edges as Array<{ source: string; target: string[]; event: string; kind: string; guard?: string }>;
  assert.ok(edges.some((e) => e.source === 'task.queued' && e.event === 'START' && e.target[0] === 'task.enhancing'));
  assert.ok(edges.some((e) => e.source === 'task.integrating' && e.kind === 'done' && e.event === 'done: integrate' && e.target[0] === 'task.completed'));
  assert.ok(edges.some((e) => e.source === 'task.validating' && e.guard === 'canRetry' && e.target[0] === 'task.implementing'), 'the fix loop with its guard');
  assert.ok(edges.some((e) => e.source === 'task' && e.event === 'CANCEL' && e.target[0] === 'task.cancelled'));

  const history = await c.next('history');
  const detail = (await api(server, `/api/tasks/${id}`)).body;
  const stagesFromHistory = history.entries.filter((e: { type: string }) => e.type === 'task.stage').map((e: { data: { to: string } }) => e.data.to);
  assert.equal(stagesFromHistory, detail.stages.map((s: { stage: string }) => s.stage).filter((s: string) => s !== 'queued'));
  assert.ok(history.entries.every((e: { seq: number }, i: number, all: Array<{ seq: number }>) => i === 0 || e.seq > all[i - 1].seq), 'in persisted order');
  const state = await c.next('state');
  assert.is(state.value, 'completed');
  assert.is(state.context.taskId, id);
  assert.is(state.event.type, history.entries[history.entries.length - 1].type);

  // Bad frames get a clear error and the socket stays usable.
  c.ws.send('not json');
  assert.match((await c.next('error')).message, /not JSON/);
  c.ws.send(JSON.stringify({ type: 'subscribe', actor: 'robot' }));
  assert.match((await c.next('error')).message, /actor must be 'supervisor', 'agent:<name>', 'agent:<name>#<n>' or 'task:<id>'/);
  c.ws.send(JSON.stringify({ type: 'subscribe', actor: 'task:nope' }));
  assert.match((await c.next('error')).message, /no task nope/);
  c.ws.send(JSON.stringify({ type: 'subscribe', actor: 'supervisor' }));
  const sup = await c.next('machine');
  assert.is(sup.definition.version, 'supervisor@4');
  assert.is((await c.next('state')).value, 'running');
  // A pool's second instance (listed as agent:<name>#2) can be subscribed to as well.
  assert.ok(actors.actors.includes('agent:implementer#2'), actors.actors.join(', '));
  c.ws.send(JSON.stringify({ type: 'subscribe', actor: 'agent:implementer#2' }));
  assert.is((await c.next('machine')).actor, 'agent:implementer#2');
  c.ws.close();

  // The hub's /ws is still its own channel.
  const hub = await connect('/ws');
  assert.is((await hub.next('snapshot')).type, 'snapshot');
  hub.ws.close();
});

test('a live agent: state frames carry the event that caused them', async () => {
  const c = await connect('/ws/inspect');
  c.ws.send(JSON.stringify({ type: 'subscribe', actor: 'agent:enhancer' }));
  assert.equal((await c.next('machine')).definition.nodes.map((n: { key: string }) => n.key), ['enhancer', 'ready', 'working']);
  assert.is((await c.next('state')).value, 'ready');
  await api(server, '/api/requirements', { body: { requirement: 'Write a fizzbuzz module with tests', priority: 5 } });
  const working = await c.next('state');
  assert.is(working.value, 'working');
  assert.is(working.event.type, 'enhance.request');
  c.ws.close();
});

test('GET /api/inspect/:actor and GET /api/machine', async () => {
  const sup = await api(server, '/api/inspect/supervisor');
  assert.is(sup.status, 200);
  assert.is(sup.body.state.value, 'running');
  assert.ok(!JSON.stringify(sup.body.state.context).includes('function'));
  assert.is((await api(server, '/api/inspect/robot')).status, 400);
  assert.is((await api(server, '/api/inspect/task:nope')).status, 404);
  const m = await api(server, '/api/machine');
  assert.ok(m.body.cpuPercent >= 0 && m.body.memory.rss > 0 && m.body.system.loadavg.length === 3 && m.body.uptimeSec >= 0);
});

test.run();
