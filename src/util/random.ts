/**
 * A small seeded PRNG (mulberry32) and normal sampler, so tests and benchmarks are reproducible
 * without Math.random.
 */

/** Returns a function giving uniform floats in [0, 1) from a 32-bit seed. */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fills `out` with normal(mean, std) samples (Box–Muller) from `rng`. */
export function fillNormal(out: Float32Array, rng: () => number, mean = 0, std = 1): Float32Array {
  for (let i = 0; i < out.length; i += 2) {
    const u = 1 - rng(); // (0, 1]: log(u) is finite
    const r = std * Math.sqrt(-2 * Math.log(u));
    const phi = 2 * Math.PI * rng();
    out[i] = mean + r * Math.cos(phi);
    if (i + 1 < out.length) out[i + 1] = mean + r * Math.sin(phi);
  }
  return out;
}
