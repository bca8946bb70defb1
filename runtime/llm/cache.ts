/**
 * The gateway's answer cache: an in-memory LRU (bounded by entries and bytes) in front of an optional
 * SQLite tier (table llm_cache) that survives restarts. Entries live `ttlSeconds` from insertion.
 * Every entry sits in a namespace (a one-way hash of the caller's credential, see
 * credentialNamespace), so one caller never hits another's answers; entries hold a body and meta
 * only, never headers or credentials.
 * @module
 */
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import type { Clock } from '../protocol/mod.ts';
import type { Store } from '../store/mod.ts';
import type { CacheEntry, CacheStats } from './types.ts';

/**
 * The cache API (see createCache). Asynchronous because its persistent tier is the store's.
 * @example
 * const hit = await cache.get(ns, key);
 * if (!hit) await cache.set(ns, key, { kind: 'json', body, meta: { status: 200, contentType: 'application/json' } });
 */
export interface LlmCache {
  /** Memory first, then the store's tier (a persistent hit is promoted into memory). Expired entries are misses (and are deleted). Counts hits/misses. */
  get(namespace: string, key: string): Promise<CacheEntry | undefined>;
  /** Stores in memory and (written behind) in the store. Refuses (false, stores nothing) an entry that is not cacheable. */
  set(namespace: string, key: string, entry: CacheEntry): Promise<boolean>;
  stats(): Promise<CacheStats>;
  /** Clears both tiers; `cleared` counts each (namespace, key) once. Hit and miss counters keep counting. */
  clear(): Promise<{ cleared: number; freedMemory: number }>;
  /** Drops one entry from both tiers (an answer its caller found unusable); true when there was one. */
  delete(namespace: string, key: string): Promise<boolean>;
  /** Drops expired rows from the store (also run lazily); returns how many. */
  prune(): Promise<number>;
}

/** Bounds, TTL, the optional SQLite tier and the clock (ms, like Date). */
export interface CacheOptions {
  /** Entries in memory; default 1000. */
  maxEntries?: number;
  /** Bytes in memory (UTF-8 body + meta JSON); default 64 MiB. */
  maxBytes?: number;
  /** The largest entry accepted; default maxBytes / 4. */
  maxEntryBytes?: number;
  /** Lifetime from insertion; default 3600. 0 disables the cache: get always misses, set stores nothing. */
  ttlSeconds?: number;
  /** The persistent tier; without it the cache is memory only. */
  store?: Store;
  /** Bytes in SQLite, oldest rows evicted past it; default 256 MiB. */
  maxPersistentBytes?: number;
  clock?: Pick<Clock, 'now'>;
}

interface Slot {
  namespace: string;
  key: string;
  kind: CacheEntry['kind'];
  body: string;
  metaJson: string;
  bytes: number;
  createdAt: number;
  expiresAt: number;
}

const MIB = 1024 * 1024;
const KINDS = new Set(['json', 'sse', 'text']);
// The contract says meta never holds headers or credentials: refuse an entry whose meta tries to.
const SECRET_META_KEY = /^(?:headers|authorization|proxy-authorization|x-api-key|api[-_]?key|cookie|set-cookie|credentials?)$/i;
// Expired rows are also pruned lazily, at most this often (clock ms).
const PRUNE_EVERY_MS = 60_000;

function invalid(name: string, value: unknown, fix: string): RuntimeError {
  return new RuntimeError(ErrorCode.Invalid, `cache option ${name} is ${String(value)}: ${fix}`, { details: { option: name, value } });
}

function wholeOption(options: CacheOptions, name: 'maxEntries' | 'maxBytes' | 'maxEntryBytes' | 'maxPersistentBytes' | 'ttlSeconds', fallback: number): number {
  const value = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(name, value, `use a whole number >= 0 (default ${fallback})`);
  }
  return value;
}

function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function hasSecretKey(value: unknown, depth = 0): boolean {
  if (depth > 32 || typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some((item) => hasSecretKey(item, depth + 1));
  return Object.entries(value).some(([key, item]) => SECRET_META_KEY.test(key) || hasSecretKey(item, depth + 1));
}

/** The meta JSON of a cacheable entry, or undefined when the entry must not be cached. */
function cacheableMeta(entry: CacheEntry): string | undefined {
  if (typeof entry !== 'object' || entry === null || !KINDS.has(entry.kind) || typeof entry.body !== 'string') return undefined;
  const meta = entry.meta;
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return undefined;
  // A cut stream replayed later would look like an answer: only complete streams are kept.
  if (entry.kind === 'sse' && meta.complete !== true) return undefined;
  if (meta.status !== 200 && !(entry.kind === 'text' && meta.status === undefined)) return undefined;
  if (hasSecretKey(meta)) return undefined;
  try {
    return JSON.stringify(meta);
  } catch {
    return undefined;
  }
}

/**
 * Creates the cache. With a store, entries written by an earlier process on the same file hit.
 * Invalid options throw E_INVALID naming the option.
 * @example
 * const cache = createCache({ store: openStore('.orchestrator/state.db'), ttlSeconds: 600 });
 * const ns = credentialNamespace(apiKey);
 * const key = cacheKey('anthropic', 'anthropic/claude-sonnet-4-5', body);
 * await cache.set(ns, key, { kind: 'json', body: answer, meta: { status: 200 } }); // true
 * (await cache.get(ns, key))?.body === answer; // true
 * (await cache.stats()).hitRate; // 1
 */
export function createCache(options: CacheOptions = {}): LlmCache {
  const maxEntries = wholeOption(options, 'maxEntries', 1000);
  const maxBytes = wholeOption(options, 'maxBytes', 64 * MIB);
  const maxEntryBytes = wholeOption(options, 'maxEntryBytes', Math.floor(maxBytes / 4));
  const ttlSeconds = wholeOption(options, 'ttlSeconds', 3600);
  const maxPersistentBytes = wholeOption(options, 'maxPersistentBytes', 256 * MIB);
  const store = options.store;
  if (store !== undefined && typeof store?.cache?.get !== 'function') {
    throw invalid('store', store, 'pass a Store from openStore(path), or leave it out for a memory-only cache');
  }
  const clock = options.clock ?? Date;
  if (typeof clock?.now !== 'function') throw invalid('clock', clock, 'pass an object with now(): number (ms), or leave it out');

  // Map order is recency order: the first key is the least recently used.
  const memory = new Map<string, Slot>();
  let memoryBytes = 0;
  let hits = 0;
  let misses = 0;
  // Bytes written to SQLite since the last exact count: an upper bound (a replaced row counts twice),
  // so the hot path stays one INSERT and the exact SUM runs only when the bound may be passed.
  let persistentBytes = 0;
  let lastPrune = -Infinity;

  const slotId = (namespace: string, key: string): string => `${namespace}\u0000${key}`;

  function forget(id: string): void {
    const slot = memory.get(id);
    if (!slot) return;
    memory.delete(id);
    memoryBytes -= slot.bytes;
  }

  function remember(slot: Slot): void {
    const id = slotId(slot.namespace, slot.key);
    forget(id);
    if (slot.bytes > maxBytes || maxEntries === 0) return;
    memory.set(id, slot);
    memoryBytes += slot.bytes;
    for (const [oldest] of memory) {
      if (memory.size <= maxEntries && memoryBytes <= maxBytes) break;
      forget(oldest);
    }
  }

  function entryOf(slot: Slot): CacheEntry {
    // A fresh meta object each time: callers may mutate what they get without touching the cache.
    return { kind: slot.kind, body: slot.body, meta: JSON.parse(slot.metaJson) as Record<string, unknown> };
  }

  async function persistentTotals(): Promise<{ size: number; bytes: number }> {
    return store ? store.cache.totals() : { size: 0, bytes: 0 };
  }

  async function prune(): Promise<number> {
    if (!store) return 0;
    const now = clock.now();
    lastPrune = now;
    const removed = await store.cache.prune(now);
    if (removed > 0) persistentBytes = (await persistentTotals()).bytes;
    return removed;
  }

  async function lookup(namespace: string, key: string, now: number): Promise<Slot | undefined> {
    const id = slotId(namespace, key);
    const slot = memory.get(id);
    if (slot) {
      if (slot.expiresAt > now) {
        memory.delete(id);
        memory.set(id, slot);
        return slot;
      }
      forget(id);
    }
    if (!store) return undefined;
    const row = await store.cache.get(namespace, key);
    if (!row) return undefined;
    if (row.expiresAt <= now) {
      await store.cache.delete(namespace, key);
      return undefined;
    }
    const promoted: Slot = { namespace, key, kind: row.kind, body: row.body, metaJson: row.meta, bytes: row.bytes, createdAt: row.createdAt, expiresAt: row.expiresAt };
    // TTL runs from the original insertion, not from the promotion.
    if (promoted.bytes <= maxEntryBytes) remember(promoted);
    return promoted;
  }

  // What an earlier process left: expired rows go, the rest is counted. Every call waits for it.
  const ready = (async () => {
    if (!store || ttlSeconds === 0) return;
    await prune();
    persistentBytes = (await persistentTotals()).bytes;
  })();

  return {
    async get(namespace, key) {
      await ready;
      const slot = ttlSeconds === 0 ? undefined : await lookup(namespace, key, clock.now());
      if (!slot) {
        misses++;
        return undefined;
      }
      hits++;
      return entryOf(slot);
    },

    async set(namespace, key, entry) {
      if (ttlSeconds === 0) return false;
      const metaJson = cacheableMeta(entry);
      if (metaJson === undefined) return false;
      const bytes = utf8Length(entry.body) + utf8Length(metaJson);
      if (bytes > maxEntryBytes || bytes > maxBytes || (store && bytes > maxPersistentBytes)) return false;
      await ready;
      const now = clock.now();
      const slot: Slot = { namespace, key, kind: entry.kind, body: entry.body, metaJson, bytes, createdAt: now, expiresAt: now + ttlSeconds * 1000 };
      remember(slot);
      if (store) {
        // Write-behind: the row commits with others within ~50 ms; this call pays no fsync.
        store.cache.putLater({ namespace, key, kind: slot.kind, body: slot.body, meta: metaJson, bytes, createdAt: now, expiresAt: slot.expiresAt });
        persistentBytes += bytes;
        if (now - lastPrune >= PRUNE_EVERY_MS) await prune();
        if (persistentBytes > maxPersistentBytes) {
          persistentBytes = (await persistentTotals()).bytes;
          if (persistentBytes > maxPersistentBytes) {
            await store.cache.evictTo(maxPersistentBytes);
            persistentBytes = (await persistentTotals()).bytes;
          }
        }
      }
      return true;
    },

    async stats() {
      await ready;
      const now = clock.now();
      for (const [id, slot] of memory) if (slot.expiresAt <= now) forget(id);
      if (store && ttlSeconds > 0) await prune();
      const total = hits + misses;
      return {
        hits,
        misses,
        hitRate: total === 0 ? 0 : Math.round((hits / total) * 10_000) / 10_000,
        size: memory.size,
        maxSize: maxEntries,
        bytes: memoryBytes,
        maxBytes,
        ttlSeconds,
        persistent: await persistentTotals(),
      };
    },

    async delete(namespace, key) {
      await ready;
      const id = slotId(namespace, key);
      const inMemory = memory.has(id);
      forget(id);
      if (!store) return inMemory;
      return (await store.cache.delete(namespace, key)) || inMemory;
    },

    async clear() {
      await ready;
      const freedMemory = memoryBytes;
      let cleared = memory.size;
      const keys = [...memory.values()].map((slot) => [slot.namespace, slot.key] as const);
      memory.clear();
      memoryBytes = 0;
      if (store) {
        // Memory entries that also have a row are counted once, with the rows.
        cleared = await store.cache.clear(keys);
        persistentBytes = 0;
      }
      return { cleared, freedMemory };
    },

    async prune() {
      await ready;
      return prune();
    },
  };
}
