// The bus across a 3-server NATS cluster (routes between the servers, JetStream on each, as
// test/helpers/nats.ts starts it): a node connected to server 1 asks, a node connected to server 3
// answers; SIGKILL of the server the asker is connected to: its client reconnects to another server
// of the cluster and requests go on, none lost to the switch beyond the ones in flight.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connectNatsTransport, createBus } from '../../runtime/bus/mod.ts';
import type { Bus, NatsTransport } from '../../runtime/bus/mod.ts';
import { RuntimeError } from '../../runtime/protocol/mod.ts';
import { startNats } from '../helpers/nats.ts';
import type { NatsCluster } from '../helpers/nats.ts';

let nats: NatsCluster;
const open: Array<{ bus: Bus; transport: NatsTransport }> = [];

async function node(name: string, servers: string[]) {
  const transport = await connectNatsTransport({ servers, node: name });
  const pair = { bus: createBus({ transport }), transport };
  open.push(pair);
  return pair;
}

test.before(async () => {
  nats = await startNats(3);
});

test.after(async () => {
  for (const { bus, transport } of open.splice(0)) {
    bus.close();
    await transport.drain().catch(() => {});
  }
  await nats.stop();
});

test('a request crosses the cluster (asker on server 1, answerer on server 3) and survives the SIGKILL of the asker\'s server', async () => {
  const [n1, , n3] = nats.nodes;
  const answerer = await node('b', [n3.url]);
  answerer.bus.serve('role:enhancer', (m) => ({ prompt: `from b: ${(m.payload as { requirement: string }).requirement}` }), { concurrency: 8 });
  await answerer.transport.connection.flush();
  // Only server 1: the client learns the cluster's other servers from it (INFO connect_urls).
  const asker = await node('a', [n1.url]);
  // The interest of b's subscription travels over the routes: wait until a request from server 1 finds it.
  let first: unknown;
  for (let i = 0; i < 100 && first === undefined; i++) {
    first = await asker.bus.send('role:enhancer', 'enhance.request', { requirement: 'hello' }, { timeoutMs: 2000 }).catch(() => undefined);
    if (first === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(first, { prompt: 'from b: hello' });
  assert.is(asker.transport.connection.getServer(), `127.0.0.1:${n1.port}`);

  n1.kill();
  // Requests go on once the client has moved to another server; a request caught in the switch may time out.
  const results: Array<'ok' | string> = [];
  const end = Date.now() + 20_000;
  while (Date.now() < end && results.filter((r) => r === 'ok').length < 20) {
    const r = await asker.bus.send('role:enhancer', 'enhance.request', { requirement: `r${results.length}` }, { timeoutMs: 1000 })
      .then(() => 'ok' as const, (error: RuntimeError) => error.code);
    results.push(r);
  }
  assert.is(results.filter((r) => r === 'ok').length, 20, `answers after the kill: ${results.join(' ')}`);
  assert.not.equal(asker.transport.connection.getServer(), `127.0.0.1:${n1.port}`, 'the client moved to another server');
});

test.run();
