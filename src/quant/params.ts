/**
 * Per-group quantization parameters: the fp16 scales and zero points that travel with a section,
 * and the float64 constants that the encoder's and decoder's loops use.
 *
 * The encoder rounds scales *up* and zero points *down* to fp16 before quantizing, so that every
 * value of a group lies on the grid's range [z, z + qmax·s] that the receiver reconstructs from
 * the fp16 numbers alone; nothing is clamped, and |x - x̂| <= s/2 (up to float rounding, see
 * errorBounds in codec.ts) holds for the stored s.
 */
import { KvwireError } from '../errors.js';
import { floatToHalf, halfArrayToFloat } from '../util/fp16.js';
import { exactRun, groupRanges } from './ranges.js';
import { type SectionLayout } from './spec.js';
import { WASM_MIN, wasm, wasmDecodeParams, wasmEncodeParams } from './wasm/kernels.js';

/**
 * Encoder constants per group. Uniform: code = trunc(x·mul + add), where mul = 1/s and
 * add = offset + 1/2 - z/s, i.e. floor((x - z)/s + 1/2) + offset: round half up. NF4: u = x·mul + add
 * = 2048·(x/s) + 2048 places x/s on a 4096-bin grid (see encode-kernels.ts).
 */
export interface EncodeParams {
  scales: Uint16Array;
  zeros: Uint16Array | undefined;
  mul: Float64Array;
  add: Float64Array;
  /** Set by the WASM path: data and constants are still in its memory for encodeCodes (wasm/kernels.ts). */
  staged?: number;
}

/** Decoder constants per group: x̂ = float32(base + q·scale), or float32(NF4[q]·scale) for nf4. */
export interface DecodeParams {
  scale: Float64Array;
  /** z for asym; -offset·s for sym (exact in float64, so (q - offset)·s is reproduced exactly). */
  base: Float64Array;
  /** Set by the WASM path: the constants are still in its memory for decodeCodes (wasm/kernels.ts). */
  staged?: number;
}

/** Every fp16 value by its bits (256 KB, built on first use): a load instead of a conversion. */
let halfValues: Float32Array | undefined;
function halfTable(): Float32Array {
  halfValues ??= halfArrayToFloat(Uint16Array.from({ length: 65536 }, (_, h) => h));
  return halfValues;
}

/** fp16 bits of the smallest half >= x (x >= 0; zero gives +0). Returns 0x7c00 (Inf) on overflow. */
export function halfAtLeast(x: number): number {
  if (x === 0) return 0;
  const h = floatToHalf(x);
  return halfTable()[h] < x ? h + 1 : h; // non-negative halves order like their bit patterns
}

/** fp16 bits of the largest half <= x (zero gives +0). Returns 0xfc00 (-Inf) on overflow. */
export function halfAtMost(x: number): number {
  if (x === 0) return 0;
  const h = floatToHalf(x);
  if (!(halfTable()[h] > x)) return h;
  return h & 0x8000 ? h + 1 : h === 0 ? 0x8001 : h - 1;
}

/**
 * Computes every group's scale (and zero point) for `data` under `layout`, checking on the way
 * that each value is finite. Throws NON_FINITE naming `name` and the first bad element.
 */
export function encodeParams(layout: SectionLayout, data: Float32Array, name: string): EncodeParams {
  // WebAssembly (wasm/kernels.c: the same steps, to the bit) unless a group would throw here.
  const k = data.length >= WASM_MIN ? wasm() : null;
  const p = k ? wasmEncodeParams(k, layout, data) : null;
  return p ?? encodeParamsJs(layout, data, name);
}

/** encodeParams in JavaScript. */
export function encodeParamsJs(layout: SectionLayout, data: Float32Array, name: string): EncodeParams {
  const n = layout.scaleCount;
  const asym = layout.zeroCount > 0;
  const lo = new Float64Array(n);
  const hi = new Float64Array(n);
  const approx = groupRanges(layout, data, asym, lo, hi);
  const scales = new Uint16Array(n);
  const zeros = asym ? new Uint16Array(n) : undefined;
  const mul = new Float64Array(n);
  const add = new Float64Array(n);
  const { qmax, offset } = layout;
  const nf4 = layout.family === 'nf4';
  const half = halfTable();
  const exact = new Float64Array(2);
  for (let g = 0; g < n; g++) {
    let mn = lo[g];
    let mx = hi[g];
    // A NaN or ±Inf anywhere in the group makes its range non-finite (see ranges.ts).
    if (!Number.isFinite(mn) || !Number.isFinite(mx)) throw nonFinite(data, name, layout);
    let z = 0;
    let sh: number;
    if (asym) {
      // The grid [z, z + qmax·s] must cover [mn, mx]: z <= mn (rounded down) and s rounded up.
      let zh = halfAtMost(mn);
      sh = halfAtLeast((mx - half[zh]) / qmax);
      if (approx && candidateMatters(mn, mx, zh, sh, qmax)) {
        const L = (layout.grouping as { runLength: number }).runLength;
        exactRun(data, g * L, L, exact);
        mn = exact[0];
        mx = exact[1];
        zh = halfAtMost(mn);
        sh = halfAtLeast((mx - half[zh]) / qmax);
      }
      checkHalf(zh, name, mn);
      zeros![g] = zh;
      z = half[zh];
    } else {
      sh = halfAtLeast(mx / qmax);
    }
    checkHalf(sh, name, mx);
    scales[g] = sh;
    const s = half[sh];
    const k = s > 0 ? 1 / s : 0; // s = 0: a constant group, every value codes to q = 0
    if (nf4) {
      mul[g] = 2048 * k;
      add[g] = 2048;
    } else {
      mul[g] = k;
      add[g] = offset + 0.5 - z * k;
    }
  }
  return { scales, zeros, mul, add };
}

/** Distance between adjacent fp16 values with exponent field e (0 = subnormal). */
const HALF_STEP = Float64Array.from({ length: 32 }, (_, e) => 2 ** (Math.max(e, 1) - 25));

/**
 * Whether the exact range, up to one float32 step inside the candidates mn and mx, could give
 * another zero point or scale. It cannot unless an fp16 number lies within that step: just
 * above mn (the next half above z), or, for s, the next half below s covering the range that
 * ends one step below mx. The test is conservative (a float32 step at v is at most |v|·2^-23,
 * doubled for slack): a false alarm costs one exact pass over the group, a miss cannot happen.
 */
function candidateMatters(mn: number, mx: number, zh: number, sh: number, qmax: number): boolean {
  const half = halfTable();
  const z = half[zh];
  const ez = (zh >> 10) & 0x1f;
  // Next half above z: one step of z's exponent, or of the one below when a negative z sits on a
  // power of two (its magnitude shrinks into the finer binade).
  const upGap = zh & 0x8000 && (zh & 0x3ff) === 0 && ez > 1 ? HALF_STEP[ez - 1] : HALF_STEP[ez];
  if (z + upGap - mn <= Math.abs(mn) * 2 ** -22 + 2 ** -140) return true;
  if (sh === 0) return false;
  const es = sh >> 10;
  const sPrev = half[sh] - ((sh & 0x3ff) === 0 && es > 1 ? HALF_STEP[es - 1] : HALF_STEP[es]);
  return sPrev >= (mx - z) / qmax - (Math.abs(mx) * 2 ** -22 + 2 ** -140) / qmax;
}

/** The decoder's float64 constants from the stored fp16 scales and zero points. */
export function decodeParams(layout: SectionLayout, scales: Uint16Array, zeros: Uint16Array | undefined): DecodeParams {
  const k = layout.count >= WASM_MIN ? wasm() : null;
  return (k && wasmDecodeParams(k, layout, scales, zeros)) || decodeParamsJs(layout, scales, zeros);
}

/** decodeParams in JavaScript. */
export function decodeParamsJs(layout: SectionLayout, scales: Uint16Array, zeros: Uint16Array | undefined): DecodeParams {
  const n = layout.scaleCount;
  const scale = new Float64Array(n);
  const base = new Float64Array(n);
  const half = halfTable();
  for (let g = 0; g < n; g++) {
    const s = half[scales[g]];
    scale[g] = s;
    base[g] = zeros ? half[zeros[g]] : -layout.offset * s;
  }
  return { scale, base };
}

function checkHalf(h: number, name: string, magnitude: number): void {
  if ((h & 0x7c00) === 0x7c00) {
    throw new KvwireError('BAD_ARGUMENT',
      `${name}: values of magnitude ${magnitude} need a scale or zero point beyond fp16's range (65504); ` +
      `use format 'fp32' for this section`, { path: name });
  }
}

/** Finds the first non-finite element, for the message (only runs when there is one). */
export function nonFinite(data: Float32Array, name: string, layout: { cols: number }): KvwireError {
  let i = 0;
  while (i < data.length && Number.isFinite(data[i])) i++;
  const at = i < data.length ? `element [${Math.floor(i / layout.cols)}, ${i % layout.cols}] is ${data[i]}` : 'a value is not finite';
  return new KvwireError('NON_FINITE', `${name}: ${at}; quantizers need finite values`, { path: name });
}

