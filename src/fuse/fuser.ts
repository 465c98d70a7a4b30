/**
 * The training-free baseline fuser: per receiver layer, linear maps from the paired sharer
 * layer's (unrotated) K and V to the receiver's, and a gate g ∈ [0, 1]:
 *
 *   K̂ = WkT·x_k + b_k,  V̂ = WvT·x_v + b_v           (projection Π, seed 001 §4.1)
 *   K' = base + g·(K̂ − base)   (same for V)          (gated fusion F)
 *
 * `base` is the receiver's own K/V of the same tokens when it has them (receiver-side fusion:
 * g = 0 is the receiver alone, g = 1 pure projection), and otherwise the receiver's mean K/V over
 * the calibration text (`prior`): the question-only protocol, where g shrinks the projection
 * toward "a typical token". Keys are unrotated throughout (rope.ts).
 *
 * Groups: in 'layer' mode one map reads every sharer KV head of the paired layer and writes every
 * receiver KV head; in 'head' mode receiver head h reads only sharer head ⌊h·Hs/Hr⌋ (fewer
 * parameters, no cross-head mixing). Inputs: 'separate' maps K from K and V from V; 'joint'
 * maps both from [K; V].
 *
 * Shapes: sharer layer (Hs, T, Ds), receiver layer (Hr, T, Dr), head-major like KvCache.
 */
import { ensure } from '../errors.js';
import type { RopeScaling } from '../model/index.js';
import type { AlignPolicy } from './align.js';
import type { LayerPairing } from './layers.js';
import { c2cMacs, c2cParameters, c2cProjectLayer, type C2CLayer } from './c2c.js';
import { applyMap, type LinearMap } from './ridge.js';

export type FuserMode = 'layer' | 'head';
export type FuserInputs = 'separate' | 'joint';

/** What the fuser must know of a model without loading it (the receiver cannot load the sharer). */
export interface FuserModelInfo {
  /** Fingerprint id (16 hex digits) and the digests it is made of. */
  id: string;
  family: string;
  weightsDigest: string;
  tokenizerDigest: string;
  layers: number;
  kvHeads: number;
  headDim: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  /** The BOS id the model's prompts start with (never mapped: each side keeps its own sink). */
  bosId: number | null;
  /** Where the model was loaded from when the fuser was fitted (informational). */
  source: string;
}

/** One map group: the receiver KV heads it writes and the sharer KV heads it reads. */
export interface FuserGroup {
  receiverHeads: number[];
  sharerHeads: number[];
  keys: LinearMap;
  values: LinearMap;
}

export interface FuserLayer {
  /** The sharer layer paired with this receiver layer (an index into the sharer's layers). */
  sharerLayer: number;
  groups: FuserGroup[];
  /** Gate g ∈ [0, 1]. */
  gate: number;
  /** The receiver's mean unrotated key / value row per head, (Hr·Dr): the question-only base. */
  priorKeys: Float32Array;
  priorValues: Float32Array;
  /** Kind 'c2c-mlp' only: the trained projector of this layer (c2c.ts); `groups` is then empty. */
  c2c?: C2CLayer;
}

/** The fuser kinds: the training-free ridge maps, and the trained C2C projector (c2c.ts). */
export const FUSER_KINDS = ['linear-ridge', 'c2c-mlp'] as const;
export type FuserKind = (typeof FUSER_KINDS)[number];

/**
 * A fuser of either kind (the name is historical: kind 'c2c-mlp' has the same fields, and per
 * layer `c2c` instead of `groups`; everything downstream goes through projectLayer).
 */
export interface LinearFuser {
  kind: FuserKind;
  sharer: FuserModelInfo;
  receiver: FuserModelInfo;
  pairing: LayerPairing;
  alignment: AlignPolicy;
  mode: FuserMode;
  inputs: FuserInputs;
  /** One per receiver layer. */
  layers: FuserLayer[];
  /** How it was fitted (calibration, alphas, scores, gate objective): JSON, informational. */
  fit: Record<string, unknown>;
}

/** Either kind of fuser. */
export type Fuser = LinearFuser;

/** Head groups of a mode: 'layer' one group of all heads; 'head' receiver h reads sharer ⌊h·Hs/Hr⌋. */
export function headGroups(mode: FuserMode, sharerHeads: number, receiverHeads: number): Array<{ receiverHeads: number[]; sharerHeads: number[] }> {
  if (mode === 'layer') {
    return [{ receiverHeads: range(receiverHeads), sharerHeads: range(sharerHeads) }];
  }
  return range(receiverHeads).map((h) => ({ receiverHeads: [h], sharerHeads: [Math.floor((h * sharerHeads) / receiverHeads)] }));
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Input width of a group's key or value map. */
export function groupInputDim(sharerHeads: number[], headDim: number, inputs: FuserInputs): number {
  return sharerHeads.length * headDim * (inputs === 'joint' ? 2 : 1);
}

/**
 * Input rows of a group for tokens `tokens` (indices into the sharer layer's T): for each token
 * the chosen sharer heads' key rows (kind 'keys') or value rows, with the other kind appended in
 * 'joint' mode. Returns (tokens.length, p), row-major.
 */
export function groupInputs(keys: Float32Array, values: Float32Array, T: number, D: number, sharerHeads: number[], inputs: FuserInputs,
  kind: 'keys' | 'values', tokens: ArrayLike<number>): Float32Array {
  const first = kind === 'keys' ? keys : values;
  const second = kind === 'keys' ? values : keys;
  const parts = inputs === 'joint' ? [first, second] : [first];
  const p = parts.length * sharerHeads.length * D;
  const out = new Float32Array(tokens.length * p);
  for (let r = 0; r < tokens.length; r++) {
    const t = tokens[r];
    let o = r * p;
    for (const src of parts) {
      for (const h of sharerHeads) {
        out.set(src.subarray((h * T + t) * D, (h * T + t + 1) * D), o);
        o += D;
      }
    }
  }
  return out;
}

/** Scatters (rows, q) outputs of a group into receiver layout (Hr, rows, Dr) at its heads. */
function scatterGroup(y: Float32Array, rows: number, receiverHeads: number[], Dr: number, out: Float32Array): void {
  const q = receiverHeads.length * Dr;
  for (let r = 0; r < rows; r++) {
    for (let gi = 0; gi < receiverHeads.length; gi++) {
      const h = receiverHeads[gi];
      out.set(y.subarray(r * q + gi * Dr, r * q + (gi + 1) * Dr), (h * rows + r) * Dr);
    }
  }
}

/**
 * Π of one receiver layer: unrotated sharer keys and values of the paired layer (Hs, T, Ds) ->
 * unrotated receiver-space keys and values (Hr, T, Dr). Row by row: token t's output depends on
 * token t only (what SparseC2C and the RD hook need).
 */
/**
 * Multiply-adds the fuser projections of this thread have done (projectLayer and the c2c graph):
 * per projected token and receiver layer, that layer's maps (`layerMacs`). Callers read the
 * difference around a stage (src/fuse evaluate: the sender's scoring, the receiver's fusion).
 */
export const fuserWork = { macs: 0 };

/** Multiply-adds of receiver layer `l`'s projection, per token. */
export function layerMacs(fuser: LinearFuser, l: number): number {
  const L = fuser.layers[l];
  let n = L.c2c ? c2cMacs(L.c2c) : 0;
  for (const g of L.groups) for (const m of [g.keys, g.values]) n += m.p * m.q;
  return n;
}

export function projectLayer(fuser: LinearFuser, layer: number, sharerKeys: Float32Array, sharerValues: Float32Array, T: number): { keys: Float32Array; values: Float32Array } {
  const { sharer, receiver } = fuser;
  const L = fuser.layers[layer];
  ensure(L !== undefined, 'BAD_ARGUMENT', `the fuser has ${fuser.layers.length} receiver layers; layer ${layer} does not exist`);
  fuserWork.macs += layerMacs(fuser, layer) * T;
  if (fuser.kind === 'c2c-mlp') {
    const { keys, values } = c2cProjectLayer(fuser, layer, sharerKeys, sharerValues, T);
    return { keys, values };
  }
  const Ds = sharer.headDim;
  const per = sharer.kvHeads * T * Ds;
  ensure(sharerKeys.length === per && sharerValues.length === per, 'CACHE_MISMATCH',
    `sharer layer ${L.sharerLayer}: ${sharerKeys.length}/${sharerValues.length} floats, expected sharer kvHeads·T·headDim = ${per}`);
  const tokens = Int32Array.from({ length: T }, (_, t) => t);
  const keys = new Float32Array(receiver.kvHeads * T * receiver.headDim);
  const values = new Float32Array(keys.length);
  for (const g of L.groups) {
    for (const kind of ['keys', 'values'] as const) {
      const x = groupInputs(sharerKeys, sharerValues, T, Ds, g.sharerHeads, fuser.inputs, kind, tokens);
      const y = applyMap(g[kind], x, T);
      scatterGroup(y, T, g.receiverHeads, receiver.headDim, kind === 'keys' ? keys : values);
    }
  }
  return { keys, values };
}

/** The prior of a layer broadcast over T tokens, (Hr, T, Dr). */
export function broadcastPrior(prior: Float32Array, heads: number, T: number, D: number): Float32Array {
  const out = new Float32Array(heads * T * D);
  for (let h = 0; h < heads; h++) for (let t = 0; t < T; t++) out.set(prior.subarray(h * D, (h + 1) * D), (h * T + t) * D);
  return out;
}

/** base + g·(projected − base), elementwise (a new array). */
export function gateMix(projected: Float32Array, base: Float32Array, g: number): Float32Array {
  ensure(projected.length === base.length, 'CACHE_MISMATCH', `gate: projected has ${projected.length} floats, base ${base.length}`);
  ensure(Number.isFinite(g) && g >= 0 && g <= 1, 'BAD_ARGUMENT', `gate must be in [0, 1], got ${g}`);
  if (g === 1) return projected.slice();
  if (g === 0) return base.slice();
  const out = new Float32Array(projected.length);
  for (let i = 0; i < out.length; i++) out[i] = base[i] + g * (projected[i] - base[i]);
  return out;
}

/** Parameter count of the fuser's maps (weights + biases). */
export function fuserParameters(fuser: LinearFuser): number {
  let n = 0;
  for (const L of fuser.layers) {
    if (L.c2c) n += c2cParameters(L.c2c);
    for (const g of L.groups) for (const m of [g.keys, g.values]) n += m.p * m.q + m.q;
  }
  return n;
}

/**
 * Multiply-adds to project one token (the fuser's FLOPs / 2 per token): through every receiver
 * layer, or (`openOnly`) through the layers whose gate is above 0, which is what the
 * question-only receiver computes.
 */
export function fuserMacsPerToken(fuser: LinearFuser, openOnly = false): number {
  let n = 0;
  for (const L of fuser.layers) {
    if (openOnly && L.gate === 0) continue;
    if (L.c2c) n += c2cMacs(L.c2c);
    for (const g of L.groups) for (const m of [g.keys, g.values]) n += m.p * m.q;
  }
  return n;
}
