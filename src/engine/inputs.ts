/**
 * Per-call graph inputs computed from explicit positions: RoPE tables and the attention bias.
 * Positions, not array indices, decide both, which is what lets a sparse or injected cache keep
 * the positions its tokens were encoded at.
 */
import { type ModelConfig, ropeInverseFrequencies } from '../model/index.js';

/** cos and sin tables (S, headDim) for `positions`; sin's first half is negated (rotate-half). */
export function ropeTables(config: ModelConfig, positions: ArrayLike<number>, inv = ropeInverseFrequencies(config)) {
  const D = config.headDim;
  const half = D / 2;
  const cos = new Float32Array(positions.length * D);
  const sin = new Float32Array(positions.length * D);
  for (let s = 0; s < positions.length; s++) {
    const p = Math.fround(positions[s]);
    for (let i = 0; i < half; i++) {
      // float32 product like the reference's `position * inv_freq` (exact: 24x24-bit fits a double).
      const angle = Math.fround(p * inv[i]);
      const c = Math.fround(Math.cos(angle));
      const sn = Math.fround(Math.sin(angle));
      cos[s * D + i] = c;
      cos[s * D + half + i] = c;
      sin[s * D + i] = -sn;
      sin[s * D + half + i] = sn;
    }
  }
  return { cos, sin };
}

/**
 * Additive attention bias (S, T): 0 where query i may see key j, -Infinity elsewhere. Key j is
 * visible when its position is not after the query's and, with a sliding window W, when
 * qpos - kpos < W. Every query sees itself, so no row is all -Infinity.
 */
export function attentionBias(queryPositions: ArrayLike<number>, keyPositions: ArrayLike<number>, slidingWindow: number | null): Float32Array {
  const S = queryPositions.length;
  const T = keyPositions.length;
  const bias = new Float32Array(S * T);
  for (let i = 0; i < S; i++) {
    const q = queryPositions[i];
    for (let j = 0; j < T; j++) {
      const k = keyPositions[j];
      const visible = k <= q && (slidingWindow === null || q - k < slidingWindow);
      if (!visible) bias[i * T + j] = -Infinity;
    }
  }
  return bias;
}
