/**
 * The shapes every selector shares: token scores, index sets, the budget, and what a scorer may
 * read (the cache, attention, the receiver's value space).
 *
 * A selector is a *scorer* (token -> importance, at some granularity) followed by one top-k
 * (topk.ts) that is the same for every method, so sinks, recent windows, budgets and tie-breaks
 * behave identically across methods. Positional methods (front, back, random) are scorers too:
 * front scores -t, back scores t.
 */
import type { KvCache } from '../kv/index.js';

/** Which tokens share one index set: the whole cache, each layer, or each KV head of each layer. */
export type Granularity = 'shared' | 'layer' | 'head';

/**
 * Token importance (larger = keep first), T tokens.
 * - shared: scores (T)
 * - layer:  scores[l] (T)
 * - head:   scores[l] (kvHeads, T), head-major like the cache
 * Scores are float64 and finite; ties are broken by the lower token index.
 */
export type TokenScores =
  | { granularity: 'shared'; length: number; scores: Float64Array }
  | { granularity: 'layer'; length: number; scores: Float64Array[] }
  | { granularity: 'head'; length: number; kvHeads: number; scores: Float64Array[] };

/**
 * The tokens kept, as strictly increasing indices into the source cache (0..length-1).
 * - shared: one set for every layer and head: `KvCache.gather(indices)` applies it.
 * - layer:  indices[l], one set per layer (all of the same size k).
 * - head:   indices[l][h], one set per KV head of each layer (all of size k).
 * Per-layer and per-head sets cannot be a KvCache (whose tokens are common to all layers and
 * heads): they travel as the *union* of their tokens plus a per-(layer, head) "absent" mask;
 * see `applySelection` (topk.ts) and the plan's class maps (src/plan, symbol DROPPED).
 */
export type IndexSet =
  | { kind: 'shared'; length: number; indices: Int32Array }
  | { kind: 'layer'; length: number; indices: Int32Array[] }
  | { kind: 'head'; length: number; kvHeads: number; indices: Int32Array[][] };

/** How many tokens to keep: a ratio p of T (k = max(1, floor(p·T))) or an exact count. */
export type KeepBudget = { ratio: number } | { count: number };

export interface SelectOptions {
  budget: KeepBudget;
  /** Always keep the first `sinks` tokens (attention sinks, e.g. BOS). Default 0. */
  sinks?: number;
  /** Always keep the last `recent` tokens. Default 0. */
  recent?: number;
  /** Granularity of the result; default: the scores' own. Finer scores are averaged to coarser. */
  granularity?: Granularity;
}

/**
 * Attention statistics a scorer may ask for. Each returns, per layer, the attention *mass*
 * (sum of softmax probabilities) that each context key received from a set of query rows,
 * per query head: mass[l] is (heads, T) with heads = query heads, ordered kv-major
 * (query head q belongs to KV head floor(q / (heads/kvHeads))), as the engine returns them.
 */
export interface AttentionSource {
  /** Query heads per layer. */
  readonly heads: number;
  /** Mass from the context's own query rows `rows` (indices into the context, increasing). */
  contextMass(rows: number[]): Promise<Float32Array[]>;
  /** Mass from the question's rows (the receiver's question appended after the context). */
  questionMass(): Promise<Float32Array[]>;
  /**
   * Mass from the rows of the first `n` tokens of the sharer's own greedy answer, drafted after
   * the question (lookahead Q2C, `+aheadN`); absent where no draft was asked for (a draft may
   * still be empty: the answer's first token was EOS, `draftLength` 0).
   */
  draftMass?(n: number): Promise<Float32Array[]>;
  /** Tokens of that draft (at most what `draftMass` can serve). */
  readonly draftLength?: number;
}

/**
 * The receiver's value space, for scores computed where the receiver will read the values
 * (cross-model: proj_vnorm, delta_proj_vnorm of seed 001 §4.4.1). For same-model handoff the
 * projection is the identity and there is no receiver baseline.
 */
export interface ReceiverValueSpace {
  /**
   * The receiver's layer count (the length of `projectedValues`). Across models it differs from
   * the sharer cache's: scores are per *receiver* layer. Default: `projectedValues.length`.
   */
  layers?: number;
  kvHeads: number;
  headDim: number;
  /** V̂ = Π^V(V^S) per layer, (kvHeads, T, headDim) in the receiver's shape. */
  projectedValues: Float32Array[];
  /** The receiver's own V^R per layer (same shape), when it has a cache of the same tokens. */
  receiverValues?: Float32Array[];
}

/** Everything a scorer may read. Only `cache` is always present. */
export interface ScoreInput {
  /** The context's cache (T tokens). */
  cache: KvCache;
  attention?: AttentionSource;
  receiver?: ReceiverValueSpace;
  /** Seed for random selection (default 0). */
  seed?: number;
}

/** What a selector needs from ScoreInput beyond the cache. */
export type SelectorNeeds = 'cache' | 'context-attention' | 'question-attention' | 'receiver';

/** One token-importance method. */
export interface Selector {
  readonly name: string;
  /** One line: what the score is. */
  readonly description: string;
  readonly needs: SelectorNeeds;
  /** The natural granularity of the scores (the result of `score`). */
  readonly granularity: Granularity;
  score(input: ScoreInput): Promise<TokenScores>;
}
