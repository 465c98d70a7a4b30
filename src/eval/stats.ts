/** Interval estimates for accuracies. */

/**
 * Wilson score interval for a binomial proportion k/n at confidence z (1.96: 95%). Unlike the
 * normal approximation it stays inside [0, 1] and behaves at 0% and 100%.
 */
export function wilsonInterval(k: number, n: number, z = 1.96): { low: number; high: number } {
  if (n === 0) return { low: 0, high: 1 };
  const p = k / n;
  const z2 = z * z;
  const center = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  return { low: Math.max(0, center - half), high: Math.min(1, center + half) };
}

// Bootstrap intervals, paired comparisons and repeats over seeds live beside this file.
export { percentile, bootstrapDistribution, bootstrapCI, bootstrapMeanCI, bootstrapRatioCI, type BootstrapOptions, type BootstrapResult, type Interval } from './stats-bootstrap.js';
export { mcnemar, mcnemarCounts, pairedBootstrap, binomialHalfCdf, chiSquare1Survival, erfc, type McNemarOptions, type McNemarResult } from './stats-paired.js';
export { summarizeRepeats, tQuantile975, type RepeatSummary } from './stats-seeds.js';
