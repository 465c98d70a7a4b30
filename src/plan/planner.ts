/**
 * The planner's front door: a budget (bytes, or a fraction of the FP16 size) -> a Plan.
 *
 *   const d = await diagnoseLayers(session, probes, actionCoding('int4', D));       // bottlenecks
 *   const plan = planBudget(cache, { budget: { fraction: 1 / 8 }, protect: d.bottlenecks, lastFp16: 1 });
 *   const packed = applyPlan(cache, plan);        // plan.bytes.total === packedByteLength(packed)
 *   const { cache: received } = materialize(packed, cache.shape);
 */
import type { KvCache } from '../kv/index.js';
import { resolveBudget } from './codings.js';
import { allocateRd, type RdOptions } from './rd.js';
import type { Budget, Plan } from './types.js';

export interface PlannerOptions extends Omit<RdOptions, 'budget'> {
  budget: Budget;
}

/** Rate–distortion plan under a budget; BUDGET for absurd budgets (NaN, negative, below the metadata floor). */
export function planBudget(cache: KvCache, options: PlannerOptions): Plan {
  return allocateRd(cache, { ...options, budget: resolveBudget(options.budget, cache) });
}
