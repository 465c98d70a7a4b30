/**
 * Next-token choice: greedy (argmax; ties go to the lowest id, like numpy and torch) or
 * temperature + top-p (nucleus) sampling from a seeded generator, so a run is reproducible.
 */
import { KvwireError } from '../errors.js';
import { createRng } from '../util/random.js';

export interface SamplingOptions {
  /** 0 (default) is greedy. */
  temperature?: number;
  /** Nucleus mass in (0, 1]; default 1. */
  topP?: number;
  /** Seed of the sampler's generator; default 0. */
  seed?: number;
}

export function argmax(logits: Float32Array, offset = 0, length = logits.length - offset): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < length; i++) {
    const v = logits[offset + i];
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

export function createSampler(options: SamplingOptions = {}): (logits: Float32Array, offset?: number, length?: number) => number {
  const temperature = options.temperature ?? 0;
  const topP = options.topP ?? 1;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) {
    throw new KvwireError('BAD_ARGUMENT', `temperature must be a finite number >= 0, got ${temperature}`);
  }
  if (!(topP > 0 && topP <= 1)) throw new KvwireError('BAD_ARGUMENT', `topP must be in (0, 1], got ${topP}`);
  if (temperature === 0) return argmax;
  const random = createRng(options.seed ?? 0);
  return (logits, offset = 0, length = logits.length - offset) => {
    let max = -Infinity;
    for (let i = 0; i < length; i++) max = Math.max(max, logits[offset + i]);
    const probs = new Float64Array(length);
    let sum = 0;
    for (let i = 0; i < length; i++) sum += probs[i] = Math.exp((logits[offset + i] - max) / temperature);
    const order = Array.from({ length }, (_, i) => i).sort((x, y) => probs[y] - probs[x] || x - y);
    // Keep the smallest prefix whose mass reaches topP, then sample within it.
    let kept = 0;
    let mass = 0;
    while (kept < length && mass < topP * sum) mass += probs[order[kept++]];
    let r = random() * mass;
    for (let i = 0; i < kept; i++) {
      r -= probs[order[i]];
      if (r < 0) return order[i];
    }
    return order[kept - 1];
  };
}
