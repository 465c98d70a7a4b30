/**
 * The cross-model protocol: what the sharer sends, and how the receiver turns it into a cache.
 *
 * Question-only (the issue's setting; the default): the sharer has read the context, the receiver
 * has only the question and never sees the context's text.
 *
 *   sharer   prefill [BOS_S, c_1 .. c_n] -> cache; transmit the *content* tokens c_1..c_n of the
 *            paired sharer layers only (its BOS is no information; unpaired layers are not
 *            needed), optionally selected / quantized / planned (src/select, src/plan)
 *   receiver prefix = its own [BOS_R] at position 0 (an attention sink it computes for free);
 *            slots   = one per received sharer token: Π(sharer K/V), gated toward the receiver's
 *                      calibration mean (fuser.ts), keys rotated with the receiver's RoPE at
 *                      position p_S − offset_S + prefix_R (p_S the sharer position; both offsets
 *                      1 with BOS, so slots sit at the sharer's positions)
 *            then appends its question at nextPosition = n + prefix_R (after the whole context,
 *            dropped tokens included, as in same-model sparse handoff) and decodes.
 *
 * Slots are in the *sharer's* token grid: the receiver cannot tokenize a context it never saw,
 * and one slot per sharer token loses nothing. Token alignment (align.ts) is used where both
 * models read the same text: to pair rows when fitting, and in receiver-side fusion.
 *
 * Receiver-side fusion (seed 001's C2C setting, `fuseIntoReceiver`): the receiver has prefilled
 * the same context itself; each of its content tokens whose aligned sharer token was received is
 * replaced by own + g·(Π(sharer) − own) (SparseC2C: only the received tokens, scattered back).
 */
import type { Session } from '../engine/index.js';
import { ensure } from '../errors.js';
import { KvCache } from '../kv/index.js';
import { type ModelConfig, ropeInverseFrequencies } from '../model/index.js';
import { c2cProjectGraph } from './c2c-graph.js';
import { broadcastPrior, gateMix, projectLayer, type FuserModelInfo, type LinearFuser } from './fuser.js';
import { usedSharerLayers } from './layers.js';
import { rotateKeys } from './rope.js';

/** Inverse RoPE frequencies of a model described by a fuser (the receiver never loads the sharer). */
export function fuserRope(info: FuserModelInfo): Float32Array {
  // ropeInverseFrequencies reads only headDim, ropeTheta and ropeScaling.
  return ropeInverseFrequencies({ headDim: info.headDim, ropeTheta: info.ropeTheta, ropeScaling: info.ropeScaling } as ModelConfig);
}

/** 1 when `tokens` starts with `bosId` (the sequence's first content token), else 0. */
export function contentStart(tokens: ArrayLike<number>, bosId: number | null): number {
  return bosId !== null && tokens.length > 0 && tokens[0] === bosId ? 1 : 0;
}

/** The sharer layers the fuser reads, increasing: the layers a card carries. */
export function transmittedLayers(fuser: LinearFuser): number[] {
  return usedSharerLayers(Int32Array.from(fuser.layers, (L) => L.sharerLayer));
}

/**
 * What the sharer sends before selection and quantization: its context cache's content tokens
 * (BOS dropped) in the paired layers only. Positions stay the sharer's (consecutive from 1 with
 * BOS), so src/plan can code it.
 */
export function transmittedCache(fuser: LinearFuser, cache: KvCache): KvCache {
  ensure(cache.kvHeads === fuser.sharer.kvHeads && cache.headDim === fuser.sharer.headDim && cache.layers === fuser.sharer.layers, 'CACHE_MISMATCH',
    `sharer cache is ${cache.layers}×${cache.kvHeads}×${cache.headDim}, the fuser's sharer ${fuser.sharer.layers}×${fuser.sharer.kvHeads}×${fuser.sharer.headDim}`);
  const layers = transmittedLayers(fuser);
  const start = contentStart(cache.tokens, fuser.sharer.bosId);
  const sub = cache.slice(start);
  return new KvCache({ layers: layers.length, kvHeads: cache.kvHeads, headDim: cache.headDim },
    layers.map((l) => sub.keys[l]), layers.map((l) => sub.values[l]), sub.positions, sub.tokens);
}

/** Receiver-space projections of received sharer tokens, unrotated, per receiver layer (Hr, n, Dr). */
export interface Projected {
  keys: Float32Array[];
  values: Float32Array[];
  /** Sharer positions of the n received tokens. */
  sharerPositions: Int32Array;
}

/**
 * Π of every receiver layer for a received cache (`transmittedCache` layout: the fuser's
 * transmitted layers, any increasing subset of content tokens at their sharer positions).
 * `only[l]` false skips layer l (its arrays are empty): a layer whose gate is 0 reads the prior
 * alone, so its projection need not be computed.
 */
export function projectReceived(fuser: LinearFuser, received: KvCache, only?: readonly boolean[]): Projected {
  const layers = transmittedLayers(fuser);
  ensure(received.layers === layers.length, 'CACHE_MISMATCH',
    `received cache has ${received.layers} layers; the fuser reads ${layers.length} sharer layers (${layers.join(', ')})`);
  const T = received.length;
  const inv = fuserRope(fuser.sharer);
  const needed = new Set(fuser.layers.flatMap((L, l) => (only && !only[l] ? [] : [layers.indexOf(L.sharerLayer)])));
  const unrotated = received.keys.map((k, u) => (needed.has(u) ? rotateKeys(k.slice(), received.kvHeads, received.positions, received.headDim, inv, -1) : k));
  const keys: Float32Array[] = [];
  const values: Float32Array[] = [];
  fuser.layers.forEach((L, l) => {
    if (only && !only[l]) {
      keys.push(new Float32Array(0));
      values.push(new Float32Array(0));
      return;
    }
    const u = layers.indexOf(L.sharerLayer);
    const p = projectLayer(fuser, l, unrotated[u], received.values[u], T);
    keys.push(p.keys);
    values.push(p.values);
  });
  return { keys, values, sharerPositions: received.positions.slice() };
}

/**
 * projectReceived for the receiver's hot path: a c2c-mlp fuser projects every needed layer in one
 * onnxruntime run (c2c-graph.ts; same arithmetic as the loops, tested against them), a ridge fuser
 * as projectReceived does.
 */
export async function projectReceivedFast(fuser: LinearFuser, received: KvCache, only?: readonly boolean[]): Promise<Projected> {
  if (fuser.kind !== 'c2c-mlp') return projectReceived(fuser, received, only);
  const layers = transmittedLayers(fuser);
  ensure(received.layers === layers.length, 'CACHE_MISMATCH',
    `received cache has ${received.layers} layers; the fuser reads ${layers.length} sharer layers (${layers.join(', ')})`);
  const inv = fuserRope(fuser.sharer);
  const open = fuser.layers.map((_, l) => !only || only[l]);
  const needed = new Set(fuser.layers.flatMap((L, l) => (open[l] ? [layers.indexOf(L.sharerLayer)] : [])));
  const unrotated = received.keys.map((k, u) => (needed.has(u) ? rotateKeys(k.slice(), received.kvHeads, received.positions, received.headDim, inv, -1) : k));
  const which = fuser.layers.flatMap((_, l) => (open[l] ? [l] : []));
  const out = await c2cProjectGraph(fuser, which, received.length, (l) => {
    const u = layers.indexOf(fuser.layers[l].sharerLayer);
    return { keys: unrotated[u], values: received.values[u] };
  });
  const empty = () => new Float32Array(0);
  return {
    keys: fuser.layers.map((_, l) => out.get(l)?.keys ?? empty()),
    values: fuser.layers.map((_, l) => out.get(l)?.values ?? empty()),
    sharerPositions: received.positions.slice(),
  };
}

/** Receiver positions of slots and the question's start, for a sharer context of `sharerLength` tokens. */
export function slotLayout(fuser: LinearFuser, sharerPositions: ArrayLike<number>, sharerLength: number, sharerHasBos: boolean):
  { positions: Int32Array; nextPosition: number; prefix: number } {
  const prefix = fuser.receiver.bosId !== null ? 1 : 0;
  const shift = prefix - (sharerHasBos ? 1 : 0);
  return { positions: Int32Array.from(sharerPositions, (p) => p + shift), nextPosition: sharerLength + shift, prefix };
}

/**
 * The question-only slots: per receiver layer prior + g·(Π − prior), keys rotated with the
 * receiver's RoPE at `positions`. `gates` overrides the fuser's (gate search). Token ids are −1
 * (the receiver has no token for a sharer slot).
 */
export function fuseSlots(fuser: LinearFuser, projected: Projected, positions: Int32Array, gates?: ArrayLike<number>): KvCache {
  const { kvHeads: H, headDim: D, layers: L } = fuser.receiver;
  const n = positions.length;
  ensure(projected.sharerPositions.length === n, 'CACHE_MISMATCH', `${n} slot positions for ${projected.sharerPositions.length} projected tokens`);
  const inv = fuserRope(fuser.receiver);
  const keys: Float32Array[] = [];
  const values: Float32Array[] = [];
  for (let l = 0; l < L; l++) {
    const g = gates ? gates[l] : fuser.layers[l].gate;
    const priorK = broadcastPrior(fuser.layers[l].priorKeys, H, n, D);
    const priorV = broadcastPrior(fuser.layers[l].priorValues, H, n, D);
    const k = g === 0 ? priorK : gateMix(projected.keys[l], priorK, g);
    keys.push(rotateKeys(k, H, positions, D, inv, 1));
    values.push(g === 0 ? priorV : gateMix(projected.values[l], priorV, g));
  }
  return new KvCache({ layers: L, kvHeads: H, headDim: D }, keys, values, positions.slice(), new Int32Array(n).fill(-1));
}

const prefixes = new WeakMap<Session, KvCache>();

/** The receiver's own context-free prefix: its BOS at position 0 (empty without BOS); cached per session. */
export async function receiverPrefix(receiver: Session): Promise<KvCache> {
  let p = prefixes.get(receiver);
  if (!p) {
    const bos = receiver.spec.tokenizer.bosId;
    p = bos === null ? KvCache.empty(receiver.kvShape) : (await receiver.prefill([bos])).cache;
    prefixes.set(receiver, p);
  }
  return p;
}

/**
 * The receiver's cache for a received sharer cache (question-only protocol): its prefix, then
 * the fused slots. `sharerLength` is the sharer's whole context length (BOS included when it had
 * one), which fixes where the question goes.
 */
export async function receiverCache(receiver: Session, fuser: LinearFuser, received: KvCache, sharerLength: number, sharerHasBos: boolean,
  gates?: ArrayLike<number>): Promise<{ cache: KvCache; nextPosition: number }> {
  checkReceiver(fuser, receiver);
  const prefix = await receiverPrefix(receiver);
  const layout = slotLayout(fuser, received.positions, sharerLength, sharerHasBos);
  const open = fuser.layers.map((L, l) => (gates ? gates[l] : L.gate) > 0);
  const slots = fuseSlots(fuser, await projectReceivedFast(fuser, received, open), layout.positions, gates);
  return { cache: prefix.length ? prefix.concat(slots) : slots, nextPosition: layout.nextPosition };
}

/** CACHE_MISMATCH unless `receiver` has the fuser's receiver shape. */
export function checkReceiver(fuser: LinearFuser, receiver: Session): void {
  const c = receiver.config;
  const r = fuser.receiver;
  ensure(c.layers === r.layers && c.kvHeads === r.kvHeads && c.headDim === r.headDim, 'CACHE_MISMATCH',
    `the fuser's receiver is ${r.layers}×${r.kvHeads}×${r.headDim} (${r.source}), this session's model ${c.layers}×${c.kvHeads}×${c.headDim}`);
}

/**
 * Receiver-side fusion (C2C as in seed 001): `own` is the receiver's cache of the same text,
 * `align[i]` the sharer token (index into the sharer's full context, BOS included) of receiver
 * token i (−1: none), `received` the transmitted sharer tokens (transmittedCache layout, a subset
 * allowed). Receiver tokens whose aligned sharer token was received become own + g·(Π − own);
 * every other token (BOS, unaligned, not received) keeps its own K/V. Mixing happens in rotated
 * space at the receiver's own positions (rotation is linear), so g = 0 is `own` exactly.
 */
export function fuseIntoReceiver(fuser: LinearFuser, own: KvCache, align: Int32Array, received: KvCache, gates?: ArrayLike<number>): KvCache {
  const { kvHeads: H, headDim: D, layers: L } = fuser.receiver;
  ensure(own.layers === L && own.kvHeads === H && own.headDim === D, 'CACHE_MISMATCH', `receiver cache is ${own.layers}×${own.kvHeads}×${own.headDim}, the fuser's receiver ${L}×${H}×${D}`);
  ensure(align.length === own.length, 'CACHE_MISMATCH', `alignment covers ${align.length} tokens, the receiver cache has ${own.length}`);
  const projected = projectReceived(fuser, received);
  // sharer position -> row of `received`; a sharer token at index j of its context sits at position j.
  const rowOfPosition = new Map<number, number>();
  received.positions.forEach((p, r) => rowOfPosition.set(p, r));
  const pairs: Array<[number, number]> = [];
  const bos = contentStart(own.tokens, fuser.receiver.bosId);
  for (let i = bos; i < own.length; i++) {
    const r = align[i] >= 0 ? rowOfPosition.get(align[i]) : undefined;
    if (r !== undefined) pairs.push([i, r]);
  }
  const inv = fuserRope(fuser.receiver);
  const n = received.length;
  const T = own.length;
  const keys: Float32Array[] = [];
  const values: Float32Array[] = [];
  for (let l = 0; l < L; l++) {
    const g = gates ? gates[l] : fuser.layers[l].gate;
    const k = own.keys[l].slice();
    const v = own.values[l].slice();
    if (g > 0 && pairs.length) {
      // Π's keys rotated at the receiver positions of the tokens they replace.
      const rows = new Float32Array(H * pairs.length * D);
      const vals = new Float32Array(H * pairs.length * D);
      for (let h = 0; h < H; h++) {
        pairs.forEach(([, r], m) => {
          rows.set(projected.keys[l].subarray((h * n + r) * D, (h * n + r + 1) * D), (h * pairs.length + m) * D);
          vals.set(projected.values[l].subarray((h * n + r) * D, (h * n + r + 1) * D), (h * pairs.length + m) * D);
        });
      }
      rotateKeys(rows, H, pairs.map(([i]) => own.positions[i]), D, inv, 1);
      for (let h = 0; h < H; h++) {
        pairs.forEach(([i], m) => {
          for (let d = 0; d < D; d++) {
            const o = (h * T + i) * D + d;
            const s = (h * pairs.length + m) * D + d;
            k[o] += g * (rows[s] - k[o]);
            v[o] += g * (vals[s] - v[o]);
          }
        });
      }
    }
    keys.push(k);
    values.push(v);
  }
  return new KvCache(own.shape, keys, values, own.positions.slice(), own.tokens.slice());
}
