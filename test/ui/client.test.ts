// The dashboard's store against a scripted /ws peer (the `ws` package): snapshot, in-order updates, a
// seq gap answered by {"type":"resync"} with updates ignored until the next snapshot, and reconnect.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocketServer, type WebSocket as Peer } from 'ws';
import { createClient } from '../../ui/src/client.ts';

const agent = (name: string, status: string, done: number) => ({ name, version: '1', role: name, status, taskId: null, done, failed: 0, restarts: 0, lastError: null, lastLatencyMs: null });
/**
 * Polls until `check` holds: each step waits for a frame the client has applied ($stats.frames counts
 * every frame, ignored ones too), never for a fixed time that a busy machine may overrun. 10 s is a
 * safety limit.
 */
async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('snapshot, updates in order, resync on a gap, reconnect after the socket drops', async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const port = (wss.address() as { port: number }).port;
  const received: unknown[] = [];
  const peers: Peer[] = [];
  wss.on('connection', (peer) => {
    peers.push(peer);
    peer.on('message', (data) => received.push(JSON.parse(String(data))));
    peer.send(JSON.stringify({ type: 'snapshot', seq: 1, state: { demo: true, agents: { a: agent('a', 'ready', 0) }, tasks: {} } }));
  });
  const client = createClient({ server: `http://127.0.0.1:${port}`, schedule: (f) => setTimeout(f, 0), backoff: { initialMs: 20, maxMs: 50, reconnectingAttempts: 3 } });
  const statuses: string[] = [];
  const off = client.$status.subscribe((s) => statuses.push(s));
  const offAgents = client.$agents.listen(() => {});
  const applied = (n: number) => () => client.$stats.get().frames >= n;
  await until('the snapshot', () => client.$status.get() === 'connected');
  assert.is(client.$demo.get(), true);
  const peer = peers[0];
  peer.send(JSON.stringify({ type: 'update', seq: 2, events: [{ kind: 'agent', agent: agent('a', 'working', 0) }, { kind: 'log', taskId: 't1', log: { ts: 1, level: 'info', source: 'a', text: 'hello' } }] }));
  await until('update 2', applied(2));
  assert.is(client.$agents.get().a.status, 'working');
  assert.is(client.$lines.get()[0].text, 'hello');
  // seq 4 after 2: a frame was lost. The client asks for a snapshot and ignores updates until then.
  peer.send(JSON.stringify({ type: 'update', seq: 4, events: [{ kind: 'agent', agent: agent('a', 'failed', 0) }] }));
  peer.send(JSON.stringify({ type: 'update', seq: 5, events: [{ kind: 'agent', agent: agent('a', 'failed', 0) }] }));
  await until('updates 4 and 5', applied(4));
  assert.is(client.$stats.get().resyncs, 1, 'one resync asked for the gap (update 5 waits for the snapshot too)');
  await until('the resync request to reach the peer', () => received.length > 0);
  assert.equal(received.filter((f) => (f as { type: string }).type === 'resync').length, 1);
  assert.is(client.$agents.get().a.status, 'working', 'updates after a gap are not applied');
  peer.send(JSON.stringify({ type: 'snapshot', seq: 5, state: { demo: true, agents: { a: agent('a', 'ready', 1) }, tasks: {} } }));
  peer.send(JSON.stringify({ type: 'update', seq: 6, events: [{ kind: 'agent', agent: agent('a', 'working', 1) }] }));
  await until('the snapshot and update 6', applied(6));
  assert.is(client.$agents.get().a.status, 'working');
  assert.is(client.$agents.get().a.done, 1);
  assert.is(client.$stats.get().resyncs, 1);
  // The socket drops: reconnecting, then connected again on a fresh snapshot.
  peer.terminate();
  await until("the new connection's snapshot", () => peers.length >= 2 && applied(7)());
  assert.is(client.$status.get(), 'connected');
  assert.ok(statuses.includes('reconnecting'), statuses.join(','));
  assert.is(client.$agents.get().a.done, 0, 'the new snapshot is the truth');
  assert.is(client.$stats.get().reconnects, 1);
  off();
  offAgents();
  for (const p of peers) p.terminate();
  await new Promise((r) => wss.close(r));
});

test.run();
