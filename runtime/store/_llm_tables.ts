// The LLM gateway's two tables (llm_cache, llm_usage) behind store methods: runtime/llm decides what to
// cache and what a call costs; the SQL, and when a row is written, live here with the rest of the store.
import type { StatementSync } from 'node:sqlite';
import type { CacheRow, UsageRow } from './mod.ts';

type Stmt = (sql: string) => StatementSync;
type Defer = (sql: string, params: Array<string | number | null>) => void;

const CACHE_SQL = {
  get: 'SELECT kind, body, meta, bytes, created_at, expires_at FROM llm_cache WHERE namespace = ? AND key = ?',
  put: `INSERT OR REPLACE INTO llm_cache (namespace, key, kind, body, meta, bytes, created_at, expires_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  delete: 'DELETE FROM llm_cache WHERE namespace = ? AND key = ?',
  exists: 'SELECT 1 AS found FROM llm_cache WHERE namespace = ? AND key = ?',
  prune: 'DELETE FROM llm_cache WHERE expires_at <= ?',
  totals: 'SELECT COUNT(*) AS size, COALESCE(SUM(bytes), 0) AS bytes FROM llm_cache',
  clear: 'DELETE FROM llm_cache',
  // Keeps the newest rows whose running total fits the bound; drops the rest (oldest created_at first).
  evict: `DELETE FROM llm_cache WHERE rowid IN (
            SELECT rowid FROM (
              SELECT rowid, SUM(bytes) OVER (ORDER BY created_at DESC, rowid DESC) AS running FROM llm_cache
            ) WHERE running > ?)`,
} as const;

const USAGE_SQL = {
  insert: `INSERT INTO llm_usage (ts, task_id, agent, provider, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, latency_ms, cached, attempts, ok, outcome)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  taskTotals:
    'SELECT count(*) AS turns, coalesce(sum(input_tokens + output_tokens), 0) AS tokens, coalesce(sum(cost_usd), 0) AS cost FROM llm_usage WHERE task_id = ? AND cached = 0',
} as const;

interface CacheRecord {
  kind: string;
  body: string;
  meta: string;
  bytes: number;
  created_at: number;
  expires_at: number;
}

/**
 * The cache table. Reads see rows still queued for writing (they flush first) except `get`: a row
 * still queued is also in the cache's memory tier, and a flush per miss would put an fsync on every
 * new request.
 */
export function cacheTable(stmt: Stmt, defer: Defer, flush: () => void, transaction: <T>(fn: () => T) => T) {
  return {
    get(namespace: string, key: string): CacheRow | null {
      const r = stmt(CACHE_SQL.get).get(namespace, key) as CacheRecord | undefined;
      if (!r) return null;
      return { namespace, key, kind: r.kind as CacheRow['kind'], body: r.body, meta: r.meta, bytes: Number(r.bytes), createdAt: Number(r.created_at), expiresAt: Number(r.expires_at) };
    },
    putLater(row: CacheRow): void {
      defer(CACHE_SQL.put, [row.namespace, row.key, row.kind, row.body, row.meta, row.bytes, row.createdAt, row.expiresAt]);
    },
    delete(namespace: string, key: string): boolean {
      flush();
      return Number(stmt(CACHE_SQL.delete).run(namespace, key).changes) > 0;
    },
    prune(now: number): number {
      flush();
      return Number(stmt(CACHE_SQL.prune).run(now).changes);
    },
    totals(): { size: number; bytes: number } {
      flush();
      const row = stmt(CACHE_SQL.totals).get() as { size: number; bytes: number };
      return { size: Number(row.size), bytes: Number(row.bytes) };
    },
    evictTo(maxBytes: number): number {
      flush();
      return Number(stmt(CACHE_SQL.evict).run(maxBytes).changes);
    },
    clear(alsoCount: Iterable<readonly [string, string]> = []): number {
      flush();
      return transaction(() => {
        // Keys the caller holds elsewhere (its memory tier) count once: with their row when they have one.
        let without = 0;
        for (const [namespace, key] of alsoCount) if (!stmt(CACHE_SQL.exists).get(namespace, key)) without++;
        return Number(stmt(CACHE_SQL.clear).run().changes) + without;
      });
    },
  };
}

/** The usage ledger's table: rows are written behind (a model call pays no fsync); totals read what is queued too. */
export function usageTable(stmt: Stmt, defer: Defer, flush: () => void) {
  return {
    appendLater(row: UsageRow) {
      defer(USAGE_SQL.insert, [
        row.ts,
        row.taskId,
        row.agent,
        row.provider,
        row.model,
        row.inputTokens,
        row.outputTokens,
        row.cacheReadTokens,
        row.cacheWriteTokens,
        row.costUsd,
        row.latencyMs,
        row.cached ? 1 : 0,
        row.attempts,
        row.ok ? 1 : 0,
        row.outcome,
      ]);
    },
    taskTotals(taskId: string): { turns: number; tokens: number; costUsd: number } {
      flush();
      const row = stmt(USAGE_SQL.taskTotals).get(taskId) as { turns: number; tokens: number; cost: number };
      return { turns: Number(row.turns), tokens: Number(row.tokens), costUsd: Number(row.cost) };
    },
  };
}
