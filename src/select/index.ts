/**
 * select/: token scorers and selectors (see README.md). A selector scores tokens; `select`
 * keeps the top k under one shared rule (sinks, recent window, ties to the lower index).
 */

// Types: scores, index sets (shared / per layer / per KV head), budgets, scorer inputs.
export type {
  Granularity, TokenScores, IndexSet, KeepBudget, SelectOptions, AttentionSource, ReceiverValueSpace, ScoreInput,
  SelectorNeeds, Selector,
} from './types.js';

// The shared top-k, aggregation across granularities, and applying a selection to a KvCache.
export { keepCount, topKIndices, aggregateScores, selectTopK, unionIndices, absentMask, applySelection } from './topk.js';

// Selectors by name, and select(selector, input, options).
export { SELECTOR_NAMES, type SelectorName, getSelector, select } from './registry.js';

// Cache-only scorers and the receiver-space hooks (proj_vnorm, delta_proj_vnorm).
export { front, back, random, knorm, knormLow, vnorm, projVnorm, deltaProjVnorm, receiverScores, identitySpace } from './scorers.js';

// Attention scorers and where their attention comes from.
export { h2o, snapkv, q2c, q2cSelector, windowMax, sessionAttention, precomputedAttention, rowMass, toKvHeads, maxPool1d, CHUNK_FLOATS } from './attention.js';
