/** Test helpers for plan/ (not part of the public API). */
import { KvCache } from '../kv/index.js';
import { createRng, fillNormal } from '../quant/index.js';

/** A cache of normal(0, 1) K and V, T tokens at positions first.. (seeded). */
export function randomCache(seed: number, shape: { layers: number; kvHeads: number; headDim: number }, T: number, first = 0): KvCache {
  const rng = createRng(seed);
  const make = () => Array.from({ length: shape.layers }, () => fillNormal(new Float32Array(shape.kvHeads * T * shape.headDim), rng));
  return new KvCache(shape, make(), make(), Int32Array.from({ length: T }, (_, i) => first + i), Int32Array.from({ length: T }, (_, i) => 3 + i));
}
