/**
 * Character spans of tokens in the original text, for aligning two tokenizers.
 *
 * @huggingface/tokenizers' `encode` returns ids and token strings but no offsets (its Encoding is
 * {ids, tokens, attention_mask}), and kvwire's TextTokenizer only has encode/decode. So offsets
 * come from decoding: token i ends where the decoding of ids[0..i] stops agreeing with the
 * decoding of all ids (the longest common prefix), which is robust to
 *   - byte-level tokens holding part of a UTF-8 character (a prefix ends in U+FFFD, which does
 *     not match, so the character is credited to the token that completes it),
 *   - Metaspace / SentencePiece decoders that strip the first space (every prefix strips it too),
 *   - special tokens (BOS, dropped by decode: a zero-width span).
 * The decoded text can differ from the original (a normaliser, unknown pieces dropped, tabs
 * lost): `mapDecoded` aligns the two strings, so spans are always in the original text's
 * coordinates and two tokenizers' spans are comparable.
 *
 * Cost: O(T²) characters decoded (each prefix). A 600-token prompt decodes in well under a second
 * here; this runs at calibration and once per example, never per decoded token.
 */
import type { TextTokenizer } from '../model/index.js';

/** Token spans in the original text: token i covers characters [start[i], end[i]). */
export interface TokenSpans {
  start: Int32Array;
  end: Int32Array;
}

/** Length of the longest common prefix of a and b. */
function lcp(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/**
 * For each index k in 0..decoded.length, the index in `original` it corresponds to (monotone).
 * Equal strings map to themselves. Otherwise a greedy walk: equal characters advance both; at a
 * mismatch, the cheapest skip (a characters of the decoded text, b of the original, a + b
 * smallest, up to `window` each) after which the next `confirm` characters agree: characters the
 * decoder dropped (b) belong to no token, characters it added or changed (a) map to the current
 * original index.
 */
export function mapDecoded(decoded: string, original: string, window = 32, confirm = 2): Int32Array {
  const nd = decoded.length;
  const no = original.length;
  const out = new Int32Array(nd + 1);
  if (decoded === original) {
    for (let k = 0; k <= nd; k++) out[k] = k;
    return out;
  }
  const agree = (i: number, j: number): boolean => {
    for (let c = 0; c < confirm; c++) {
      if (i + c >= nd || j + c >= no) return (i + c >= nd && j + c >= no) || c > 0;
      if (decoded.charCodeAt(i + c) !== original.charCodeAt(j + c)) return false;
    }
    return true;
  };
  let i = 0;
  let j = 0;
  while (i < nd) {
    if (j < no && decoded.charCodeAt(i) === original.charCodeAt(j)) {
      out[i++] = j++;
      continue;
    }
    let a = 1;
    let b = j < no ? 1 : 0; // no match within the window: treat as one substituted character
    search: for (let cost = 1; cost <= 2 * window; cost++) {
      for (let x = Math.max(0, cost - window); x <= Math.min(cost, window); x++) {
        const y = cost - x;
        if (i + x <= nd && j + y <= no && agree(i + x, j + y)) { a = x; b = y; break search; }
      }
    }
    for (let s = 0; s < a; s++) out[i++] = j;
    j += b;
  }
  out[nd] = Math.min(j, no);
  for (let k = 1; k <= nd; k++) if (out[k] < out[k - 1]) out[k] = out[k - 1];
  return out;
}

/**
 * Spans of `ids` (the tokenization of `text`, possibly with BOS) in `text`. Zero-width spans are
 * tokens that decode to nothing on their own (BOS, the first bytes of a split character).
 */
export function tokenSpans(tok: Pick<TextTokenizer, 'decode'>, ids: readonly number[], text: string): TokenSpans {
  const T = ids.length;
  const full = tok.decode(ids);
  const decodedEnd = new Int32Array(T);
  let prev = 0;
  for (let i = 0; i < T; i++) {
    const e = Math.max(prev, lcp(tok.decode(ids.slice(0, i + 1)), full));
    decodedEnd[i] = e;
    prev = e;
  }
  const map = mapDecoded(full, text);
  const start = new Int32Array(T);
  const end = new Int32Array(T);
  for (let i = 0; i < T; i++) {
    const s = i === 0 ? 0 : decodedEnd[i - 1];
    start[i] = map[s];
    end[i] = Math.max(map[s], map[decodedEnd[i]]);
  }
  return { start, end };
}
