/**
 * Scorers that read only tensors: positional (front, back, random), norms of the sharer's keys
 * and values, and the receiver-space hooks of the cross-model issue (proj_vnorm,
 * delta_proj_vnorm of seed 001 §4.4.1), which read values the fuser has projected.
 */
import { KvwireError, ensure } from '../errors.js';
import { createRng } from '../quant/index.js';
import type { ReceiverValueSpace, ScoreInput, Selector, TokenScores } from './types.js';

/** Keep the first p·T tokens (front truncation keeps the beginning, drops the end). */
export const front: Selector = {
  name: 'front', description: 'keep the earliest tokens (score −t)', needs: 'cache', granularity: 'shared',
  score: async ({ cache }) => ({ granularity: 'shared', length: cache.length, scores: Float64Array.from({ length: cache.length }, (_, t) => -t) }),
};

/** Keep the last p·T tokens (back truncation). */
export const back: Selector = {
  name: 'back', description: 'keep the latest tokens (score t)', needs: 'cache', granularity: 'shared',
  score: async ({ cache }) => ({ granularity: 'shared', length: cache.length, scores: Float64Array.from({ length: cache.length }, (_, t) => t) }),
};

/** Uniform random scores from a seeded generator: the same seed keeps the same tokens. */
export const random: Selector = {
  name: 'random', description: 'seeded uniform random subset', needs: 'cache', granularity: 'shared',
  score: async ({ cache, seed }) => {
    const rng = createRng((seed ?? 0) ^ 0x5eed);
    return { granularity: 'shared', length: cache.length, scores: Float64Array.from({ length: cache.length }, () => rng()) };
  },
};

/** L2 norm of each (layer, head, token) row of `tensors[l]` (kvHeads, T, D), times `sign`. */
function rowNorms(tensors: Float32Array[], kvHeads: number, T: number, D: number, sign: 1 | -1): Float64Array[] {
  return tensors.map((x) => {
    const out = new Float64Array(kvHeads * T);
    for (let r = 0; r < kvHeads * T; r++) {
      let s = 0;
      for (let d = r * D; d < (r + 1) * D; d++) s += x[d] * x[d];
      out[r] = sign * Math.sqrt(s);
    }
    return out;
  });
}

function normScorer(name: string, description: string, kind: 'keys' | 'values', sign: 1 | -1): Selector {
  return {
    name, description, needs: 'cache', granularity: 'head',
    score: async ({ cache }): Promise<TokenScores> => ({
      granularity: 'head', length: cache.length, kvHeads: cache.kvHeads,
      scores: rowNorms(cache[kind], cache.kvHeads, cache.length, cache.headDim, sign),
    }),
  };
}

/** Larger key norm first. */
export const knorm = normScorer('knorm', 'L2 norm of the key, per head (larger kept)', 'keys', 1);
/**
 * Smaller key norm first: Devoto et al. 2024 ("A simple and effective L2 norm-based strategy for
 * KV cache compression") find low-norm keys draw the most attention.
 */
export const knormLow = normScorer('knorm-low', 'L2 norm of the key, per head (smaller kept)', 'keys', -1);
/** Larger value norm first (VATP's observation that value norms matter; seed 001's vnorm_topk). */
export const vnorm = normScorer('vnorm', 'L2 norm of the value, per head (larger kept)', 'values', 1);

/** Mean over the receiver's heads of ‖a_t − b_t‖₂ per layer (b absent: ‖a_t‖₂): u^ℓ(t) of seed 001. */
export function receiverScores(space: ReceiverValueSpace, T: number, delta: boolean): TokenScores {
  const { kvHeads, headDim: D, projectedValues, receiverValues } = space;
  ensure(!delta || receiverValues !== undefined, 'BAD_ARGUMENT',
    'delta_proj_vnorm needs the receiver\'s own values (ReceiverValueSpace.receiverValues)');
  ensure(space.layers === undefined || projectedValues.length === space.layers, 'CACHE_MISMATCH',
    `the receiver space has ${projectedValues.length} layers of projected values, but says layers = ${space.layers}`);
  ensure(!receiverValues || receiverValues.length === projectedValues.length, 'CACHE_MISMATCH',
    `receiver values cover ${receiverValues?.length} layers, projected values ${projectedValues.length}`);
  const scores = projectedValues.map((a, l) => {
    ensure(a.length === kvHeads * T * D, 'CACHE_MISMATCH',
      `projected values of layer ${l} hold ${a.length} floats, expected kvHeads·T·headDim = ${kvHeads * T * D}`);
    const b = delta ? receiverValues![l] : null;
    ensure(!b || b.length === a.length, 'CACHE_MISMATCH', `receiver values of layer ${l} hold ${b?.length} floats, expected ${a.length}`);
    const out = new Float64Array(T);
    for (let h = 0; h < kvHeads; h++) {
      for (let t = 0; t < T; t++) {
        let s = 0;
        for (let d = (h * T + t) * D, e = d + D; d < e; d++) {
          const x = b ? a[d] - b[d] : a[d];
          s += x * x;
        }
        out[t] += Math.sqrt(s) / kvHeads;
      }
    }
    return out;
  });
  return { granularity: 'layer', length: T, scores };
}

function receiverScorer(name: string, description: string, delta: boolean): Selector {
  return {
    name, description, needs: 'receiver', granularity: 'layer',
    score: async ({ cache, receiver }: ScoreInput) => {
      if (!receiver) {
        throw new KvwireError('BAD_ARGUMENT',
          `${name} scores values in the receiver's space: pass ScoreInput.receiver (for same-model handoff, ` +
          'identitySpace(cache) gives projected = own values)');
      }
      return receiverScores(receiver, cache.length, delta);
    },
  };
}

/** ‖V̂_t‖ in the receiver's space (projector-aware value norm). */
export const projVnorm = receiverScorer('proj_vnorm', 'value norm after projection into the receiver (per layer)', false);
/** ‖V̂_t − V^R_t‖: the marginal update a token brings to the receiver's own cache (seed 001 M9). */
export const deltaProjVnorm = receiverScorer('delta_proj_vnorm', '‖projected V − receiver V‖ per layer (seed 001 M9)', true);

/** The receiver space of same-model handoff: projection = identity, no receiver baseline. */
export function identitySpace(cache: { kvHeads: number; headDim: number; values: Float32Array[] }): ReceiverValueSpace {
  return { kvHeads: cache.kvHeads, headDim: cache.headDim, projectedValues: cache.values };
}
