/** The selectors by name, and `select`: score, then the shared top-k. */
import { KvwireError } from '../errors.js';
import { h2o, q2c, snapkv } from './attention.js';
import { back, deltaProjVnorm, front, knorm, knormLow, projVnorm, random, vnorm } from './scorers.js';
import { selectTopK } from './topk.js';
import type { IndexSet, ScoreInput, SelectOptions, Selector } from './types.js';

export const SELECTOR_NAMES = [
  'front', 'back', 'random', 'knorm', 'knorm-low', 'vnorm', 'h2o', 'snapkv', 'q2c', 'proj_vnorm', 'delta_proj_vnorm',
] as const;
export type SelectorName = (typeof SELECTOR_NAMES)[number];

const table: Record<SelectorName, Selector> = {
  front, back, random, knorm, 'knorm-low': knormLow, vnorm, h2o, snapkv: snapkv(), q2c,
  proj_vnorm: projVnorm, delta_proj_vnorm: deltaProjVnorm,
};

/** The selector called `name` (SnapKV with its default window; call snapkv({...}) for others). */
export function getSelector(name: string): Selector {
  const s = table[name as SelectorName];
  if (!s) throw new KvwireError('BAD_ARGUMENT', `unknown selector "${name}"; one of ${SELECTOR_NAMES.join(', ')}`);
  return s;
}

/**
 * Scores the input with `selector` and keeps the top tokens under `options`. The granularity
 * defaults to the selector's own (per head for norms, H2O and SnapKV; shared for Q2C and the
 * positional methods; per layer for the receiver-space scores).
 */
export async function select(selector: Selector, input: ScoreInput, options: SelectOptions): Promise<IndexSet> {
  const scores = await selector.score(input);
  const granularity = options.granularity ?? selector.granularity;
  // Receiver-space scores have one row per *receiver* layer (and the receiver's KV heads), which
  // across models is not the sharer cache's shape: aggregate them in the receiver's shape. Only
  // a shared set names the cache's tokens then; a per-layer or per-head set would be per receiver
  // layer and head, which names no rows of a cache of another depth or width.
  let shape: { layers: number; kvHeads: number } = input.cache;
  if (selector.needs === 'receiver' && input.receiver) {
    const r = input.receiver;
    shape = { layers: r.layers ?? r.projectedValues.length, kvHeads: r.kvHeads };
    if (granularity !== 'shared' && (shape.layers !== input.cache.layers || shape.kvHeads !== input.cache.kvHeads)) {
      throw new KvwireError('CACHE_MISMATCH',
        `${selector.name} scores ${shape.layers} receiver layers × ${shape.kvHeads} KV heads, the cache has ${input.cache.layers} × ${input.cache.kvHeads}: ` +
        `a ${granularity} index set would name receiver layers, not cache rows; select with granularity 'shared'`);
    }
  }
  return selectTopK(scores, { ...options, granularity }, shape);
}
