/**
 * The sharer agent: reads a context once (prefill; with the question known, also the question's
 * attention for Q2C), then on request compresses its cache and encodes a card, or writes text for
 * the baselines (the full context for re-prefill; a short note for text relay).
 *
 *   const sharer = new Sharer(session, { model: fingerprint(spec), key });
 *   const ctx = await sharer.read(tokens, { question, text });
 *   const { card, timings } = await sharer.card(ctx.id, 'int4-q2c25');
 */
import { KvwireError, ensure } from '../errors.js';
import type { AttentionProbs, Session } from '../engine/index.js';
import type { KvCache } from '../kv/index.js';
import { createCardWriter, type CardModel, type CardWriter, type EncodedCard } from '../card/index.js';
import { aggregateScores, precomputedAttention, q2c, sessionAttention, type AttentionSource } from '../select/index.js';
import { compress, parseCompression } from './compression.js';

export interface SharerOptions {
  model: CardModel;
  /** HMAC key: every card is signed. */
  key?: Uint8Array | string;
  /** Layers per card chunk (default 1). */
  layerGroup?: number;
  /** Hop count written into each card's META (multi-hop chains). */
  hops?: number;
}

export interface SharedContext {
  id: string;
  /** The context's cache (all tokens, positions 0..T-1 unless adopted otherwise). */
  cache: KvCache;
  /** The question's attention to the context (for Q2C), when the question was known at read time. */
  attention?: AttentionSource;
  /** The context as text, for the text baselines. */
  text?: string;
  timings: { prefillMs: number; scoreMs: number };
}

export interface CardResult {
  card: EncodedCard;
  compression: string;
  keptTokens: number;
  keptFraction: number;
  timings: { planMs: number; encodeMs: number };
}

let nextId = 1;

export class Sharer {
  private readonly contexts = new Map<string, SharedContext>();

  /** `session` may be null for a sharer that only serves adopted contexts (see `adopt`). */
  constructor(private readonly session: Session | null, readonly options: SharerOptions) {}

  /**
   * Prefills `tokens`; with `question`, also the question's attention to them (Q2C), and with
   * `lookahead` N, that of the sharer's own N-token greedy draft answer too (`+aheadN`).
   */
  async read(tokens: ArrayLike<number>, options: { question?: ArrayLike<number>; lookahead?: number; text?: string; id?: string } = {}): Promise<SharedContext> {
    const session = this.need();
    const t0 = performance.now();
    const { cache } = await session.prefill(tokens); // the engine runs long inputs in chunks of rows
    const prefillMs = performance.now() - t0;
    // Context-attention selectors (H2O, SnapKV) re-run the context on demand, in row chunks.
    const live = sessionAttention(session, cache);
    let attention: AttentionSource = live;
    let scoreMs = 0;
    if (options.question?.length) {
      // Q2C (seed 002): attention from the question, appended after the context at its original
      // positions, to every context token. One forward of the question's tokens.
      const t1 = performance.now();
      const asked = await questionAttention(session, cache, options.question, options.lookahead ?? 0);
      // The question's (and draft's) rows as drafted; the context's own rows from the live session.
      attention = { ...asked, contextMass: (r) => live.contextMass(r) };
      scoreMs = performance.now() - t1;
    }
    return this.adopt(cache, { attention, text: options.text, id: options.id, timings: { prefillMs, scoreMs } });
  }

  /** Registers a context that was prefilled elsewhere (a stored cache), with its question attention. */
  adopt(cache: KvCache, options: { attention?: AttentionSource; text?: string; id?: string; timings?: SharedContext['timings'] } = {}): SharedContext {
    const ctx: SharedContext = { id: options.id ?? `ctx-${nextId++}`, cache, attention: options.attention, text: options.text, timings: options.timings ?? { prefillMs: 0, scoreMs: 0 } };
    this.contexts.set(ctx.id, ctx);
    return ctx;
  }

  get(id: string): SharedContext {
    const ctx = this.contexts.get(id);
    if (!ctx) throw new KvwireError('FILE_NOT_FOUND', `no context "${id}" on this sharer`, { path: id });
    return ctx;
  }

  drop(id: string): void {
    this.contexts.delete(id);
  }

  /** Compresses context `id` with `compression` (see compression.ts) and encodes the card. */
  async card(id: string, compression: string, options: { meta?: Record<string, unknown> } = {}): Promise<CardResult> {
    const p = await this.plan(id, compression, options);
    const t = performance.now();
    while (p.writer.step() !== null);
    return { card: p.writer.result(), compression, keptTokens: p.keptTokens, keptFraction: p.keptFraction, timings: { planMs: p.planMs, encodeMs: performance.now() - t } };
  }

  /**
   * Selects and assigns precision, and returns a writer that encodes the card section by section
   * (`shared`: in shared memory, so another thread can send the sections already written while
   * the rest is encoded — the sharer's half of the streaming pipeline).
   */
  async plan(id: string, compression: string, options: { meta?: Record<string, unknown>; shared?: boolean } = {}):
    Promise<{ writer: CardWriter; planMs: number; keptTokens: number; keptFraction: number }> {
    const ctx = this.get(id);
    const c = parseCompression(compression);
    const t0 = performance.now();
    const kept = await compress(ctx.cache, c, { attention: ctx.attention });
    const writer = createCardWriter(kept.source, {
      rows: kept.indices ?? undefined,
      model: this.options.model, precision: kept.precision, nextPosition: ctx.cache.nextPosition, layerGroup: this.options.layerGroup,
      key: this.options.key, scores: kept.scores, shared: options.shared,
      meta: { compression, keptFraction: kept.keptFraction, hops: this.options.hops ?? 1, createdBy: 'kvwire 0.1.0', ...options.meta },
    });
    return { writer, planMs: performance.now() - t0, keptTokens: kept.keptTokens, keptFraction: kept.keptFraction };
  }

  /**
   * Text for the baselines. 'full': the whole context (the receiver re-prefills it). 'note': a
   * short note for text relay — the context's sentences (or lines) with the highest Q2C
   * attention from the question, in their original order, up to `keep` of the context's tokens
   * (at least one sentence; without the question's attention: the first sentences). A model-written summary is not used: the zoo's small
   * models are not trained to summarize, and extracting what the question attends to is the
   * strongest text the sharer can write at the same token budget.
   */
  async text(id: string, mode: 'full' | 'note', keep = 0.25): Promise<string> {
    const ctx = this.get(id);
    ensure(ctx.text !== undefined, 'BAD_ARGUMENT', `context "${id}" was given without its text`);
    if (mode === 'full') return ctx.text;
    const tok = this.need().spec.tokenizer;
    const lines = ctx.text.match(/[^.!?\n]+(?:[.!?]+|$)\s*|\n+/g) ?? [ctx.text]; // sentences with their trailing space
    const lengths = lines.map((l) => tok.encode(l).length);
    const total = lengths.reduce((a, b) => a + b, 0);
    const T = ctx.cache.length;
    const scores = ctx.attention ? aggregateScores(await q2c.score({ cache: ctx.cache, attention: ctx.attention }), 'shared', ctx.cache) : null;
    const perToken = scores?.granularity === 'shared' ? scores.scores : null;
    // Line i covers about [start_i, end_i) of the context's tokens (after BOS): per-line token
    // counts, scaled to the context length (tokenizing lines apart differs only at the seams).
    const offset = T - total > 0 ? T - total : 0;
    const scale = (T - offset) / Math.max(1, total);
    let at = 0;
    const ranked = lines.map((_, i) => {
      const s = offset + Math.floor(at * scale);
      at += lengths[i];
      const e = Math.max(s + 1, offset + Math.floor(at * scale));
      let peak = -i; // without attention: earlier lines first
      if (perToken) { peak = -Infinity; for (let t = s; t < Math.min(e, T); t++) peak = Math.max(peak, perToken[t]); }
      return { i, peak };
    }).sort((a, b) => b.peak - a.peak || a.i - b.i);
    const budget = Math.max(1, Math.floor(keep * total));
    const chosen = new Set<number>();
    let used = 0;
    for (const { i } of ranked) {
      if (used + lengths[i] > budget && chosen.size > 0) continue;
      chosen.add(i);
      used += lengths[i];
    }
    return lines.filter((_, i) => chosen.has(i)).join('').trim();
  }

  private need(): Session {
    if (!this.session) throw new KvwireError('BAD_ARGUMENT', 'this sharer has no model session: it only serves adopted contexts');
    return this.session;
  }
}

/**
 * The question's attention to a context cache (Q2C): the question appended after the context at
 * its next positions, every row's attention. With `lookahead` N > 0 the sharer also drafts its
 * own greedy answer (up to N tokens, stopping at EOS) and the rows of that draft come too, for
 * lookahead Q2C (`+aheadN`).
 *
 * One copy of the context's cache, then the question and each drafted token appended to it: a
 * forward of question + draft over a fresh copy of the cache per draft token (what this did before)
 * cost ~3x as much at 4K tokens, most of it copying the cache in and out. Only the rows' attention
 * to the context's own keys is kept (what Q2C scores).
 */
export async function questionAttention(session: Session, cache: KvCache, question: ArrayLike<number>, lookahead = 0): Promise<AttentionSource & { draft: number[] }> {
  ensure(Number.isInteger(lookahead) && lookahead >= 0 && lookahead <= 64, 'BAD_ARGUMENT', `lookahead must be an integer in 0..64 (draft tokens), got ${lookahead}`);
  const eos = new Set(session.config.eosTokenIds);
  const seq = session.inject(cache);
  const asked = await seq.append(question, { attentionRows: Array.from({ length: question.length }, (_, i) => i) });
  const parts = [asked.attention!];
  const draft: number[] = [];
  let logits = asked.logits;
  while (draft.length < lookahead) {
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
    if (eos.has(best)) break;
    draft.push(best);
    const step = await seq.append([best], { attentionRows: [0] });
    parts.push(step.attention!);
    logits = step.logits;
  }
  seq.close();
  const probs = contextRows(parts, cache.positions, session.config.heads);
  const source = precomputedAttention(cache.positions, session.config.heads, { question: probs, questionLength: lookahead > 0 ? question.length : undefined });
  return Object.assign(source, { draft });
}

/** The rows of several attention results, in order, restricted to the first T keys (the context's). */
function contextRows(parts: AttentionProbs[], contextPositions: Int32Array, heads: number): AttentionProbs {
  const T = contextPositions.length;
  const A = parts.reduce((n, p) => n + p.queryPositions.length, 0);
  const probs = parts[0].probs.map(() => new Float32Array(heads * A * T));
  let row = 0;
  for (const part of parts) {
    const a = part.queryPositions.length;
    const K = part.keyPositions.length;
    part.probs.forEach((p, l) => {
      for (let h = 0; h < heads; h++) {
        for (let r = 0; r < a; r++) probs[l].set(p.subarray((h * a + r) * K, (h * a + r) * K + T), (h * A + row + r) * T);
      }
    });
    row += a;
  }
  return { queryPositions: parts.flatMap((p) => p.queryPositions), keyPositions: contextPositions, probs };
}
