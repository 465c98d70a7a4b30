/**
 * Token alignment between two tokenizers of the same text: each receiver token is mapped to one
 * sharer token by character overlap (C2C's alignment, Fu et al. 2025, §3.3):
 *
 *   first    the earliest sharer token that overlaps the receiver token's characters
 *   longest  the sharer token with the largest overlap (ties: the earliest)
 *
 * A receiver token that overlaps no sharer token (a zero-width span, or characters the sharer's
 * tokenizer dropped) takes the nearest visible sharer token at or before its start (else the
 * first visible one). Sharer tokens of zero width (BOS, a split character's first bytes) are never
 * chosen by overlap. Leading special tokens (BOS) are the caller's business: the fuser never maps
 * a content token to a BOS (see protocol.ts).
 */
import type { TextTokenizer } from '../model/index.js';
import { ensure } from '../errors.js';
import { tokenSpans, type TokenSpans } from './offsets.js';

export const ALIGN_POLICIES = ['first', 'longest'] as const;
export type AlignPolicy = (typeof ALIGN_POLICIES)[number];

/**
 * receiver token i -> sharer token index (−1 only when the sharer has no visible token at all).
 * Both span sets must be in the same text's coordinates (tokenSpans of the same text).
 */
export function alignSpans(receiver: TokenSpans, sharer: TokenSpans, policy: AlignPolicy): Int32Array {
  ensure((ALIGN_POLICIES as readonly string[]).includes(policy), 'BAD_ARGUMENT', `alignment policy must be one of ${ALIGN_POLICIES.join(', ')}, got ${JSON.stringify(policy)}`);
  const R = receiver.start.length;
  const S = sharer.start.length;
  const visible: number[] = [];
  for (let j = 0; j < S; j++) if (sharer.end[j] > sharer.start[j]) visible.push(j);
  const out = new Int32Array(R).fill(-1);
  if (visible.length === 0) return out;
  // Spans increase with the index in both tokenizations, so one pointer over the visible sharer
  // tokens serves every receiver token: lo = first visible token that ends after a.
  let lo = 0;
  for (let i = 0; i < R; i++) {
    const a = receiver.start[i];
    const b = receiver.end[i];
    while (lo < visible.length && sharer.end[visible[lo]] <= a) lo++;
    let best = -1;
    let bestOverlap = 0;
    for (let v = lo; v < visible.length && sharer.start[visible[v]] < b; v++) {
      const j = visible[v];
      const overlap = Math.min(b, sharer.end[j]) - Math.max(a, sharer.start[j]);
      if (overlap <= 0) continue;
      if (best < 0 || (policy === 'longest' && overlap > bestOverlap)) { best = j; bestOverlap = overlap; }
      if (policy === 'first') break;
    }
    if (best < 0) {
      // No overlap: the last visible sharer token starting at or before a, else the first one.
      let v = Math.min(lo, visible.length - 1);
      while (v > 0 && sharer.start[visible[v]] > a) v--;
      best = visible[v];
    }
    out[i] = best;
  }
  return out;
}

/** Tokenizes `text` with both tokenizers (no BOS) and aligns receiver tokens to sharer tokens. */
export function alignText(receiverTok: TextTokenizer, sharerTok: TextTokenizer, text: string, policy: AlignPolicy):
  { receiverIds: number[]; sharerIds: number[]; map: Int32Array; receiverSpans: TokenSpans; sharerSpans: TokenSpans } {
  const receiverIds = receiverTok.encode(text);
  const sharerIds = sharerTok.encode(text);
  const receiverSpans = tokenSpans(receiverTok, receiverIds, text);
  const sharerSpans = tokenSpans(sharerTok, sharerIds, text);
  return { receiverIds, sharerIds, map: alignSpans(receiverSpans, sharerSpans, policy), receiverSpans, sharerSpans };
}

/** Receiver tokens that map to each sharer token (the inverse of an alignment), as lists. */
export function invertAlignment(map: Int32Array, sharerLength: number): number[][] {
  const out: number[][] = Array.from({ length: sharerLength }, () => []);
  map.forEach((j, i) => { if (j >= 0) out[j].push(i); });
  return out;
}
