/**
 * RoPE on cached keys. A KvCache stores keys after RoPE at the *sharer's* positions and with the
 * sharer's frequencies; the receiver needs keys rotated with its own frequencies at the positions
 * it will read them at. A linear map fitted on rotated keys would have to learn a different
 * rotation for every position offset (and alignment shifts offsets by a few tokens, differently
 * per text), which a single matrix cannot. So the fuser works on *unrotated* keys: sharer keys are
 * rotated back (by −θ at the sharer's positions), mapped, and rotated forward with the receiver's
 * frequencies at the receiver's positions. Values carry no position and pass as they are.
 *
 * Same rotate-half convention and float32 angles as the engine (src/engine/inputs.ts ropeTables),
 * so rotate(unrotate(k)) reproduces the engine's keys to float32 rounding.
 */
import { ensure } from '../errors.js';
import { type ModelConfig, ropeInverseFrequencies } from '../model/index.js';

/**
 * Rotates keys (kvHeads, T, headDim) in place by +θ (direction 1) or −θ (direction −1), θ_i(t) =
 * positions[t] · inv[i]; channel i pairs with i + headDim/2 (rotate-half).
 */
export function rotateKeys(keys: Float32Array, kvHeads: number, positions: ArrayLike<number>, headDim: number, inv: Float32Array, direction: 1 | -1): Float32Array {
  const T = positions.length;
  const half = headDim / 2;
  ensure(keys.length === kvHeads * T * headDim, 'CACHE_MISMATCH', `rotateKeys: ${keys.length} floats, expected kvHeads·T·headDim = ${kvHeads * T * headDim}`);
  ensure(inv.length === half, 'BAD_ARGUMENT', `rotateKeys: ${inv.length} frequencies for head dim ${headDim}`);
  const cos = new Float32Array(T * half);
  const sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++) {
    const p = Math.fround(positions[t]);
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * inv[i]);
      cos[t * half + i] = Math.fround(Math.cos(angle));
      sin[t * half + i] = direction * Math.fround(Math.sin(angle));
    }
  }
  for (let h = 0; h < kvHeads; h++) {
    for (let t = 0; t < T; t++) {
      const o = (h * T + t) * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[t * half + i];
        const s = sin[t * half + i];
        const x = keys[o + i];
        const y = keys[o + half + i];
        keys[o + i] = x * c - y * s;
        keys[o + half + i] = y * c + x * s;
      }
    }
  }
  return keys;
}

/** A copy of keys (kvHeads, T, headDim) with RoPE removed (rotated back by −θ at `positions`). */
export function unrope(config: ModelConfig, keys: Float32Array, positions: ArrayLike<number>): Float32Array {
  return rotateKeys(keys.slice(), config.kvHeads, positions, config.headDim, ropeInverseFrequencies(config), -1);
}

/** A copy of unrotated keys with RoPE applied at `positions` with this model's frequencies. */
export function rerope(config: ModelConfig, keys: Float32Array, positions: ArrayLike<number>): Float32Array {
  return rotateKeys(keys.slice(), config.kvHeads, positions, config.headDim, ropeInverseFrequencies(config), 1);
}
