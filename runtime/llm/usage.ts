/**
 * The usage ledger: tokens, latency and cost of every model call (agents and proxy alike), per call,
 * agent, model and task; and the per-task budgets that stop a task when a cap is reached.
 * Rows live in SQLite (table llm_usage) when a store is given, so figures survive restarts.
 * @module
 */
import { ErrorCode, RuntimeError, z } from '../protocol/mod.ts';
import type { Clock, LlmUsageEvent, UsageOutcome } from '../protocol/mod.ts';
import type { Store } from '../store/mod.ts';
import type { Usage } from './providers.ts';

/** USD per million tokens. */
export const Price = z.strictObject({
  input: z.number().min(0),
  output: z.number().min(0),
  cacheRead: z.number().min(0).optional(),
  cacheWrite: z.number().min(0).optional(),
});
export type Price = z.infer<typeof Price>;

/** config "prices": keyed by "provider/model" or by model name alone. */
export const PricesConfig = z.record(z.string().min(1), Price);

/** config "budgets": per-task caps. A cap that is reached stops the task with E_BUDGET and the figures. */
export const BudgetsConfig = z.strictObject({
  maxTokens: z.number().int().positive().optional(),
  maxCostUsd: z.number().positive().optional(),
  maxTurns: z.number().int().positive().optional(),
});
export type Budgets = z.infer<typeof BudgetsConfig>;

/**
 * List prices (USD per million tokens) as published by the providers in late 2025; override or
 * extend them under "prices" in orchestrator.config.json. Newer models (the default routes'
 * claude-sonnet-5-5, gpt-5.5, …) are not here: we have no published figure to copy. An unknown model
 * costs 0 and says so in /api/usage (`unpriced`).
 */
export const DEFAULT_PRICES: Readonly<Record<string, Price>> = {
  'claude-opus-4-5': { input: 5, output: 25, cacheRead: 0.5, cacheWrite: 6.25 },
  'claude-sonnet-4-5': { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 },
  'claude-haiku-4-5': { input: 1, output: 5, cacheRead: 0.1, cacheWrite: 1.25 },
  'gpt-5': { input: 1.25, output: 10, cacheRead: 0.125 },
  'gpt-5-mini': { input: 0.25, output: 2, cacheRead: 0.025 },
  'deepseek-chat': { input: 0.28, output: 0.42, cacheRead: 0.028 },
};

/** One call to account for. `agent` is the role, or 'proxy' (or the client's name) for proxied calls. */
export interface UsageRecord {
  taskId?: string;
  agent: string;
  provider: string;
  model: string;
  usage: Usage;
  ms: number;
  cached: boolean;
  attempts: number;
  ok: boolean;
  /** How the call ended; defaults from `ok` ('ok' or 'failed'). */
  outcome?: UsageOutcome;
}

export interface Totals { calls: number; inputTokens: number; outputTokens: number; costUsd: number; ms: number; cachedCalls: number; failedCalls: number }

const zero = (): Totals => ({ calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, ms: 0, cachedCalls: 0, failedCalls: 0 });

function add(totals: Totals, event: LlmUsageEvent): void {
  totals.calls++;
  totals.inputTokens += event.inputTokens;
  totals.outputTokens += event.outputTokens;
  totals.costUsd = round(totals.costUsd + event.costUsd);
  totals.ms = Math.round((totals.ms + event.ms) * 100) / 100;
  if (event.cached) totals.cachedCalls++;
  if (!event.ok) totals.failedCalls++;
}

const round = (usd: number) => Math.round(usd * 1e6) / 1e6;

/**
 * @example
 * const ledger = createUsageLedger({ store, prices: {} });
 * ledger.record({ taskId: 't1', agent: 'implementer', provider: 'anthropic', model: 'claude-sonnet-4-5', usage, ms: 812, cached: false, attempts: 1, ok: true });
 * await ledger.checkBudget('t1', { maxTokens: 50_000 }); // rejects with E_BUDGET once the task has used 50,000 tokens
 */
export function createUsageLedger(
  options: { store?: Store; prices?: Record<string, Price>; clock?: Pick<Clock, 'now'> },
) {
  const prices = { ...DEFAULT_PRICES, ...(options.prices ?? {}) };
  const clock = options.clock ?? { now: () => Date.now() };
  const total = zero();
  const byAgent = new Map<string, Totals>();
  const byModel = new Map<string, Totals>();
  const unpriced = new Set<string>();
  const recent: Array<LlmUsageEvent & { ts: number; taskId?: string }> = [];
  const taskTotals = new Map<string, { tokens: number; costUsd: number; turns: number }>();

  function price(provider: string, model: string): Price | undefined {
    return prices[`${provider}/${model}`] ?? prices[model];
  }

  function cost(record: UsageRecord): number {
    if (record.cached) return 0; // a gateway cache hit calls no provider
    const p = price(record.provider, record.model);
    if (!p) {
      if (record.usage.inputTokens + record.usage.outputTokens > 0) unpriced.add(`${record.provider}/${record.model}`);
      return 0;
    }
    const u = record.usage;
    return round((u.inputTokens * p.input + u.outputTokens * p.output + u.cacheReadTokens * (p.cacheRead ?? p.input) + u.cacheWriteTokens * (p.cacheWrite ?? p.input)) / 1e6);
  }

  /** The task's totals so far: from memory, or read once from the store's ledger (rows of earlier runs and processes). */
  async function taskSoFar(taskId: string): Promise<{ tokens: number; costUsd: number; turns: number }> {
    let seen = taskTotals.get(taskId);
    if (!seen) {
      const stored = options.store ? await options.store.usage.taskTotals(taskId) : { tokens: 0, costUsd: 0, turns: 0 };
      // A call recorded while the store answered already counted itself in: keep those figures.
      seen = taskTotals.get(taskId) ?? stored;
      taskTotals.set(taskId, seen);
    }
    return seen;
  }

  /** Accounts for one call and returns the event to publish. */
  function record(input: UsageRecord): LlmUsageEvent {
    const event: LlmUsageEvent = {
      agent: input.agent,
      deployment: `${input.provider}/${input.model}`,
      inputTokens: input.usage.inputTokens,
      outputTokens: input.usage.outputTokens,
      costUsd: cost(input),
      ms: Math.round(input.ms * 100) / 100,
      cached: input.cached,
      attempts: input.attempts,
      ok: input.ok,
      outcome: input.outcome ?? (input.ok ? 'ok' : 'failed'),
    };
    const ts = clock.now();
    add(total, event);
    for (const [map, key] of [[byAgent, input.agent], [byModel, event.deployment]] as const) {
      let t = map.get(key);
      if (!t) map.set(key, (t = zero()));
      add(t, event);
    }
    recent.push({ ...event, ts, taskId: input.taskId });
    if (recent.length > 500) recent.splice(0, recent.length - 500);
    // Totals held in memory count the call now. With a store, a task not held is read from it when
    // next asked, and this call's row (queued below) is part of that read; without one, memory is all.
    let seen = input.taskId && !input.cached ? taskTotals.get(input.taskId) : undefined;
    if (!seen && input.taskId && !input.cached && !options.store) taskTotals.set(input.taskId, (seen = { tokens: 0, costUsd: 0, turns: 0 }));
    if (seen) {
      seen.tokens += event.inputTokens + event.outputTokens;
      seen.costUsd = round(seen.costUsd + event.costUsd);
      seen.turns++;
    }
    // Write-behind (~50 ms): the ledger must not add an fsync to every model call.
    options.store?.usage.appendLater({
      ts,
      taskId: input.taskId ?? null,
      agent: input.agent,
      provider: input.provider,
      model: input.model,
      inputTokens: event.inputTokens,
      outputTokens: event.outputTokens,
      cacheReadTokens: input.usage.cacheReadTokens,
      cacheWriteTokens: input.usage.cacheWriteTokens,
      costUsd: event.costUsd,
      latencyMs: event.ms,
      cached: input.cached,
      attempts: input.attempts,
      ok: input.ok,
      outcome: event.outcome,
    });
    return event;
  }

  /** Throws E_BUDGET when the task has reached any cap; call it before each model call. */
  async function checkBudget(taskId: string | undefined, budgets: Budgets): Promise<void> {
    if (!taskId) return;
    const seen = await taskSoFar(taskId);
    const over = (what: string, used: string, cap: string, field: string) =>
      new RuntimeError(ErrorCode.Budget, `task ${taskId} reached its ${what} budget: ${used} used of ${cap}; raise budgets.${field} in orchestrator.config.json to let it continue`, {
        details: { taskId, used: seen },
      });
    if (budgets.maxTurns !== undefined && seen.turns >= budgets.maxTurns) throw over('turn', `${seen.turns} model calls`, `${budgets.maxTurns}`, 'maxTurns');
    if (budgets.maxTokens !== undefined && seen.tokens >= budgets.maxTokens) throw over('token', `${seen.tokens.toLocaleString('en-US')} tokens`, budgets.maxTokens.toLocaleString('en-US'), 'maxTokens');
    if (budgets.maxCostUsd !== undefined && seen.costUsd >= budgets.maxCostUsd) throw over('cost', `$${seen.costUsd.toFixed(4)}`, `$${budgets.maxCostUsd}`, 'maxCostUsd');
  }

  /** What GET /api/usage answers: totals, per agent, per model, the last calls, and one-minute buckets for the last hour. */
  function summary() {
    const now = clock.now();
    const buckets = new Map<number, Totals>();
    for (const call of recent) {
      if (call.ts < now - 3_600_000) continue;
      const minute = Math.floor(call.ts / 60_000) * 60_000;
      let t = buckets.get(minute);
      if (!t) buckets.set(minute, (t = zero()));
      add(t, call);
    }
    return {
      total: { ...total },
      byAgent: Object.fromEntries(byAgent),
      byModel: Object.fromEntries(byModel),
      recent: recent.slice(-50).reverse(),
      series: [...buckets].sort((a, b) => a[0] - b[0]).map(([ts, t]) => ({ ts, ...t })),
      unpriced: [...unpriced],
    };
  }

  /** Usage of one task from the ledger (survives restarts when a store is given). */
  async function forTask(taskId: string) {
    return { ...(await taskSoFar(taskId)) };
  }

  /** Drops a finished task's running totals from memory (they are re-read from llm_usage if asked again). */
  function forgetTask(taskId: string): void {
    taskTotals.delete(taskId);
  }

  return { record, checkBudget, summary, forTask, price, forgetTask };
}

export type UsageLedger = ReturnType<typeof createUsageLedger>;
