/**
 * Time, injected so tests never sleep and benches are honest. Defined here, not in runtime/bus where
 * its implementations live (systemClock, simulatedClock, sleep), because folders that must not depend
 * on the bus take it too: the plugin contract hands agents `Pick<Clock, 'now'>`.
 */
export interface Clock {
  /** Milliseconds since the epoch (or since a simulated start). */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}
