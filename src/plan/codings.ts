/**
 * Named codings (a quant spec for keys and one for values), budgets, and plans built from a
 * selection and a per-layer precision schedule.
 */
import { KvwireError, ensure } from '../errors.js';
import type { KvCache } from '../kv/index.js';
import { kivi, type CodeSpec, type QuantSpec } from '../quant/index.js';
import { absentMask, unionIndices, type IndexSet } from '../select/index.js';
import { makePlan } from './apply.js';
import { HEADER_BYTES, SPEC_BYTES } from './layout.js';
import { DROPPED, type Budget, type ClassCoding, type KeepAction, type LayerPlan, type Plan } from './types.js';

/** The largest divisor of headDim that is at most `g` (scale groups must divide the row). */
export function groupFor(headDim: number, g: number): number {
  for (let d = Math.min(g, headDim); d >= 1; d--) if (headDim % d === 0) return d;
  return 1;
}

const both = (spec: QuantSpec): ClassCoding => ({ keys: spec, values: spec });

/**
 * The coding of each per-token action of the allocator. Every one has scales per token (per
 * group of channels within a token), so a token's bytes do not depend on which other tokens share
 * its class: rates add up exactly. int8 per token; int4 and int2 in groups of 32 channels.
 */
export function actionCoding(action: KeepAction, headDim: number): ClassCoding {
  const g = groupFor(headDim, 32);
  switch (action) {
    case 'fp16': return both({ format: 'fp16' });
    case 'int8': return both({ format: 'int8', scheme: 'asym', axis: 'token' });
    case 'int4': return both({ format: 'int4', scheme: 'asym', axis: 'group', group: g });
    default: return both({ format: 'int2', scheme: 'asym', axis: 'group', group: g });
  }
}

export const BASELINE_NAMES = ['fp16', 'int8', 'int4g', 'int4-kivi', 'int2-kivi', 'nf4'] as const;
export type BaselineName = (typeof BASELINE_NAMES)[number];

/**
 * The whole-cache quantization baselines: FP16; INT8 asym per token; INT4 asym in groups of 32
 * channels; INT2 KIVI (keys asym per channel in blocks of 32 tokens, values asym in groups of 32
 * channels); NF4 absmax in groups of 64 channels (QLoRA's block size).
 */
export function baselineCoding(name: BaselineName, headDim: number): ClassCoding {
  switch (name) {
    case 'fp16': return both({ format: 'fp16' });
    case 'int8': return both({ format: 'int8', scheme: 'asym', axis: 'token' });
    case 'int4g': return both({ format: 'int4', scheme: 'asym', axis: 'group', group: groupFor(headDim, 32) });
    case 'int4-kivi':
    case 'int2-kivi': {
      const k = kivi(name === 'int4-kivi' ? 'int4' : 'int2', { group: 32 });
      return { keys: k.keys, values: { ...(k.values as CodeSpec), group: groupFor(headDim, 32) } };
    }
    case 'nf4': return both({ format: 'nf4', scheme: 'sym', axis: 'group', group: groupFor(headDim, 64) });
    default: throw new KvwireError('BAD_ARGUMENT', `unknown baseline coding "${name}"; one of ${BASELINE_NAMES.join(', ')}`);
  }
}

/** FP16 bytes of the whole cache's K and V, no metadata: the reference for fractions and ratios. */
export function fp16Bytes(cache: { layers: number; kvHeads: number; headDim: number; length: number }): number {
  return 2 * cache.layers * cache.kvHeads * cache.length * cache.headDim * 2;
}

/** The smallest possible plan: header and one-class descriptors, no tokens. */
export function metadataFloor(layers: number): number {
  return HEADER_BYTES + layers * (2 + 2 * SPEC_BYTES);
}

/** A budget in bytes; BUDGET for NaN, infinite, negative, zero fractions or a budget below the metadata floor. */
export function resolveBudget(budget: Budget, cache: KvCache): number {
  const bytes = 'bytes' in budget ? budget.bytes : budget.fraction * fp16Bytes(cache);
  const what = 'bytes' in budget ? `${budget.bytes} bytes` : `fraction ${budget.fraction} of the FP16 size (${fp16Bytes(cache)} bytes)`;
  if (!('bytes' in budget) && !(typeof budget.fraction === 'number' && Number.isFinite(budget.fraction) && budget.fraction > 0)) {
    throw new KvwireError('BUDGET', `budget: a fraction must be a finite number > 0, got ${budget.fraction}`);
  }
  if (!(typeof bytes === 'number' && Number.isFinite(bytes) && bytes >= 0)) {
    throw new KvwireError('BUDGET', `budget: ${what} is not a finite, non-negative number of bytes`);
  }
  const floor = metadataFloor(cache.layers);
  if (bytes < floor) {
    throw new KvwireError('BUDGET', `budget: ${what} is below the ${floor}-byte floor of a plan's metadata for ${cache.layers} layers (header ${HEADER_BYTES} + ${2 + 2 * SPEC_BYTES} per layer)`);
  }
  return Math.floor(bytes);
}

/** Per-layer precision: a base coding, the last k layers and protected (bottleneck) layers in FP16. */
export interface LayerSchedule {
  base: ClassCoding;
  /** The last k layers in FP16 (seed 001 §5.7). Default 0. */
  lastFp16?: number;
  /** Layers kept in FP16, e.g. the bottleneck layers from diagnoseLayers. */
  protect?: number[];
  /** The last R kept tokens of every non-FP16 layer in FP16 (KIVI's residual window). Default 0. */
  recentFp16?: number;
}

/** Which layers a schedule keeps in FP16. */
export function fp16Layers(layers: number, schedule: { lastFp16?: number; protect?: number[] }): Set<number> {
  const k = schedule.lastFp16 ?? 0;
  ensure(Number.isInteger(k) && k >= 0 && k <= layers, 'BAD_ARGUMENT', `lastFp16 must be an integer in 0..${layers}, got ${k}`);
  const out = new Set<number>();
  for (let l = layers - k; l < layers; l++) out.add(l);
  for (const l of schedule.protect ?? []) {
    ensure(Number.isInteger(l) && l >= 0 && l < layers, 'BAD_ARGUMENT', `protected layer ${l} is outside 0..${layers - 1}`);
    out.add(l);
  }
  return out;
}

/**
 * A plan that sends `selection` (all tokens when null) with the schedule's codings. Per-layer and
 * per-head selections send their union with DROPPED entries in head-scope class maps.
 */
export function planSelection(cache: KvCache, selection: IndexSet | null, schedule: LayerSchedule): Plan {
  const kept = selection ? unionIndices(selection) : Int32Array.from({ length: cache.length }, (_, i) => i);
  const n = kept.length;
  const absent = selection ? absentMask(selection, cache) : null;
  const fp16 = fp16Layers(cache.layers, schedule);
  const R = Math.min(schedule.recentFp16 ?? 0, n);
  ensure(Number.isInteger(R) && R >= 0, 'BAD_ARGUMENT', `recentFp16 must be a non-negative integer, got ${schedule.recentFp16}`);
  const layers: LayerPlan[] = Array.from({ length: cache.layers }, (_, l) => {
    const isFp16 = fp16.has(l);
    const classes = isFp16 ? [both({ format: 'fp16' })] : R > 0 && R < n ? [schedule.base, both({ format: 'fp16' })] : R === n && n > 0 ? [both({ format: 'fp16' })] : [schedule.base];
    const split = !isFp16 && R > 0 && R < n;
    if (!absent && !split) return { classes, map: null };
    const classOfToken = (i: number) => (split && i >= n - R ? 1 : 0);
    if (!absent) return { classes, map: { scope: 'token', classOf: Uint8Array.from({ length: n }, (_, i) => classOfToken(i)) } };
    const mask = absent[l];
    return { classes, map: { scope: 'head', classOf: Uint8Array.from({ length: cache.kvHeads * n }, (_, j) => (mask[j] ? DROPPED : classOfToken(j % n))) } };
  });
  return makePlan(cache, kept, layers);
}
