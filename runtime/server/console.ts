// What the server says about its work, in two places: its own log (one line per stage a task
// enters, for `runtime logs --task`) and the dashboard console over /ws (bus log entries, every
// request and reply of a task, stage changes, streamed tokens and usage). Both are scrubbed of the
// secrets the server holds (provider keys, the launch token): an agent or plugin that logs an error
// carrying a key, or a key itself, must not put it in a log file or a browser.
import { TEXT_LIMITS, Topics, cutText, redactText } from '../protocol/mod.ts';
import type { LlmUsageEvent, LogLevel, Message, MessageMap } from '../protocol/mod.ts';
import type { Bus } from '../bus/mod.ts';
import { summarize, type TaskManager } from '../tasks/mod.ts';
import type { Hub } from './hub.ts';
import type { LogSink } from './app.ts';

/** The secret values to scrub, asked for at each line (a key read at start, the launch token). */
export type Secrets = () => ReadonlyArray<string | undefined>;

/**
 * A log sink that never writes one of `secrets` nor anything shaped like a key (redactText: each is
 * replaced by `[REDACTED]`) nor a line past TEXT_LIMITS.logLine (cut, with the marker): a plugin or
 * generated code must not fill the log.
 * @example const log = scrubbingLog(consoleSink('info'), () => [config.providers.map((p) => p.apiKey), token].flat());
 */
export function scrubbingLog(log: LogSink, secrets: Secrets): LogSink {
  return (level, text, fields) => log(level, cutText(redactText(text, secrets()), TEXT_LIMITS.logLine), fields);
}

const agentOf = (address: string): string | null => (/^(agent|role):/.test(address) ? address.slice(address.indexOf(':') + 1) : null);

/**
 * @example wireConsole({ bus, tasks, hub, log, secrets: () => [config.providers.map((p) => p.apiKey), token].flat() });
 */
export function wireConsole({ bus, tasks, hub, log, secrets = () => [] }: { bus: Bus; tasks: TaskManager; hub: Hub; log: LogSink; secrets?: Secrets }): void {
  const clean = (text: string): string => cutText(redactText(text, secrets()), TEXT_LIMITS.logLine);
  log = scrubbingLog(log, secrets);
  bus.subscribe(Topics.Logs, (message) => {
    const entry = message.payload as { level: LogLevel; source: string; text: string };
    const text = clean(String(entry.text));
    log(entry.level, `${entry.source}: ${text}`, message.taskId ? { taskId: message.taskId } : undefined);
    hub.push({ kind: 'log', taskId: message.taskId, log: { ts: message.ts, level: entry.level, source: entry.source, text } });
  });
  bus.subscribe(Topics.Tokens, (message) => {
    if (message.type === 'llm.token') hub.push({ kind: 'token', taskId: message.taskId, token: message.payload as MessageMap['llm.token'] });
    else if (message.type === 'llm.usage') hub.push({ kind: 'usage', taskId: message.taskId, usage: message.payload as LlmUsageEvent });
  });
  bus.intercept({
    name: 'console',
    onSend(message: Message) {
      if (!message.taskId) return;
      const source = agentOf(message.from) ?? agentOf(message.to) ?? message.from;
      hub.push({ kind: 'log', taskId: message.taskId, log: { ts: message.ts, level: 'info', source, text: clean(`${message.from} → ${message.to}: ${summarize(message)}`) } });
    },
    onReply(request: Message, outcome) {
      if (!request.taskId) return;
      const source = agentOf(request.to) ?? request.to;
      const text = outcome.ok ? `${request.to} answered ${request.type.replace(/\.request$/, '.result')}` : `${request.to} failed ${request.type}: ${outcome.error.message}`;
      hub.push({ kind: 'log', taskId: request.taskId, log: { ts: Date.now(), level: outcome.ok ? 'info' : 'error', source, text: clean(text) } });
    },
  });
  // One line per stage (and fix-loop attempt) a task enters: to the log and to the console.
  const seen = new Map<string, string>();
  tasks.onChange((task) => {
    const key = `${task.stage}/${task.iteration}`;
    if (seen.get(task.id) === key) return;
    if (task.status === 'running' || task.status === 'queued') seen.set(task.id, key);
    else seen.delete(task.id);
    const level = task.status === 'failed' ? 'warn' : 'info';
    log(level, `task ${task.id} ${task.status} (${task.stage})${task.error ? `: ${task.error.reason} at ${task.error.stage}: ${task.error.message}` : ''}`, { taskId: task.id });
    hub.push({ kind: 'log', taskId: task.id, log: { ts: task.updatedAt, level, source: 'tasks', text: clean(`${task.id} ${task.status} (${task.stage}, attempt ${task.iteration}/${task.maxIterations})${task.error ? `: ${task.error.reason}: ${task.error.message}` : ''}`) } });
  });
}
