/**
 * The receiver agent: gets a card (fetched over HTTP, or given), has it verified — model
 * fingerprint, every section hash, the digest and, with a key, the HMAC — and only then injects
 * it, appends the question and answers. Baselines ride the same path: re-prefill from text (the
 * whole context, fetched from the sharer) and text relay (a short note from the sharer).
 *
 * Every answer comes with stage timings measured from the moment the receiver asks:
 *   fetch (request -> card verified; decoding overlaps the transfer) -> inject -> question ->
 *   first token (TTFT) -> rest of the answer.
 *
 * Cross-model cards (a FUSION section: MODEL is another model, the sharer): the card must name
 * this receiver (CARD_MODEL otherwise) and this receiver must hold a fuser for its sharer and
 * layers (`fusers`; NO_FUSER naming the sharer otherwise) — both checked by the decoder before any
 * payload is read, so nothing is injected. Then the sent sharer K/V are projected and fused
 * (src/fuse `receiverCache`, question-only protocol) and the receiver answers after the whole
 * sharer context.
 */
import type { Session } from '../engine/index.js';
import type { TextTokenizer } from '../model/index.js';
import { FloatPool, decodeCard, type CardLimits, type CardModel, type DecodedCard, type FusionSection } from '../card/index.js';
import { KvwireError } from '../errors.js';
import type { LinearFuser } from '../fuse/fuser.js';
import { fuserForCard } from '../fuse/fusion-section.js';
import { receiverCache } from '../fuse/protocol.js';
import { fetchCard, postJson } from '../transport/index.js';

export interface ReceiverOptions {
  model: CardModel;
  /** HMAC key: unsigned or wrongly signed cards are refused. */
  key?: Uint8Array | string;
  limits?: Partial<CardLimits>;
  /**
   * Fusers this receiver holds (src/fuse loadFusers): a cross-model card is accepted only from a
   * sharer one of them maps to this model. Default none: every cross-model card is refused (NO_FUSER).
   */
  fusers?: readonly LinearFuser[];
}

/** Where a card comes from: a URL (GET, or POST with a JSON request), raw bytes, or an already decoded card. */
export type CardSource = { url: string; request?: unknown } | { bytes: Uint8Array } | { card: DecodedCard };

export interface AnswerOptions {
  maxTokens?: number;
  /** Stop after the first line (the task format's answers are one line). Default true. */
  firstLine?: boolean;
}

export interface Answer {
  tokens: number[];
  text: string;
  /** Bytes that crossed the link for this answer (card or text). */
  bytes: number;
  timings: {
    /** Asking -> card verified (or text received). */
    fetchMs: number;
    /** Of fetchMs, time inside the card decoder (verify + dequantize), overlapped with the transfer. */
    decodeMs: number;
    /** Card -> session (layout conversion; for a cross-model card, projection and fusion included). */
    injectMs: number;
    /** Of injectMs, a cross-model card's projection and fusion (src/fuse receiverCache). */
    fuseMs?: number;
    /** Question (or, for text baselines, text + question) through the model. */
    prefillMs: number;
    /** Asking -> first answer token: the receiver's TTFT. */
    ttftMs: number;
    /** Asking -> whole answer. */
    totalMs: number;
  };
  card?: { digest: string; tokens: number; nextPosition: number; signature: DecodedCard['signature']; attempts: number; meta: Record<string, unknown> | null };
  /** The sharer's own stages for this card (from its response headers), when fetched. */
  sharer?: { planMs: number; encodeMs: number };
}

export class Receiver {
  /**
   * K/V arrays of cards this receiver decoded, injected (the session copies them) and dropped:
   * the next card of the same size decodes into them instead of fresh, page-faulting memory.
   */
  private readonly pool = new FloatPool();

  constructor(private readonly session: Session, readonly options: ReceiverOptions) {}

  get tokenizer(): TextTokenizer {
    return this.session.spec.tokenizer;
  }

  /** Gets and verifies a card (nothing is injected unless it verifies). */
  async receive(source: CardSource): Promise<{ card: DecodedCard; bytes: number; attempts: number; decodeMs: number; sharer?: Answer['sharer']; fuser: LinearFuser | null }> {
    let fuser: LinearFuser | null = null;
    // Runs inside the decoder when a FUSION section arrives, before any payload: refuses a card
    // for another receiver (CARD_MODEL) or from a sharer without a fuser here (NO_FUSER).
    const acceptFusion = (sharer: CardModel, f: FusionSection) => { fuser = fuserForCard(this.options.fusers ?? [], sharer, this.options.model, f); };
    const opts = { expectModel: this.options.model, key: this.options.key, limits: this.options.limits, pool: this.pool, acceptFusion };
    if ('card' in source) {
      const card = source.card;
      // A card given decoded was verified by whoever decoded it; a cross-model one still needs a fuser here.
      if (card.info.fusion) acceptFusion(card.info.model, card.info.fusion);
      return { card, bytes: card.info.totalLength, attempts: 0, decodeMs: 0, fuser };
    }
    if ('bytes' in source) {
      const a = performance.now();
      const card = decodeCard(source.bytes, opts);
      return { card, bytes: source.bytes.length, attempts: 0, decodeMs: performance.now() - a, fuser };
    }
    const got = await fetchCard(source.url, { ...opts, request: source.request === undefined ? undefined : { method: 'POST', json: source.request } });
    const ms = (h: string | string[] | undefined) => (typeof h === 'string' ? Number(h) : NaN);
    const planMs = ms(got.headers['x-kvwire-plan-ms']);
    // A streaming sharer reports its encode time in a trailer (it overlapped the transfer).
    const encodeMs = ms(got.trailers['x-kvwire-encode-ms'] ?? got.headers['x-kvwire-encode-ms']);
    const sharer = Number.isFinite(planMs) ? { planMs, encodeMs } : undefined;
    return { card: got.card, bytes: got.receivedBytes, attempts: got.attempts, decodeMs: got.timings.decodeMs, sharer, fuser };
  }

  /** Handoff: card -> inject -> question -> answer. */
  async fromCard(source: CardSource, question: ArrayLike<number>, options: AnswerOptions = {}): Promise<Answer> {
    const t0 = performance.now();
    const got = await this.receive(source);
    const t1 = performance.now();
    let fuseMs: number | undefined;
    let seq: ReturnType<Session['sequence']>;
    const fusion = got.card.info.fusion;
    if (fusion) {
      // A cross-model card: the sharer's K/V in its layers `fusion.layerIndex`, at its positions.
      if (fusion.protocol !== 'question-only') {
        throw new KvwireError('CARD_UNSUPPORTED', `card FUSION.protocol ${fusion.protocol}: this receiver fuses question-only cards (it has not read the context)`, { path: 'FUSION.protocol' });
      }
      if (got.card.absent) throw new KvwireError('CARD_UNSUPPORTED', 'a cross-model card with per-head selections: fusion takes one token set for all heads', { path: 'PLAN.mapScope' });
      const fused = await receiverCache(this.session, got.fuser!, got.card.cache, got.card.nextPosition, fusion.bosDropped);
      fuseMs = performance.now() - t1;
      seq = this.session.inject(fused.cache, { nextPosition: fused.nextPosition });
    } else {
      seq = this.session.inject(got.card.cache, { nextPosition: got.card.nextPosition, absent: got.card.absent });
    }
    // inject copied the cache into the sequence; a card this receiver decoded itself is not
    // seen by anyone else, so its arrays go back to the pool (a card given decoded stays the caller's).
    if (!('card' in source)) this.pool.give([...got.card.cache.keys, ...got.card.cache.values]);
    const t2 = performance.now();
    const answer = await this.answer(seq, question, t0, options).finally(() => seq.close());
    return {
      ...answer, bytes: got.bytes, sharer: got.sharer,
      timings: { fetchMs: t1 - t0, decodeMs: got.decodeMs, injectMs: t2 - t1, ...(fuseMs === undefined ? {} : { fuseMs }), ...answer.timings },
      card: { digest: got.card.digest, tokens: got.card.cache.length, nextPosition: got.card.nextPosition, signature: got.card.signature, attempts: got.attempts, meta: got.card.meta },
    };
  }

  /**
   * Re-prefill baselines: `text` (or the sharer's reply `{ text }` from a URL) is tokenized and
   * prefilled with the question after it. With `bos`, the text starts the sequence (BOS first).
   */
  async fromText(source: { text: string } | { url: string; request?: unknown }, question: ArrayLike<number>, options: AnswerOptions = {}): Promise<Answer> {
    const t0 = performance.now();
    const text = 'text' in source ? source.text : (await postJson<{ text: string }>(source.url, source.request ?? {})).text;
    const t1 = performance.now();
    const tokens = this.tokenizer.encode(text, { addBos: true });
    const seq = this.session.sequence();
    const answer = await this.answer(seq, [...tokens, ...Array.from(question)], t0, options);
    return { ...answer, bytes: Buffer.byteLength(text), timings: { fetchMs: t1 - t0, decodeMs: 0, injectMs: 0, ...answer.timings } };
  }

  /** Appends `prompt` to `seq`, takes the first token (TTFT), then the rest of the answer. */
  private async answer(seq: ReturnType<Session['sequence']>, prompt: ArrayLike<number>, t0: number, options: AnswerOptions) {
    const maxTokens = options.maxTokens ?? 12;
    const tok = this.tokenizer;
    const a = performance.now();
    await seq.append(prompt);
    const b = performance.now();
    const first = await seq.generate({ maxTokens: 1 });
    const ttft = performance.now();
    const tokens = [...first.tokens];
    const firstLine = options.firstLine ?? true;
    const done = (t: readonly number[]) => firstLine && tok.decode(t).includes('\n');
    if (tokens.length === 1 && maxTokens > 1 && !done(tokens)) {
      await seq.append(tokens);
      const rest = await seq.generate({ maxTokens: maxTokens - 1, until: (t) => done([...tokens, ...t]) });
      tokens.push(...rest.tokens);
    }
    let text = tok.decode(tokens);
    if (firstLine && text.includes('\n')) text = text.slice(0, text.indexOf('\n'));
    return { tokens, text, timings: { prefillMs: b - a, ttftMs: ttft - t0, totalMs: performance.now() - t0 } };
  }
}
