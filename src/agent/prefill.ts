/**
 * Long prompts in pieces. The engine materializes attention scores for every new token against
 * every key, so one 4K-token prefill of a Qwen2.5-0.5B-shaped model needs over 20 GB; appending
 * the prompt in chunks bounds that to one chunk's rows (the same computation: each chunk attends
 * to the cache of the chunks before it, a cache law the engine's tests check).
 */
import type { Sequence, Session } from '../engine/index.js';
import type { KvCache } from '../kv/index.js';

/** Tokens per forward pass (512 keeps a 0.5B model's 8K prefill within a few GB). */
export const PREFILL_CHUNK = 512;

/** Appends `tokens` to `seq` in chunks; returns the last chunk's logits. */
export async function appendChunked(seq: Sequence, tokens: ArrayLike<number>, chunk = PREFILL_CHUNK): Promise<Float32Array<ArrayBufferLike>> {
  const all = Array.from(tokens);
  let logits: Float32Array<ArrayBufferLike> = new Float32Array(0);
  for (let at = 0; at < all.length; at += chunk) logits = (await seq.append(all.slice(at, at + chunk))).logits;
  return logits;
}

/** The cache of `tokens`, prefilled in chunks. */
export async function prefillChunked(session: Session, tokens: ArrayLike<number>, chunk = PREFILL_CHUNK): Promise<KvCache> {
  const seq = session.sequence();
  await appendChunked(seq, tokens, chunk);
  return seq.cache();
}
