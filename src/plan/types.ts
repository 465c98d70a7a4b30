/**
 * The plan: which tokens are sent, and how each (layer, head, token) row is coded. All plain data
 * (typed arrays and small JSON-able objects) so the CacheCard container can serialize it.
 */
import type { KvShape } from '../kv/index.js';
import type { QuantizedSection, QuantSpec } from '../quant/index.js';

/** Per-token actions of the rate–distortion allocator (seed 001 §4.4.2, extended with int2 and fp16). */
export type Action = 'drop' | 'int2' | 'int4' | 'int8' | 'fp16';
export type KeepAction = Exclude<Action, 'drop'>;
export const KEEP_ACTIONS: readonly KeepAction[] = ['int2', 'int4', 'int8', 'fp16'];

/** How the rows of one precision class are coded: a quant spec for keys and one for values. */
export interface ClassCoding {
  keys: QuantSpec;
  values: QuantSpec;
}

/** In-memory symbol of a class map: this token is not sent in this (layer[, head]). */
export const DROPPED = 255;

/**
 * One layer's coding. Every kept token of every head is in exactly one class, or DROPPED.
 * - `map` null: every kept token, every head, is in class 0.
 * - scope 'token': `classOf` (n) gives each kept token's class, the same in every head.
 * - scope 'head': `classOf` (kvHeads, n), head-major, gives it per head (per-head selections).
 */
export interface LayerPlan {
  classes: ClassCoding[];
  map: null | { scope: 'token' | 'head'; classOf: Uint8Array };
}

/** Exact bytes of a plan, by part; `total` is their sum (see layout.ts for the layout). */
export interface PlanBytes {
  /** Fixed header (HEADER_BYTES). */
  header: number;
  /** Per-layer descriptors: class count, map scope, and each class's two specs. */
  descriptors: number;
  /** The kept index set (all / bitmap / u16 list / u32 list, whichever is smallest). */
  indices: number;
  /** Packed class maps of the layers that have one. */
  classMaps: number;
  /** Packed codes (the payload; fp16/fp32 rows count here too). */
  codes: number;
  /** fp16 scales. */
  scales: number;
  /** fp16 zero points. */
  zeros: number;
  total: number;
}

export interface Plan {
  shape: KvShape;
  /** T of the source cache. */
  length: number;
  /** Position of source token 0; positions must be consecutive (firstPosition + index). */
  firstPosition: number;
  /** Kept tokens: strictly increasing indices into the source cache (n of them). */
  kept: Int32Array;
  layers: LayerPlan[];
  bytes: PlanBytes;
}

/** A budget: exact bytes, or a fraction of the FP16 size of the whole cache (2·L·KV·T·D·2 bytes). */
export type Budget = { bytes: number } | { fraction: number };

/** One packed section: layer, class, head, K or V, and its coded rows (increasing tokens). */
export interface PackedSection {
  layer: number;
  cls: number;
  head: number;
  kind: 'keys' | 'values';
  section: QuantizedSection;
}

/**
 * What applyPlan produces and materialize reads: the descriptor bytes (header + layer
 * descriptors), the index set bytes, one packed class map per layer (empty when none), and the
 * sections in order (layer, class, head, keys then values; sections with no rows are absent).
 */
export interface PackedPlan {
  descriptor: Uint8Array;
  indices: Uint8Array;
  classMaps: Uint8Array[];
  sections: PackedSection[];
}
