// Reading the three wire protocols' answers as they pass through: usage, streamed text, and whether a
// stream reached its final event (only a complete stream may be cached).
import type { Protocol, Usage } from '../llm/mod.ts';

export const emptyUsage = (): Usage => ({ inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 });

type Json = Record<string, any>;

/** Usage from a JSON (non-streamed) answer of any protocol. */
export function usageFromJson(protocol: Protocol, body: Json): Usage {
  const u = body?.usage ?? {};
  if (protocol === 'anthropic') {
    return { inputTokens: u.input_tokens ?? 0, outputTokens: u.output_tokens ?? 0, cacheReadTokens: u.cache_read_input_tokens ?? 0, cacheWriteTokens: u.cache_creation_input_tokens ?? 0 };
  }
  if (protocol === 'openai-chat') {
    return { inputTokens: u.prompt_tokens ?? 0, outputTokens: u.completion_tokens ?? 0, cacheReadTokens: u.prompt_tokens_details?.cached_tokens ?? 0, cacheWriteTokens: 0 };
  }
  return { inputTokens: u.input_tokens ?? 0, outputTokens: u.output_tokens ?? 0, cacheReadTokens: u.input_tokens_details?.cached_tokens ?? 0, cacheWriteTokens: 0 };
}

/**
 * An incremental reader of one SSE answer. `push` takes decoded text as it arrives and returns the
 * streamed text deltas found in it; `complete` turns true at the protocol's final event
 * (message_stop, [DONE], response.completed) and `failed` when the stream carried an error event.
 */
export function sseReader(protocol: Protocol) {
  let buffer = '';
  const usage = emptyUsage();
  const state = { complete: false, failed: false, usage };

  function onEvent(event: string, data: string, deltas: string[]): void {
    if (protocol === 'openai-chat') {
      if (data === '[DONE]') {
        state.complete = true;
        return;
      }
      const chunk = parseJson(data);
      if (!chunk) return;
      for (const choice of chunk.choices ?? []) if (choice.delta?.content) deltas.push(choice.delta.content);
      if (chunk.usage) Object.assign(usage, usageFromJson('openai-chat', chunk));
      if (chunk.error) state.failed = true;
      return;
    }
    if (protocol === 'anthropic') {
      if (event === 'ping') return;
      if (event === 'message_stop') {
        state.complete = true;
        return;
      }
      if (event === 'error') {
        state.failed = true;
        return;
      }
      const data_ = event === 'content_block_delta' || event === 'message_start' || event === 'message_delta' ? parseJson(data) : undefined;
      if (!data_) return;
      if (event === 'content_block_delta' && data_.delta?.type === 'text_delta') deltas.push(data_.delta.text);
      else if (event === 'message_start') {
        const u = usageFromJson('anthropic', data_.message ?? {});
        Object.assign(usage, u);
      } else if (event === 'message_delta' && data_.usage) {
        if (data_.usage.output_tokens !== undefined) usage.outputTokens = data_.usage.output_tokens;
        if (data_.usage.input_tokens) usage.inputTokens = data_.usage.input_tokens;
      }
      return;
    }
    // openai-responses
    if (event === 'response.output_text.delta') {
      const d = parseJson(data);
      if (d?.delta) deltas.push(d.delta);
    } else if (event === 'response.completed') {
      const d = parseJson(data);
      if (d?.response) Object.assign(usage, usageFromJson('openai-responses', d.response));
      state.complete = true;
    } else if (event === 'response.failed' || event === 'response.incomplete' || event === 'error') {
      state.failed = true;
    }
  }

  function push(text: string): string[] {
    buffer += text;
    const deltas: string[] = [];
    for (;;) {
      const end = eventEnd(buffer);
      if (end < 0) break;
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer[end] === '\r' ? 4 : 2));
      let event = '';
      const data: string[] = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (!event && protocol !== 'openai-chat' && data.length) event = (parseJson(data.join('\n'))?.type as string) ?? '';
      onEvent(event, data.join('\n'), deltas);
    }
    return deltas;
  }

  return { push, state };
}

function eventEnd(buffer: string): number {
  const lf = buffer.indexOf('\n\n');
  const crlf = buffer.indexOf('\r\n\r\n');
  if (lf < 0) return crlf;
  if (crlf < 0) return lf;
  return Math.min(lf, crlf);
}

function parseJson(text: string): Json | undefined {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
