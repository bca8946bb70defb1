// The peers — the tools users would pick instead of Orchestrator — live in bench/peers/ with their own
// package.json and lockfile, installed on demand by the bench and never by the product. A peer that
// does not install or load is reported as "not measured: <reason>", never guessed.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const PEERS = new URL('./peers/', import.meta.url).pathname;

let installed: { ok: true } | { ok: false; reason: string } | undefined;

/** Installs bench/peers when node_modules is missing or older than package.json or its lockfile. */
export function ensurePeers(): { ok: true } | { ok: false; reason: string } {
  if (installed) return installed;
  const marker = join(PEERS, 'node_modules', '.package-lock.json');
  const newest = Math.max(...['package.json', 'package-lock.json'].map((f) => (existsSync(join(PEERS, f)) ? statSync(join(PEERS, f)).mtimeMs : 0)));
  if (existsSync(marker) && statSync(marker).mtimeMs >= newest) return (installed = { ok: true });
  console.error('bench: installing peers into bench/peers (npm install)…');
  // npm from the same Node that runs the bench. Nothing is compiled: the one native peer
  // (better-sqlite3 13, under LangGraph's SQLite checkpointer) ships prebuilt N-API binaries.
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const env: Record<string, string | undefined> = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
  const run = spawnSync(npm, ['install', '--prefix', PEERS, '--no-audit', '--no-fund'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (run.status !== 0) {
    const last = `${run.stderr ?? ''}${run.error?.message ?? ''}`.trim().split('\n').filter((l) => !/Unknown user config|stop working/.test(l)).slice(-1)[0];
    return (installed = { ok: false, reason: `npm install in bench/peers failed (${last ?? `exit ${run.status}`})` });
  }
  return (installed = { ok: true });
}

/** Imports a peer package from bench/peers/node_modules; on failure resolves to the reason. */
export async function importPeer(specifier: string): Promise<{ ok: true; module: Record<string, unknown> } | { ok: false; reason: string }> {
  const ready = ensurePeers();
  if (!ready.ok) return ready;
  try {
    const { importFromPeers } = (await import(pathToFileURL(join(PEERS, 'import.js')).href)) as { importFromPeers(s: string): Promise<Record<string, unknown>> };
    return { ok: true, module: await importFromPeers(specifier) };
  } catch (error) {
    return { ok: false, reason: `${specifier} does not load: ${(error as Error).message.split('\n')[0]}` };
  }
}

/** Absolute path of a file inside an installed peer package. */
export function peerFile(path: string): string {
  return join(PEERS, 'node_modules', path);
}
