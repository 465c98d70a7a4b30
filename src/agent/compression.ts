/**
 * What a sharer sends, by name: a precision (src/plan's baseline codings), optionally a token
 * selection (src/select) at a keep ratio, or a rate–distortion plan (src/plan) at a byte budget.
 *
 *   fp16 | int8 | int4 | int2 | nf4 | fp32      whole cache at that precision
 *   int4k                                        INT4 with KIVI's pairing: keys per channel in blocks of 32
 *                                                tokens, values per 32-channel group (same bytes as int4)
 *   int4-q2c25                                   Q2C keeps 25% of the tokens, then INT4
 *   int4-q2c25+ahead2                            lookahead Q2C: the sharer's 2-token draft answer scores too
 *   int8-snapkv50, fp16-front50, ...             any selector of src/select, any percentage
 *   rd10                                         rate–distortion plan at 10% of the FP16 bytes
 *
 * `compress` turns a context cache into what the card encoder needs: the kept tokens (original
 * positions) and a CardPrecision, plus the scores the selector gave them.
 */
import { KvwireError, ensure } from '../errors.js';
import { KvCache } from '../kv/index.js';
import { DROPPED, type CardPrecision } from '../card/index.js';
import { baselineCoding, planBudget, type BaselineName, type Plan } from '../plan/index.js';
import {
  SELECTOR_NAMES, absentMask, aggregateScores, getSelector, keepCount, q2cSelector, selectTopK, unionIndices, type AttentionSource, type SelectorName,
} from '../select/index.js';

export interface Compression {
  /** The name it was parsed from. */
  name: string;
  /** Precision of every kept token (ignored for rd). */
  precision: BaselineName | 'fp32';
  selector?: SelectorName;
  /** Fraction of tokens the selector keeps. */
  keep?: number;
  /** Rate–distortion plan at this fraction of the FP16 bytes. */
  rdFraction?: number;
  /** `+floorN`: each head keeps at least min(T, N) tokens (a floor for short contexts; it costs bytes). */
  floor?: number;
  /** `+recentN`: always keep the context's last N tokens (every head). */
  recent?: number;
  /** `+sinkN`: always keep the context's first N tokens (default 1). */
  sinks?: number;
  /** `+poolBxA`: Q2C's max-pool window, B tokens back and A ahead (default 8x4). */
  pool?: { before: number; after: number };
  /** `+shared`: one token set for every layer and head (scores averaged), instead of the selector's per-head sets. */
  shared?: boolean;
  /** `+aheadN`: lookahead Q2C, scoring with the rows of the sharer's own N-token draft answer too (the sharer reads with lookahead >= N). */
  ahead?: number;
}

const ALIASES: Record<string, BaselineName | 'fp32'> = { fp32: 'fp32', fp16: 'fp16', int8: 'int8', int4: 'int4g', int4g: 'int4g', int4k: 'int4-kivi', 'int4-kivi': 'int4-kivi', int2: 'int2-kivi', 'int2-kivi': 'int2-kivi', nf4: 'nf4' };

/**
 * Selection options after the name, each `+OPTION`: `floorN`, `recentN`, `sinkN`, `poolBxA`,
 * `aheadN` (e.g. `int4-q2c25+floor32+recent8`, `int4-q2c25+ahead4`). Only with a selector.
 */
function parseOptions(name: string, opts: string[], c: Compression): Compression {
  ensure(c.selector !== undefined, 'BAD_ARGUMENT', `compression "${name}": +options need a selector (e.g. int4-q2c25+floor32)`);
  for (const o of opts) {
    const m = /^(floor|recent|sink)(\d+)$/.exec(o);
    const p = /^pool(\d+)x(\d+)$/.exec(o);
    if (m) {
      const n = Number(m[2]);
      ensure(Number.isSafeInteger(n), 'BAD_ARGUMENT', `compression "${name}": ${o} is too large`);
      if (m[1] === 'floor') c.floor = n;
      else if (m[1] === 'recent') c.recent = n;
      else c.sinks = n;
    } else if (o === 'shared') {
      c.shared = true;
    } else if (/^ahead\d+$/.test(o)) {
      ensure(c.selector === 'q2c', 'BAD_ARGUMENT', `compression "${name}": +ahead is a Q2C option`);
      c.ahead = Number(o.slice(5));
      ensure(c.ahead >= 1 && c.ahead <= 64, 'BAD_ARGUMENT', `compression "${name}": +ahead takes 1..64 draft tokens`);
    } else if (p) {
      ensure(c.selector === 'q2c', 'BAD_ARGUMENT', `compression "${name}": +pool is a Q2C option`);
      c.pool = { before: Number(p[1]), after: Number(p[2]) };
    } else {
      throw new KvwireError('BAD_ARGUMENT', `compression "${name}": unknown option "+${o}"; options are +floorN, +recentN, +sinkN, +poolBxA, +aheadN, +shared`);
    }
  }
  return c;
}

export function parseCompression(name: string): Compression {
  const [head, ...opts] = name.split('+');
  if (opts.length) return parseOptions(name, opts, { ...parseCompression(head), name });
  const rd = /^rd(\d+(?:\.\d+)?)$/.exec(name);
  if (rd) {
    const f = Number(rd[1]) / 100;
    ensure(f > 0 && f <= 1, 'BAD_ARGUMENT', `compression "${name}": the budget must be in (0, 100] percent of FP16`);
    return { name, precision: 'fp16', rdFraction: f };
  }
  const m = /^([a-z0-9-]+?)(?:-([a-z0-9_-]+?)(\d+(?:\.\d+)?))?$/.exec(name);
  const precision = m ? ALIASES[m[1]] : undefined;
  if (!m || !precision) {
    throw new KvwireError('BAD_ARGUMENT', `unknown compression "${name}": expected PRECISION[-SELECTORPERCENT] (precision ${Object.keys(ALIASES).join('|')}, ` +
      `selector ${SELECTOR_NAMES.join('|')}, e.g. int4-q2c25) or rdPERCENT`);
  }
  if (!m[2]) return { name, precision };
  ensure((SELECTOR_NAMES as readonly string[]).includes(m[2]), 'BAD_ARGUMENT', `compression "${name}": unknown selector "${m[2]}"; one of ${SELECTOR_NAMES.join(', ')}`);
  const keep = Number(m[3]) / 100;
  ensure(keep > 0 && keep <= 1, 'BAD_ARGUMENT', `compression "${name}": keep percentage must be in (0, 100]`);
  return { name, precision, selector: m[2] as SelectorName, keep };
}

/** The draft a sharer must make when it reads, to serve every one of these compressions (the longest +aheadN). */
export function lookaheadFor(names: readonly string[]): number {
  return Math.max(0, ...names.map((c) => parseCompression(c).ahead ?? 0));
}

export interface Compressed {
  /** The kept tokens, at their original positions (per-head selections: the union over heads); gathered on first use. */
  readonly cache: KvCache;
  /** The cache that was compressed, and the indices of the kept tokens in it (null: all): what the card encoder reads (`rows`). */
  source: KvCache;
  indices: Int32Array | null;
  precision: CardPrecision;
  /** The selector's score of each kept token (shared granularity), when a selector ran. */
  scores?: Float32Array;
  /** Per-head selections: per layer, (kvHeads, n) flags, 1 where that head dropped the token. */
  absent?: Uint8Array[] | null;
  /** Tokens kept (per head, for per-head selections). */
  keptTokens: number;
  /** Kept fraction of the context's tokens (per head). */
  keptFraction: number;
}

/**
 * Selects and assigns precision. `attention` feeds attention-based selectors (Q2C needs the
 * question's attention to the context: the receiver's question, appended after the context).
 */
export async function compress(cache: KvCache, c: Compression, options: { attention?: AttentionSource; sinks?: number } = {}): Promise<Compressed> {
  const T = cache.length;
  if (c.rdFraction !== undefined) {
    const plan = planBudget(cache, { budget: { fraction: c.rdFraction } });
    return selection(cache, Int32Array.from(plan.kept), { precision: precisionFromPlan(plan, cache.kvHeads), keptTokens: plan.kept.length, keptFraction: plan.kept.length / Math.max(1, T) });
  }
  const coding = c.precision === 'fp32' ? { keys: { format: 'fp32' as const }, values: { format: 'fp32' as const } } : baselineCoding(c.precision, cache.headDim);
  if (!c.selector || T === 0) return { cache, source: cache, indices: null, precision: { classes: [coding] }, absent: null, keptTokens: T, keptFraction: 1 };
  const selector = (c.pool || c.ahead) && c.selector === 'q2c' ? q2cSelector({ ...c.pool, ahead: c.ahead }) : getSelector(c.selector);
  const input = { cache, attention: options.attention };
  const raw = await selector.score(input);
  const sinks = c.sinks ?? options.sinks ?? 1;
  const recent = c.recent ?? 0;
  const byRatio = keepCount({ ratio: c.keep! }, T);
  const budget = c.floor === undefined ? { ratio: c.keep! } : { count: Math.max(byRatio, Math.min(T, c.floor)) };
  const shared = aggregateScores(raw, 'shared', cache);
  if (shared.granularity !== 'shared') throw new KvwireError('ENGINE', `selector ${c.selector} did not give shared scores`);
  if (selector.granularity === 'head' && !c.shared) {
    // Each KV head keeps its own k tokens (per-head selection): the card carries the union of
    // them, each (layer, head, token) a head does not keep marked DROPPED (PLAN.mapScope 2).
    const set = selectTopK(raw, { budget, sinks, recent, granularity: 'head' }, cache);
    const union = unionIndices(set);
    const absent = absentMask(set, cache);
    const k = keepCount(budget, T);
    const headClass = absent ? absent.map((m) => m.map((x) => (x ? DROPPED : 0))) : undefined;
    return selection(cache, union, {
      precision: { classes: [coding], headClass }, absent, keptTokens: k, keptFraction: k / T,
      scores: Float32Array.from(union, (t) => shared.scores[t]),
    });
  }
  // One token set for every layer and head.
  const set = selectTopK(shared, { budget, sinks, recent, granularity: 'shared' }, cache);
  if (set.kind !== 'shared') throw new KvwireError('ENGINE', `selector ${c.selector} did not give one shared token set`);
  return selection(cache, set.indices, {
    precision: { classes: [coding] }, absent: null, keptTokens: set.indices.length, keptFraction: set.indices.length / T,
    scores: Float32Array.from(set.indices, (t) => shared.scores[t]),
  });
}

/** A Compressed whose `cache` (the gathered kept tokens) is made only when someone reads it. */
function selection(source: KvCache, indices: Int32Array, rest: Omit<Compressed, 'cache' | 'source' | 'indices'>): Compressed {
  let gathered: KvCache | null = null;
  return { ...rest, source, indices, get cache() { return (gathered ??= gatherRuns(source, indices)); } };
}

/**
 * KvCache.gather, copying each run of consecutive indices at once (a selection pooled over a
 * window is made of runs, so this is a few hundred copies per layer and head instead of one
 * per token). Indices must be strictly increasing in 0..T-1 (as every selector gives them).
 */
export function gatherRuns(cache: KvCache, indices: Int32Array): KvCache {
  const T = cache.length;
  const n = indices.length;
  for (let i = 0; i < n; i++) {
    ensure(Number.isInteger(indices[i]) && indices[i] >= 0 && indices[i] < T && (i === 0 || indices[i] > indices[i - 1]), 'BAD_ARGUMENT',
      `gather: indices must increase within 0..${T - 1}; entry ${i} is ${indices[i]}`);
  }
  const D = cache.headDim;
  const H = cache.kvHeads;
  const runs: number[] = []; // [start index in `indices`, length] pairs
  for (let i = 0; i < n;) {
    let end = i + 1;
    while (end < n && indices[end] === indices[end - 1] + 1) end++;
    runs.push(i, end - i);
    i = end;
  }
  const pick = (src: Float32Array) => {
    const out = new Float32Array(H * n * D);
    for (let h = 0; h < H; h++) {
      const s0 = h * T * D;
      const d0 = h * n * D;
      for (let r = 0; r < runs.length; r += 2) {
        const i = runs[r];
        const t = indices[i];
        out.set(src.subarray(s0 + t * D, s0 + (t + runs[r + 1]) * D), d0 + i * D);
      }
    }
    return out;
  };
  return new KvCache(cache.shape, cache.keys.map(pick), cache.values.map(pick),
    Int32Array.from(indices, (t) => cache.positions[t]), Int32Array.from(indices, (t) => cache.tokens[t]));
}

/**
 * A src/plan Plan as a card precision: classes are numbered per layer in the plan and globally in
 * the card (class c of layer l -> card class c; layers with fewer classes fill the rest with
 * their class 0, which no token uses there). A plan with any per-head map (per-head selections
 * with DROPPED rows) becomes a per-head card map (`headClass`, PLAN.mapScope 2), token maps
 * broadcast to every head.
 */
export function precisionFromPlan(plan: Plan, kvHeads: number): CardPrecision {
  const C = Math.max(...plan.layers.map((l) => l.classes.length));
  const n = plan.kept.length;
  const classes = Array.from({ length: C }, (_, c) => ({
    keys: plan.layers.map((layer) => (layer.classes[c] ?? layer.classes[0]).keys),
    values: plan.layers.map((layer) => (layer.classes[c] ?? layer.classes[0]).values),
  }));
  if (plan.layers.some((layer) => layer.map?.scope === 'head')) {
    const headClass = plan.layers.map((layer) => {
      if (layer.map?.scope === 'head') return layer.map.classOf;
      const out = new Uint8Array(kvHeads * n);
      if (layer.map) for (let h = 0; h < kvHeads; h++) out.set(layer.map.classOf, h * n);
      return out;
    });
    return { classes, headClass };
  }
  const maps = plan.layers.map((layer) => layer.map?.classOf ?? new Uint8Array(n));
  return { classes, tokenClass: C > 1 ? maps : undefined };
}
