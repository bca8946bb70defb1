/**
 * The only place that knows Node from Deno: the HTTP/ws server and the sandbox driver choice.
 * @module
 */
import type { RunningServer, ServeOptions } from './types.ts';
export type { GuardInput, PlainHandler, PlainRequest, PlainResponse, Refusal, RunningServer, ServeOptions, WsHandlers, WsPeer } from './types.ts';
export { DEFAULT_BODY_LIMIT, bodyBytes } from './types.ts';

export const runtimeName: 'deno' | 'node' = 'Deno' in globalThis ? 'deno' : 'node';

/** A version string such as "node 24.9.0" or "deno 2.5.0". */
export function runtimeVersion(): string {
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  return deno ? `deno ${deno.version.deno}` : `node ${process.versions.node}`;
}

/**
 * Starts the HTTP + ws server on the current runtime.
 * @example const server = await serve({ port: 8100, host: '127.0.0.1', wsPaths: ['/ws'], wsMaxPayload: 65536, fetch, ws });
 */
export async function serve(options: ServeOptions): Promise<RunningServer> {
  if (runtimeName === 'deno') return (await import('./deno.ts')).serveDeno(options);
  return (await import('./node.ts')).serveNode(options);
}

/** How generated code is validated on this runtime: `createSandbox({ driver })` takes it. */
export type SandboxDriverName = 'node-process' | 'quickjs-process' | 'unsupported';

/**
 * isolated-vm loads on Node only: there the sandbox forks isolated-vm workers; on Deno it runs
 * QuickJS (WebAssembly) in a subprocess without permissions. Never generated code in-process.
 * @example const sandbox = createSandbox({ driver: sandboxDriver() });
 */
export function sandboxDriver(): SandboxDriverName {
  return runtimeName === 'node' ? 'node-process' : 'quickjs-process';
}
