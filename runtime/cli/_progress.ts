/**
 * The live progress of one task: on a TTY one redrawn line with a spinner under the finished stages;
 * elsewhere (pipes, CI, files) one plain line per stage. Agent output (`--verbose`) is written between
 * stage lines, never through the redrawn line.
 * @module
 */
import { FINAL_STAGES } from '../protocol/mod.ts';
import type { TaskView } from '../protocol/mod.ts';
import { painter } from './_output.ts';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * A progress display writing to `stream`.
 * @example
 * const progress = createProgress(process.stdout, { live: process.stdout.isTTY });
 * progress.update(task); progress.output('tokens…'); progress.done(task);
 */
export function createProgress(stream: NodeJS.WritableStream & { isTTY?: boolean }, options: { live: boolean; env?: Record<string, string | undefined> }) {
  const paint = painter(stream, options.env);
  const started = Date.now();
  let stage = '';
  let stageStart = started;
  let frame = 0;
  let inText = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

  function redraw(): void {
    if (!options.live || !stage || inText) return;
    stream.write(`\r\x1b[K${paint('yellow', FRAMES[frame++ % FRAMES.length])} ${stage}… ${paint('gray', secs(Date.now() - stageStart))}`);
  }

  function endText(): void {
    if (inText) stream.write('\n');
    inText = false;
  }

  function finishStage(mark: string, why = ''): void {
    if (!stage) return;
    endText();
    if (options.live) stream.write(`\r\x1b[K${mark} ${stage}${why ? ` ${why}` : ''} ${paint('gray', secs(Date.now() - stageStart))}\n`);
  }

  return {
    /** A new view of the task: a new stage closes the previous one. */
    update(task: TaskView): void {
      if (task.stage === stage || FINAL_STAGES.has(task.status)) return;
      // Back to implementing after validating (or reviewing): that check failed; say how, as it was.
      const sentBack = task.stage === 'implementing' && (stage === 'validating' || stage === 'reviewing');
      if (sentBack) {
        const v = task.validation;
        const why = stage === 'reviewing' ? 'the review found errors' : v && v.tests ? `${v.failed} of ${v.tests} tests failed` : `validation failed${v?.reason ? ` (${v.reason})` : ''}`;
        if (options.live) finishStage(paint('red', '✗'), `(${why})`);
        else stream.write(`[${secs(Date.now() - started).padStart(7)}] ${stage} ✗ ${why}\n`);
      } else {
        finishStage(paint('green', '✓'));
      }
      stage = task.stage;
      stageStart = Date.now();
      const note = sentBack ? ` (fix attempt ${task.iteration + 1}/${task.maxIterations})` : '';
      if (options.live) {
        redraw();
        timer ??= setInterval(redraw, 100);
      } else {
        stream.write(`[${secs(Date.now() - started).padStart(7)}] ${stage}${note}\n`);
      }
    },
    /** Agent output as it streams (`--verbose`). */
    output(text: string): void {
      if (!inText) {
        if (options.live) stream.write('\r\x1b[K');
        inText = true;
      }
      stream.write(paint('gray', text));
    },
    /** The task ended: closes the last stage with ✓ or ✗ and stops the spinner. */
    done(task: TaskView): void {
      if (timer) clearInterval(timer);
      finishStage(task.status === 'completed' ? paint('green', '✓') : paint('red', '✗'));
      stage = '';
    },
    stop(): void {
      if (timer) clearInterval(timer);
      endText();
      if (options.live) stream.write('\r\x1b[K');
    },
  };
}
