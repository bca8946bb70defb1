// What the server does on its event loop with large inputs, each against a floor measured in the same
// process: the gateway's cache key of a Claude Code-sized body (floor: JSON.stringify + sha256 of the
// same body), the parse of the fail-closed suite's giant model answers (floor: one regex pass over the
// same text), and how that parse grows with size (the same answer of tiny blocks at 4× the blocks: 4×
// is linear, 16× quadratic). These figures used to be "under N ms" assertions in
// test/runtime/cache.test.ts and test/reliability/fail-closed.test.ts, which broke on a busy machine.
import { createHash } from 'node:crypto';
import { AnalysisSchema, extractJson, parseImplementation } from '../agents/mod.ts';
import { cacheKey } from '../runtime/llm/mod.ts';
import { parse } from '../runtime/protocol/mod.ts';
import { hostileOutputs, type HostileOutput } from '../test/reliability/_hostile.ts';
import { RUNS, measure, ratio, stats, type Figure, type Section } from './lib.ts';

const KEYS = 20;
const SEED = 7;
const MB = 1024 * 1024;

/** A Claude Code request of ~110 KB: a system prompt and 200 turns of 500 characters. */
function claudeCodeBody(): Record<string, unknown> {
  return {
    model: 'claude-sonnet-4-5',
    max_tokens: 64000,
    stream: true,
    metadata: { user_id: 'user_bench_account_1_session_1' },
    system: [{ type: 'text', text: "<env>\nWorking directory: /home/bench/work\nToday's date: 2026-11-02\n</env>" }],
    messages: Array.from({ length: 200 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: [{ type: 'text', text: 'x'.repeat(500) }] })),
  };
}

function perCall(times: number, call: () => void): number {
  const t = performance.now();
  for (let i = 0; i < times; i++) call();
  return (performance.now() - t) / times;
}

function parseAnswer(output: Pick<HostileOutput, 'target' | 'text'>): void {
  try {
    if (output.target === 'implementer') parseImplementation(output.text);
    else parse(AnalysisSchema, extractJson(output.text, 'analyst', 'the analysis'), 'analysis');
  } catch {
    // A refusal is as much an answer as a parse: both are what is timed.
  }
}

const tinyBlocks = (n: number) => Array.from({ length: n }, (_, i) => `\`\`\`js file=f${i}.js\nx\n\`\`\``).join('\n');

/**
 * `runs` paired samples of `subject` and `floor`, taken back to back so a busy machine slows both
 * alike: their figures, and the per-pair ratio subject / floor (median, min–max).
 */
async function paired(runs: number, subject: { name: string; unit: string; ms: () => number }, floor: { name: string; unit: string; ms: () => number }, ratioName: string): Promise<Figure[]> {
  subject.ms();
  floor.ms();
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    a.push(subject.ms());
    b.push(floor.ms());
    await new Promise((resolve) => setImmediate(resolve));
  }
  return [stats(subject.name, subject.unit, a), stats(floor.name, floor.unit, b), stats(ratioName, '×', a.map((x, i) => ratio(x, b[i])))];
}

export async function parsingBench(): Promise<Section> {
  const body = claudeCodeBody();
  const kb = Math.round(JSON.stringify(body).length / 1024);
  const keys = await paired(
    RUNS,
    { name: `cache key, ${kb} KB Claude Code body`, unit: 'ms/key', ms: () => perCall(KEYS, () => cacheKey('anthropic', 't', body)) },
    { name: 'floor: JSON.stringify + sha256 of the same body', unit: 'ms/key', ms: () => perCall(KEYS, () => createHash('sha256').update(JSON.stringify(body)).digest('hex')) },
    'cache key / floor',
  );

  const giants = hostileOutputs(SEED).filter((o) => o.category === 'giant');
  const totalMb = giants.reduce((n, o) => n + o.text.length, 0) / MB;
  const largest = giants.reduce((a, b) => (b.text.length > a.text.length ? b : a));
  const parses = await paired(
    3,
    { name: `parse every giant answer of the fail-closed suite (${giants.length}, ${totalMb.toFixed(0)} MB)`, unit: 'ms', ms: () => perCall(1, () => giants.forEach(parseAnswer)) },
    { name: 'floor: one regex pass for code fences over the same text', unit: 'ms', ms: () => perCall(1, () => giants.forEach((o) => o.text.match(/```/g))) },
    'giant answers parse / floor',
  );
  const slowest = await measure(`the largest answer (${largest.variant}, ${(largest.text.length / MB).toFixed(1)} MB)`, 'ms', () => perCall(1, () => parseAnswer(largest)));
  const small = tinyBlocks(10_000);
  const big = tinyBlocks(40_000);
  const growth = await paired(
    RUNS,
    { name: 'implementer answer of 40,000 tiny blocks', unit: 'ms', ms: () => perCall(3, () => parseAnswer({ target: 'implementer', text: big })) },
    { name: 'implementer answer of 10,000 tiny blocks', unit: 'ms', ms: () => perCall(3, () => parseAnswer({ target: 'implementer', text: small })) },
    '40,000 / 10,000 tiny blocks (4× linear, 16× quadratic)',
  );
  const ratios = { cacheKeyVsFloor: keys[2].median, giantParseVsScan: parses[2].median, tinyBlocks4xGrowth: growth[2].median };
  return {
    title: 'Large inputs on the event loop (cache keys, giant model answers)',
    figures: [...keys, ...parses, slowest, ...growth],
    ratios,
    notes: [
      `A cache key costs **${ratios.cacheKeyVsFloor}×** serialising and hashing the same body; parsing every giant answer costs **${ratios.giantParseVsScan}×** one regex pass over it; 4× the tiny blocks take **${ratios.tinyBlocks4xGrowth}×** as long (4× is linear, 16× quadratic: a duplicate-path check that scanned the files found so far once made 20,000 blocks take 2.5 s). Each ratio is the median of pairs measured back to back (min–max across pairs), so a busy machine slows both sides alike. The tests keep only safety bounds: nothing hangs, nothing is mutated, refusals stay short.`,
    ],
  };
}
