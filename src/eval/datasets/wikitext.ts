/**
 * WikiText-2 (Merity et al. 2016) raw test split, for perplexity with a sliding window.
 *
 * The text is read as it is (CRLF -> LF) and tokenized by the model's own tokenizer. Window i
 * holds tokens [i·stride, i·stride + window), with BOS in front when the tokenizer has one. Its
 * last `stride` tokens are scored, each given at least window - stride tokens of context (the
 * first window - stride tokens of the text are context only). The receiver's part of a window
 * starts one token before the scored ones, so a compressed cache of the context can be handed
 * over and the receiver still predicts every scored token itself.
 *
 * Reported per window: summed negative log-likelihood (nats), token count, and the UTF-8 bytes
 * of the scored tokens' text (decoded per window; a character split across windows is counted
 * approximately). Token perplexity exp(Σnll/Σtokens) depends on the tokenizer; bits per byte
 * Σnll / (ln 2 · Σbytes) compares models with different tokenizers.
 */
import { readFileSync } from 'node:fs';
import { KvwireError } from '../../errors.js';
import type { TextTokenizer } from '../../model/index.js';
import { dataPath } from '../../util/data.js';

export const WIKITEXT_FILE = 'datasets/wikitext2/wiki.test.raw';

export interface WikitextOptions {
  /** Tokens per window, BOS not counted (default 512). */
  window?: number;
  /** Scored tokens per window, and the step between windows (default 256). */
  stride?: number;
  /** Number of windows (default: as many as the text holds). */
  n?: number;
  /** Index of the first window (default 0). */
  start?: number;
}

export interface NllWindow {
  /** `wikitext2-w${window}-s${stride}-${i}` */
  id: string;
  /** The window's tokens, BOS first when the tokenizer has one. */
  ids: number[];
  /** ids[0, split) is the shared context; ids[split, end) the receiver's part. */
  split: number;
  /** Scored tokens: ids[split + 1, end), `stride` of them. */
  scored: number;
  /** UTF-8 bytes of the scored tokens' decoded text. */
  bytes: number;
}

function positiveInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new KvwireError('BAD_ARGUMENT', `wikitext2: ${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`, { path: name });
}

/** The sliding windows of WikiText-2's test text for `tokenizer`. */
export function wikitextWindows(tokenizer: TextTokenizer, options: WikitextOptions = {}): NllWindow[] {
  const W = options.window ?? 512;
  const S = options.stride ?? 256;
  const start = options.start ?? 0;
  positiveInt('window', W, 2);
  positiveInt('stride', S, 1);
  positiveInt('start', start, 0);
  if (S >= W) throw new KvwireError('BAD_ARGUMENT', `wikitext2: stride (${S}) must be below window (${W}) so every window has context`, { path: 'stride' });
  const text = readFileSync(dataPath(WIKITEXT_FILE), 'utf8').replace(/\r\n?/g, '\n');
  // Tokenize only as much text as the windows need (generously: 8 characters per token), then
  // drop the last tokens, which a cut through a word may have changed.
  const need = options.n === undefined ? Infinity : (start + options.n - 1) * S + W;
  let chars = Number.isFinite(need) ? need * 8 + 1024 : text.length;
  let tokens: number[];
  for (;;) {
    tokens = tokenizer.encode(text.slice(0, chars));
    if (chars >= text.length) break;
    if (tokens.length >= need + 16) {
      tokens = tokens.slice(0, tokens.length - 16);
      break;
    }
    chars *= 2;
  }
  const available = tokens.length >= W ? Math.floor((tokens.length - W) / S) + 1 : 0;
  const n = options.n ?? Math.max(0, available - start);
  positiveInt('n', n, 0);
  if (start + n > available) throw new KvwireError('BAD_ARGUMENT', `wikitext2: asked for windows ${start}..${start + n - 1}, but the text holds ${available} of ${W} tokens with stride ${S}`, { path: 'n' });
  const bos = tokenizer.bosId === null ? [] : [tokenizer.bosId];
  return Array.from({ length: n }, (_, k): NllWindow => {
    const i = start + k;
    const window = tokens.slice(i * S, i * S + W);
    const ids = [...bos, ...window];
    const split = ids.length - S - 1;
    const bytes = Buffer.byteLength(tokenizer.decode(window.slice(W - S)), 'utf8');
    return { id: `wikitext2-w${W}-s${S}-${i}`, ids, split, scored: S, bytes };
  });
}
