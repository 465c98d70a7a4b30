/**
 * Bottleneck-layer diagnosis (seed 002's "diagnostic bottleneck discovery"): quantize one layer
 * at a time, leave the others exact, and measure the next-token KL divergence against the full
 * cache on a few probe prompts. The layers whose quantization alone moves the prediction most
 * are the bottlenecks that a mixed-precision schedule protects in FP16.
 */
import { ensure } from '../errors.js';
import type { Session } from '../engine/index.js';
import { compareRuns, runContinuation } from '../eval/fidelity.js';
import { KvCache } from '../kv/index.js';
import { fakeQuantize } from '../quant/index.js';
import type { ClassCoding } from './types.js';

/** One probe: the context whose cache is compressed, and the tokens appended after it. */
export interface Probe {
  context: ArrayLike<number>;
  /** Appended at the original positions; KL is taken at the last one (the next-token prediction). */
  continuation: ArrayLike<number>;
}

export interface LayerDiagnosis {
  /** Mean next-token KL (nats) over the probes when only layer l is quantized. */
  kl: number[];
  /** Layers from most to least sensitive. */
  order: number[];
  /** The `protect` most sensitive layers. */
  bottlenecks: number[];
}

/** `cache` with layer `layer`'s K and V fake-quantized by `coding` (every head, all tokens). */
export function quantizeOneLayer(cache: KvCache, layer: number, coding: ClassCoding): KvCache {
  const { kvHeads: KV, headDim: D } = cache;
  const T = cache.length;
  const q = (x: Float32Array, kind: 'keys' | 'values') => {
    const out = new Float32Array(x.length);
    for (let h = 0; h < KV; h++) {
      fakeQuantize(kind === 'keys' ? coding.keys : coding.values, x.subarray(h * T * D, (h + 1) * T * D), T, D,
        out.subarray(h * T * D, (h + 1) * T * D), `${kind}[layer ${layer}, head ${h}]`);
    }
    return out;
  };
  const keys = cache.keys.map((k, l) => (l === layer ? q(k, 'keys') : k));
  const values = cache.values.map((v, l) => (l === layer ? q(v, 'values') : v));
  return new KvCache(cache.shape, keys, values, cache.positions, cache.tokens);
}

/** `cache` with every layer but `keep` fake-quantized by `coding`. */
export function quantizeAllBut(cache: KvCache, keep: number, coding: ClassCoding): KvCache {
  let out = cache;
  for (let l = 0; l < cache.layers; l++) if (l !== keep) out = quantizeOneLayer(out, l, coding);
  return out;
}

export interface DiagnoseOptions {
  /** How many bottlenecks to return (default 1). */
  protect?: number;
  /**
   * 'one-at-a-time' (default, seed 002): quantize only layer l; the layers that hurt most alone
   * are the bottlenecks. 'leave-one-out': quantize every layer but l; the layers whose exemption
   * helps most are the bottlenecks (what protecting one layer actually buys, interactions included).
   */
  mode?: 'one-at-a-time' | 'leave-one-out';
  /** KL at the last appended row (default) or the mean over every appended row. */
  rows?: 'last' | 'all';
}

/**
 * Per-layer sensitivity to `coding` on `probes`; `protect` bottlenecks are returned. Costs
 * (layers + 1) continuations per probe: use a handful of calibration prompts (not the test set).
 * In leave-one-out mode `kl[l]` is the KL *saved* by exempting layer l (larger = protect first).
 */
export async function diagnoseLayers(session: Session, probes: Probe[], coding: ClassCoding, options: DiagnoseOptions = {}): Promise<LayerDiagnosis> {
  ensure(probes.length > 0, 'BAD_ARGUMENT', 'diagnoseLayers needs at least one probe prompt');
  const L = session.config.layers;
  const protect = options.protect ?? 1;
  ensure(Number.isInteger(protect) && protect >= 0 && protect <= L, 'BAD_ARGUMENT', `protect must be an integer in 0..${L}, got ${protect}`);
  const V = session.config.vocabSize;
  const kl = new Array<number>(L).fill(0);
  const leaveOut = options.mode === 'leave-one-out';
  const opts = { logits: options.rows ?? 'last' } as const;
  for (const probe of probes) {
    const { cache } = await session.prefill(probe.context);
    const full = await runContinuation(session, cache, probe.continuation, opts);
    const all = leaveOut ? compareRuns(full, await runContinuation(session, quantizeAllBut(cache, -1, coding), probe.continuation, opts), V).kl : 0;
    for (let l = 0; l < L; l++) {
      const q = leaveOut ? quantizeAllBut(cache, l, coding) : quantizeOneLayer(cache, l, coding);
      const d = compareRuns(full, await runContinuation(session, q, probe.continuation, opts), V).kl;
      kl[l] += (leaveOut ? all - d : d) / probes.length;
    }
  }
  const order = Array.from({ length: L }, (_, l) => l).sort((a, b) => kl[b] - kl[a] || a - b);
  return { kl, order, bottlenecks: order.slice(0, protect).sort((a, b) => a - b) };
}
