import { defineAgent } from '../runtime/plugin/mod.ts';
import { ErrorCode, RuntimeError, errorMessage } from '../runtime/protocol/mod.ts';

/**
 * Writes validated files into the task's workspace folder and archives them with a manifest.
 * Answers `integration.request` with `{ dir, written }`. It refuses (E_INVALID) a report that is not
 * ok, even though the pipeline guards that too: unvalidated code is never written.
 */
export const integrator = defineAgent({
  name: 'integrator',
  version: '1.0.0',
  role: 'integrator',
  description: 'Writes validated files to the task workspace and archives them with a manifest.',
  accepts: ['integration.request'],
  async handle(message, caps) {
    const { implementation, report } = message.payload;
    const taskId = message.taskId;
    if (!taskId) {
      throw new RuntimeError(ErrorCode.Invalid, 'integrator: integration.request has no taskId: send it with { taskId } so the files have a task folder');
    }
    if ((report as { ok: unknown }).ok !== true) {
      const failed = report as unknown as { reason?: string; message?: string };
      throw new RuntimeError(
        ErrorCode.Invalid,
        `integrator: refusing to write task ${taskId}: its sandbox report is not ok (${failed.reason ?? 'no reason'}: ${failed.message ?? 'no message'}); only code whose tests passed is written — validate it again first`,
      );
    }
    const extra = message.payload as { requirement?: unknown };
    const requirement = typeof extra.requirement === 'string' ? extra.requirement : undefined;
    try {
      // The folder ends up holding exactly the validated files: an earlier attempt's extras go.
      const written = await caps.workspace.replaceFiles(taskId, implementation.files);
      await caps.workspace.archive(taskId, {
        ...(requirement === undefined ? {} : { requirement }),
        files: written,
        tests: report.tests,
        ms: report.ms,
      });
      return { dir: caps.workspace.taskDir(taskId), written };
    } catch (error) {
      if (error instanceof RuntimeError) throw error;
      // A full disk or a read-only folder is the task's failure, not a defect of this agent: crashing
      // would restart it and, repeated, take the integrator down for every task.
      const code = (error as { code?: string }).code;
      throw new RuntimeError(
        ErrorCode.Io,
        `integrator: could not write task ${taskId}'s files: ${errorMessage(error)}; ${code === 'ENOSPC' ? 'free disk space' : code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? "make the data dir's workspace/ and completed_archive/ writable" : 'check the data dir'} (--data-dir), then retry the task`,
        { cause: error },
      );
    }
  },
});
