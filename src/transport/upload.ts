/**
 * Push mode: a sharer sends a card to a receiver with `PUT /cards/<digest>`; the receiver decodes
 * it while it streams in (the request is read with backpressure). A broken upload resumes: the
 * sender asks `HEAD /cards/<digest>` for `x-kvwire-committed` (the end of the last verified
 * section) and PUTs the rest with `Content-Range: bytes N-M/T`.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { KvwireError } from '../errors.js';
import { CardDecoder, DEFAULT_LIMITS, type CardDecoderOptions, type DecodedCard } from '../card/index.js';
import { remoteError, sendJson } from './http.js';
import { LinkShaper, drained } from './shaper.js';

const COMMITTED = 'x-kvwire-committed';

interface Upload {
  decoder: CardDecoder;
  /** The request currently feeding the decoder, and a promise settled when it stops. */
  active?: { req: IncomingMessage; settled: Promise<void> };
}

/** The receiver's side of push mode: partial uploads by digest, resumable. */
export class CardUploads {
  private readonly uploads = new Map<string, Upload>();

  /**
   * @param onCard called with each complete, verified card; its return value is the JSON reply.
   */
  constructor(private readonly options: CardDecoderOptions, private readonly onCard: (card: DecodedCard) => Promise<unknown> | unknown) {}

  /** Handles HEAD and PUT on /cards/<digest>. */
  async handle(req: IncomingMessage, res: ServerResponse, digest: string): Promise<void> {
    if (!/^[0-9a-f]{64}$/.test(digest)) throw new KvwireError('BAD_ARGUMENT', `card digest must be 64 hex digits, got "${digest}"`);
    let up = this.uploads.get(digest);
    if (req.method === 'HEAD') {
      res.writeHead(200, { [COMMITTED]: String(up?.decoder.committed ?? 0) });
      res.end();
      return;
    }
    if (req.method !== 'PUT') throw new KvwireError('BAD_ARGUMENT', `${req.method} /cards/<digest>: use PUT or HEAD`);
    const limits = { ...DEFAULT_LIMITS, ...this.options.limits };
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(req.headers['content-range'] ?? '');
    const start = m ? Number(m[1]) : 0;
    const total = m ? Number(m[3]) : Number(req.headers['content-length'] ?? 0);
    if (total > limits.maxCardBytes) throw new KvwireError('CARD_LIMIT', `card of ${total} bytes exceeds the receiver's limit ${limits.maxCardBytes}`);
    if (up?.active) {
      // A resumed PUT can arrive before the broken one is noticed: stop the old feed first, so
      // two requests never push into one decoder.
      up.active.req.destroy();
      await up.active.settled;
    }
    if (start === 0 && up) up = undefined; // a fresh upload replaces a stale partial one
    if (start !== (up?.decoder.committed ?? 0)) {
      sendJson(res, 409, { error: { code: 'TRANSPORT', message: `upload resumes at ${start}, but ${up?.decoder.committed ?? 0} bytes are committed` } },
        { [COMMITTED]: String(up?.decoder.committed ?? 0) });
      return;
    }
    up ??= { decoder: new CardDecoder(this.options) };
    this.uploads.set(digest, up);
    let settle = () => {};
    up.active = { req, settled: new Promise<void>((resolve) => { settle = resolve; }) };
    try {
      for await (const chunk of req as AsyncIterable<Buffer>) up.decoder.push(chunk);
    } catch (e) {
      if (e instanceof KvwireError) {
        this.uploads.delete(digest); // a bad card is not resumable
        throw e;
      }
      up.decoder.discardPartial(); // the connection broke: keep what was verified
      return;
    } finally {
      up.active = undefined;
      settle();
    }
    if (!up.decoder.done) {
      up.decoder.discardPartial();
      sendJson(res, 202, { committed: up.decoder.committed }, { [COMMITTED]: String(up.decoder.committed) });
      return;
    }
    this.uploads.delete(digest);
    const card = up.decoder.finish();
    if (card.digest !== digest) throw new KvwireError('CARD_CORRUPT', `uploaded card has digest ${card.digest}, not the ${digest} it was sent as`);
    sendJson(res, 201, await this.onCard(card));
  }
}

export interface SendCardOptions {
  shaper?: LinkShaper;
  retries?: number;
  /** Fault injection for tests: break the first attempt after this many bytes. */
  cutAfterBytes?: number;
}

/** PUTs `card` to `<receiver>/cards/<digest>`, resuming after broken connections; returns the receiver's JSON reply. */
export async function sendCard(receiver: string, card: { bytes: Uint8Array; digest: string }, options: SendCardOptions = {}): Promise<{ reply: unknown; attempts: number }> {
  const url = new URL(`/cards/${card.digest}`, receiver).toString();
  const total = card.bytes.length;
  let start = 0;
  for (let attempt = 1; ; attempt++) {
    const cut = attempt === 1 ? options.cutAfterBytes : undefined;
    try {
      const { status, body } = await put(url, card.bytes, start, options.shaper, cut);
      if (status === 201) return { reply: JSON.parse(body), attempts: attempt };
      if (status >= 400 && status !== 409) throw remoteError(status, body, `PUT ${url}`);
      if (status !== 202 && status !== 409) throw new KvwireError('TRANSPORT', `PUT ${url}: unexpected HTTP ${status}`);
    } catch (e) {
      if (e instanceof KvwireError) throw e;
      if (attempt > (options.retries ?? 3)) throw new KvwireError('TRANSPORT', `PUT ${url}: ${(e as Error).message}; gave up after ${attempt} attempts`, { cause: e });
    }
    if (attempt > (options.retries ?? 3) + 3) throw new KvwireError('TRANSPORT', `PUT ${url}: no progress after ${attempt} attempts`);
    start = await committed(url);
    if (start >= total) throw new KvwireError('TRANSPORT', `PUT ${url}: receiver has all ${total} bytes but did not accept the card`);
  }
}

function put(url: string, bytes: Uint8Array, start: number, shaper: LinkShaper | undefined, cut: number | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/vnd.kvwire.card', 'content-length': String(bytes.length - start) };
    if (start > 0) headers['content-range'] = `bytes ${start}-${bytes.length - 1}/${bytes.length}`;
    let responded = false; // a receiver that refuses a card answers before the body ends: keep its answer
    const req = http.request(url, { method: 'PUT', headers }, (res) => {
      responded = true;
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 500, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', (e) => { if (!responded) reject(e); });
    (async () => {
      const body = bytes.subarray(start);
      const stop = Math.min(body.length, cut ?? Infinity);
      if (shaper) {
        await shaper.delay();
        await shaper.write(req, body.subarray(0, stop));
      } else {
        for (let at = 0; at < stop && !req.destroyed; at += 65536) {
          if (!req.write(body.subarray(at, Math.min(at + 65536, stop)))) await drained(req);
        }
      }
      if (responded) return;
      if (stop < body.length) req.destroy(new Error(`upload cut after ${stop} bytes (fault injection)`));
      else req.end();
    })().catch((e) => { if (!responded) reject(e); });
  });
}

function committed(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'HEAD' }, (res) => {
      res.resume();
      resolve(Number(res.headers[COMMITTED] ?? 0));
    });
    req.on('error', (e) => reject(new KvwireError('TRANSPORT', `HEAD ${url}: ${e.message}`, { cause: e })));
    req.end();
  });
}
