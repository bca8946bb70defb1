// Starts real nats-server processes (Debian's package; .ci/run installs it) for the cluster suites:
// one server, or a JetStream cluster of N on loopback ports, each with its store under the test's own
// temp dir, stopped (or SIGKILLed) by PID. No NATS on the machine is a loud failure, never a skip.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BINARY = process.env.NATS_SERVER ?? 'nats-server';

/** A free loopback port (asked of the OS, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

export interface NatsNode {
  name: string;
  port: number;
  url: string;
  process: ChildProcess;
  /** SIGKILL, as a crash. */
  kill(): void;
  /** Starts it again with the same configuration (and store), after a kill. */
  restart(): Promise<void>;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** Every node's client URL, comma-separated, as `--cluster` takes them. */
  servers: string;
  /** What `nats-server --version` says, e.g. "v2.9.10". */
  version: string;
  dir: string;
  stop(): Promise<void>;
}

/** The installed nats-server's version; fails with what to do when it is not installed. */
export function requireNatsServer(): string {
  const probe = spawnSync(BINARY, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(`${BINARY} is not installed (${probe.error?.message ?? probe.stderr}): install Debian's nats-server (apt-get install nats-server; .ci/run does) or set NATS_SERVER to its path`);
  }
  return /v[\d.]+/.exec(probe.stdout)?.[0] ?? probe.stdout.trim();
}

/**
 * `size` nats-servers with JetStream, clustered when size > 1 (routes between all), on free loopback
 * ports, each storing under its own folder of a new temp dir; resolves once every client port accepts.
 * @example const nats = await startNats(3); … await nats.stop();
 */
export async function startNats(size = 1): Promise<NatsCluster> {
  const version = requireNatsServer();
  const dir = mkdtempSync(join(tmpdir(), 'orch-nats-'));
  const ports = await Promise.all(Array.from({ length: size }, freePort));
  const routes = await Promise.all(Array.from({ length: size }, freePort));
  const nodes: NatsNode[] = [];
  for (let i = 0; i < size; i++) {
    const name = `n${i + 1}`;
    const config = join(dir, `${name}.conf`);
    const cluster = size > 1
      ? `cluster { name: orch-test, listen: 127.0.0.1:${routes[i]}, routes: [${routes.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}] }`
      : '';
    writeFileSync(config, `server_name: ${name}\nlisten: 127.0.0.1:${ports[i]}\njetstream { store_dir: "${join(dir, name)}" }\n${cluster}\n`);
    const node: NatsNode = {
      name,
      port: ports[i],
      url: `nats://127.0.0.1:${ports[i]}`,
      process: undefined as unknown as ChildProcess,
      kill() {
        node.process.kill('SIGKILL');
      },
      async restart() {
        node.process = spawn(BINARY, ['-c', config], { stdio: 'ignore' });
        await waitOpen(ports[i], name);
      },
    };
    nodes.push(node);
  }
  await Promise.all(nodes.map((node) => node.restart()));
  // A suite that crashes (an uncaught error exits before its after-hooks) must not leave servers behind.
  const reap = () => {
    for (const node of nodes) if (node.process.exitCode === null && node.process.signalCode === null) node.process.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', reap);
  return {
    nodes,
    servers: nodes.map((n) => n.url).join(','),
    version,
    dir,
    async stop() {
      process.removeListener('exit', reap);
      await Promise.all(nodes.map((node) => new Promise<void>((resolve) => {
        if (node.process.exitCode !== null || node.process.signalCode !== null) return resolve();
        node.process.once('exit', () => resolve());
        node.process.kill('SIGTERM');
      })));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitOpen(port: number, name: string): Promise<void> {
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    if (await portOpen(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nats-server ${name} did not accept connections on 127.0.0.1:${port} within 20 s`);
}
