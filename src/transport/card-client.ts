/**
 * fetchCard: downloads a card over HTTP into a streaming CardDecoder — chunks are verified and
 * decoded while the rest is on the wire, the response stream is paused while the decoder works
 * (backpressure), and a broken connection resumes from the last verified section with
 * `Range: bytes=N-` + `If-Range: "<digest>"`. Card errors (CARD_*) are final; transport errors
 * are retried up to `retries` times.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { KvwireError } from '../errors.js';
import { CardDecoder, DEFAULT_LIMITS, type CardDecoderOptions, type DecodedCard, type LayerEvent } from '../card/index.js';
import { remoteError } from './http.js';

export interface FetchCardOptions extends CardDecoderOptions {
  /** First request: GET (default) or POST with a JSON body (a sharer that makes the card on request). */
  request?: { method: 'GET' } | { method: 'POST'; json: unknown };
  /** Reconnections after a broken transfer (default 3). */
  retries?: number;
  /** Abort an attempt when no byte arrives for this long (default 30 s). */
  idleTimeoutMs?: number;
  /** Keep the card's raw bytes (to store or forward them). */
  keepBytes?: boolean;
  onLayers?: (event: LayerEvent) => void;
}

export interface FetchedCard {
  card: DecodedCard;
  bytes?: Uint8Array;
  /** Connections used (1 without resume). */
  attempts: number;
  /** Body bytes received over all attempts (> card size after a resume). */
  receivedBytes: number;
  /** Headers of the first response (a sharer puts its stage timings there). */
  headers: IncomingHttpHeaders;
  /** Trailers of the response that completed the card (a streaming sharer's encode time and digest). */
  trailers: Record<string, string | undefined>;
  timings: {
    /** Request sent -> first body byte. */
    firstByteMs: number;
    /** Request sent -> card verified (digest and HMAC checked), resumes included. */
    totalMs: number;
    /** Time spent inside the decoder (verify + dequantize), overlapped with the transfer. */
    decodeMs: number;
  };
}

class Retryable extends Error {}

export async function fetchCard(url: string, options: FetchCardOptions = {}): Promise<FetchedCard> {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  let decoder = new CardDecoder(options);
  const t0 = performance.now();
  let firstByteMs = -1;
  let decodeMs = 0;
  let receivedBytes = 0;
  let attempts = 0;
  let etag: string | undefined;
  let firstHeaders: IncomingHttpHeaders | undefined;
  // Where a broken transfer resumes: the URL itself for a GET; for a POST (a card made on
  // request) the card's Content-Location — until one is known, a retry repeats the POST.
  let resumeUrl: string | null = options.request?.method === 'POST' ? null : url;
  let bytes: Uint8Array | undefined;
  let trailers: Record<string, string | undefined> = {};
  const retries = options.retries ?? 3;

  for (;;) {
    attempts++;
    if (resumeUrl === null && decoder.committed > 0) {
      decoder = new CardDecoder(options); // a new card will be made: start over
      bytes = undefined;
    }
    const start = resumeUrl === null ? 0 : decoder.committed;
    const first = resumeUrl === null || attempts === 1;
    try {
      await new Promise<void>((resolve, reject) => {
        const headers: Record<string, string> = { accept: 'application/vnd.kvwire.card' };
        if (start > 0) {
          headers.range = `bytes=${start}-`;
          if (etag) headers['if-range'] = etag;
        }
        const post = first && options.request?.method === 'POST' ? JSON.stringify(options.request.json) : undefined;
        if (post !== undefined) {
          headers['content-type'] = 'application/json';
          headers['content-length'] = String(Buffer.byteLength(post));
        }
        // A fresh connection per card: a pooled keep-alive socket can be closed by the server just
        // as it is reused (likeliest behind slow links), and a card is worth one TCP handshake.
        const req = http.request(first ? url : resumeUrl ?? url, { method: post !== undefined ? 'POST' : 'GET', headers, agent: false });
        let idle: NodeJS.Timeout | undefined;
        const arm = () => {
          clearTimeout(idle);
          idle = setTimeout(() => req.destroy(new Retryable(`no data for ${options.idleTimeoutMs ?? 30_000} ms`)), options.idleTimeoutMs ?? 30_000);
        };
        arm();
        req.on('error', (e) => {
          clearTimeout(idle);
          reject(e instanceof KvwireError ? e : new Retryable(e.message));
        });
        req.on('response', (res: IncomingMessage) => {
          const status = res.statusCode ?? 500;
          firstHeaders ??= res.headers;
          const fail = (e: unknown) => { clearTimeout(idle); res.destroy(); reject(e); };
          if (status >= 400) {
            const parts: Buffer[] = [];
            res.on('data', (c: Buffer) => parts.push(c));
            res.on('end', () => fail(remoteError(status, Buffer.concat(parts).toString('utf8'), `GET card ${url}`)));
            return;
          }
          const tag = res.headers.etag;
          if (res.headers['content-location']) resumeUrl = new URL(res.headers['content-location'], url).toString();
          let total: number;
          if (status === 206) {
            const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers['content-range'] ?? '');
            if (!m || Number(m[1]) !== start || (etag && tag !== etag)) return fail(new KvwireError('TRANSPORT', `GET ${resumeUrl}: resumed at the wrong place or on another card (${res.headers['content-range']}, ${tag})`));
            total = Number(m[3]);
          } else {
            if (start > 0) { // the server sent the whole card (it changed, or ignores ranges): start over
              decoder = new CardDecoder(options);
              bytes = undefined;
            }
            total = Number(res.headers['content-length'] ?? res.headers['x-kvwire-card-length'] ?? NaN); // chunked: the sharer's announcement
          }
          etag ??= tag;
          if (Number.isFinite(total) && total > limits.maxCardBytes) {
            return fail(new KvwireError('CARD_LIMIT', `card of ${total} bytes exceeds the receiver's limit ${limits.maxCardBytes}`));
          }
          if (options.keepBytes && !bytes && Number.isFinite(total)) bytes = new Uint8Array(total);
          let offset = decoder.committed;
          res.on('data', (chunk: Buffer) => {
            arm();
            if (firstByteMs < 0) firstByteMs = performance.now() - t0;
            receivedBytes += chunk.length;
            const a = performance.now();
            try {
              for (const ev of decoder.push(chunk)) options.onLayers?.(ev);
            } catch (e) {
              return fail(e);
            } finally {
              decodeMs += performance.now() - a;
            }
            if (bytes) {
              if (offset + chunk.length > bytes.length) return fail(new KvwireError('CARD_CORRUPT', `card longer than the ${bytes.length} bytes announced`));
              bytes.set(chunk, offset);
            }
            offset += chunk.length;
          });
          res.on('end', () => { clearTimeout(idle); trailers = res.trailers; resolve(); });
          res.on('error', (e) => { clearTimeout(idle); reject(new Retryable(e.message)); });
          res.on('aborted', () => { clearTimeout(idle); reject(new Retryable('connection aborted')); });
        });
        req.end(post);
      });
      if (decoder.done) break;
      throw new Retryable(`response ended at byte ${decoder.committed} before the card's END`);
    } catch (e) {
      if (!(e instanceof Retryable)) throw e;
      if (attempts > retries) {
        throw new KvwireError('TRANSPORT', `GET card ${url}: ${e.message}; gave up after ${attempts} attempts at byte ${decoder.committed}`, { cause: e });
      }
      decoder.discardPartial();
    }
  }
  const a = performance.now();
  const card = decoder.finish();
  decodeMs += performance.now() - a;
  return {
    card, bytes, attempts, receivedBytes, headers: firstHeaders ?? {}, trailers,
    timings: { firstByteMs, totalMs: performance.now() - t0, decodeMs },
  };
}
