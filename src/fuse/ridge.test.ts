import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng } from '../quant/index.js';
import { applyMap, cholesky, choleskySolve, RidgeStats, solveRidge, sumSquaredError, totalSumOfSquares } from './ridge.js';

/** Rows x ~ N(0, 1)-ish (seeded), y = WT·x + b + noise·e. */
function synthetic(p: number, q: number, n: number, noise: number, seed: number) {
  const rng = createRng(seed);
  const normal = () => rng() + rng() + rng() - 1.5;
  const W = Float64Array.from({ length: p * q }, normal);
  const b = Float64Array.from({ length: q }, normal);
  const X = Float32Array.from({ length: n * p }, normal);
  const Y = applyMap({ p, q, W, b }, X, n);
  for (let i = 0; i < Y.length; i++) Y[i] += noise * normal();
  return { W, b, X, Y };
}

function statsOf(X: Float32Array, Y: Float32Array, p: number, q: number, rows: number[]): RidgeStats {
  const s = new RidgeStats(p, q);
  for (const r of rows) s.add(X.subarray(r * p, (r + 1) * p), Y.subarray(r * q, (r + 1) * q));
  return s;
}

test('ridge at alpha 0 recovers a known linear map exactly from noise-free rows', () => {
  const p = 12;
  const q = 7;
  const n = 200;
  const { W, b, X, Y } = synthetic(p, q, n, 0, 7);
  const m = solveRidge(statsOf(X, Y, p, q, Array.from({ length: n }, (_, i) => i)), 0);
  for (let i = 0; i < W.length; i++) assert.ok(Math.abs(m.W[i] - W[i]) < 1e-4, `W[${i}] ${m.W[i]} vs ${W[i]}`);
  for (let c = 0; c < q; c++) assert.ok(Math.abs(m.b[c] - b[c]) < 1e-4, `b[${c}] ${m.b[c]} vs ${b[c]}`);
});

test('regularisation shrinks the map, and sumSquaredError equals the explicit residual sum', () => {
  const p = 6;
  const q = 4;
  const n = 80;
  const { X, Y } = synthetic(p, q, n, 0.3, 3);
  const rows = Array.from({ length: n }, (_, i) => i);
  const stats = statsOf(X, Y, p, q, rows);
  const norm = (a: Float64Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0));
  const m0 = solveRidge(stats, 0);
  const m1 = solveRidge(stats, 10);
  assert.ok(norm(m1.W) < norm(m0.W), 'larger alpha, smaller weights');
  for (const m of [m0, m1]) {
    const pred = applyMap(m, X, n);
    let explicit = 0;
    for (let i = 0; i < Y.length; i++) explicit += (Y[i] - pred[i]) ** 2;
    assert.ok(Math.abs(sumSquaredError(stats, m) - explicit) < 1e-6 * Math.max(1, explicit), `${sumSquaredError(stats, m)} vs ${explicit}`);
  }
  // Least squares is the smallest training error; the mean predictor's error is the total sum of squares.
  assert.ok(sumSquaredError(stats, m0) <= sumSquaredError(stats, m1));
  const mean = Float64Array.from({ length: q }, (_, c) => stats.sy[c] / n);
  assert.ok(Math.abs(sumSquaredError(stats, { p, q, W: new Float64Array(p * q), b: mean }) - totalSumOfSquares(stats)) < 1e-6);
});

test('cholesky solves a symmetric positive definite system and refuses an indefinite one', () => {
  const A = Float64Array.of(4, 2, 2, 3);
  const x = choleskySolve(cholesky(A.slice(), 2), 2, Float64Array.of(2, 1), 1);
  assert.ok(Math.abs(4 * x[0] + 2 * x[1] - 2) < 1e-12 && Math.abs(2 * x[0] + 3 * x[1] - 1) < 1e-12);
  assert.throws(() => cholesky(Float64Array.of(1, 2, 2, 1), 2), { code: 'NON_FINITE' });
  assert.throws(() => solveRidge(new RidgeStats(2, 1), 0), { code: 'BAD_ARGUMENT' });
});
