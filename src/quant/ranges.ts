/**
 * The range of every scale group. The scales that come out are those of the exact min/max (so
 * another implementation computing min/max the plain way writes the same bytes, and a constant
 * group decodes exactly). A group holding NaN or ±Inf gets a non-finite range, which the caller
 * turns into NON_FINITE.
 *
 * Why the loops look as they do: V8 compiles float comparisons to branches, and a running extreme
 * over a 64-value row changes ~5 times, each a likely misprediction. So rows (token, group and
 * head axes) reduce the float32 bit patterns as integers without branches: keys
 * bits ^ ((bits >> 31) & 0x7fffffff) order like the floats, and are shifted to 31 bits so that
 * differences cannot overflow. That makes lo/hi *candidates*, each at most one float32 ulp
 * outside the exact min/max; params.ts asks for the exact range (exactRun) only in the rare group
 * where that ulp could change an fp16 scale or zero point. |x| needs no sign handling, so absmax
 * is exact without the shift. Per channel, running extremes change rarely: plain branches, with
 * four rows sharing each column's loads and stores.
 *
 * The same loops run as WebAssembly SIMD (wasm/kernels.c) when available, with the same results
 * (integer keys reduce in any order; per channel, f32x4.pmin/pmax are these branches lane by
 * lane); groupRangesJs is the reference and the fallback.
 */
import type { SectionLayout } from './spec.js';
import { WASM_MIN, wasm, wasmRanges } from './wasm/kernels.js';

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/** The float32 whose order key is `k` (the key map is its own inverse). */
function keyToFloat(k: number): number {
  i32[0] = k ^ ((k >> 31) & 0x7fffffff);
  return f32[0];
}

/** The float32 one step up (+1) or down (-1) from `v` in float32 order. */
export function stepFloat32(v: number, dir: 1 | -1): number {
  f32[0] = v;
  const b = i32[0];
  return keyToFloat((b ^ ((b >> 31) & 0x7fffffff)) + dir);
}

/**
 * asym: lo/hi of each group; sym: hi = max |x|, lo = -hi. Returns true when lo/hi are the
 * one-ulp candidates described above (asym on contiguous groups), false when exact.
 */
export function groupRanges(layout: SectionLayout, data: Float32Array, asym: boolean, lo: Float64Array, hi: Float64Array): boolean {
  const grouping = layout.grouping!;
  const k = data.length >= WASM_MIN ? wasm() : null;
  if (k) {
    const contiguous = grouping.kind === 'contiguous';
    const bad = contiguous
      ? wasmRanges(k, data, layout.rows, layout.cols, grouping.runLength, 0, asym, lo, hi)
      : wasmRanges(k, data, layout.rows, layout.cols, 0, grouping.blockRows, asym, lo, hi);
    if (bad !== null) {
      if (bad) lo[0] = NaN;
      return contiguous && asym;
    }
  }
  return groupRangesJs(layout, data, asym, lo, hi);
}

/** groupRanges in JavaScript. */
export function groupRangesJs(layout: SectionLayout, data: Float32Array, asym: boolean, lo: Float64Array, hi: Float64Array): boolean {
  const grouping = layout.grouping!;
  if (grouping.kind === 'contiguous') {
    const bits = new Int32Array(data.buffer, data.byteOffset, data.length);
    if (asym) runMinMax31(bits, grouping.runLength, lo, hi);
    else runAbsMax(bits, grouping.runLength, lo, hi);
    return asym;
  }
  const { rows, cols } = layout;
  let bad = false;
  for (let r0 = 0; r0 < rows; r0 += grouping.blockRows) {
    const r1 = Math.min(rows, r0 + grouping.blockRows);
    const g0 = (r0 / grouping.blockRows) * cols;
    bad = (asym ? channelMinMax(data, r0, r1, cols, g0, lo, hi) : channelAbsMax(data, r0, r1, cols, g0, hi)) || bad;
  }
  if (!asym) for (let g = 0; g < lo.length; g++) lo[g] = -hi[g];
  if (bad) lo[0] = NaN;
  return false;
}

/** Exact [min, max] of x[start, start+L) into out (NaN min if the run holds a NaN). */
export function exactRun(x: Float32Array, start: number, L: number, out: Float64Array): void {
  const x0 = x[start];
  let mn = x0;
  let mx = x0;
  let bad = x0 !== x0;
  for (let i = start + 1, end = start + L; i < end; i++) {
    const v = x[i];
    if (!(v >= mn)) {
      if (v < mn) mn = v;
      else bad = true; // NaN fails every comparison
    } else if (v > mx) mx = v;
  }
  out[0] = bad ? NaN : mn;
  out[1] = mx;
}

function runMinMax31(bits: Int32Array, L: number, lo: Float64Array, hi: Float64Array): void {
  for (let g = 0, start = 0; g < lo.length; g++, start += L) {
    let mn = 0x3fffffff;
    let mx = -0x40000000;
    const end = start + L;
    let i = start;
    // Two values per step: order the pair first (one compare-free swap), then the smaller can
    // only lower the minimum and the larger only raise the maximum: fewer operations per value.
    for (; i + 1 < end; i += 2) {
      const a = bits[i];
      const c = bits[i + 1];
      const ka = (a ^ ((a >> 31) & 0x7fffffff)) >> 1;
      const kc = (c ^ ((c >> 31) & 0x7fffffff)) >> 1;
      const swap = (ka - kc) & ((ka - kc) >> 31); // ka < kc ? ka - kc : 0
      let d = kc + swap - mn; // the smaller key
      mn += d & (d >> 31);
      d = ka - swap - mx; // the larger key
      mx += d & ~(d >> 31);
    }
    if (i < end) {
      const b = bits[i];
      const k = (b ^ ((b >> 31) & 0x7fffffff)) >> 1;
      let d = k - mn;
      mn += d & (d >> 31);
      d = k - mx;
      mx += d & ~(d >> 31);
    }
    // The dropped bit puts the exact keys in {2mn, 2mn+1} and {2mx, 2mx+1}: take the outer ones.
    // NaN and ±Inf keys lie beyond every finite key, so they come back as NaN here.
    lo[g] = keyToFloat(mn * 2);
    hi[g] = keyToFloat(mx * 2 + 1);
  }
}

function runAbsMax(bits: Int32Array, L: number, lo: Float64Array, hi: Float64Array): void {
  for (let g = 0, start = 0; g < lo.length; g++, start += L) {
    let mx = 0;
    for (let i = start, end = start + L; i < end; i++) {
      const d = (bits[i] & 0x7fffffff) - mx;
      mx += d & ~(d >> 31);
    }
    i32[0] = mx; // NaN and Inf bit patterns exceed every finite one and come back non-finite
    hi[g] = f32[0];
    lo[g] = -f32[0];
  }
}

/** Rows [r0, r1) into groups g0..g0+cols-1 (initialized from row r0); true if it met a NaN. */
function channelMinMax(x: Float32Array, r0: number, r1: number, cols: number, g0: number, lo: Float64Array, hi: Float64Array): boolean {
  let bad = false;
  for (let c = 0, i = r0 * cols; c < cols; c++, i++) {
    lo[g0 + c] = x[i];
    hi[g0 + c] = x[i];
    if (x[i] !== x[i]) bad = true;
  }
  let r = r0 + 1;
  for (; r + 4 <= r1; r += 4) {
    for (let c = 0, i = r * cols; c < cols; c++, i++) {
      let mn = lo[g0 + c];
      let mx = hi[g0 + c];
      for (let t = 0, j = i; t < 4; t++, j += cols) {
        const v = x[j];
        if (!(v >= mn)) {
          if (v < mn) mn = v;
          else bad = true;
        } else if (v > mx) mx = v;
      }
      lo[g0 + c] = mn;
      hi[g0 + c] = mx;
    }
  }
  for (; r < r1; r++) {
    for (let c = 0, i = r * cols; c < cols; c++, i++) {
      const v = x[i];
      if (!(v >= lo[g0 + c])) {
        if (v < lo[g0 + c]) lo[g0 + c] = v;
        else bad = true;
      } else if (v > hi[g0 + c]) hi[g0 + c] = v;
    }
  }
  return bad;
}

function channelAbsMax(x: Float32Array, r0: number, r1: number, cols: number, g0: number, hi: Float64Array): boolean {
  let bad = false;
  hi.fill(0, g0, g0 + cols);
  for (let r = r0; r < r1; r += 4) {
    const n = Math.min(4, r1 - r);
    for (let c = 0, i = r * cols; c < cols; c++, i++) {
      let mx = hi[g0 + c];
      for (let t = 0, j = i; t < n; t++, j += cols) {
        const a = Math.abs(x[j]);
        if (!(a <= mx)) {
          if (a > mx) mx = a;
          else bad = true;
        }
      }
      hi[g0 + c] = mx;
    }
  }
  return bad;
}
