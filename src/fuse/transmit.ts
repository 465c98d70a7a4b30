/**
 * Seed 001's Quantized-C2C sender: the sent cache (protocol.ts `transmittedCache`) is selected
 * (src/select, through the receiver-space hooks of space.ts for proj_vnorm / delta_proj_vnorm),
 * or planned by rate–distortion in the receiver's value space (src/plan `planBudget` with
 * space.ts's hook), quantized and really packed (src/plan `applyPlan`, src/quant), and its bytes
 * counted exactly (`packedByteLength` = the plan's byte count: header, layer descriptors, index
 * set, class maps, codes, fp16 scales and zero points). The receiver materializes the packed plan
 * (dequantized rows at their original sharer positions) and hands it to the fuser.
 *
 * Not counted here: the container (CacheCard header, chunking, hashes), which the card adds on
 * top, exactly as for same-model plans; see docs/fuse.md for the card section proposed for
 * cross-model payloads.
 */
import { ensure } from '../errors.js';
import type { KvCache } from '../kv/index.js';
import {
  applyPlan, materialize, packedByteLength, planBudget, planSelection,
  type Budget, type ClassCoding, type KeepAction, type PackedPlan, type Plan,
} from '../plan/index.js';
import type { KeepBudget } from '../select/index.js';
import type { LinearFuser } from './fuser.js';
import { selectSent, valueSpaceHook } from './space.js';

/** Bytes of one transmission, by part (the same parts as the sweep's ByteAccount). */
export interface FuseBytes {
  total: number;
  /** Quantized codes (fp16 rows included). */
  payload: number;
  /** fp16 scales and zero points. */
  scales: number;
  /** The kept index set and class maps. */
  indices: number;
  /** The plan's header and per-layer descriptors. */
  metadata: number;
}

export interface TransmitOptions {
  /** Coding of kept rows (default fp16 for keys and values). */
  precision?: ClassCoding;
  /** Token selection: a selector name and a keep budget (ratio p or count). */
  selector?: string;
  keep?: KeepBudget;
  sinks?: number;
  recent?: number;
  seed?: number;
  /** RD scheduling instead of a selector: a byte budget or a fraction of the sent cache's FP16 size. */
  rd?: { budget: Budget; actions?: KeepAction[]; keyWeight?: number };
  /** The last k sent layers in fp16 (seed 001 §5.7). */
  lastFp16?: number;
  /** The receiver baseline per receiver layer on the sent grid (default: the fuser's prior). */
  baseline?: Float32Array[];
}

export interface Transmission {
  plan: Plan;
  packed: PackedPlan;
  bytes: FuseBytes;
  /** Tokens sent of the sent cache's n. */
  kept: number;
  ms: { select: number; pack: number };
}

const FP16: ClassCoding = { keys: { format: 'fp16' }, values: { format: 'fp16' } };

/** The sender's half: select or plan, pack, count. */
export async function transmit(fuser: LinearFuser, sent: KvCache, o: TransmitOptions = {}): Promise<Transmission> {
  ensure(!(o.rd && o.selector), 'BAD_ARGUMENT', 'transmit: give a selector or an RD budget, not both');
  const t0 = performance.now();
  let plan: Plan;
  if (o.rd) {
    plan = planBudget(sent, {
      budget: o.rd.budget, actions: o.rd.actions, keyWeight: o.rd.keyWeight, lastFp16: o.lastFp16,
      valueSpace: valueSpaceHook(fuser, sent, o.baseline),
    });
  } else {
    const set = o.selector ? await selectSent(fuser, sent, o.selector, { budget: o.keep ?? { ratio: 1 }, sinks: o.sinks, recent: o.recent, seed: o.seed, baseline: o.baseline }) : null;
    plan = planSelection(sent, set, { base: o.precision ?? FP16, lastFp16: o.lastFp16 });
  }
  const t1 = performance.now();
  const packed = applyPlan(sent, plan);
  const t2 = performance.now();
  const b = plan.bytes;
  const bytes: FuseBytes = {
    total: packedByteLength(packed), payload: b.codes, scales: b.scales + b.zeros, indices: b.indices + b.classMaps, metadata: b.header + b.descriptors,
  };
  ensure(bytes.total === bytes.payload + bytes.scales + bytes.indices + bytes.metadata, 'BAD_ARGUMENT', `transmit: plan bytes ${bytes.total} do not add up`);
  return { plan, packed, bytes, kept: plan.kept.length, ms: { select: t1 - t0, pack: t2 - t1 } };
}

/** The receiver's half before fusion: the sent tokens, dequantized, at their sharer positions. */
export function receivePacked(fuser: LinearFuser, packed: PackedPlan, sentLayers: number): KvCache {
  return materialize(packed, { layers: sentLayers, kvHeads: fuser.sharer.kvHeads, headDim: fuser.sharer.headDim }).cache;
}
