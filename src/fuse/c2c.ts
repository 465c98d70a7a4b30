/**
 * The trained C2C fuser (kind 'c2c-mlp'; trained by training/c2c/train_c2c.py, shipped under
 * models/fusers/<sharer>--<receiver>/). Per receiver layer, for each sent sharer token t (token t's
 * output depends on token t only, like the ridge maps, so SparseC2C and the RD hook work as is):
 *
 *   x  = [K̃_s(t) heads; V_s(t) heads]      (unrotated keys of the paired sharer layer, p = 2·Hs·Ds)
 *   r  = [K_base(t); V_base(t)]            (2q, q = Hr·Dr; the prior in the question-only protocol)
 *   x̂  = (x − inMean)·inScale,  r̂ = (r − prior)·rScale
 *   h1 = silu(A_s·x̂ + A_r·r̂ + a)
 *   h2 = h1 + silu(B·h1 + b)
 *   Δ  = C·h2 + S·x̂ + c                    (S: the linear path, started from the ridge solution)
 *   w  = sigmoid(E·h2 + e)                 (per token, per receiver KV head)
 *   Π  = base + w_h·Δ_h                    (per receiver head h; keys then values)
 *
 * and the per-layer gate (trained as a Gumbel-sigmoid, exported hard: 0 or 1) mixes as for the
 * ridge fuser: slot = prior + g·(Π − prior) (fuser.ts gateMix). In the question-only protocol the
 * receiver has no K/V of the context, so base = prior and r̂ = 0: the receiver branch A_r is
 * carried in the file but contributes nothing, and is skipped.
 *
 * The file stores PyTorch's (out, in) matrices; they are held here as LinearMaps (W (in, out),
 * ridge.ts) so one loop (applyMap) serves both fusers.
 */
import { ensure } from '../errors.js';
import type { LinearFuser } from './fuser.js';
import { applyMap, type LinearMap } from './ridge.js';

export interface C2CLayer {
  hidden: number;
  /** Input standardisation (p) and the receiver-input scale (2q). */
  inMean: Float32Array;
  inScale: Float32Array;
  rScale: Float32Array;
  /** x̂ (p) -> hidden, bias a. */
  input: LinearMap;
  /** r̂ (2q) -> hidden, no bias (inert in the question-only protocol). */
  receiverInput: LinearMap;
  /** h1 -> hidden, bias b. */
  hiddenMap: LinearMap;
  /** [h2; x̂] (hidden + p) -> Δ (2q), bias c: C and S side by side. */
  output: LinearMap;
  /** h2 -> per-head weight logits (Hr), bias e. */
  weight: LinearMap;
}

/** The names and PyTorch shapes of one layer's tensors (file layout), for hidden H, input p, output 2q and Hr heads. */
export function c2cTensorShapes(H: number, p: number, q2: number, Hr: number): Record<string, number[]> {
  return {
    in_mean: [p], in_scale: [p], r_scale: [q2], A_s: [H, p], A_r: [H, q2], a: [H], B: [H, H], b: [H],
    C: [q2, H], S: [q2, p], c: [q2], E: [Hr, H], e: [Hr],
  };
}

/** (out, in) row-major -> LinearMap W (in, out), float64. */
function mapOf(outIn: Float32Array, out: number, inp: number, bias: Float32Array | null): LinearMap {
  const W = new Float64Array(inp * out);
  for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) W[i * out + o] = outIn[o * inp + i];
  return { p: inp, q: out, W, b: bias ? Float64Array.from(bias) : new Float64Array(out) };
}

/** LinearMap W (in, out) -> (out, in) row-major, columns [from, from + n) of the input. */
function outInOf(m: LinearMap, from = 0, n = m.p): Float32Array {
  const a = new Float32Array(m.q * n);
  for (let o = 0; o < m.q; o++) for (let i = 0; i < n; i++) a[o * n + i] = m.W[(from + i) * m.q + o];
  return a;
}

/** A layer from its file tensors (PyTorch layout, see c2cTensorShapes). */
export function c2cLayerFromTensors(t: Record<string, Float32Array>, H: number, p: number, q2: number, Hr: number): C2CLayer {
  const CS = new Float32Array(q2 * (H + p));
  for (let o = 0; o < q2; o++) {
    CS.set(t.C.subarray(o * H, (o + 1) * H), o * (H + p));
    CS.set(t.S.subarray(o * p, (o + 1) * p), o * (H + p) + H);
  }
  return {
    hidden: H, inMean: t.in_mean, inScale: t.in_scale, rScale: t.r_scale,
    input: mapOf(t.A_s, H, p, t.a),
    receiverInput: mapOf(t.A_r, H, q2, null),
    hiddenMap: mapOf(t.B, H, H, t.b),
    output: mapOf(CS, q2, H + p, t.c),
    weight: mapOf(t.E, Hr, H, t.e),
  };
}

/** The inverse of c2cLayerFromTensors (for saving). */
export function c2cLayerTensors(L: C2CLayer): Record<string, Float32Array> {
  const H = L.hidden;
  const p = L.input.p;
  return {
    in_mean: L.inMean, in_scale: L.inScale, r_scale: L.rScale,
    A_s: outInOf(L.input), A_r: outInOf(L.receiverInput), a: Float32Array.from(L.input.b),
    B: outInOf(L.hiddenMap), b: Float32Array.from(L.hiddenMap.b),
    C: outInOf(L.output, 0, H), S: outInOf(L.output, H, p), c: Float32Array.from(L.output.b),
    E: outInOf(L.weight), e: Float32Array.from(L.weight.b),
  };
}

const silu = (v: number) => v / (1 + Math.exp(-v));
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/**
 * Π of one receiver layer of a c2c fuser: unrotated sharer keys and values of the paired layer
 * (Hs, T, Ds) -> unrotated receiver-space keys and values (Hr, T, Dr), with the per-token,
 * per-head weights w (Hr, T). Base = the prior (question-only).
 */
export function c2cProjectLayer(fuser: LinearFuser, layer: number, sharerKeys: Float32Array, sharerValues: Float32Array, T: number):
  { keys: Float32Array; values: Float32Array; weights: Float32Array } {
  const L = fuser.layers[layer];
  const c = L?.c2c;
  ensure(c !== undefined, 'BAD_ARGUMENT', `layer ${layer} of the fuser has no c2c weights (kind ${fuser.kind})`);
  const { kvHeads: Hs, headDim: Ds } = fuser.sharer;
  const { kvHeads: Hr, headDim: Dr } = fuser.receiver;
  const per = Hs * T * Ds;
  ensure(sharerKeys.length === per && sharerValues.length === per, 'CACHE_MISMATCH',
    `sharer layer ${L.sharerLayer}: ${sharerKeys.length}/${sharerValues.length} floats, expected sharer kvHeads·T·headDim = ${per}`);
  const p = 2 * Hs * Ds;
  const H = c.hidden;
  const q = Hr * Dr;
  // x̂ for every token, (T, p).
  const xh = new Float32Array(T * p);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < Hs; h++) {
      for (let d = 0; d < Ds; d++) {
        const i = h * Ds + d;
        const j = Hs * Ds + i;
        const s = (h * T + t) * Ds + d;
        xh[t * p + i] = (sharerKeys[s] - c.inMean[i]) * c.inScale[i];
        xh[t * p + j] = (sharerValues[s] - c.inMean[j]) * c.inScale[j];
      }
    }
  }
  const h1 = applyMap(c.input, xh, T);
  for (let i = 0; i < h1.length; i++) h1[i] = silu(h1[i]);
  const h2 = applyMap(c.hiddenMap, h1, T);
  for (let i = 0; i < h2.length; i++) h2[i] = h1[i] + silu(h2[i]);
  const cat = new Float32Array(T * (H + p));
  for (let t = 0; t < T; t++) {
    cat.set(h2.subarray(t * H, (t + 1) * H), t * (H + p));
    cat.set(xh.subarray(t * p, (t + 1) * p), t * (H + p) + H);
  }
  const delta = applyMap(c.output, cat, T);
  const wl = applyMap(c.weight, h2, T);
  const keys = new Float32Array(Hr * T * Dr);
  const values = new Float32Array(keys.length);
  const weights = new Float32Array(Hr * T);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < Hr; h++) {
      const w = sigmoid(wl[t * Hr + h]);
      weights[h * T + t] = w;
      for (let d = 0; d < Dr; d++) {
        const o = (h * T + t) * Dr + d;
        keys[o] = L.priorKeys[h * Dr + d] + w * delta[t * 2 * q + h * Dr + d];
        values[o] = L.priorValues[h * Dr + d] + w * delta[t * 2 * q + q + h * Dr + d];
      }
    }
  }
  return { keys, values, weights };
}

/** Parameters of a c2c layer (every tensor of the file, the inert receiver branch included). */
export function c2cParameters(c: C2CLayer): number {
  const maps = [c.input, c.receiverInput, c.hiddenMap, c.output, c.weight];
  return maps.reduce((n, m) => n + m.p * m.q + m.q, 0) - c.receiverInput.q + c.inMean.length + c.inScale.length + c.rScale.length;
}

/** Multiply-adds per token of a c2c layer in the question-only protocol (the receiver branch is skipped). */
export function c2cMacs(c: C2CLayer): number {
  return [c.input, c.hiddenMap, c.output, c.weight].reduce((n, m) => n + m.p * m.q, 0);
}
