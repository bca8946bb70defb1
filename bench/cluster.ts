// Cluster mode: what the NATS transport adds to one bus request/reply (node A asks, node B answers,
// both on one local nats-server, each with its own connection) next to the in-process transport, in
// the same run; p50 and p99 of sequential round trips, and round trips/s with 32 in flight.
import { connectNatsTransport, createBus } from '../runtime/bus/mod.ts';
import type { Bus } from '../runtime/bus/mod.ts';
import { startNats } from '../test/helpers/nats.ts';
import { notMeasured, quantile, ratio, stats, type Figure, type Section } from './lib.ts';

const SEQUENTIAL = 5000;
const CONCURRENT = 20_000;
const IN_FLIGHT = 32;
const ROUNDS = 5;

const analysis = { complexity: 'simple', summary: 'ok', kind: 'code' } as const;
const ask = (bus: Bus) => bus.send('role:analyst', 'analysis.request', { requirement: 'r', prompt: 'p' }, { timeoutMs: 10_000 });

/** Per round: p50 and p99 of SEQUENTIAL round trips (µs), and round trips/s with IN_FLIGHT at once. */
async function rounds(sender: Bus): Promise<{ p50: number[]; p99: number[]; rate: number[] }> {
  const out = { p50: [] as number[], p99: [] as number[], rate: [] as number[] };
  for (let i = 0; i < 500; i++) await ask(sender);
  for (let round = 0; round < ROUNDS; round++) {
    const samples: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      const t = performance.now();
      await ask(sender);
      samples.push((performance.now() - t) * 1000);
    }
    out.p50.push(quantile(samples, 0.5));
    out.p99.push(quantile(samples, 0.99));
    let left = CONCURRENT;
    const t = performance.now();
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (left-- > 0) await ask(sender);
    }));
    out.rate.push(Math.round(CONCURRENT / ((performance.now() - t) / 1000)));
  }
  return out;
}

export async function clusterBench(): Promise<Section> {
  const figures: Figure[] = [];
  const notes: string[] = [];
  const ratios: Record<string, number> = {};

  const local = createBus();
  local.serve('role:analyst', () => analysis, { concurrency: IN_FLIGHT });
  const inProcess = await rounds(local);
  local.close();
  const row = (what: string, r: { p50: number[]; p99: number[]; rate: number[] }) => [
    stats(`bus request/reply, ${what}: p50`, 'µs', r.p50),
    stats(`bus request/reply, ${what}: p99`, 'µs', r.p99),
    stats(`bus request/reply, ${what}: ${IN_FLIGHT} in flight`, 'round trips/s', r.rate),
  ];
  figures.push(...row('in-process', inProcess));

  let nats;
  try {
    nats = await startNats(1);
  } catch (error) {
    figures.push(notMeasured('bus request/reply over NATS', (error as Error).message.split(':')[0]));
    return { title: 'Cluster (NATS)', figures, ratios, notes };
  }
  try {
    const a = await connectNatsTransport({ servers: [nats.nodes[0].url], node: 'a' });
    const b = await connectNatsTransport({ servers: [nats.nodes[0].url], node: 'b' });
    const asker = createBus({ transport: a });
    const server = createBus({ transport: b });
    server.serve('role:analyst', () => analysis, { concurrency: IN_FLIGHT });
    await b.connection.flush();
    const overNats = await rounds(asker);
    figures.push(...row('over NATS (node A → node B, one local nats-server)', overNats));
    const med = (x: number[]) => stats('', '', x).median;
    const added50 = med(overNats.p50) - med(inProcess.p50);
    const added99 = med(overNats.p99) - med(inProcess.p99);
    ratios.natsAddedP50Us = Math.round(added50);
    ratios.natsAddedP99Us = Math.round(added99);
    ratios.natsRateVsInProcess = ratio(med(overNats.rate), med(inProcess.rate));
    notes.push(
      `NATS adds **${Math.round(added50)} µs** at p50 and **${Math.round(added99)} µs** at p99 to one bus request/reply (node A to node B through one local nats-server, JSON on the wire, a 'taken' frame and a reply frame per request); with ${IN_FLIGHT} in flight it carries ${ratios.natsRateVsInProcess}× the in-process round trips/s. Against a model call of seconds, a stage's bus hop stays under a millisecond.`,
      `Setup: ${SEQUENTIAL} sequential round trips per round for p50/p99 and ${CONCURRENT.toLocaleString('en-US')} with ${IN_FLIGHT} in flight for round trips/s, ${ROUNDS} rounds after 500 warm-up requests; nats-server ${nats.version} from Debian's package, on 127.0.0.1. Tasks per minute on 1 and 3 nodes: not measured yet (cluster mode does not run tasks yet, issue 15).`,
    );
    asker.close();
    server.close();
    await a.drain();
    await b.drain();
  } finally {
    await nats.stop();
  }
  return { title: 'Cluster (NATS)', figures, ratios, notes };
}
