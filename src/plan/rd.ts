/**
 * Rate–distortion token × precision allocation (seed 001 §4.4.2, "RD-Greedy"), generalised to
 * actions {drop, int2, int4, int8, fp16} per (layer, token), with drops shared across layers
 * (the engine hides whole tokens; see select/README.md).
 *
 * Distortion is measured in the receiver's value space: D(l, t, a) = w_t · Σ_heads ‖V̂_t − V̂_t^(a)‖²
 * for a kept token (V̂ = Π(V), the projection; identity for same-model handoff) and
 * D(l, t, drop) = w_t · Σ_heads ‖V̂_t − V^R_t‖² (V^R = the receiver's own values, 0 when it has none).
 * Rates are exact bytes per token (actionCoding has per-token scales).
 *
 * Greedy by marginal distortion saved per byte: a *keep* item per token (its gain is the drop
 * distortion removed in every layer, minus what its cheapest coding adds; its priority is the best
 * ratio over uniform levels, so a token worth keeping only at int8 is not starved by a poor int2
 * step) and, once a token is kept, *upgrade* items per (layer, token) along the lower convex hull
 * of its (rate, distortion) points. Bytes that the final plan's layout needs (header, descriptors,
 * a bitmap index, class maps) are reserved up front, so the plan always fits.
 */
import { KvwireError, ensure } from '../errors.js';
import type { KvCache } from '../kv/index.js';
import { fakeQuantize, sectionBytes } from '../quant/index.js';
import { makePlan } from './apply.js';
import { actionCoding, fp16Layers } from './codings.js';
import { HEADER_BYTES, SPEC_BYTES, mapBits } from './layout.js';
import { Heap } from './heap.js';
import { KEEP_ACTIONS, type ClassCoding, type KeepAction, type LayerPlan, type Plan } from './types.js';

/**
 * The projector hook: Π^V of one layer. It must act row by row (token t's output depends on
 * token t only). For same-model handoff leave it out (identity).
 */
export interface ValueSpaceHook {
  /** (kvHeads, T, headDim) sharer values of layer l -> (heads', T, dim') receiver-space values. */
  project(layer: number, values: Float32Array, T: number): { data: Float32Array; heads: number; dim: number };
  /** The receiver's own values per layer, (heads', T, dim'): dropping a token costs ‖V̂_t − V^R_t‖². */
  receiverValues?: Float32Array[];
}

export interface RdOptions {
  /** Budget in bytes (resolveBudget). */
  budget: number;
  /** Allowed keep actions (default all four); 'drop' is allowed unless `allowDrop` is false. */
  actions?: KeepAction[];
  allowDrop?: boolean;
  /** Layers forced to FP16 (last k and protected bottlenecks). */
  lastFp16?: number;
  protect?: number[];
  /** Tokens always kept (sinks, recent window), at their layer's cheapest level at least. */
  forceKeep?: ArrayLike<number>;
  /** Token importance w_t (T, >= 0), e.g. normalised Q2C scores; default 1. */
  weights?: Float64Array;
  valueSpace?: ValueSpaceHook;
  /**
   * Adds keyWeight·Σ_h ‖K_t − K_t^(a)‖² (the sharer's keys) to a kept token's distortion. 0
   * (default) is seed 001's value-space objective, which cannot see that a coarse key moves the
   * attention weights; int2 keys then look cheap and are not.
   */
  keyWeight?: number;
  /** Codings per action (default actionCoding). */
  codings?: Partial<Record<KeepAction, ClassCoding>>;
}

interface Item { kind: 'keep' | 'up'; t: number; l: number; from: number; to: number; gain: number; cost: number }

/** Squared distance per token between two (H, T, d) tensors: (T). */
function rowDistances(a: Float32Array, b: Float32Array | null, H: number, T: number, d: number): Float64Array {
  const out = new Float64Array(T);
  for (let h = 0; h < H; h++) {
    for (let t = 0; t < T; t++) {
      let s = 0;
      for (let i = (h * T + t) * d, e = i + d; i < e; i++) {
        const x = a[i] - (b ? b[i] : 0);
        s += x * x;
      }
      out[t] += s;
    }
  }
  return out;
}

/** Per layer: levels (cheapest first), rate per token of each, and D[level][t], D_drop[t]. */
function layerTables(cache: KvCache, levels: KeepAction[], codings: Record<KeepAction, ClassCoding>, hook: ValueSpaceHook | undefined,
  weights: Float64Array, keyWeight: number) {
  const { kvHeads: KV, headDim: D } = cache;
  const T = cache.length;
  return Array.from({ length: cache.layers }, (_, l) => {
    const v = cache.values[l];
    const proj = (x: Float32Array) => (hook ? hook.project(l, x, T) : { data: x, heads: KV, dim: D });
    const ref = proj(v);
    const base = hook?.receiverValues?.[l] ?? null;
    ensure(!base || base.length === ref.data.length, 'CACHE_MISMATCH', `receiver values of layer ${l} hold ${base?.length} floats, expected ${ref.data.length}`);
    const weigh = (d: Float64Array) => d.map((x, t) => x * weights[t]);
    const drop = weigh(rowDistances(ref.data, base, ref.heads, T, ref.dim));
    const rate: number[] = [];
    const dist = levels.map((a) => {
      const c = codings[a];
      rate.push(KV * (sectionBytes(c.keys, T, D).total + sectionBytes(c.values, T, D).total) / T);
      const quantized = (x: Float32Array, kind: 'keys' | 'values') => {
        const q = new Float32Array(x.length);
        for (let h = 0; h < KV; h++) {
          fakeQuantize(c[kind], x.subarray(h * T * D, (h + 1) * T * D), T, D, q.subarray(h * T * D, (h + 1) * T * D), `${kind}[layer ${l}, head ${h}]`);
        }
        return q;
      };
      const d = rowDistances(ref.data, proj(quantized(v, 'values')).data, ref.heads, T, ref.dim);
      if (keyWeight > 0) {
        const k = cache.keys[l];
        const dk = rowDistances(k, quantized(k, 'keys'), KV, T, D);
        for (let t = 0; t < T; t++) d[t] += keyWeight * dk[t];
      }
      return weigh(d);
    });
    return { levels, rate, dist, drop };
  });
}

/** The steepest step up from level i on (rate, dist): the next vertex of the lower convex hull. */
function bestStep(rate: number[], dist: Float64Array[], t: number, i: number): { to: number; gain: number; cost: number } | null {
  let best: { to: number; gain: number; cost: number } | null = null;
  for (let j = i + 1; j < rate.length; j++) {
    const gain = dist[i][t] - dist[j][t];
    const cost = rate[j] - rate[i];
    if (gain > 0 && cost > 0 && (!best || gain / cost > best.gain / best.cost)) best = { to: j, gain, cost };
  }
  return best;
}

/** Allocates drop / precision per (layer, token) under `budget` bytes and returns the plan. */
export function allocateRd(cache: KvCache, options: RdOptions): Plan {
  const T = cache.length;
  const L = cache.layers;
  const actions = [...new Set(options.actions ?? KEEP_ACTIONS)];
  ensure(actions.length > 0 && actions.every((a) => KEEP_ACTIONS.includes(a)), 'BAD_ARGUMENT', `rd: actions must be some of ${KEEP_ACTIONS.join(', ')}`);
  const codings = Object.fromEntries(KEEP_ACTIONS.map((a) => [a, options.codings?.[a] ?? actionCoding(a, cache.headDim)])) as Record<KeepAction, ClassCoding>;
  const weights = options.weights ?? new Float64Array(T).fill(1);
  ensure(weights.length === T && weights.every((w) => Number.isFinite(w) && w >= 0), 'BAD_ARGUMENT', `rd: weights must be ${T} finite numbers >= 0`);
  const fp16 = fp16Layers(L, options);
  const free = actions.slice().sort((a, b) => KEEP_ACTIONS.indexOf(a) - KEEP_ACTIONS.indexOf(b));
  const keyWeight = options.keyWeight ?? 0;
  ensure(Number.isFinite(keyWeight) && keyWeight >= 0, 'BAD_ARGUMENT', `rd: keyWeight must be a finite number >= 0, got ${keyWeight}`);
  const tables = layerTables(cache, free, codings, options.valueSpace, weights, keyWeight);
  const fp16Table = fp16.size ? layerTables(cache, ['fp16'], codings, options.valueSpace, weights, keyWeight) : [];
  const tab = (l: number) => (fp16.has(l) ? fp16Table[l] : tables[l]);

  // Reserve what the layout needs besides rows: header, descriptors with every class, a bitmap
  // index, class maps at their widest (plus one rounding byte per layer).
  const mixed = (l: number) => !fp16.has(l) && free.length > 1;
  let reserved = HEADER_BYTES + Math.ceil(T / 8);
  let perTokenMap = 0;
  for (let l = 0; l < L; l++) {
    reserved += 2 + 2 * SPEC_BYTES * tab(l).levels.length + (mixed(l) ? 1 : 0);
    if (mixed(l)) perTokenMap += mapBits(free.length) / 8;
  }
  let left = options.budget - reserved;
  if (left < 0) throw new KvwireError('BUDGET', `budget: ${options.budget} bytes do not cover the ${reserved} bytes of metadata an RD plan over ${T} tokens and ${L} layers reserves`);

  const level: Int8Array[] = Array.from({ length: L }, () => new Int8Array(T).fill(-1));
  const kept = new Uint8Array(T);
  // Keeping a token costs its cheapest level in every layer plus its class-map symbols.
  let keepCost = perTokenMap;
  for (let l = 0; l < L; l++) keepCost += tab(l).rate[0];
  const keepAt = (t: number, j: number | 'min') => {
    let gain = 0;
    let cost = perTokenMap;
    for (let l = 0; l < L; l++) {
      const x = tab(l);
      const i = j === 'min' || fp16.has(l) ? 0 : j;
      gain += x.drop[t] - x.dist[i][t];
      cost += x.rate[i];
    }
    return { gain, cost };
  };
  const heap = new Heap<Item>((a, b) => b.gain * a.cost - a.gain * b.cost || a.t - b.t || a.l - b.l);
  const pushUp = (t: number, l: number) => {
    const x = tab(l);
    const s = bestStep(x.rate, x.dist, t, level[l][t]);
    if (s) heap.push({ kind: 'up', t, l, from: level[l][t], to: s.to, gain: s.gain, cost: s.cost });
  };
  const keep = (t: number) => {
    kept[t] = 1;
    left -= keepCost;
    for (let l = 0; l < L; l++) { level[l][t] = 0; pushUp(t, l); }
  };

  const forced = new Set<number>(Array.from(options.forceKeep ?? []));
  if (options.allowDrop === false) for (let t = 0; t < T; t++) forced.add(t);
  for (const t of [...forced].sort((a, b) => a - b)) {
    ensure(Number.isInteger(t) && t >= 0 && t < T, 'BAD_ARGUMENT', `rd: forced token ${t} is outside 0..${T - 1}`);
    if (keepCost > left) throw new KvwireError('BUDGET', `budget: ${options.budget} bytes cannot hold the ${forced.size} tokens that must be kept (sinks, recent window or allowDrop false)`);
    keep(t);
  }
  for (let t = 0; t < T; t++) {
    if (kept[t]) continue;
    let best = keepAt(t, 'min');
    for (let j = 1; j < free.length; j++) {
      const o = keepAt(t, j);
      if (o.gain * best.cost > best.gain * o.cost) best = o;
    }
    if (best.gain > 0) heap.push({ kind: 'keep', t, l: -1, from: -1, to: 0, gain: best.gain, cost: best.cost });
  }
  for (let item = heap.pop(); item; item = heap.pop()) {
    if (item.kind === 'keep') {
      if (keepCost <= left) keep(item.t);
      continue;
    }
    if (level[item.l][item.t] !== item.from) continue;
    if (item.cost <= left) {
      level[item.l][item.t] = item.to;
      left -= item.cost;
      pushUp(item.t, item.l);
    } else if (item.to > item.from + 1) {
      // The hull step does not fit: offer the single next level instead.
      const x = tab(item.l);
      const gain = x.dist[item.from][item.t] - x.dist[item.from + 1][item.t];
      const cost = x.rate[item.from + 1] - x.rate[item.from];
      if (gain > 0 && cost <= left) heap.push({ ...item, to: item.from + 1, gain, cost });
    }
  }
  let plan = buildPlan(cache, kept, level, (l) => tab(l).levels, codings);
  // Rates are exact for per-token codings; custom codings (e.g. per-channel keys) are amortised
  // estimates, so drop the least useful free tokens until the exact size fits.
  if (plan.bytes.total > options.budget) {
    const order = Array.from({ length: T }, (_, t) => t).filter((t) => kept[t] && !forced.has(t))
      .sort((a, b) => keepAt(a, 'min').gain - keepAt(b, 'min').gain || a - b);
    for (const t of order) {
      kept[t] = 0;
      plan = buildPlan(cache, kept, level, (l) => tab(l).levels, codings);
      if (plan.bytes.total <= options.budget) break;
    }
    if (plan.bytes.total > options.budget) throw new KvwireError('BUDGET', `budget: ${options.budget} bytes cannot hold the forced tokens (plan needs ${plan.bytes.total})`);
  }
  return plan;
}

function buildPlan(cache: KvCache, keptFlags: Uint8Array, level: Int8Array[], levelsOf: (l: number) => KeepAction[], codings: Record<KeepAction, ClassCoding>): Plan {
  const kept = Int32Array.from(Array.from({ length: cache.length }, (_, t) => t).filter((t) => keptFlags[t]));
  const layers: LayerPlan[] = level.map((lv, l) => {
    const used = [...new Set(Array.from(kept, (t) => lv[t]))].sort((a, b) => a - b);
    const levels = levelsOf(l);
    if (used.length <= 1) return { classes: [codings[levels[used[0] ?? 0]]], map: null };
    const cls = new Map(used.map((u, c) => [u, c]));
    return { classes: used.map((u) => codings[levels[u]]), map: { scope: 'token', classOf: Uint8Array.from(kept, (t) => cls.get(lv[t])!) } };
  });
  return makePlan(cache, kept, layers);
}
