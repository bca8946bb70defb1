// `npm run bench`: every section, in one process, one after the other; writes bench/results.{json,md}.
// `npm run bench -- core sandbox` runs only the named sections. Each figure is the median of several
// runs (min and max kept); ratios compare figures measured in this same run.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { Section } from './lib.ts';
import { coreBench } from './core.ts';
import { sandboxBench } from './sandbox.ts';
import { gatewayBench } from './gateway.ts';
import { gatewayLoadBench } from './gateway-load.ts';
import { cliBench } from './cli.ts';
import { orchestrationBench } from './orchestration.ts';
import { latencyBench } from './latency.ts';
import { dashboardBench } from './dashboard.ts';
import { parsingBench } from './parsing.ts';
import { clusterBench } from './cluster.ts';

const sections: Record<string, () => Promise<Section>> = { core: coreBench, orchestration: orchestrationBench, latency: latencyBench, gateway: gatewayBench, 'gateway-load': gatewayLoadBench, sandbox: sandboxBench, dashboard: dashboardBench, parsing: parsingBench, cli: cliBench, cluster: clusterBench };

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const name of wanted) if (!sections[name]) throw new Error(`unknown bench section '${name}'; choose from: ${Object.keys(sections).join(', ')}`);
const dir = new URL('.', import.meta.url).pathname;
// Running some sections keeps the others' last figures (each section carries its own date).
const previous: Array<Section & { name?: string; date?: string }> = existsSync(join(dir, 'results.json')) ? (JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')).sections ?? []) : [];
const results: Array<Section & { name: string; date: string }> = [];
for (const [name, run] of Object.entries(sections)) {
  if (wanted.length && !wanted.includes(name)) {
    const kept = previous.find((s) => s.name === name);
    if (kept) results.push(kept as Section & { name: string; date: string });
    continue;
  }
  console.error(`bench: ${name}…`);
  results.push({ name, date: new Date().toISOString(), ...(await run()) });
}

const machine = `${cpus()[0]?.model ?? 'unknown cpu'} × ${cpus().length}, node ${process.versions.node}`;
const date = new Date().toISOString();
writeFileSync(join(dir, 'results.json'), JSON.stringify({ date, machine, sections: results }, null, 2) + '\n');
// A figure we could not take is stored as null (NaN in JSON) and shown as a dash with its reason.
const fmt = (n: number | null) => (n === null || Number.isNaN(n) ? '—' : n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(3));
const md = [`# Benchmarks`, ``, `${date} · ${machine} · medians (min–max) · \`npm run bench\``, ``];
for (const s of results) {
  md.push(`## ${s.title}`, ``, `measured ${s.date}`, ``, `| what | median | min–max | unit |`, `|---|---:|---:|---|`);
  md.push(...s.figures.map((f) => `| ${f.name} | ${fmt(f.median)} | ${f.min === null || Number.isNaN(f.min) ? '—' : `${fmt(f.min)}–${fmt(f.max)}`} | ${f.unit} |`), ``);
  md.push(...s.notes.flatMap((n) => [n, ``]));
}
writeFileSync(join(dir, 'results.md'), md.join('\n'));
console.log(md.join('\n'));
