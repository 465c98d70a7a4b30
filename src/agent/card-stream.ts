/**
 * The sharer's half of the streaming pipeline: the worker encodes a card section by section into
 * shared memory and announces how far it got; this (main-thread) side sends each finished stretch
 * at once, so the first chunk is on the wire — and being decoded by the receiver — while later
 * ones are still being quantized. The response is chunked (the digest is known only at the end):
 * `x-kvwire-card-length` announces the size, trailers carry the encode time and the digest, and
 * the card is stored under a fresh id (ETag, Content-Location) for Range resumption.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KvwireError } from '../errors.js';
import { CARD_MIME, drained, type CardStore, type LinkShaper } from '../transport/index.js';
import type { AgentHost } from './agent-host.js';

interface Start { buffer: SharedArrayBuffer; total: number; planMs: number; keptTokens: number }

/** Cards still being written, by id: a resume request waits for them. */
export type PendingCards = Map<string, Promise<void>>;

export async function streamCard(req: IncomingMessage, res: ServerResponse, agent: AgentHost, store: CardStore, pending: PendingCards,
  request: { id: string; compression: string }, shaper?: LinkShaper): Promise<void> {
  let start: Start | null = null;
  let ready = 0;
  let failure: unknown = null;
  let finished = false;
  let wake: (() => void) | null = null;
  const signal = () => { const w = wake; wake = null; w?.(); };
  const next = () => new Promise<void>((resolve) => { wake = resolve; });
  const id = randomUUID();
  const done = agent.call<{ digest: string; encodeMs: number }>('cardStream', request, (p: Partial<Start> & { ready?: number }) => {
    if (p.buffer) start = p as Start;
    if (p.ready !== undefined) ready = p.ready;
    signal();
  });
  const settled = done.then((r) => {
    finished = true;
    signal();
    if (start) store.put({ bytes: new Uint8Array(start.buffer), digest: id }); // now resumable
    return r;
  }, (e) => {
    failure = e;
    signal();
    return null;
  });
  pending.set(id, settled.then(() => undefined));
  void settled.finally(() => pending.delete(id));

  while (!start && !failure) await next();
  if (!start) throw failure; // refused before any byte: a JSON error reply
  const { buffer, total, planMs, keptTokens } = start as Start;
  if (shaper) await shaper.delay();
  res.writeHead(200, {
    'content-type': CARD_MIME, etag: `"${id}"`, 'content-location': `/cards/${id}`, 'cache-control': 'no-store',
    'x-kvwire-card-length': String(total), 'x-kvwire-plan-ms': planMs.toFixed(2), 'x-kvwire-kept-tokens': String(keptTokens),
    trailer: 'x-kvwire-encode-ms, x-kvwire-digest',
  });
  const bytes = new Uint8Array(buffer);
  let sent = 0;
  while (sent < total && !res.destroyed) {
    if (ready > sent) {
      const stretch = bytes.subarray(sent, ready);
      sent = ready;
      if (shaper) await shaper.write(res, stretch);
      else if (!res.write(stretch)) await drained(res);
    } else if (failure) {
      res.destroy(failure as Error); // the receiver sees a broken card, never a short valid one
      return;
    } else if (!finished) {
      await next();
    } else {
      throw new KvwireError('ENGINE', `card writer finished at ${ready} of ${total} bytes`);
    }
  }
  const r = await settled;
  if (r && !res.destroyed) {
    res.addTrailers({ 'x-kvwire-encode-ms': r.encodeMs.toFixed(2), 'x-kvwire-digest': r.digest });
    res.end();
  }
}
