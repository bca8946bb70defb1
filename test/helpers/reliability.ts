// Keeps docs/RELIABILITY.md true: a suite states each promise's measured figure here, this prints it
// and fails the suite when the doc's row says something else. A row looks like
//   | `paths.fuzz` | promise text | 0 bytes outside the root over 124 names | test/security/paths.test.ts | `npm test -- paths` |
// and `expectFigure('paths.fuzz', '0 bytes outside the root over 124 names')` checks its third cell.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './server.ts';

const DOC = join(ROOT, 'docs/RELIABILITY.md');

/** The figure cell of the row whose first cell is `id` (in backticks), or null when there is none. */
export function docFigure(id: string): string | null {
  for (const line of readFileSync(DOC, 'utf8').split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    if (cells.length >= 5 && cells[1] === `\`${id}\``) return cells[3];
  }
  return null;
}

/**
 * Prints `[reliability] id: figure` and throws unless docs/RELIABILITY.md's row `id` has exactly this
 * figure. Put only what the suite guarantees on every run in `figure` (counts, zeros, bounds it
 * asserts), not timings that move between runs; print those with `reportMeasured`.
 */
export function expectFigure(id: string, figure: string): void {
  console.log(`[reliability] ${id}: ${figure}`);
  const documented = docFigure(id);
  if (documented === null) throw new Error(`docs/RELIABILITY.md has no row for \`${id}\`: add "| \`${id}\` | <promise> | ${figure} | <suite> | <command> |"`);
  if (documented !== figure) throw new Error(`docs/RELIABILITY.md says "${documented}" for \`${id}\`, but the suite measured "${figure}": fix the code or the doc`);
}

/** Prints a figure that varies between runs (RSS, durations) so the note and the doc can quote it. */
export function reportMeasured(id: string, figure: string): void {
  console.log(`[reliability] ${id} (measured): ${figure}`);
}

/** Seeded PRNG (mulberry32): the same seed replays the same choices, so a failing run can be rerun. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
