/**
 * The receiver's value space for sender-side decisions: which tokens to send (proj_vnorm,
 * delta_proj_vnorm of seed 001 §4.4.1, through src/select's `ReceiverValueSpace` hook) and how
 * precisely (RD scheduling §4.4.2, through src/plan's `ValueSpaceHook`).
 *
 *   V̂_t   = Π^V of sharer token t in every receiver layer (ungated, as the seed defines it)
 *   V^R_t  = the receiver's baseline for that token: in the question-only protocol the fuser's
 *            prior (the receiver has no cache of the context: a token not sent is simply absent,
 *            and the prior is what a gate-0 slot would hold); in receiver-side fusion the
 *            receiver's own values regridded onto the sharer's tokens (`regridToSharer`)
 *
 * Both hooks are on the *sharer's* token grid (what is selected is what is sent). Receiver-space
 * scores have one row per *receiver* layer; src/select's `select()` aggregates them in the
 * receiver's shape (`ReceiverValueSpace.layers`). Per-layer or per-head index sets would be per
 * receiver layer, which does not name sharer rows to drop, so cross-model selection is shared
 * (one set of tokens), which is also all the engine can hide.
 */
import { KvwireError, ensure } from '../errors.js';
import type { KvCache } from '../kv/index.js';
import type { ValueSpaceHook } from '../plan/index.js';
import { getSelector, select, type IndexSet, type KeepBudget, type ReceiverValueSpace } from '../select/index.js';
import { broadcastPrior, projectLayer, type LinearFuser } from './fuser.js';
import { fuserRope, projectReceived, transmittedLayers } from './protocol.js';
import { rotateKeys } from './rope.js';

/** Selectors that read the receiver's value space. */
export const RECEIVER_SELECTORS = ['proj_vnorm', 'delta_proj_vnorm'] as const;

/** The prior of every receiver layer broadcast over T tokens: the question-only baseline V^R. */
export function priorValues(fuser: LinearFuser, T: number): Float32Array[] {
  const { kvHeads: H, headDim: D } = fuser.receiver;
  return fuser.layers.map((L) => broadcastPrior(L.priorValues, H, T, D));
}

/** src/select's hook over the sent tokens: V̂ per receiver layer, and the baseline (default: the prior). */
export function receiverValueSpace(fuser: LinearFuser, sent: KvCache, baseline?: Float32Array[]): ReceiverValueSpace {
  const projected = projectReceived(fuser, sent);
  return {
    layers: fuser.receiver.layers, kvHeads: fuser.receiver.kvHeads, headDim: fuser.receiver.headDim,
    projectedValues: projected.values, receiverValues: baseline ?? priorValues(fuser, sent.length),
  };
}

export interface CrossSelectOptions {
  budget: KeepBudget;
  sinks?: number;
  recent?: number;
  seed?: number;
  /** delta_proj_vnorm's V^R per receiver layer on the sent grid (default: the fuser's prior). */
  baseline?: Float32Array[];
}

/**
 * A shared token set over the sent cache: receiver-space selectors score in the receiver's value
 * space; cache-only selectors (front, back, random, knorm, vnorm, ...) score the sharer's own K/V.
 * Attention selectors need the sharer's attention over the whole context and are refused here.
 */
export async function selectSent(fuser: LinearFuser, sent: KvCache, selector: string, o: CrossSelectOptions): Promise<IndexSet> {
  const shared = { budget: o.budget, sinks: o.sinks, recent: o.recent, granularity: 'shared' as const };
  const s = getSelector(selector);
  if ((RECEIVER_SELECTORS as readonly string[]).includes(selector)) {
    return select(s, { cache: sent, receiver: receiverValueSpace(fuser, sent, o.baseline) }, shared);
  }
  if (s.needs !== 'cache') {
    throw new KvwireError('BAD_ARGUMENT', `selector "${selector}" needs ${s.needs}; the cross-model path scores the sent cache only (front, back, random, knorm, knorm-low, vnorm, proj_vnorm, delta_proj_vnorm)`);
  }
  return select(s, { cache: sent, seed: o.seed }, shared);
}

/**
 * src/plan's RD hook for a sent cache: sharer layer u of the sent cache (its u-th transmitted
 * layer) -> V̂ of every receiver layer paired with it, concatenated over heads; keys for 'joint'
 * inputs are the unquantized ones (the distortion is that of the values, as in seed 001).
 */
export function valueSpaceHook(fuser: LinearFuser, sent: KvCache, baseline?: Float32Array[]): ValueSpaceHook {
  const layers = transmittedLayers(fuser);
  ensure(sent.layers === layers.length, 'CACHE_MISMATCH', `sent cache has ${sent.layers} layers; the fuser reads ${layers.length}`);
  const inv = fuserRope(fuser.sharer);
  const keys = sent.keys.map((k) => rotateKeys(k.slice(), sent.kvHeads, sent.positions, sent.headDim, inv, -1));
  const readers = layers.map((s) => fuser.layers.flatMap((L, l) => (L.sharerLayer === s ? [l] : [])));
  const { kvHeads: H, headDim: D } = fuser.receiver;
  const base = baseline ?? priorValues(fuser, sent.length);
  const concat = (parts: Float32Array[]) => {
    const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  };
  return {
    project(u, values, T) {
      ensure(T === sent.length, 'CACHE_MISMATCH', `value-space hook built for ${sent.length} tokens, called with ${T}`);
      const parts = readers[u].map((l) => projectLayer(fuser, l, keys[u], values, T).values);
      return { data: concat(parts), heads: H * readers[u].length, dim: D };
    },
    receiverValues: readers.map((ls) => concat(ls.map((l) => base[l]))),
  };
}

/**
 * Receiver-side fusion's baseline on the sharer grid: per receiver layer, the mean of the
 * receiver's own value rows aligned to each sent sharer token (`align[i]` = sharer index of
 * receiver token i, = sharer position), the prior where none is aligned. (Hr, n, Dr) per layer.
 */
export function regridToSharer(fuser: LinearFuser, own: KvCache, align: Int32Array, sentPositions: Int32Array): Float32Array[] {
  const { kvHeads: H, headDim: D } = fuser.receiver;
  const n = sentPositions.length;
  const rowOf = new Map<number, number>();
  sentPositions.forEach((p, r) => rowOf.set(p, r));
  const members: number[][] = Array.from({ length: n }, () => []);
  align.forEach((j, i) => { const r = rowOf.get(j); if (r !== undefined && i < own.length) members[r].push(i); });
  const T = own.length;
  return fuser.layers.map((L, l) => {
    const out = broadcastPrior(L.priorValues, H, n, D);
    for (let r = 0; r < n; r++) {
      if (!members[r].length) continue;
      for (let h = 0; h < H; h++) {
        const dst = out.subarray((h * n + r) * D, (h * n + r + 1) * D);
        dst.fill(0);
        for (const i of members[r]) {
          const src = own.values[l].subarray((h * T + i) * D, (h * T + i + 1) * D);
          for (let d = 0; d < D; d++) dst[d] += src[d] / members[r].length;
        }
      }
    }
    return out;
  });
}
