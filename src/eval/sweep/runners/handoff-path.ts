/**
 * The path every same-model runner shares: the sharer prefills the shared context, a transform
 * turns its cache into what the receiver gets (identity, quantize, select, ...), the receiver
 * injects it at the original positions, appends its part, and either generates an answer or
 * scores the next tokens. Each stage is timed; the transform reports its own stages and bytes.
 *
 * Runners of the compression core can reuse it: pass a transform (and prefill options, e.g.
 * attention rows for H2O/SnapKV scoring).
 */
import type { PrefillOptions, PrefillResult } from '../../../engine/index.js';
import type { KvCache } from '../../../kv/index.js';
import type { EvalItem, GenerateItem, NllItem } from '../../datasets/index.js';
import type { ByteAccount, ItemOutcome, RunnerContext } from '../runner.js';

export interface Handed {
  /** The cache the receiver injects (any increasing subset of the context's positions). */
  cache: KvCache;
  /** Per layer (kvHeads, T) flags of rows not sent in that head (per-head selections); null or absent: all sent. */
  absent?: Uint8Array[] | null;
  bytes: ByteAccount;
  /** The transform's stage timings (quantize, select, encode, ...). */
  ms: Record<string, number>;
}

export type Transform = (prefilled: PrefillResult, item: EvalItem, ctx: RunnerContext) => Promise<Handed> | Handed;

/** Milliseconds since `t0`. */
export const since = (t0: number) => performance.now() - t0;

/** Stops generation at the first newline that follows some text. */
function newlineAfterText(decode: (ids: readonly number[]) => string) {
  return (tokens: readonly number[]) => tokens.length > 0 && /\S[^\n]*\n/.test(decode(tokens));
}

export async function runHandoff(ctx: RunnerContext, item: EvalItem, transform: Transform, prefillOptions: PrefillOptions = {}): Promise<ItemOutcome> {
  const { session, spec } = ctx;
  const context = item.ids.slice(0, item.split);
  let t0 = performance.now();
  const prefilled = await session.prefill(context, prefillOptions);
  const prefillMs = since(t0);
  const handed = await transform(prefilled, item, ctx);
  t0 = performance.now();
  // Continue at the original positions even when the last context tokens were dropped.
  const seq = session.inject(handed.cache, { nextPosition: item.split === 0 ? 0 : prefilled.cache.nextPosition, absent: handed.absent ?? null });
  const injectMs = since(t0);
  const base = { bytes: handed.bytes, contextTokens: context.length, keptTokens: handed.cache.length };
  if (item.kind === 'nll') {
    const { nll, tokens, ms } = await scoreTokens(seq, item);
    return { ...base, nll, tokens, textBytes: item.bytes, ms: { prefill: prefillMs, ...handed.ms, inject: injectMs, ...ms } };
  }
  return { ...base, ...(await answer(seq, item as GenerateItem, spec.tokenizer.decode.bind(spec.tokenizer), prefillMs, handed.ms, injectMs)) };
}

type Seq = ReturnType<RunnerContext['session']['inject']>;

async function answer(seq: Seq, item: GenerateItem, decode: (ids: readonly number[]) => string, prefillMs: number, transformMs: Record<string, number>, injectMs: number) {
  let t0 = performance.now();
  await seq.append(item.ids.slice(item.split));
  const appendMs = since(t0);
  t0 = performance.now();
  const { tokens, decodeMs } = await seq.generate({ maxTokens: item.maxTokens, until: item.stopAtNewline ? newlineAfterText(decode) : undefined });
  const generateMs = since(t0);
  const output = decode(tokens);
  return {
    output, correct: item.score(output),
    ms: { prefill: prefillMs, ...transformMs, inject: injectMs, append: appendMs, decode: decodeMs, sample: Math.max(0, generateMs - decodeMs) },
  };
}

/** Appends the receiver's part in chunks and sums -log p of ids[split+1 ..] (float64 log-softmax). */
async function scoreTokens(seq: Seq, item: NllItem): Promise<{ nll: number; tokens: number; ms: Record<string, number> }> {
  const part = item.ids.slice(item.split);
  const CHUNK = 64; // bounds the logits buffer: CHUNK x vocab floats
  let nll = 0;
  let tokens = 0;
  const t0 = performance.now();
  for (let at = 0; at < part.length - 1; at += CHUNK) {
    const chunk = part.slice(at, Math.min(part.length - 1, at + CHUNK));
    const { logits } = await seq.append(chunk, { logits: 'all' });
    const V = logits.length / chunk.length;
    for (let r = 0; r < chunk.length; r++) {
      const row = logits.subarray(r * V, (r + 1) * V);
      let max = -Infinity;
      for (let v = 0; v < V; v++) if (row[v] > max) max = row[v];
      let sum = 0;
      for (let v = 0; v < V; v++) sum += Math.exp(row[v] - max);
      nll += Math.log(sum) + max - row[part[at + r + 1]];
      tokens++;
    }
  }
  return { nll, tokens, ms: { score: since(t0) } };
}
