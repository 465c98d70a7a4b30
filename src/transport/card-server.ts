/**
 * Serving cards over HTTP: a bounded in-memory store keyed by card digest, and `serveCard`, which
 * streams one card with backpressure, through an optional link shaper, honouring
 * `Range: bytes=N-` (resume) guarded by `If-Range: "<digest>"` so a resumed transfer can never
 * splice two different cards.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KvwireError } from '../errors.js';
import { LinkShaper, drained } from './shaper.js';

export const CARD_MIME = 'application/vnd.kvwire.card';

export interface StoredCard {
  bytes: Uint8Array;
  /** Hex card digest (the ETag). */
  digest: string;
}

/** Cards by digest, least recently used evicted beyond `maxBytes`. */
export class CardStore {
  private readonly cards = new Map<string, StoredCard>();
  private bytes = 0;

  constructor(readonly maxBytes = 2 ** 31) {}

  put(card: StoredCard): void {
    if (card.bytes.length > this.maxBytes) throw new KvwireError('CARD_LIMIT', `card of ${card.bytes.length} bytes exceeds the store's ${this.maxBytes}`);
    this.delete(card.digest);
    this.cards.set(card.digest, card);
    this.bytes += card.bytes.length;
    for (const [digest, c] of this.cards) {
      if (this.bytes <= this.maxBytes) break;
      this.cards.delete(digest);
      this.bytes -= c.bytes.length;
    }
  }

  get(digest: string): StoredCard | undefined {
    const card = this.cards.get(digest);
    if (card) {
      this.cards.delete(digest); // move to the most recently used end
      this.cards.set(digest, card);
    }
    return card;
  }

  delete(digest: string): void {
    const c = this.cards.get(digest);
    if (c) {
      this.cards.delete(digest);
      this.bytes -= c.bytes.length;
    }
  }

  get size(): number {
    return this.cards.size;
  }
}

export interface ServeOptions {
  shaper?: LinkShaper;
  /** Bytes per write (default 64 KiB; 16 KiB through a shaper). */
  pieceBytes?: number;
  /** Extra response headers (e.g. stage timings of the sharer). */
  headers?: Record<string, string>;
  /** Fault injection for tests: destroy the connection after this many body bytes. */
  cutAfterBytes?: number;
}

/** Parses `Range: bytes=N-` or `bytes=N-M`; null when absent or not a single byte range. */
export function parseRange(header: string | undefined, length: number): { start: number; end: number } | null | 'unsatisfiable' {
  if (!header) return null;
  const m = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (!m) return null;
  const start = Number(m[1]);
  const end = m[2] === '' ? length - 1 : Math.min(Number(m[2]), length - 1);
  if (!Number.isSafeInteger(start) || start >= length || end < start) return 'unsatisfiable';
  return { start, end };
}

/** Streams `card` as the response to `req` (GET or HEAD). */
export async function serveCard(req: IncomingMessage, res: ServerResponse, card: StoredCard, options: ServeOptions = {}): Promise<void> {
  const etag = `"${card.digest}"`;
  const total = card.bytes.length;
  const ifRange = req.headers['if-range'];
  let range = parseRange(req.headers.range, total);
  if (ifRange !== undefined && ifRange !== etag) range = null; // another card now: send it whole
  const headers: Record<string, string | number> = {
    'content-type': CARD_MIME, etag, 'accept-ranges': 'bytes', 'cache-control': 'no-store', ...options.headers,
  };
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'content-range': `bytes */${total}` });
    res.end();
    return;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? total - 1;
  headers['content-length'] = end - start + 1;
  if (range) headers['content-range'] = `bytes ${start}-${end}/${total}`;
  if (options.shaper) await options.shaper.delay(); // the request's trip to us
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const body = card.bytes.subarray(start, end + 1);
  const cut = options.cutAfterBytes ?? Infinity;
  const piece = options.pieceBytes ?? (options.shaper ? 16384 : 65536);
  for (let at = 0; at < body.length; at += piece) {
    let slice = body.subarray(at, Math.min(at + piece, body.length));
    if (at + slice.length > cut) slice = slice.subarray(0, Math.max(0, cut - at));
    if (options.shaper) await options.shaper.write(res, slice, piece);
    else if (!res.write(slice)) await drained(res);
    if (res.destroyed) return;
    if (at + slice.length >= cut) {
      // Let the bytes written so far reach the peer, then break the connection mid-body.
      await new Promise<void>((resolve) => res.socket ? res.socket.write('', () => resolve()) : resolve());
      res.socket?.destroy();
      return;
    }
  }
  res.end();
}
