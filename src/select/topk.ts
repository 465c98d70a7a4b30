/**
 * The one top-k every selector goes through, score aggregation across granularities, and how an
 * IndexSet is applied to a KvCache.
 */
import { KvwireError, ensure } from '../errors.js';
import { KvCache } from '../kv/index.js';
import type { Granularity, IndexSet, KeepBudget, SelectOptions, TokenScores } from './types.js';

/** k for a budget over T tokens: max(1, floor(p·T)) for a ratio (seed 001: ⌊pT⌋), min(count, T) for a count. */
export function keepCount(budget: KeepBudget, T: number): number {
  ensure(Number.isInteger(T) && T >= 0, 'BAD_ARGUMENT', `keepCount: T must be a non-negative integer, got ${T}`);
  if ('ratio' in budget) {
    const p = budget.ratio;
    ensure(typeof p === 'number' && Number.isFinite(p) && p > 0 && p <= 1, 'BAD_ARGUMENT',
      `keep ratio must be a number in (0, 1], got ${p}`);
    return T === 0 ? 0 : Math.max(1, Math.floor(p * T + 1e-9));
  }
  const k = budget.count;
  ensure(Number.isInteger(k) && k >= 0, 'BAD_ARGUMENT', `keep count must be a non-negative integer, got ${k}`);
  return Math.min(k, T);
}

/**
 * Chooses k of T tokens from one score vector: the first `sinks` and last `recent` tokens first
 * (if they alone exceed k: sinks from the front, then recent from the end), then the highest
 * scores, ties to the lower index. Returns strictly increasing indices.
 */
export function topKIndices(scores: Float64Array, k: number, sinks = 0, recent = 0): Int32Array {
  const T = scores.length;
  ensure(Number.isInteger(k) && k >= 0 && k <= T, 'BAD_ARGUMENT', `top-k: k = ${k} is outside 0..${T}`);
  for (let t = 0; t < T; t++) {
    if (!Number.isFinite(scores[t])) throw new KvwireError('NON_FINITE', `top-k: score of token ${t} is ${scores[t]}`);
  }
  const keep = new Uint8Array(T);
  let taken = 0;
  for (let t = 0; t < Math.min(sinks, T) && taken < k; t++) if (!keep[t]) { keep[t] = 1; taken++; }
  for (let t = T - 1; t >= Math.max(0, T - recent) && taken < k; t--) if (!keep[t]) { keep[t] = 1; taken++; }
  if (taken < k) {
    // The (k - taken)-th largest remaining score by selection (expected O(T), no sort), then
    // every score above it and, ties to the lower index, as many equal to it as are still needed:
    // the same set a sort by (score desc, index asc) would give.
    const need = k - taken;
    const rest = new Float64Array(T - taken);
    let m = 0;
    for (let t = 0; t < T; t++) if (!keep[t]) rest[m++] = scores[t];
    const threshold = nthLargest(rest, need);
    let above = 0;
    for (let t = 0; t < T; t++) if (!keep[t] && scores[t] > threshold) above++;
    let ties = need - above;
    for (let t = 0; t < T; t++) {
      if (keep[t]) continue;
      const s = scores[t];
      if (s > threshold) keep[t] = 1;
      else if (s === threshold && ties > 0) { keep[t] = 1; ties--; }
    }
    taken = k;
  }
  const out = new Int32Array(k);
  for (let t = 0, i = 0; t < T; t++) if (keep[t]) out[i++] = t;
  return out;
}

/**
 * The n-th largest value (1-based) of `a` (reordered in place): Hoare-partition quickselect with
 * a median-of-three pivot, expected O(length). Values must be finite (-0 and 0 compare equal).
 */
export function nthLargest(a: Float64Array, n: number): number {
  ensure(Number.isInteger(n) && n >= 1 && n <= a.length, 'BAD_ARGUMENT', `nthLargest: n = ${n} is outside 1..${a.length}`);
  // Descending order: the answer sits at index n - 1.
  const want = n - 1;
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >> 1;
    // median of three, as the pivot value
    let x = a[lo], y = a[mid], z = a[hi];
    if (x < y) { const s = x; x = y; y = s; }
    if (y < z) { const s = y; y = z; z = s; if (x < y) { const s2 = x; x = y; y = s2; } }
    const pivot = y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const s = a[i]; a[i] = a[j]; a[j] = s;
        i++;
        j--;
      }
    }
    // [lo, j] >= pivot, [i, hi] <= pivot, (j, i) == pivot
    if (want <= j) hi = j;
    else if (want >= i) lo = i;
    else return pivot;
  }
  return a[want];
}

/** Mean over KV heads: (kvHeads, T) -> (T). */
function meanOverHeads(s: Float64Array, kvHeads: number, T: number): Float64Array {
  const out = new Float64Array(T);
  for (let h = 0; h < kvHeads; h++) for (let t = 0; t < T; t++) out[t] += s[h * T + t] / kvHeads;
  return out;
}

/**
 * Mean over layers after scaling each layer to mean |score| 1, so that a layer with larger norms
 * or sharper attention does not outvote the others (u(t) of seed 001 is defined per layer).
 */
function meanOverLayers(layers: Float64Array[], T: number): Float64Array {
  const out = new Float64Array(T);
  for (const s of layers) {
    let m = 0;
    for (let t = 0; t < T; t++) m += Math.abs(s[t]);
    const scale = m > 0 ? T / m : 1;
    for (let t = 0; t < T; t++) out[t] += (s[t] * scale) / layers.length;
  }
  return out;
}

/** Scores at a coarser granularity (finer requests broadcast the same scores). */
export function aggregateScores(scores: TokenScores, to: Granularity, shape: { layers: number; kvHeads: number }): TokenScores {
  const T = scores.length;
  const { layers, kvHeads } = shape;
  if (scores.granularity === to) return scores;
  if (scores.granularity !== 'shared') {
    ensure(scores.scores.length === layers, 'CACHE_MISMATCH', `scores have ${scores.scores.length} layers, the cache ${layers}`);
  }
  const perLayer = (): Float64Array[] => {
    if (scores.granularity === 'layer') return scores.scores;
    if (scores.granularity === 'head') return scores.scores.map((s) => meanOverHeads(s, scores.kvHeads, T));
    return Array.from({ length: layers }, () => scores.scores);
  };
  if (to === 'shared') return { granularity: 'shared', length: T, scores: meanOverLayers(perLayer(), T) };
  if (to === 'layer') return { granularity: 'layer', length: T, scores: perLayer() };
  // to === 'head': broadcast coarser scores to every head.
  const broadcast = (s: Float64Array) => {
    const out = new Float64Array(kvHeads * T);
    for (let h = 0; h < kvHeads; h++) out.set(s, h * T);
    return out;
  };
  return { granularity: 'head', length: T, kvHeads, scores: perLayer().map(broadcast) };
}

/** Top-k of `scores` under `options` (budget, sinks, recent, granularity). */
export function selectTopK(scores: TokenScores, options: SelectOptions, shape: { layers: number; kvHeads: number }): IndexSet {
  const T = scores.length;
  const k = keepCount(options.budget, T);
  const sinks = options.sinks ?? 0;
  const recent = options.recent ?? 0;
  ensure(Number.isInteger(sinks) && sinks >= 0 && Number.isInteger(recent) && recent >= 0, 'BAD_ARGUMENT',
    `sinks and recent must be non-negative integers, got ${sinks} and ${recent}`);
  const s = aggregateScores(scores, options.granularity ?? scores.granularity, shape);
  const pick = (v: Float64Array) => topKIndices(v, k, sinks, recent);
  if (s.granularity === 'shared') return { kind: 'shared', length: T, indices: pick(s.scores) };
  if (s.granularity === 'layer') return { kind: 'layer', length: T, indices: s.scores.map(pick) };
  return {
    kind: 'head', length: T, kvHeads: s.kvHeads,
    indices: s.scores.map((layer) => Array.from({ length: s.kvHeads }, (_, h) => pick(layer.subarray(h * T, (h + 1) * T)))),
  };
}

/** Every token kept by at least one layer or head, increasing. */
export function unionIndices(set: IndexSet): Int32Array {
  if (set.kind === 'shared') return set.indices;
  const mark = new Uint8Array(set.length);
  const lists = set.kind === 'layer' ? set.indices : set.indices.flat();
  for (const list of lists) for (const t of list) mark[t] = 1;
  const out: number[] = [];
  for (let t = 0; t < set.length; t++) if (mark[t]) out.push(t);
  return Int32Array.from(out);
}

/**
 * Per layer, (kvHeads, n) flags over the union's n tokens: 1 where that head does NOT keep the
 * token. Null for a shared set (nothing is absent).
 */
export function absentMask(set: IndexSet, shape: { layers: number; kvHeads: number }): Uint8Array[] | null {
  if (set.kind === 'shared') return null;
  const union = unionIndices(set);
  const where = new Int32Array(set.length).fill(-1);
  union.forEach((t, i) => { where[t] = i; });
  const n = union.length;
  const { layers, kvHeads } = shape;
  ensure(set.indices.length === layers, 'CACHE_MISMATCH', `index set has ${set.indices.length} layers, the cache ${layers}`);
  return Array.from({ length: layers }, (_, l) => {
    const mask = new Uint8Array(kvHeads * n).fill(1);
    for (let h = 0; h < kvHeads; h++) {
      const list = set.kind === 'layer' ? set.indices[l] : set.indices[l][h];
      for (const t of list) mask[h * n + where[t]] = 0;
    }
    return mask;
  });
}

/**
 * Applies a selection. A shared set is a plain gather. A per-layer or per-head set gives the
 * union of its tokens with every absent (layer, head, token) entry zeroed, and the absent mask;
 * the engine cannot yet hide keys per layer and head, so such a cache is exact only for a
 * receiver that honours `absent` (zeroed keys would still draw attention weight exp(0)).
 */
export function applySelection(cache: KvCache, set: IndexSet): { cache: KvCache; absent: Uint8Array[] | null } {
  ensure(set.length === cache.length, 'CACHE_MISMATCH', `index set is over ${set.length} tokens, the cache has ${cache.length}`);
  const union = unionIndices(set);
  const gathered = cache.gather(union);
  const absent = absentMask(set, cache);
  if (!absent) return { cache: gathered, absent: null };
  const n = union.length;
  const D = cache.headDim;
  absent.forEach((mask, l) => {
    for (let h = 0; h < cache.kvHeads; h++) {
      for (let i = 0; i < n; i++) {
        if (!mask[h * n + i]) continue;
        gathered.keys[l].fill(0, (h * n + i) * D, (h * n + i + 1) * D);
        gathered.values[l].fill(0, (h * n + i) * D, (h * n + i + 1) * D);
      }
    }
  });
  return { cache: gathered, absent };
}
