// Shared by every bench section: a figure is the median of RUNS runs with min and max kept.

export const RUNS = 7;

export interface Figure { name: string; unit: string; median: number; min: number; max: number }

/**
 * One part of `npm run bench`: its figures, ratios measured in the same run, and sentences for results.md.
 * @example
 * const section: Section = { title: 'Bus', figures: [fig], ratios: { publishVsXState: 9.5 }, notes: ['bus / XState = 9.5×'] };
 */
export interface Section { title: string; figures: Figure[]; ratios: Record<string, number>; notes: string[] }

export function stats(name: string, unit: string, values: number[]): Figure {
  const sorted = [...values].sort((a, b) => a - b);
  return { name, unit, median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted[sorted.length - 1] };
}

/** Runs `once` one time to warm up, then `runs` times, and keeps the median, min and max. */
export async function measure(name: string, unit: string, once: () => Promise<number> | number, runs = RUNS): Promise<Figure> {
  await once();
  const values: number[] = [];
  for (let i = 0; i < runs; i++) values.push(await once());
  return stats(name, unit, values);
}

/** The q-quantile (0..1) of a list of samples. */
export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export function perSecond(count: number, ms: number): number {
  return Math.round((count / ms) * 1000);
}

export const ratio = (a: number, b: number): number => +(a / b).toFixed(2);

/** A row for a figure we could not take: results.md shows the reason instead of a number, never a guess. */
export function notMeasured(name: string, reason: string): Figure {
  return { name, unit: `not measured: ${reason}`, median: Number.NaN, min: Number.NaN, max: Number.NaN };
}
