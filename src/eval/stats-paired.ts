/**
 * Paired comparisons of two methods on the same examples: McNemar's test on the discordant pairs
 * and a paired bootstrap of the accuracy difference. Pairing matters: two methods that fail on
 * the same hard examples differ far less than two independent accuracies suggest.
 */
import { KvwireError } from '../errors.js';
import { bootstrapCI, type BootstrapOptions, type BootstrapResult } from './stats-bootstrap.js';

export interface McNemarResult {
  /** Examples A got right and B got wrong. */
  b: number;
  /** Examples A got wrong and B got right. */
  c: number;
  /** Number of pairs. */
  n: number;
  method: 'exact' | 'chi2-cc';
  /** Chi-square statistic with continuity correction (chi2-cc only). */
  statistic?: number;
  /** Two-sided p-value of "A and B are equally accurate". */
  pValue: number;
}

export interface McNemarOptions {
  /**
   * Use the exact binomial test when b + c is below this (default 25, the usual rule: below it
   * the chi-square approximation is poor); chi-square with continuity correction otherwise.
   */
  exactBelow?: number;
}

/** McNemar's test from the discordant counts. */
export function mcnemarCounts(b: number, c: number, n = b + c, options: McNemarOptions = {}): McNemarResult {
  for (const [name, v] of [['b', b], ['c', c], ['n', n]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new KvwireError('BAD_ARGUMENT', `mcnemar: ${name} must be a non-negative integer, got ${v}`);
  }
  const d = b + c;
  if (d === 0) return { b, c, n, method: 'exact', pValue: 1 };
  if (d < (options.exactBelow ?? 25)) {
    // Under H0 each discordant pair is A-better with probability 1/2: two-sided binomial test.
    return { b, c, n, method: 'exact', pValue: Math.min(1, 2 * binomialHalfCdf(Math.min(b, c), d)) };
  }
  const statistic = (Math.abs(b - c) - 1) ** 2 / d;
  return { b, c, n, method: 'chi2-cc', statistic, pValue: chiSquare1Survival(statistic) };
}

/** McNemar's test of two methods' per-example correctness (same examples, same order). */
export function mcnemar(a: readonly boolean[], b: readonly boolean[], options: McNemarOptions = {}): McNemarResult {
  checkPaired(a, b);
  let nb = 0;
  let nc = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && !b[i]) nb++;
    else if (!a[i] && b[i]) nc++;
  }
  return mcnemarCounts(nb, nc, a.length, options);
}

/**
 * Paired bootstrap of mean(b) - mean(a): resample example indices, keep each example's pair
 * together. `estimate` is the observed difference (B's accuracy minus A's).
 */
export function pairedBootstrap(a: ArrayLike<number | boolean>, b: ArrayLike<number | boolean>, options: BootstrapOptions = {}): BootstrapResult {
  checkPaired(a, b);
  const d = Float64Array.from({ length: a.length }, (_, i) => Number(b[i]) - Number(a[i]));
  return bootstrapCI(d.length, (idx) => {
    let s = 0;
    for (let i = 0; i < idx.length; i++) s += d[idx[i]];
    return s / idx.length;
  }, options);
}

function checkPaired(a: ArrayLike<unknown>, b: ArrayLike<unknown>): void {
  if (a.length !== b.length) throw new KvwireError('BAD_ARGUMENT', `paired comparison needs the same examples: ${a.length} vs ${b.length} results`);
  if (a.length === 0) throw new KvwireError('BAD_ARGUMENT', 'paired comparison of zero examples');
}

/** P(X ≤ k) for X ~ Binomial(n, 1/2), summed in log space so large n does not overflow. */
export function binomialHalfCdf(k: number, n: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  let logC = 0; // log C(n, 0)
  const base = -n * Math.LN2;
  let sum = Math.exp(base);
  for (let i = 1; i <= k; i++) {
    logC += Math.log(n - i + 1) - Math.log(i);
    sum += Math.exp(logC + base);
  }
  return Math.min(1, sum);
}

/** P(χ²₁ > x) = erfc(√(x/2)). */
export function chiSquare1Survival(x: number): number {
  if (!(x >= 0)) throw new KvwireError('BAD_ARGUMENT', `chi-square statistic must be ≥ 0, got ${x}`);
  return erfc(Math.sqrt(x / 2));
}

/**
 * Complementary error function, W. J. Cody's rational Chebyshev approximations (relative error
 * below 1e-15 in double precision), as used by most numerical libraries.
 */
export function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 0.5) return 1 - erfSmall(x);
  if (x < 4) {
    const p = [3.004592610201616005e2, 4.519189537118729422e2, 3.393208167343436870e2, 1.529892850469404039e2,
      4.316222722205673530e1, 7.211758250883093659, 5.641955174789739711e-1, -1.368648573827167067e-7];
    const q = [3.004592609569832933e2, 7.909509253278980272e2, 9.313540948506096211e2, 6.389802644656311665e2,
      2.775854447439876434e2, 7.700015293522947295e1, 1.278272731962942351e1, 1];
    let num = p[7];
    let den = q[7];
    for (let i = 6; i >= 0; i--) {
      num = num * x + p[i];
      den = den * x + q[i];
    }
    return Math.exp(-x * x) * (num / den);
  }
  const p = [-2.99610707703542174e-3, -4.94730910623250734e-2, -2.26956593539686930e-1, -2.78661308609647788e-1,
    -2.23192459734184686e-2];
  const q = [1.06209230528467918e-2, 1.91308926107829841e-1, 1.05167510706793207, 1.98733201817135256, 1];
  const z = 1 / (x * x);
  let num = p[4];
  let den = q[4];
  for (let i = 3; i >= 0; i--) {
    num = num * z + p[i];
    den = den * z + q[i];
  }
  const r = (z * num) / den;
  return (Math.exp(-x * x) / x) * (1 / Math.sqrt(Math.PI) + r);
}

function erfSmall(x: number): number {
  const p = [3.16112374387056560, 1.13864154151050156e2, 3.77485237685302021e2, 3.20937758913846947e3, 1.85777706184603153e-1];
  const q = [2.36012909523441209e1, 2.44024637934444173e2, 1.28261652607737228e3, 2.84423683343917062e3];
  const z = x * x;
  let num = p[4] * z;
  let den = z;
  for (let i = 0; i < 3; i++) {
    num = (num + p[i]) * z;
    den = (den + q[i]) * z;
  }
  return (x * (num + p[3])) / (den + q[3]);
}
