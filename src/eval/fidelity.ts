/**
 * Fidelity of a compressed cache against the full cache, both run through the same engine:
 * next-token KL divergence KL(full || compressed), top-1 agreement, and the length of the common
 * prefix of the greedy continuations. Task accuracy is the task scorer on the compressed run's
 * answer (compress-eval.ts).
 *
 * Protocol (the receiver's view): the cache covers the context only; the question (or, for plain
 * text, the probe tokens) is appended at the original positions, i.e. after position T-1 even
 * when the cache is sparse (`inject(cache, {nextPosition: T})`).
 */
import { ensure } from '../errors.js';
import type { AttentionProbs, Session } from '../engine/index.js';
import type { KvCache } from '../kv/index.js';

/** log-softmax of one row of logits, in float64. */
export function logSoftmax(logits: ArrayLike<number>, offset = 0, length = logits.length - offset): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < length; i++) max = Math.max(max, logits[offset + i]);
  let sum = 0;
  for (let i = 0; i < length; i++) sum += Math.exp(logits[offset + i] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) out[i] = logits[offset + i] - lse;
  return out;
}

/** KL(P || Q) in nats between the softmax distributions of two logit rows of `V` entries. */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>, pOffset = 0, qOffset = 0, V = p.length - pOffset): number {
  const lp = logSoftmax(p, pOffset, V);
  const lq = logSoftmax(q, qOffset, V);
  let kl = 0;
  for (let i = 0; i < V; i++) {
    const pi = Math.exp(lp[i]);
    if (pi > 0) kl += pi * (lp[i] - lq[i]);
  }
  return Math.max(0, kl); // rounding can leave -1e-17 for identical rows
}

/** Index of the largest logit in one row (the first one on ties, like greedy decoding). */
export function argmaxRow(x: ArrayLike<number>, offset: number, V: number): number {
  let best = 0;
  for (let i = 1; i < V; i++) if (x[offset + i] > x[offset + best]) best = i;
  return best;
}

/** Length of the common prefix of two token sequences. */
export function matchLength(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

export interface ContinuationRun {
  /** Logits of the appended tokens: (rows, vocab), the last row only or every row. */
  logits: Float32Array;
  /** The greedy continuation after the appended tokens. */
  tokens: number[];
  /** Why the continuation ended: a stop token or `until` ('stop'), or maxTokens ('length'). */
  stopReason: 'stop' | 'length';
  attention?: AttentionProbs;
}

export interface ContinuationOptions {
  /** Where the appended tokens start: the original context length T (default: after the cache). */
  nextPosition?: number;
  /** 'last' (default): KL at the next-token position only; 'all': at every appended position. */
  logits?: 'last' | 'all';
  /** Greedy continuation length (default 0: none). */
  maxTokens?: number;
  /** Ends the continuation early (e.g. at a newline). */
  until?: (tokens: readonly number[]) => boolean;
  stop?: readonly number[];
  /** Attention rows of the appended tokens to return (Q2C reads the question's rows). */
  attentionRows?: number[];
}

/** Injects `cache`, appends `tokens` at the next positions, and continues greedily. */
export async function runContinuation(session: Session, cache: KvCache, tokens: ArrayLike<number>, options: ContinuationOptions = {}): Promise<ContinuationRun> {
  ensure(tokens.length > 0, 'BAD_ARGUMENT', 'runContinuation needs at least one token to append (the question)');
  const seq = session.inject(cache, { nextPosition: options.nextPosition });
  const { logits, attention } = await seq.append(tokens, { logits: options.logits ?? 'last', attentionRows: options.attentionRows });
  const maxTokens = options.maxTokens ?? 0;
  const out = maxTokens > 0 ? await seq.generate({ maxTokens, until: options.until, stop: options.stop }) : { tokens: [], stopReason: 'length' as const };
  return { logits: logits.slice(), tokens: out.tokens, stopReason: out.stopReason, attention };
}

/**
 * Teacher-forced logits: injects `cache`, appends `tokens` (e.g. the question followed by the
 * full cache's greedy answer) and returns every row's logits, (tokens.length, vocab). One forward
 * pass scores a whole answer, so KL can be taken on the answer's tokens rather than only on the
 * first (which is often a fixed formatting token such as a space).
 */
export async function forcedLogits(session: Session, cache: KvCache, tokens: ArrayLike<number>, options: { nextPosition?: number } = {}): Promise<Float32Array> {
  ensure(tokens.length > 0, 'BAD_ARGUMENT', 'forcedLogits needs at least one token');
  const seq = session.inject(cache, { nextPosition: options.nextPosition });
  return (await seq.append(tokens, { logits: 'all' })).logits.slice();
}

/**
 * Whether greedy decoding from teacher-forced `rows` (row r predicts the token after forced
 * token r) reproduces `answer` starting at row `from`: each answer token is the row's argmax,
 * and, when the answer ended on a stop token, the row after it predicts one of `stopIds`.
 */
export function reproducesAnswer(rows: Float32Array, vocab: number, from: number, answer: readonly number[], stopIds: readonly number[] | null): boolean {
  for (let i = 0; i < answer.length; i++) if (argmaxRow(rows, (from + i) * vocab, vocab) !== answer[i]) return false;
  return stopIds === null || stopIds.includes(argmaxRow(rows, (from + answer.length) * vocab, vocab));
}

export interface Fidelity {
  /** Mean KL(full || compressed) over the compared rows, nats. */
  kl: number;
  /** Fraction of compared rows whose argmax agrees. */
  top1: number;
  /** Common prefix length of the greedy continuations. */
  matchLength: number;
  /** Rows compared. */
  rows: number;
}

/** Compares a compressed run against the full run row by row (rows = logits.length / vocab). */
export function compareRuns(full: ContinuationRun, compressed: ContinuationRun, vocab: number): Fidelity {
  ensure(full.logits.length === compressed.logits.length && full.logits.length % vocab === 0, 'BAD_ARGUMENT',
    `compareRuns: logits of ${full.logits.length} and ${compressed.logits.length} floats are not the same rows of ${vocab}`);
  const rows = full.logits.length / vocab;
  let kl = 0;
  let agree = 0;
  for (let r = 0; r < rows; r++) {
    kl += klDivergence(full.logits, compressed.logits, r * vocab, r * vocab, vocab);
    if (argmaxRow(full.logits, r * vocab, vocab) === argmaxRow(compressed.logits, r * vocab, vocab)) agree++;
  }
  return { kl: kl / rows, top1: agree / rows, matchLength: matchLength(full.tokens, compressed.tokens), rows };
}
