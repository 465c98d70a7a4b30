/**
 * Repeats over seeds: the mean of a metric across independent runs (different example samples or
 * method randomness), its sample standard deviation, and a Student-t 95% interval for the mean.
 * With 2-5 seeds the t quantile is far from 1.96 (12.71 for two runs), which is the point.
 */
import { KvwireError } from '../errors.js';
import type { Interval } from './stats-bootstrap.js';

export interface RepeatSummary {
  n: number;
  mean: number;
  /** Sample standard deviation (n - 1 in the denominator); 0 for one run. */
  sd: number;
  /** Standard error sd / √n. */
  se: number;
  /** mean ± t(0.975, n-1)·se; [mean, mean] for one run (no spread is known). */
  ci95: Interval;
  min: number;
  max: number;
}

// Two-sided 95% Student t quantiles t(0.975, df), df = 1..30 (standard tables).
const T975 = [12.7062047, 4.30265273, 3.18244631, 2.77644511, 2.57058184, 2.44691185, 2.36462425, 2.30600414,
  2.26215716, 2.22813885, 2.20098516, 2.17881283, 2.16036866, 2.14478669, 2.13144955, 2.11990530, 2.10981558,
  2.10092204, 2.09302405, 2.08596345, 2.07961384, 2.07387307, 2.06865761, 2.06389856, 2.05953855, 2.05552944,
  2.05183052, 2.04840714, 2.04522964, 2.04227246];

/** t(0.975, df): the table up to 30, then the Cornish-Fisher expansion around z (error < 1e-4). */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new KvwireError('BAD_ARGUMENT', `t quantile: df must be a positive integer, got ${df}`);
  if (df <= T975.length) return T975[df - 1];
  const z = 1.959963984540054;
  const z3 = z ** 3;
  const z5 = z ** 5;
  const z7 = z ** 7;
  return z + (z3 + z) / (4 * df) + (5 * z5 + 16 * z3 + 3 * z) / (96 * df ** 2) + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df ** 3);
}

/** Mean, sd and t interval of one metric over repeated runs. */
export function summarizeRepeats(values: readonly number[]): RepeatSummary {
  const n = values.length;
  if (n === 0) throw new KvwireError('BAD_ARGUMENT', 'summarizeRepeats needs at least one value');
  if (values.some((v) => !Number.isFinite(v))) throw new KvwireError('NON_FINITE', 'summarizeRepeats: values must be finite');
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  const se = sd / Math.sqrt(n);
  const half = n > 1 ? tQuantile975(n - 1) * se : 0;
  return { n, mean, sd, se, ci95: { low: mean - half, high: mean + half }, min: Math.min(...values), max: Math.max(...values) };
}
