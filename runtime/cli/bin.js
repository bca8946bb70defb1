#!/usr/bin/env node
// The `runtime` command. Plain JavaScript so it starts on any Node: it runs main.ts in this process
// when Node strips TypeScript types (>= 22.18), else re-runs itself on the Node 24 pinned in
// node_modules (the `node` devDependency), so a machine whose system Node is older still works.
import { spawn } from 'node:child_process';
// The namespace, not a named import: Node 20 has no enableCompileCache, and a missing named export
// fails the whole file before it could re-run itself on the pinned Node.
import * as nodeModule from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major > 22 || (major === 22 && minor >= 18)) {
  // V8 code (and, on Node 24, the type-stripped source) cached on disk, keyed by content: a command
  // starts in ~60 ms instead of ~170 ms. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
  try {
    nodeModule.enableCompileCache?.();
  } catch {}
  await import('./main.ts');
} else {
  let pinned = null;
  try {
    const dir = dirname(nodeModule.createRequire(import.meta.url).resolve('node/package.json'));
    for (const candidate of [join(dir, 'bin', 'node'), join(dir, 'node_modules', '.bin', 'node')]) if (existsSync(candidate)) pinned = candidate;
  } catch {}
  if (!pinned) {
    console.error(`runtime: Node ${process.versions.node} cannot run TypeScript; install Node >= 22.18 or run "npm install" here to get the pinned Node 24`);
    process.exit(1);
  }
  const child = spawn(pinned, [new URL('./main.ts', import.meta.url).pathname, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
}
