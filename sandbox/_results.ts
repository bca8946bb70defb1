/**
 * Which test results a report keeps: at most REPORT_LIMITS.results entries and resultsJsonBytes of
 * JSON, failures before passes (the fix loop needs the failures; a pass only says "fine"). Past
 * that, one summary entry says how many more there were and how many of them failed.
 *
 * Results arrive one at a time (the harness inside the engine, the worker's log of streamed
 * results), so a kept pass may later make room for a failure: the latest kept pass leaves first.
 *
 * `createResultsKeeper` runs INSIDE the isolate too (shipped via Function.prototype.toString):
 * its body must stay self-contained, with the built-ins it uses passed in as primordials.
 */
import type { Clipper, ReportLimits } from './_limits.ts';
import type { Primordials } from './_primordials.ts';

/** A test result as the keeper holds it (the strings already cut to their limits). */
export interface KeptResult {
  name: string;
  ok: boolean;
  ms: number;
  message?: string;
}

export interface ResultsKeeper {
  /** Whether a result that passed (`ok`) or failed could still be kept: when not, skip formatting it and `drop` it. */
  wants(ok: boolean): boolean;
  /** Keeps `result` if it fits (maybe pushing out a kept pass for a failure), else counts it. */
  offer(result: KeptResult): void;
  /** Counts a result that is not kept. */
  drop(ok: boolean, ms: number): void;
  /** Results seen so far and how many failed, kept or not. */
  counts(): { total: number; failed: number };
  /** The kept results in the order they came, with the summary entry when some were not kept. */
  finish(): KeptResult[];
}

export function createResultsKeeper(p: Primordials, clipper: Clipper, limits: ReportLimits, options: { bare: boolean }): ResultsKeeper {
  /** The largest JSON a kept entry can take: both strings at their cap, each byte escaped as \u00XX. */
  const LARGEST = 6 * (limits.testNameBytes + limits.testMessageBytes) + 64;
  /** Room for the summary entry ("(123 more results not kept)", "45 of them failed"). */
  const SUMMARY = 160;
  const kept: KeptResult[] = [];
  const sizes: number[] = [];
  let bytes = 2;
  let total = 0;
  let failed = 0;
  let dropped = 0;
  let droppedFailed = 0;
  let droppedMs = 0;
  let passing = 0;

  const room = (size: number, entries: number) => kept.length + entries <= limits.results && bytes + size <= limits.resultsJsonBytes;

  function remove(index: number): void {
    const result = kept[index];
    dropped++;
    droppedMs += result.ms;
    if (!result.ok) droppedFailed++;
    else passing--;
    bytes -= sizes[index];
    // Shift down by index: splice would look up a species constructor generated code may have replaced.
    for (let i = index; i < kept.length - 1; i++) {
      kept[i] = kept[i + 1];
      sizes[i] = sizes[i + 1];
    }
    kept.length--;
    sizes.length--;
  }

  /** Pushes out the latest kept pass; false when every kept result failed. */
  function evictPass(): boolean {
    for (let i = kept.length - 1; i >= 0; i--) {
      if (kept[i].ok) {
        remove(i);
        return true;
      }
    }
    return false;
  }

  function count(ok: boolean, ms: number): void {
    dropped++;
    droppedMs += ms;
    if (!ok) droppedFailed++;
  }

  return {
    wants: (ok) => room(LARGEST, 1) || (!ok && passing > 0),
    offer(result) {
      total++;
      if (!result.ok) failed++;
      const size = clipper.jsonBytes(result) + 1;
      while (!room(size, 1) && !result.ok && evictPass()) { /* making room for a failure */ }
      if (!room(size, 1)) return count(result.ok, result.ms);
      p.append(kept, result);
      p.append(sizes, size);
      bytes += size;
      if (result.ok) passing++;
    },
    drop(ok, ms) {
      total++;
      if (!ok) failed++;
      count(ok, ms);
    },
    counts: () => ({ total, failed }),
    finish() {
      if (dropped > 0) {
        while (!room(SUMMARY, 1) && kept.length > 0) if (!evictPass()) remove(kept.length - 1);
      }
      const list: KeptResult[] = [];
      for (let i = 0; i < kept.length; i++) p.append(list, kept[i]);
      if (dropped > 0) {
        const name = '(' + dropped + ' more results not kept)';
        const ms = p.MathTrunc(droppedMs);
        const summary: KeptResult = droppedFailed === 0 ? { name, ok: true, ms } : { name, ok: false, ms, message: droppedFailed + ' of them failed' };
        p.append(list, options.bare ? p.ObjectSetPrototypeOf(summary, null) : summary);
      }
      // Host-side callers get an ordinary array back (append took its prototype away).
      return p.ObjectSetPrototypeOf(list, options.bare ? null : p.Array.prototype);
    },
  };
}
