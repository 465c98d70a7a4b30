/**
 * Percentile bootstrap intervals, seeded. Resampling uses the task suite's splitmix32 stream, so
 * an interval depends only on (data, resamples, seed, level): rerunning a report gives the same
 * numbers on every machine.
 *
 * Quantiles are Hyndman & Fan type 7 (numpy's default: linear interpolation between order
 * statistics), so `percentile([..], 0.5)` is the usual median.
 */
import { KvwireError } from '../errors.js';
import { Rng } from './tasks/rng.js';

export interface Interval {
  low: number;
  high: number;
}

export interface BootstrapOptions {
  /** Number of resamples B (default 2000). */
  resamples?: number;
  /** Seed of the resampling stream (default 0). */
  seed?: number;
  /** Confidence level (default 0.95). */
  level?: number;
}

export interface BootstrapResult extends Interval {
  /** The statistic on the original sample. */
  estimate: number;
  resamples: number;
  level: number;
}

/** The q-quantile (0 ≤ q ≤ 1) of an ascending array, type 7. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) throw new KvwireError('BAD_ARGUMENT', 'percentile of an empty sample');
  if (!(q >= 0 && q <= 1)) throw new KvwireError('BAD_ARGUMENT', `percentile: q must be in [0, 1], got ${q}`);
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

function checkOptions(o: BootstrapOptions): { B: number; seed: number; level: number } {
  const B = o.resamples ?? 2000;
  const seed = o.seed ?? 0;
  const level = o.level ?? 0.95;
  if (!Number.isInteger(B) || B < 1) throw new KvwireError('BAD_ARGUMENT', `bootstrap: resamples must be a positive integer, got ${B}`, { path: 'resamples' });
  if (!Number.isInteger(seed) || seed < 0) throw new KvwireError('BAD_ARGUMENT', `bootstrap: seed must be a non-negative integer, got ${seed}`, { path: 'seed' });
  if (!(level > 0 && level < 1)) throw new KvwireError('BAD_ARGUMENT', `bootstrap: level must be in (0, 1), got ${level}`, { path: 'level' });
  return { B, seed, level };
}

/**
 * The bootstrap distribution of `statistic` over n items: B times, draw n indices with
 * replacement and evaluate `statistic(indices)`. Returned sorted ascending.
 */
export function bootstrapDistribution(n: number, statistic: (indices: Int32Array) => number, options: BootstrapOptions = {}): Float64Array {
  const { B, seed } = checkOptions(options);
  if (!Number.isInteger(n) || n < 1) throw new KvwireError('BAD_ARGUMENT', `bootstrap needs at least one item, got ${n}`);
  const rng = new Rng(seed);
  const idx = new Int32Array(n);
  const out = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) idx[i] = Math.floor(rng.float() * n);
    out[b] = statistic(idx);
  }
  return out.sort();
}

/** Percentile interval of `statistic` (evaluated on resampled item indices). */
export function bootstrapCI(n: number, statistic: (indices: Int32Array) => number, options: BootstrapOptions = {}): BootstrapResult {
  const { B, level } = checkOptions(options);
  const dist = bootstrapDistribution(n, statistic, options);
  const all = Int32Array.from({ length: n }, (_, i) => i);
  const a = (1 - level) / 2;
  return { estimate: statistic(all), low: percentile(dist, a), high: percentile(dist, 1 - a), resamples: B, level };
}

/** Percentile interval of the mean of `values` (booleans count as 0/1: an accuracy). */
export function bootstrapMeanCI(values: ArrayLike<number | boolean>, options: BootstrapOptions = {}): BootstrapResult {
  const x = Float64Array.from(Array.from(values, Number));
  return bootstrapCI(x.length, (idx) => {
    let s = 0;
    for (let i = 0; i < idx.length; i++) s += x[idx[i]];
    return s / idx.length;
  }, options);
}

/**
 * Percentile interval of a ratio of sums, Σ num / Σ den, resampling items as pairs: e.g. mean
 * negative log-likelihood per token over perplexity windows of different token counts.
 */
export function bootstrapRatioCI(num: ArrayLike<number>, den: ArrayLike<number>, options: BootstrapOptions = {}): BootstrapResult {
  if (num.length !== den.length) throw new KvwireError('BAD_ARGUMENT', `bootstrapRatioCI: ${num.length} numerators but ${den.length} denominators`);
  return bootstrapCI(num.length, (idx) => {
    let a = 0;
    let b = 0;
    for (let i = 0; i < idx.length; i++) {
      a += num[idx[i]];
      b += den[idx[i]];
    }
    return a / b;
  }, options);
}
