import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  binomialHalfCdf, bootstrapDistribution, bootstrapMeanCI, bootstrapRatioCI, chiSquare1Survival, mcnemar, mcnemarCounts,
  pairedBootstrap, percentile, summarizeRepeats, tQuantile975,
} from './stats.js';

// Reference values below are computed independently of the code under test: exact binomial sums
// with BigInt, exhaustive enumeration of tiny bootstrap spaces, and textbook quantiles.

function choose(n: number, k: number): bigint {
  let r = 1n;
  for (let i = 0; i < k; i++) r = (r * BigInt(n - i)) / BigInt(i + 1);
  return r;
}

/** Exact P(X ≤ k), X ~ Bin(n, 1/2), as a double from BigInt sums. */
function exactHalfCdf(k: number, n: number): number {
  let s = 0n;
  for (let i = 0; i <= k; i++) s += choose(n, i);
  return Number((s * 10n ** 15n) / 2n ** BigInt(n)) / 1e15;
}

test('percentile is numpy type 7', () => {
  assert.equal(percentile([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(percentile([1, 2, 3, 4], 0), 1);
  assert.equal(percentile([1, 2, 3, 4], 1), 4);
  assert.ok(Math.abs(percentile([10, 20, 30], 0.25) - 15) < 1e-12);
});

test('bootstrap of a 0/1 mean follows Binomial(n, k/n)/n', () => {
  // Resampling 20 items of which 8 are 1 gives a mean distributed exactly as Bin(20, 0.4)/20.
  const n = 20;
  const x = Array.from({ length: n }, (_, i) => i < 8);
  const B = 20000;
  const dist = bootstrapDistribution(n, (idx) => idx.reduce((a, i) => a + Number(x[i]), 0) / n, { resamples: B, seed: 7 });
  // Exact pmf of Bin(20, 0.4).
  const pmf = Array.from({ length: n + 1 }, (_, k) => Number(choose(n, k)) * 0.4 ** k * 0.6 ** (n - k));
  let cdf = 0;
  for (let k = 0; k <= n; k++) {
    cdf += pmf[k];
    const empirical = dist.filter((v) => v <= k / n + 1e-12).length / B;
    const tol = 5 * Math.sqrt(Math.max(cdf * (1 - cdf), 1e-6) / B);
    assert.ok(Math.abs(empirical - cdf) <= tol, `P(mean <= ${k}/20): ${empirical} vs exact ${cdf}`);
  }
  // The percentile interval sits within one lattice step of the exact 2.5% / 97.5% quantiles.
  const quantile = (q: number) => {
    let c = 0;
    for (let k = 0; k <= n; k++) if ((c += pmf[k]) >= q) return k / n;
    return 1;
  };
  const ci = bootstrapMeanCI(x, { resamples: B, seed: 7 });
  assert.equal(ci.estimate, 0.4);
  assert.ok(Math.abs(ci.low - quantile(0.025)) <= 1 / n + 1e-12, `low ${ci.low} vs ${quantile(0.025)}`);
  assert.ok(Math.abs(ci.high - quantile(0.975)) <= 1 / n + 1e-12, `high ${ci.high} vs ${quantile(0.975)}`);
});

test('bootstrap is seeded and validates its options', () => {
  const x = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1];
  assert.deepEqual(bootstrapMeanCI(x, { seed: 3, resamples: 500 }), bootstrapMeanCI(x, { seed: 3, resamples: 500 }));
  const mean = (idx: Int32Array) => idx.reduce((a, i) => a + x[i], 0) / idx.length;
  assert.deepEqual(bootstrapDistribution(10, mean, { seed: 3, resamples: 50 }), bootstrapDistribution(10, mean, { seed: 3, resamples: 50 }));
  assert.notDeepEqual(bootstrapDistribution(10, mean, { seed: 3, resamples: 50 }), bootstrapDistribution(10, mean, { seed: 4, resamples: 50 }));
  assert.deepEqual(bootstrapMeanCI([1, 1, 1]), { estimate: 1, low: 1, high: 1, resamples: 2000, level: 0.95 });
  assert.throws(() => bootstrapMeanCI([]), { code: 'BAD_ARGUMENT' });
  assert.throws(() => bootstrapMeanCI(x, { resamples: 0 }), { code: 'BAD_ARGUMENT' });
  assert.throws(() => bootstrapMeanCI(x, { level: 1 }), { code: 'BAD_ARGUMENT' });
});

test('ratio bootstrap keeps numerator and denominator paired', () => {
  const r = bootstrapRatioCI([2, 4, 6], [1, 2, 3], { resamples: 300 });
  // Every window has nll/token = 2, so every resample's ratio is exactly 2.
  assert.equal(r.estimate, 2);
  assert.equal(r.low, 2);
  assert.equal(r.high, 2);
});

test('paired bootstrap matches exhaustive enumeration on 5 pairs', () => {
  const a = [true, true, true, false, true];
  const b = [true, false, true, true, false];
  // d = b - a = [0, -1, 0, 1, -1]; enumerate all 5^5 resamples for the exact distribution of mean(d).
  const d = a.map((x, i) => Number(b[i]) - Number(x));
  const counts = new Map<number, number>();
  const n = d.length;
  for (let code = 0; code < n ** n; code++) {
    let s = 0;
    for (let j = 0, c = code; j < n; j++, c = Math.floor(c / n)) s += d[c % n];
    counts.set(s, (counts.get(s) ?? 0) + 1);
  }
  const B = 20000;
  const res = pairedBootstrap(a, b, { resamples: B, seed: 11 });
  assert.ok(Math.abs(res.estimate - -0.2) < 1e-12);
  const dist = bootstrapDistribution(n, (idx) => idx.reduce((s, i) => s + d[i], 0) / n, { resamples: B, seed: 11 });
  let cdf = 0;
  for (const s of [...counts.keys()].sort((x, y) => x - y)) {
    cdf += counts.get(s)! / n ** n;
    const empirical = dist.filter((v) => v <= s / n + 1e-12).length / B;
    assert.ok(Math.abs(empirical - cdf) <= 5 * Math.sqrt(Math.max(cdf * (1 - cdf), 1e-6) / B), `P(mean <= ${s}/5)`);
  }
  assert.ok(res.low <= res.estimate && res.estimate <= res.high);
  const same = pairedBootstrap(a, a);
  assert.deepEqual([same.low, same.estimate, same.high], [0, 0, 0]);
  assert.throws(() => pairedBootstrap([true], [true, false]), { code: 'BAD_ARGUMENT' });
});

test('McNemar: exact binomial for few discordant pairs', () => {
  assert.ok(Math.abs(binomialHalfCdf(3, 13) - exactHalfCdf(3, 13)) < 1e-12);
  assert.ok(Math.abs(binomialHalfCdf(40, 100) - exactHalfCdf(40, 100)) < 1e-12);
  const r = mcnemarCounts(3, 10);
  assert.equal(r.method, 'exact');
  assert.ok(Math.abs(r.pValue - 2 * exactHalfCdf(3, 13)) < 1e-12, `${r.pValue}`);
  assert.equal(mcnemarCounts(5, 5).pValue, 1);
  assert.equal(mcnemarCounts(0, 0).pValue, 1);
  // From per-example correctness: A right & B wrong twice, A wrong & B right once.
  const m = mcnemar([true, true, true, false, false], [false, false, true, true, false]);
  assert.deepEqual([m.b, m.c, m.n], [2, 1, 5]);
  assert.ok(Math.abs(m.pValue - 1) < 1e-12); // 2 * P(X <= 1 | n = 3) = 2 * 4/8 = 1
});

test('McNemar: chi-square with continuity correction for many', () => {
  // Textbook chi-square(1) critical values: p = 0.05, 0.01, 0.001.
  assert.ok(Math.abs(chiSquare1Survival(3.841458820694124) - 0.05) < 1e-9);
  assert.ok(Math.abs(chiSquare1Survival(6.634896601021214) - 0.01) < 1e-9);
  assert.ok(Math.abs(chiSquare1Survival(10.827566170662733) - 0.001) < 1e-9);
  const r = mcnemarCounts(30, 15);
  assert.equal(r.method, 'chi2-cc');
  assert.ok(Math.abs(r.statistic! - 196 / 45) < 1e-12); // (|30 - 15| - 1)^2 / 45
  assert.ok(r.pValue > 0.01 && r.pValue < 0.05);
  // The chi-square p approximates the exact one at moderate counts.
  assert.ok(Math.abs(r.pValue - 2 * exactHalfCdf(15, 45)) < 0.01);
  assert.equal(mcnemarCounts(30, 15, 45, { exactBelow: 1000 }).method, 'exact');
  assert.throws(() => mcnemarCounts(-1, 2), { code: 'BAD_ARGUMENT' });
});

test('repeats over seeds: mean, sd, Student-t interval', () => {
  // Textbook t(0.975, df).
  for (const [df, t] of [[1, 12.7062], [2, 4.3027], [4, 2.7764], [10, 2.2281], [30, 2.0423], [60, 2.0003], [120, 1.9799]] as const) {
    assert.ok(Math.abs(tQuantile975(df) - t) < 1.5e-4, `df ${df}: ${tQuantile975(df)} vs ${t}`);
  }
  const s = summarizeRepeats([0.5, 0.6, 0.7]);
  assert.ok(Math.abs(s.mean - 0.6) < 1e-12);
  assert.ok(Math.abs(s.sd - 0.1) < 1e-12);
  const half = 4.302653 * 0.1 / Math.sqrt(3);
  assert.ok(Math.abs(s.ci95.low - (0.6 - half)) < 1e-6 && Math.abs(s.ci95.high - (0.6 + half)) < 1e-6);
  assert.deepEqual(summarizeRepeats([0.4]).ci95, { low: 0.4, high: 0.4 });
  assert.throws(() => summarizeRepeats([]), { code: 'BAD_ARGUMENT' });
});
