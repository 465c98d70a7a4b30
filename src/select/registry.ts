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
  return selectTopK(scores, { ...options, granularity: options.granularity ?? selector.granularity }, input.cache);
}
