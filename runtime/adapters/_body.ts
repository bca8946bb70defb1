/**
 * Request bodies, read with their limits enforced while the bytes arrive, never after:
 * - the raw bytes of one request stop at its route's limit (a declared length over it is refused
 *   before a byte is read);
 * - a compressed body (gzip, deflate, br, zstd) is decoded as a stream with a running count of the
 *   decoded bytes, and refused the moment that count passes the same limit, or (past 1 MiB) 200
 *   times the compressed bytes: a 1 KB brotli bomb costs the decoder ~1 MiB of output, not the
 *   gigabytes it expands to;
 * - all bodies being read or held at once share one budget, so many concurrent uploads cannot pin
 *   the server's memory (past it: 503 with retry-after).
 * Routes get the decoded bytes; `content-encoding` is gone from what they see.
 * @module
 */
import * as zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import type { Refusal } from './types.ts';

/** Bytes of request bodies the whole server holds at once (raw and decoded), across connections. */
export const BODY_BUDGET_BYTES = 256 * 1024 * 1024;

/**
 * Past this many decoded bytes, a body may not decode to more than MAX_RATIO times its compressed
 * size. JSON compresses 5 to 30 times; a bomb (a few hundred bytes of brotli for a gigabyte of
 * spaces) a million times. Without the ratio, a bomb sent to the proxy (32 MiB limit) would cost
 * ~150 ms of CPU before the limit stopped it; with it, a few.
 */
export const RATIO_FLOOR_BYTES = 1024 * 1024;
export const MAX_RATIO = 200;
/** Compressed bytes handed to the decoder at a time. */
const FEED_BYTES = 4 * 1024;

/** A refusal carrying its status; thrown by `readBody`. */
export class BodyRefused extends Error {
  readonly refusal: Refusal;
  readonly headers: Record<string, string>;
  constructor(refusal: Refusal, headers: Record<string, string> = {}) {
    super(refusal.message);
    this.refusal = refusal;
    this.headers = headers;
  }
}

/** Counts the bytes every body in flight holds; `release` gives a request's share back. */
export interface BodyBudget {
  take(bytes: number): boolean;
  give(bytes: number): void;
  readonly used: number;
}

/**
 * One budget for the server.
 * @example const budget = createBodyBudget(); if (!budget.take(n)) refuse503();
 */
export function createBodyBudget(limit = BODY_BUDGET_BYTES): BodyBudget {
  let used = 0;
  return {
    take(bytes) {
      if (used + bytes > limit) return false;
      used += bytes;
      return true;
    },
    give(bytes) {
      used = Math.max(0, used - bytes);
    },
    get used() {
      return used;
    },
  };
}

function tooLarge(what: string, size: number, limit: number): BodyRefused {
  return new BodyRefused({ status: 413, code: 'E_TOO_LARGE', message: `request body ${what} ${size} bytes, over the ${limit}-byte limit for this path: send a smaller body` });
}

/**
 * Brotli's window is set by its stream's first bits (RFC 7932, 9.1). A bomb with a large window
 * makes the decoder fill all of it before its first output: 16 MiB (2^24) cost ~90 ms of CPU for a
 * 53-byte body here, 4 MiB (the compressors' default) ~25 ms. Windows past the default are refused.
 */
export const MAX_BROTLI_WINDOW_BITS = 22;

/** The window bits a brotli stream declares in its first byte (24 for the large-window extension's marker). */
export function brotliWindowBits(first: number): number {
  if ((first & 1) === 0) return 16;
  const n = (first >> 1) & 7;
  if (n !== 0) return 17 + n;
  const m = (first >> 4) & 7;
  if (m === 1) return 30; // the large-window extension (up to 2^30): never a request body of ours
  return m === 0 ? 17 : 8 + m;
}

function decoderFor(encoding: string): Transform | undefined {
  switch (encoding) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    case 'zstd': {
      const make = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
      if (make) return make();
      throw new BodyRefused({ status: 415, code: 'E_CONTENT_ENCODING', message: 'content-encoding zstd is not supported on this runtime: send the body uncompressed, gzip or br' });
    }
    default:
      throw new BodyRefused({
        status: 415,
        code: 'E_CONTENT_ENCODING',
        message: `content-encoding ${JSON.stringify(encoding.slice(0, 40))} is not supported: use gzip, br, deflate, zstd or none (one encoding)`,
      });
  }
}

export interface BodyOptions {
  /** The route's limit, for the raw and for the decoded bytes. */
  limit: number;
  /** The content-length header, when sent. */
  declared?: string | null;
  /** The content-encoding header, when sent. */
  encoding?: string | null;
  budget: BodyBudget;
}

/** What `readBody` read: the decoded bytes, and what they hold of the budget (give it back when the request ends). */
export interface ReadBody {
  bytes: Uint8Array;
  held: number;
}

/**
 * Reads `chunks` to the end within `options.limit`, decoding as it goes; throws BodyRefused
 * (413, 415 or 503) as soon as a limit is passed, after which the caller drops the connection.
 * @example const { bytes, held } = await readBody(req, { limit: 65536, declared: req.headers['content-length'], encoding: req.headers['content-encoding'], budget });
 */
export async function readBody(chunks: AsyncIterable<Uint8Array>, options: BodyOptions): Promise<ReadBody> {
  const { limit, budget } = options;
  const declared = options.declared === undefined || options.declared === null || options.declared === '' ? undefined : Number(options.declared);
  if (declared !== undefined && (!Number.isSafeInteger(declared) || declared < 0)) {
    throw new BodyRefused({ status: 400, code: 'E_CONTENT_LENGTH', message: `content-length ${JSON.stringify(String(options.declared).slice(0, 40))} is not a byte count` });
  }
  if (declared !== undefined && declared > limit) throw tooLarge('declares', declared, limit);
  const encoding = (options.encoding ?? '').trim().toLowerCase();
  const decoder = encoding === '' || encoding === 'identity' ? undefined : decoderFor(encoding);
  let held = 0;
  const hold = (bytes: number): void => {
    if (!budget.take(bytes)) {
      budget.give(held);
      held = 0;
      throw new BodyRefused(
        { status: 503, code: 'E_BUSY', message: `the server holds ${Math.round(budget.used / (1024 * 1024))} MiB of request bodies already: retry in a moment` },
        { 'retry-after': '1' },
      );
    }
    held += bytes;
  };
  try {
    if (!decoder) {
      const parts: Uint8Array[] = [];
      let size = 0;
      for await (const chunk of chunks) {
        size += chunk.byteLength;
        if (size > limit) throw tooLarge('is over', size, limit);
        hold(chunk.byteLength);
        parts.push(chunk);
      }
      return { bytes: parts.length === 1 ? parts[0] : concat(parts, size), held };
    }
    return { bytes: await decode(chunks, decoder, limit, hold), held };
  } catch (error) {
    budget.give(held);
    throw error;
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** Feeds raw chunks to the decoder and counts what comes out; stops the decoder past the limit. */
function decode(chunks: AsyncIterable<Uint8Array>, decoder: Transform, limit: number, hold: (bytes: number) => void): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const parts: Uint8Array[] = [];
    let raw = 0;
    let size = 0;
    let failed = false;
    const fail = (error: unknown): void => {
      if (failed) return;
      failed = true;
      decoder.destroy();
      reject(error instanceof BodyRefused ? error : new BodyRefused({ status: 400, code: 'E_CONTENT_ENCODING', message: `the request body is not valid ${decoderName(decoder)} data (${(error as Error)?.message ?? error}): send it as its content-encoding says` }));
    };
    decoder.on('data', (chunk: Uint8Array) => {
      if (failed) return;
      size += chunk.byteLength;
      try {
        if (size > limit) throw tooLarge('decodes to over', size, limit);
        if (size > RATIO_FLOOR_BYTES && size > raw * MAX_RATIO) {
          throw new BodyRefused({
            status: 413,
            code: 'E_TOO_LARGE',
            message: `request body decodes to over ${size} bytes from ${raw} compressed bytes (more than ${MAX_RATIO}:1, a compression bomb): send it uncompressed or less repetitive`,
          });
        }
        hold(chunk.byteLength);
      } catch (error) {
        return fail(error);
      }
      parts.push(chunk);
    });
    decoder.on('error', fail);
    decoder.on('end', () => {
      if (!failed) resolve(concat(parts, size));
    });
    (async () => {
      for await (const chunk of chunks) {
        // Fed a slice at a time, each decoded before the next is written: the ratio is checked
        // against the compressed bytes actually consumed, not against a whole chunk queued ahead.
        if (raw === 0 && chunk.byteLength > 0 && decoder instanceof zlib.BrotliDecompress && brotliWindowBits(chunk[0]) > MAX_BROTLI_WINDOW_BITS) {
          throw new BodyRefused({
            status: 415,
            code: 'E_CONTENT_ENCODING',
            message: `the br body declares a ${2 ** (brotliWindowBits(chunk[0]) - 20)} MiB window, over the ${2 ** (MAX_BROTLI_WINDOW_BITS - 20)} MiB this server decodes: compress with the default window (lgwin ${MAX_BROTLI_WINDOW_BITS}) or use gzip`,
          });
        }
        for (let at = 0; at < chunk.byteLength && !failed; at += FEED_BYTES) {
          const slice = chunk.subarray(at, at + FEED_BYTES);
          raw += slice.byteLength;
          if (raw > limit) throw tooLarge('is over', raw, limit);
          await new Promise<void>((done) => decoder.write(slice, () => done()));
        }
        if (failed) return;
      }
      if (!failed) decoder.end();
    })().catch(fail);
  });
}

function decoderName(decoder: Transform): string {
  const name = decoder.constructor?.name ?? '';
  return /Brotli/i.test(name) ? 'br' : /Gunzip/i.test(name) ? 'gzip' : /Inflate/i.test(name) ? 'deflate' : /Zstd/i.test(name) ? 'zstd' : 'compressed';
}
