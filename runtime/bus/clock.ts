// The clocks the runtime injects; the Clock contract itself is runtime/protocol's.
import type { Clock } from '../protocol/mod.ts';

/** The machine's own time. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * A clock that moves only when told: `advance(ms)` runs due timers in order.
 * @example const clock = simulatedClock(); clock.setTimeout(fn, 100); clock.advance(100);
 */
export function simulatedClock(start = 0): Clock & { advance(ms: number): void; step(): boolean; pending(): number } {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    advance(ms) {
      const until = now + ms;
      for (;;) {
        let dueId = -1;
        let dueAt = Infinity;
        for (const [id, timer] of timers) if (timer.at <= until && timer.at < dueAt) [dueId, dueAt] = [id, timer.at];
        if (dueId < 0) break;
        const timer = timers.get(dueId)!;
        timers.delete(dueId);
        now = timer.at;
        timer.fn();
      }
      now = until;
    },
    /** Advances to the next due timer and runs it; false when none is pending. */
    step() {
      if (!timers.size) return false;
      let at = Infinity;
      for (const timer of timers.values()) at = Math.min(at, timer.at);
      this.advance(at - now);
      return true;
    },
    pending: () => timers.size,
  };
}

/**
 * Waits `ms` on `clock`; rejects with the reason at once when `signal` aborts (also when it already has).
 * @example await sleep(systemClock, 500, request.signal);
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      reject(signal!.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
