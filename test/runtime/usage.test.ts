// The usage ledger: cost from the price table, totals per agent and model, budgets that stop a task
// exactly at its cap, and figures that survive a restart through SQLite.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUsageLedger, type UsageRecord } from '../../runtime/llm/usage.ts';
import { ErrorCode, RuntimeError } from '../../runtime/protocol/mod.ts';
import { openStore } from '../../runtime/store/mod.ts';

const call = (over: Partial<UsageRecord> = {}): UsageRecord => ({
  taskId: 't1',
  agent: 'implementer',
  provider: 'anthropic',
  model: 'claude-sonnet-4-5',
  usage: { inputTokens: 1000, outputTokens: 500, cacheReadTokens: 0, cacheWriteTokens: 0 },
  ms: 120,
  cached: false,
  attempts: 1,
  ok: true,
  ...over,
});

async function budgetError(fn: () => Promise<unknown>): Promise<RuntimeError> {
  try {
    await fn();
  } catch (error) {
    assert.instance(error, RuntimeError);
    assert.is((error as RuntimeError).code, ErrorCode.Budget);
    return error as RuntimeError;
  }
  throw new Error('expected E_BUDGET');
}

test('cost comes from the price table (USD per million tokens); config prices override; a cache hit costs 0; unknown models are listed', async () => {
  const ledger = createUsageLedger({ prices: { 'openai/gpt-5': { input: 2, output: 20 } } });
  assert.is(ledger.record(call()).costUsd, (1000 * 3 + 500 * 15) / 1e6);
  assert.is(ledger.record(call({ provider: 'openai', model: 'gpt-5' })).costUsd, (1000 * 2 + 500 * 20) / 1e6);
  assert.is(ledger.record(call({ cached: true })).costUsd, 0);
  assert.is(ledger.record(call({ model: 'mystery-1' })).costUsd, 0);
  const summary = ledger.summary();
  assert.equal(summary.unpriced, ['anthropic/mystery-1']);
  assert.is(summary.total.calls, 4);
  assert.is(summary.total.cachedCalls, 1);
  assert.is(summary.byAgent.implementer.calls, 4);
  assert.is(summary.byModel['openai/gpt-5'].inputTokens, 1000);
  assert.is(summary.recent.length, 4);
  assert.is(summary.series.length, 1, 'one one-minute bucket');
});

test('each cap stops the task exactly when reached, naming the figures and the setting to raise', async () => {
  const turns = createUsageLedger({});
  await turns.checkBudget('t1', { maxTurns: 2 });
  turns.record(call());
  await turns.checkBudget('t1', { maxTurns: 2 });
  turns.record(call());
  assert.match((await budgetError(() => turns.checkBudget('t1', { maxTurns: 2 }))).message, /2 model calls used of 2; raise budgets\.maxTurns/);
  await turns.checkBudget('t2', { maxTurns: 2 }); // another task has its own budget

  const tokens = createUsageLedger({});
  tokens.record(call()); // 1,500 tokens
  await tokens.checkBudget('t1', { maxTokens: 1501 });
  assert.match((await budgetError(() => tokens.checkBudget('t1', { maxTokens: 1500 }))).message, /1,500 tokens used of 1,500; raise budgets\.maxTokens/);

  const cost = createUsageLedger({});
  cost.record(call()); // $0.0105
  await cost.checkBudget('t1', { maxCostUsd: 0.011 });
  assert.match((await budgetError(() => cost.checkBudget('t1', { maxCostUsd: 0.0105 }))).message, /\$0\.0105 used of \$0\.0105; raise budgets\.maxCostUsd/);
  const cached = createUsageLedger({});
  for (let i = 0; i < 5; i++) cached.record(call({ cached: true }));
  await cached.checkBudget('t1', { maxTurns: 1 }); // cache hits call no model: they use no budget
});

test("rows persist: a new ledger on the same store sees the task's spending", async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'orch-usage-')), 'db.db');
  const store = openStore(file);
  createUsageLedger({ store }).record(call());
  await store.close();
  const again = openStore(file);
  const ledger = createUsageLedger({ store: again });
  assert.equal(await ledger.forTask('t1'), { tokens: 1500, costUsd: 0.0105, turns: 1 });
  await budgetError(() => ledger.checkBudget('t1', { maxTurns: 1 }));
  await again.close();
});

test('a finished task\'s totals leave memory and come back from SQLite: its budget still counts every call', async () => {
  const store = openStore(join(mkdtempSync(join(tmpdir(), 'orch-usage-')), 'u.db'));
  const ledger = createUsageLedger({ store });
  ledger.record(call());
  ledger.record(call());
  ledger.forgetTask('t1');
  const error = await budgetError(() => ledger.checkBudget('t1', { maxTurns: 2 }));
  assert.match(error.message, /2 model calls used of 2/);
  await store.close();
});

test.run();
