// Bundles ui/src into the embeddable ESM library ui/dist/orchestrator-ui.js and reports its size.
// `npm run build:ui` (also run by prestart/pretest and on install), or import { buildUi } in a test.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = new URL('.', import.meta.url);
export const DIST = fileURLToPath(new URL('dist/', root));
export const BUNDLE = `${DIST}orchestrator-ui.js`;

export interface BuildReport {
  file: string;
  bytes: number;
  gzipBytes: number;
  inputs: Record<string, number>;
}

/** Builds the library; returns its size (raw and gzip) and the bytes each package contributes. */
export async function buildUi(): Promise<BuildReport> {
  mkdirSync(DIST, { recursive: true });
  const result = await build({
    entryPoints: [fileURLToPath(new URL('src/mod.ts', root))],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: 'linked',
    outfile: BUNDLE,
    metafile: true,
    legalComments: 'eof',
    logLevel: 'warning',
  });
  const code = readFileSync(BUNDLE);
  const inputs: Record<string, number> = {};
  for (const [path, info] of Object.entries(result.metafile.outputs[Object.keys(result.metafile.outputs).find((p) => p.endsWith('.js'))!].inputs)) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? 'ui/src';
    inputs[pkg] = (inputs[pkg] ?? 0) + info.bytesInOutput;
  }
  const report = { file: 'ui/dist/orchestrator-ui.js', bytes: code.length, gzipBytes: gzipSync(code).length, inputs };
  writeFileSync(`${DIST}sizes.json`, JSON.stringify(report, null, 2) + '\n');
  return report;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const report = await buildUi();
  const kb = (n: number) => `${(n / 1024).toFixed(1)} kB`;
  console.log(`${report.file}: ${kb(report.bytes)} (${kb(report.gzipBytes)} gzip)`);
  for (const [name, bytes] of Object.entries(report.inputs).sort((a, b) => b[1] - a[1])) console.log(`  ${name.padEnd(24)} ${kb(bytes)}`);
}
