// Runs the typecheck, then every uvu suite matching '\.test\.ts$' in its own process (a suite that
// crashes or hangs cannot take the others down), two at a time, and ends with "N passed, N failed".
// Suites marked `// @serial` run one at a time after the rest.
// Usage: node test/run.ts [pattern] [--no-typecheck]   (pattern filters file paths, e.g. "bus|tasks")
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const filter = args.find((a) => !a.startsWith('--'));
const CONCURRENCY = 2;
// A safety limit against a hung suite, not a speed: the @serial suites take one to three minutes on
// a quiet machine and several times that while the machine does other work.
const FILE_TIMEOUT_MS = 900_000;

function find(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' || name === 'fixtures' ? [] : find(path);
    return /\.test\.ts$/.test(name) ? [path] : [];
  });
}

interface Outcome {
  file: string;
  passed: number;
  failed: number;
  output: string;
  ms: number;
}

function run(command: string, argv: string[], label: string): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command, argv, { cwd: root, env: { ...process.env, FORCE_COLOR: '0' } });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n${label}: killed after ${FILE_TIMEOUT_MS / 1000} s\n`;
      child.kill('SIGKILL');
    }, FILE_TIMEOUT_MS);
    let settled = false;
    const settle = (code: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, output, ms: Date.now() - started });
    };
    child.on('close', settle);
    // 'close' waits for the suite's pipes, which a process it leaked (a fake upstream it failed to stop)
    // holds open forever: once the suite itself exited, its output is in after a short grace.
    child.on('exit', (code) => {
      setTimeout(() => {
        if (!settled) output += `\n${label}: exited, but a process it started still holds its output open (leaked)\n`;
        settle(code);
      }, 10_000).unref();
    });
  });
}

async function suite(file: string): Promise<Outcome> {
  const rel = relative(root, file);
  const { code, output, ms } = await run(process.execPath, ['--no-node-snapshot', '--disable-warning=ExperimentalWarning', file], rel);
  const total = Number(/Total:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? 0);
  // A suite that exits non-zero without uvu's summary (crash, timeout) counts as one failure.
  const failed = code === 0 && total > 0 ? total - passed : Math.max(1, total - passed);
  return { file: rel, passed: code === 0 ? passed : Math.max(0, Math.min(passed, total - 1)), failed, output, ms };
}

const outcomes: Outcome[] = [];
if (!args.includes('--no-typecheck')) {
  const tsc = await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', root], 'typecheck');
  outcomes.push({ file: 'typecheck (tsc --noEmit)', passed: tsc.code === 0 ? 1 : 0, failed: tsc.code === 0 ? 0 : 1, output: tsc.output, ms: tsc.ms });
  console.log(`${tsc.code === 0 ? 'ok  ' : 'FAIL'} typecheck (${(tsc.ms / 1000).toFixed(1)} s)`);
  if (tsc.code !== 0) console.log(tsc.output);
}

const files = find(join(root, 'test')).filter((f) => !filter || new RegExp(filter).test(relative(root, f))).sort();
// Suites that load both cores for a minute (1,000 tasks, SIGKILL loops) say `// @serial` in their
// first lines: they run alone after the others, so neither they nor the timing-sensitive browser
// and sandbox suites measure each other's load.
const serial = (file: string) => /^\/\/ @serial\b/m.test(readFileSync(file, 'utf8').slice(0, 2000));

async function runAll(list: string[], concurrency: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < list.length) {
        const outcome = await suite(list[next++]);
        outcomes.push(outcome);
        console.log(`${outcome.failed ? 'FAIL' : 'ok  '} ${outcome.file}: ${outcome.passed} passed, ${outcome.failed} failed (${(outcome.ms / 1000).toFixed(1)} s)`);
        if (outcome.failed) console.log(outcome.output.split('\n').map((l) => `     ${l}`).join('\n'));
      }
    }),
  );
}
await runAll(files.filter((f) => !serial(f)), CONCURRENCY);
await runAll(files.filter(serial), 1);

const passed = outcomes.reduce((n, o) => n + o.passed, 0);
const failed = outcomes.reduce((n, o) => n + o.failed, 0);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
