/**
 * Attention-based scorers (H2O, SnapKV, Q2C) and the two AttentionSource implementations they
 * read from: a live Session (computes what is asked, in row chunks to bound memory) and
 * precomputed AttentionProbs (what a runner already got from its own prefill).
 *
 * Memory: the engine returns probs[l] as (heads, A, T) floats for A query rows, per layer, all
 * layers at once: layers·heads·A·T floats. H2O wants every row (A = T), which at T = 8K on a
 * 10-layer, 6-head model is 16 GB. So the session source never asks for more than
 * CHUNK_FLOATS at once: it re-runs the context in chunks of rows (prefill of tokens [c0, c1)
 * after the cache of [0, c0), asking attention for the rows in that chunk only) and sums each
 * chunk's probabilities into a (heads, T) mass per layer before the next chunk.
 */
import { ensure } from '../errors.js';
import type { AttentionProbs, Session } from '../engine/index.js';
import type { KvCache } from '../kv/index.js';
import type { AttentionSource, ScoreInput, Selector, TokenScores } from './types.js';

/** At most this many attention floats are alive at once in the session source (128 MB). */
export const CHUNK_FLOATS = 32 * 1024 * 1024;

/** Sum of probs (heads, A, K) over the listed rows, for keys < T: (heads, T). */
export function rowMass(p: Float32Array, heads: number, A: number, K: number, T: number, rows: Iterable<number>, into?: Float32Array): Float32Array {
  ensure(p.length === heads * A * K, 'CACHE_MISMATCH', `attention holds ${p.length} floats, expected heads·A·K = ${heads * A * K}`);
  const out = into ?? new Float32Array(heads * T);
  const n = Math.min(K, T);
  for (const r of rows) {
    for (let h = 0; h < heads; h++) {
      const src = (h * A + r) * K;
      const dst = h * T;
      for (let t = 0; t < n; t++) out[dst + t] += p[src + t];
    }
  }
  return out;
}

/**
 * Attention computed on demand from a session and the context's cache (its tokens and positions
 * are re-run; `question` is what Q2C appends). `chunkRows` overrides the chunk size (tests).
 */
export function sessionAttention(session: Session, context: KvCache, question?: ArrayLike<number>,
  options: { chunkRows?: number } = {}): AttentionSource {
  const heads = session.config.heads;
  const T = context.length;
  const L = session.config.layers;
  const memo = new Map<string, Float32Array[]>();
  return {
    heads,
    async contextMass(rows) {
      const key = rows.join(',');
      const hit = memo.get(key);
      if (hit) return hit;
      checkRows(rows, T);
      const mass = Array.from({ length: L }, () => new Float32Array(heads * T));
      const chunk = options.chunkRows ?? Math.max(1, Math.floor(CHUNK_FLOATS / Math.max(1, L * heads * T)));
      for (let i = 0; i < rows.length;) {
        // One prefill covers rows from rows[i] up to chunk rows later; tokens before it come from the cache.
        const c0 = rows[i];
        const c1 = Math.min(T, c0 + chunk);
        const mine: number[] = [];
        while (i < rows.length && rows[i] < c1) mine.push(rows[i++] - c0);
        const { attention } = await session.prefill(context.tokens.subarray(c0, c1), {
          past: c0 > 0 ? context.slice(0, c0) : undefined, positions: context.positions.subarray(c0, c1), attentionRows: mine,
        });
        const K = c1;
        attention!.probs.forEach((p, l) => rowMass(p, heads, mine.length, K, T, mine.keys(), mass[l]));
      }
      memo.set(key, mass);
      return mass;
    },
    async questionMass() {
      ensure(question !== undefined && question.length > 0, 'BAD_ARGUMENT', 'Q2C needs the question\'s tokens (sessionAttention(session, context, question))');
      const hit = memo.get('question');
      if (hit) return hit;
      const Q = question.length;
      const { attention } = await session.prefill(question, { past: context, attentionRows: Array.from({ length: Q }, (_, i) => i) });
      const mass = attention!.probs.map((p) => rowMass(p, heads, Q, T + Q, T, Array.from({ length: Q }, (_, i) => i)));
      memo.set('question', mass);
      return mass;
    },
  };
}

/**
 * Attention a runner already has: `context` from prefill(contextTokens, {attentionRows}) (its
 * query positions say which rows are present), `question` from appending the question to the
 * context cache with attentionRows = all question rows. Missing rows throw BAD_ARGUMENT.
 */
export function precomputedAttention(contextPositions: Int32Array, heads: number,
  probs: { context?: AttentionProbs; question?: AttentionProbs; questionLength?: number }): AttentionSource {
  const T = contextPositions.length;
  // Rows of `question` past questionLength are the sharer's draft answer (lookahead Q2C).
  const A = probs.question?.queryPositions.length ?? 0;
  const Q = probs.questionLength ?? A;
  ensure(Number.isInteger(Q) && Q >= 0 && Q <= A, 'BAD_ARGUMENT', `questionLength ${Q} must be within the ${A} question rows`);
  const questionRows = (from: number, to: number) => {
    const a = probs.question;
    ensure(a !== undefined, 'BAD_ARGUMENT', 'Q2C needs the question\'s attention: append the question with attentionRows = all rows');
    return a.probs.map((p) => rowMass(p, heads, A, a.keyPositions.length, T, Array.from({ length: to - from }, (_, i) => from + i)));
  };
  // A draft exists (possibly empty: the answer's first token was EOS) only where questionLength says where it starts.
  const draft = probs.questionLength === undefined ? {} : {
    async draftMass(n: number) {
      ensure(Number.isInteger(n) && n >= 1 && n <= A - Q, 'BAD_ARGUMENT',
        `lookahead Q2C asks for ${n} draft rows; the sharer drafted ${A - Q} (read the context with lookahead >= ${n})`);
      return questionRows(Q, Q + n);
    },
  };
  return {
    ...draft,
    draftLength: A - Q,
    heads,
    async contextMass(rows) {
      checkRows(rows, T);
      const a = probs.context;
      ensure(a !== undefined, 'BAD_ARGUMENT', 'this selector needs the context\'s attention: prefill the context with attentionRows');
      const at = new Map(a.queryPositions.map((p, i) => [p, i]));
      const local = rows.map((r) => {
        const i = at.get(contextPositions[r]);
        ensure(i !== undefined, 'BAD_ARGUMENT', `the context's attention has no row for token ${r} (position ${contextPositions[r]})`);
        return i;
      });
      const A = a.queryPositions.length;
      const K = a.keyPositions.length;
      return a.probs.map((p) => rowMass(p, heads, A, K, T, local));
    },
    async questionMass() {
      return questionRows(0, Q);
    },
  };
}

function checkRows(rows: number[], T: number): void {
  rows.forEach((r, i) => ensure(Number.isInteger(r) && r >= 0 && r < T && (i === 0 || r > rows[i - 1]), 'BAD_ARGUMENT',
    `attention rows must be increasing indices in 0..${T - 1}; row ${i} is ${r}`));
}

/** (heads, T) query-head mass -> (kvHeads, T) by summing each KV head's group of query heads. */
export function toKvHeads(mass: Float32Array, heads: number, kvHeads: number, T: number): Float64Array {
  const G = heads / kvHeads;
  ensure(Number.isInteger(G), 'CACHE_MISMATCH', `${heads} query heads do not group into ${kvHeads} KV heads`);
  const out = new Float64Array(kvHeads * T);
  for (let q = 0; q < heads; q++) {
    const h = Math.floor(q / G);
    for (let t = 0; t < T; t++) out[h * T + t] += mass[q * T + t];
  }
  return out;
}

/** Max over a window of `kernel` tokens centred on t (stride 1, edges see a shorter window). */
export function maxPool1d(s: Float64Array, kernel: number): Float64Array {
  const half = Math.floor(kernel / 2);
  const out = new Float64Array(s.length);
  for (let t = 0; t < s.length; t++) {
    let m = -Infinity;
    for (let u = Math.max(0, t - half); u <= Math.min(s.length - 1, t + half); u++) m = Math.max(m, s[u]);
    out[t] = m;
  }
  return out;
}

function needAttention(input: ScoreInput, name: string): AttentionSource {
  ensure(input.attention !== undefined, 'BAD_ARGUMENT', `${name} needs attention: pass ScoreInput.attention (sessionAttention or precomputedAttention)`);
  return input.attention;
}

/** Per-KV-head scores from a per-layer (heads, T) mass. */
function headScores(mass: Float32Array[], heads: number, cache: KvCache): TokenScores {
  return { granularity: 'head', length: cache.length, kvHeads: cache.kvHeads, scores: mass.map((m) => toKvHeads(m, heads, cache.kvHeads, cache.length)) };
}

/**
 * H2O (Zhang et al. 2023): each key's attention accumulated over all the prompt's query rows, per
 * head. As in H2O, no correction for causality: early keys are seen by more rows.
 */
export const h2o: Selector = {
  name: 'h2o', description: 'attention accumulated over all context queries (heavy hitters), per head', needs: 'context-attention', granularity: 'head',
  score: async (input) => {
    const src = needAttention(input, 'h2o');
    const T = input.cache.length;
    return headScores(await src.contextMass(Array.from({ length: T }, (_, i) => i)), src.heads, input.cache);
  },
};

/**
 * SnapKV (Li et al. 2024) with an observation window of the last W context queries: per head,
 * the window's attention mass on each key, max-pooled over `kernel` neighbouring tokens so that
 * a selected token brings its neighbours. The window's own tokens rank first (SnapKV always keeps
 * the window) unless `keepWindow` is false. Defaults W = 8 (our contexts are 10²–10³ tokens,
 * SnapKV's 32–64 are for 10⁴), kernel 5.
 */
export function snapkv(options: { window?: number; kernel?: number; keepWindow?: boolean } = {}): Selector {
  const W = options.window ?? 8;
  const kernel = options.kernel ?? 5;
  ensure(Number.isInteger(W) && W >= 1 && Number.isInteger(kernel) && kernel >= 1, 'BAD_ARGUMENT',
    `snapkv: window and kernel must be positive integers, got ${W} and ${kernel}`);
  return {
    name: 'snapkv', description: `attention of the last ${W} context queries, max-pooled (kernel ${kernel}), per head`,
    needs: 'context-attention', granularity: 'head',
    score: async (input) => {
      const src = needAttention(input, 'snapkv');
      const { cache } = input;
      const T = cache.length;
      const w = Math.min(W, T);
      const mass = await src.contextMass(Array.from({ length: w }, (_, i) => T - w + i));
      const scores = mass.map((m) => {
        const kv = toKvHeads(m, src.heads, cache.kvHeads, T);
        const out = new Float64Array(kv.length);
        for (let h = 0; h < cache.kvHeads; h++) {
          const pooled = maxPool1d(kv.subarray(h * T, (h + 1) * T), kernel);
          let top = 0;
          for (let t = 0; t < T; t++) top = Math.max(top, pooled[t]);
          // Window tokens above every pooled score, latest first within the window.
          if (options.keepWindow ?? true) for (let t = T - w; t < T; t++) pooled[t] = top + 1 + (t - (T - w));
          out.set(pooled, h * T);
        }
        return out;
      });
      return { granularity: 'head', length: T, kvHeads: cache.kvHeads, scores };
    },
  };
}

/** Max over the window [t - before, t + after] (edges see a shorter window). */
export function windowMax(s: Float64Array, before: number, after: number): Float64Array {
  const out = new Float64Array(s.length);
  for (let t = 0; t < s.length; t++) {
    let m = -Infinity;
    for (let u = Math.max(0, t - before), end = Math.min(s.length - 1, t + after); u <= end; u++) if (s[u] > m) m = s[u];
    out[t] = m;
  }
  return out;
}

/**
 * Q2C (seed 002): attention from the question's tokens (appended after the context) to each
 * context token, summed over the question's rows, per KV head (its query heads summed), then
 * max-pooled over a window of `before` tokens back and `after` ahead (SnapKV's pooling, skewed
 * forward): the question attends to the words it shares with the context ("magic number for
 * crimson-orchard"), and the answer is the tokens just after them, which a token-level top-k
 * drops. Natural granularity per KV head: each head keeps its own tokens (a card carries them as
 * a per-head class map); aggregated to 'shared', the pooled scores are averaged over heads and
 * layers. Defaults 8 back, 4 ahead: on kvw-llama-17m at 25% (INT4 off) they kept needle@1024 at
 * 40/40 where a shared unpooled top-k got 1/30, and scored best on instr among the windows tried.
 */
export function q2cSelector(options: { before?: number; after?: number; ahead?: number } = {}): Selector {
  const before = options.before ?? 8;
  const after = options.after ?? 4;
  const ahead = options.ahead ?? 0;
  ensure(Number.isInteger(before) && before >= 0 && Number.isInteger(after) && after >= 0, 'BAD_ARGUMENT',
    `q2c: pooling window must be non-negative integers, got ${before} back and ${after} ahead`);
  ensure(Number.isInteger(ahead) && ahead >= 0, 'BAD_ARGUMENT', `q2c: lookahead must be a non-negative integer, got ${ahead}`);
  return {
    name: 'q2c', description: `attention from the question's tokens${ahead ? ` and the sharer's ${ahead}-token draft answer` : ''} to the context, per KV head, max-pooled over ${before} tokens back and ${after} ahead`,
    needs: 'question-attention', granularity: 'head',
    score: async (input) => {
      const src = needAttention(input, 'q2c');
      const { cache } = input;
      const T = cache.length;
      const raw = headScores(ahead ? await lookaheadMass(src, ahead) : await src.questionMass(), src.heads, cache);
      if (raw.granularity !== 'head' || (before === 0 && after === 0)) return raw;
      const scores = raw.scores.map((layer) => {
        const out = new Float64Array(layer.length);
        for (let h = 0; h < cache.kvHeads; h++) out.set(windowMax(layer.subarray(h * T, (h + 1) * T), before, after), h * T);
        return out;
      });
      return { granularity: 'head', length: T, kvHeads: cache.kvHeads, scores };
    },
  };
}

export const q2c: Selector = q2cSelector();

/**
 * Lookahead Q2C: the question's rows and the draft's rows, summed alike, as if the draft were more
 * question. The question's rows attend to the words it shares with the context; the rows of the
 * answer's first tokens attend to where the answer is copied from (on kvw-llama-17m's needle, not
 * where the question's rows point). Screened on kvw-llama-17m (seed 0, n = 40, INT4, 25%): this
 * sum kept needle at 95% and instr at 97.5%; weighing the draft as much as the whole question
 * (each part's mean row) gave 95% and 70-72.5%, their maximum 95-97.5% and 87.5%
 * (docs/results/handoff.md, "Lookahead Q2C").
 */
async function lookaheadMass(src: AttentionSource, ahead: number): Promise<Float32Array[]> {
  ensure(src.draftMass !== undefined, 'BAD_ARGUMENT',
    `lookahead Q2C (+ahead${ahead}) needs the sharer's draft answer: read the context with its question and lookahead >= 1`);
  if (!src.draftLength) return src.questionMass(); // the sharer's answer ended at once: no draft rows to add
  const [q, d] = [await src.questionMass(), await src.draftMass(Math.min(ahead, src.draftLength))];
  return q.map((m, l) => m.map((x, i) => x + d[l][i]));
}
