/**
 * What the harness reported while an isolated-vm run went on (console lines, test starts and ends),
 * kept host-side within the report limits so a timeout or crash still has it.
 */
import { clip, createConsoleLog, createResultsLog } from './_bound.ts';
import { HarnessEvent } from './_harness.ts';
import { REPORT_LIMITS } from './_limits.ts';

export function createRunLog() {
  const consoleLog = createConsoleLog();
  const results = createResultsLog();
  const log = {
    console: consoleLog.lines,
    results,
    /** The running test; its name is undefined while only the harness has it (a long name). */
    current: undefined as { name: string | undefined; startedAt: number } | undefined,
    /** The last test that finished: work it left queued (a promise callback loop) may be what hangs. */
    finished: undefined as string | undefined,
    sink(kind: string, text: string): void {
      if (kind === HarnessEvent.Console) {
        consoleLog.add(text);
      } else if (kind === HarnessEvent.ConsoleTruncated) {
        consoleLog.cut();
      } else if (kind === HarnessEvent.TestStart) {
        log.current = { name: clip(text, REPORT_LIMITS.testNameBytes), startedAt: performance.now() };
      } else if (kind === HarnessEvent.TestStartUnnamed) {
        log.current = { name: undefined, startedAt: performance.now() };
      } else if (kind === HarnessEvent.TestEnd) {
        results.event(text);
        log.finished = log.current?.name;
        log.current = undefined;
      }
    },
  };
  return log;
}
