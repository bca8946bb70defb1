// The embeddable bundle takes from runtime/protocol the values it shares with the runtime (the stage
// list) and nothing more: runtime/protocol/package.json declares the folder free of side effects, so
// esbuild leaves out its schemas and zod. Without that file one value import grows the bundle by ~350 kB.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

test('the UI bundle holds runtime/protocol values without its schemas or zod', async () => {
  const result = await build({
    absWorkingDir: root,
    entryPoints: ['ui/src/mod.ts'],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const [output] = Object.values(result.metafile.outputs);
  const kept = Object.entries(output.inputs).filter(([, info]) => info.bytesInOutput > 0).map(([path]) => path);
  const runtime = kept.filter((path) => path.startsWith('runtime/'));
  assert.ok(runtime.includes('runtime/protocol/stages.ts'), `the stage list is in the bundle: ${runtime.join(', ')}`);
  const outside = runtime.filter((path) => !path.startsWith('runtime/protocol/'));
  assert.equal(outside, [], 'nothing of the runtime but its protocol');
  assert.not.ok(runtime.includes('runtime/protocol/schemas.ts'), 'no boundary schemas');
  assert.equal(kept.filter((path) => path.includes('node_modules/zod/')), [], 'no zod');
});

test.run();
