/**
 * The sender -> receiver half shared by the `select` and `plan` runners: a src/plan Plan is
 * really packed (applyPlan), its bytes checked against the plan's own count, and unpacked
 * (materialize) into the cache the receiver injects, with the per-(layer, head) `absent` mask
 * when the plan drops tokens per head. Bytes are by part, exactly as the plan counts them; the
 * container (card header, chunking, checksums) is the handoff runner's and is not counted here.
 */
import { KvwireError } from '../../../errors.js';
import type { KvCache } from '../../../kv/index.js';
import { applyPlan, materialize, packedByteLength, type Plan } from '../../../plan/index.js';
import type { ByteAccount } from '../runner.js';
import { since } from './handoff-path.js';

export interface Unpacked {
  cache: KvCache;
  absent: Uint8Array[] | null;
  bytes: ByteAccount;
  ms: { pack: number; unpack: number };
}

/** The plan's bytes in the sweep's parts: codes | fp16 scales + zeros | index set + class maps | header + descriptors. */
export function planAccount(plan: Plan): ByteAccount {
  const b = plan.bytes;
  return { total: b.total, payload: b.codes, scales: b.scales + b.zeros, indices: b.indices + b.classMaps, metadata: b.header + b.descriptors };
}

/** Packs `cache` as `plan` says and unpacks it again (what the receiver would hold). */
export function packAndUnpack(cache: KvCache, plan: Plan): Unpacked {
  let t0 = performance.now();
  const packed = applyPlan(cache, plan);
  const pack = since(t0);
  const total = packedByteLength(packed);
  // The plan's count is what a budget is checked against; a mismatch would make every byte axis wrong.
  if (total !== plan.bytes.total) throw new KvwireError('ENGINE', `plan counts ${plan.bytes.total} bytes, its packed form has ${total}`);
  t0 = performance.now();
  const got = materialize(packed, cache.shape);
  const unpack = since(t0);
  const bytes = planAccount(plan);
  if (bytes.payload + bytes.scales + bytes.indices + bytes.metadata !== bytes.total) throw new KvwireError('ENGINE', `plan byte parts do not add up to ${bytes.total}`);
  return { cache: got.cache, absent: got.absent, bytes, ms: { pack, unpack } };
}
