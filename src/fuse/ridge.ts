/**
 * Ridge regression in closed form, from streamed sufficient statistics (float64).
 *
 * Rows (x ∈ R^p, y ∈ R^q) are accumulated into n, Σx, Σy, ΣxxT, ΣxyT, Σ‖y‖², so calibration never
 * holds its rows, a validation split is scored without them, and the regularisation strength is
 * chosen after one pass. The fit is centred (the intercept is not penalised):
 *
 *   W = (Sxx + λI)^−1 Sxy,   Sxx = ΣxxT − n·μx·μxT,   Sxy = ΣxyT − n·μx·μyT,   b = μy − WT·μx
 *
 * solved by a Cholesky factorisation of the p×p system (p = kvHeads·headDim of the sharer, or
 * twice that: small), with all q right-hand sides at once. λ is given relative to the mean
 * diagonal of Sxx (`alpha`), so one grid fits layers of any scale.
 */
import { KvwireError, ensure } from '../errors.js';

/** Sufficient statistics of rows (x, y), x ∈ R^p, y ∈ R^q. */
export class RidgeStats {
  n = 0;
  readonly sx: Float64Array;
  readonly sy: Float64Array;
  /** ΣxxT, p×p row-major (only the upper triangle is accumulated; `symmetrize` fills the rest). */
  readonly sxx: Float64Array;
  /** ΣxyT, p×q row-major. */
  readonly sxy: Float64Array;
  syy = 0;

  constructor(readonly p: number, readonly q: number) {
    ensure(Number.isInteger(p) && p > 0 && Number.isInteger(q) && q > 0, 'BAD_ARGUMENT', `ridge dims must be positive integers, got ${p}×${q}`);
    this.sx = new Float64Array(p);
    this.sy = new Float64Array(q);
    this.sxx = new Float64Array(p * p);
    this.sxy = new Float64Array(p * q);
  }

  /** Adds one row. `x` and `y` may be views (p and q floats). */
  add(x: ArrayLike<number>, y: ArrayLike<number>): void {
    const { p, q, sx, sy, sxx, sxy } = this;
    this.n++;
    for (let a = 0; a < p; a++) {
      const xa = x[a];
      sx[a] += xa;
      if (xa === 0) continue;
      const rowX = a * p;
      for (let c = a; c < p; c++) sxx[rowX + c] += xa * x[c];
      const rowY = a * q;
      for (let c = 0; c < q; c++) sxy[rowY + c] += xa * y[c];
    }
    for (let c = 0; c < q; c++) {
      sy[c] += y[c];
      this.syy += y[c] * y[c];
    }
  }

  /** ΣxxT as a full symmetric matrix (a copy). */
  fullSxx(): Float64Array {
    const { p } = this;
    const out = this.sxx.slice();
    for (let a = 0; a < p; a++) for (let c = 0; c < a; c++) out[a * p + c] = out[c * p + a];
    return out;
  }
}

/** A fitted map y ≈ WT·x + b: W is p×q row-major (W[a, c] multiplies x_a into y_c). */
export interface LinearMap {
  p: number;
  q: number;
  W: Float64Array;
  b: Float64Array;
}

/** In-place Cholesky A = L·LT of a symmetric positive definite n×n matrix (lower triangle kept). */
export function cholesky(A: Float64Array, n: number): Float64Array {
  for (let j = 0; j < n; j++) {
    let d = A[j * n + j];
    for (let k = 0; k < j; k++) d -= A[j * n + k] * A[j * n + k];
    if (!(d > 0)) throw new KvwireError('NON_FINITE', `ridge: the normal equations are not positive definite at pivot ${j} (${d}); raise the regularisation`);
    const l = Math.sqrt(d);
    A[j * n + j] = l;
    for (let i = j + 1; i < n; i++) {
      let s = A[i * n + j];
      for (let k = 0; k < j; k++) s -= A[i * n + k] * A[j * n + k];
      A[i * n + j] = s / l;
    }
  }
  return A;
}

/** Solves L·LT·X = B for X (n×m, row-major), B overwritten. */
export function choleskySolve(L: Float64Array, n: number, B: Float64Array, m: number): Float64Array {
  for (let i = 0; i < n; i++) {          // forward: L·Z = B
    for (let k = 0; k < i; k++) {
      const l = L[i * n + k];
      if (l !== 0) for (let c = 0; c < m; c++) B[i * m + c] -= l * B[k * m + c];
    }
    const d = L[i * n + i];
    for (let c = 0; c < m; c++) B[i * m + c] /= d;
  }
  for (let i = n - 1; i >= 0; i--) {     // backward: LT·X = Z
    for (let k = i + 1; k < n; k++) {
      const l = L[k * n + i];
      if (l !== 0) for (let c = 0; c < m; c++) B[i * m + c] -= l * B[k * m + c];
    }
    const d = L[i * n + i];
    for (let c = 0; c < m; c++) B[i * m + c] /= d;
  }
  return B;
}

/** Ridge fit with λ = alpha · mean(diag(Sxx)) (alpha ≥ 0; 0 is least squares). */
export function solveRidge(stats: RidgeStats, alpha: number): LinearMap & { lambda: number } {
  const { p, q, n } = stats;
  ensure(n > 0, 'BAD_ARGUMENT', 'ridge: no calibration rows');
  ensure(Number.isFinite(alpha) && alpha >= 0, 'BAD_ARGUMENT', `ridge: alpha must be a finite number >= 0, got ${alpha}`);
  const mx = Float64Array.from(stats.sx, (v) => v / n);
  const my = Float64Array.from(stats.sy, (v) => v / n);
  const A = stats.fullSxx();
  let trace = 0;
  for (let a = 0; a < p; a++) {
    for (let c = 0; c < p; c++) A[a * p + c] -= n * mx[a] * mx[c];
    trace += A[a * p + a];
  }
  // A tiny floor keeps constant input channels (zero variance) solvable at alpha = 0.
  const lambda = alpha * (trace / p) + 1e-12 * (trace / p + 1);
  for (let a = 0; a < p; a++) A[a * p + a] += lambda;
  const B = new Float64Array(p * q);
  for (let a = 0; a < p; a++) for (let c = 0; c < q; c++) B[a * q + c] = stats.sxy[a * q + c] - n * mx[a] * my[c];
  const W = choleskySolve(cholesky(A, p), p, B, q);
  const b = my.slice();
  for (let a = 0; a < p; a++) for (let c = 0; c < q; c++) b[c] -= W[a * q + c] * mx[a];
  return { p, q, W, b, lambda };
}

/**
 * Σ‖y − (WT·x + b)‖² over the rows of `stats` (e.g. a validation split), from its statistics:
 * Σ‖y‖² − 2(⟨W, ΣxyT⟩ + bT·Σy) + ⟨W, ΣxxT·W⟩ + 2·bT·WT·Σx + n·‖b‖².
 */
export function sumSquaredError(stats: RidgeStats, map: LinearMap): number {
  const { p, q, n } = stats;
  ensure(map.p === p && map.q === q, 'BAD_ARGUMENT', `map is ${map.p}×${map.q}, statistics ${p}×${q}`);
  const { W, b } = map;
  const Sxx = stats.fullSxx();
  let cross = 0;
  for (let i = 0; i < p * q; i++) cross += W[i] * stats.sxy[i];
  for (let c = 0; c < q; c++) cross += b[c] * stats.sy[c];
  let quad = 0;
  const SW = new Float64Array(q);
  for (let a = 0; a < p; a++) {
    SW.fill(0);
    for (let k = 0; k < p; k++) {
      const s = Sxx[a * p + k];
      if (s !== 0) for (let c = 0; c < q; c++) SW[c] += s * W[k * q + c];
    }
    for (let c = 0; c < q; c++) quad += W[a * q + c] * SW[c];
  }
  let lin = 0;
  for (let a = 0; a < p; a++) for (let c = 0; c < q; c++) lin += b[c] * W[a * q + c] * stats.sx[a];
  let bb = 0;
  for (let c = 0; c < q; c++) bb += b[c] * b[c];
  return Math.max(0, stats.syy - 2 * cross + quad + 2 * lin + n * bb);
}

/** Σ‖y − μy‖² of the rows (the error of predicting the mean): the reference for R². */
export function totalSumOfSquares(stats: RidgeStats, mean?: ArrayLike<number>): number {
  const { q, n } = stats;
  let out = stats.syy;
  for (let c = 0; c < q; c++) {
    const m = mean ? mean[c] : stats.sy[c] / n;
    out += -2 * m * stats.sy[c] + n * m * m;
  }
  return Math.max(0, out);
}

/** Applies the map to `rows` rows of x (rows × p, row-major) -> rows × q (float32). */
export function applyMap(map: LinearMap, x: Float32Array | Float64Array, rows: number, out = new Float32Array(rows * map.q)): Float32Array {
  const { p, q, W, b } = map;
  const acc = new Float64Array(q);
  for (let r = 0; r < rows; r++) {
    acc.set(b);
    for (let a = 0; a < p; a++) {
      const xa = x[r * p + a];
      if (xa === 0) continue;
      for (let c = 0; c < q; c++) acc[c] += xa * W[a * q + c];
    }
    for (let c = 0; c < q; c++) out[r * q + c] = acc[c];
  }
  return out;
}
