/**
 * The encoder's hot loops: float32 values -> packed codes, given per-group constants.
 *
 * Uniform formats: code = trunc(x·mul + add) = floor((x - z)/s + 1/2) + offset (round half up;
 * see params.ts). No clamp is needed: the grid covers the group's range, so the float64 value lies
 * in [1/2 - ε, qmax + offset + 1/2 + ε] with ε < 2^-12, and truncation lands in 0..codeMax.
 *
 * Where every scale group starts on a byte boundary (always for head dims that are multiples of
 * 4) quantizing and packing are fused, one output byte per iteration; other shapes go through a
 * generic per-element loop and packCodes. Both follow the bit layout of pack.ts.
 *
 * The fused int8/int4/int2 paths run as WebAssembly SIMD (wasm/kernels.c, same bits) when it is
 * available; encodeCodesJs is the reference and the fallback, and NF4 always runs here.
 */
import type { EncodeParams } from './params.js';
import { packCodes, scratchCodes } from './pack.js';
import { NF4_CODEBOOK, type SectionLayout } from './spec.js';
import { WASM_MIN, wasm, wasmEncode } from './wasm/kernels.js';

/*
 * NF4 nearest level. With u = 2048·v + 2048 for v = x/absmax in [-1, 1], the code is the number of
 * midpoints between adjacent levels that lie strictly below u (a value exactly on a midpoint takes
 * the lower code). NF4_CODE[floor(u)] is that code for the 4096 bins that no midpoint comes near;
 * the few bins within one bin of a midpoint (where floor(u) off by one could matter) hold
 * 16 + the count below the bin, and one comparison settles them. Midpoints are > 160 bins apart.
 */
const NF4_MID = new Float64Array(16); // in u units; [15] = +Inf so code 15 is never exceeded
const NF4_CODE = new Uint8Array(4098);
{
  for (let k = 0; k < 15; k++) NF4_MID[k] = 2048 * ((NF4_CODEBOOK[k] + NF4_CODEBOOK[k + 1]) / 2) + 2048;
  NF4_MID[15] = Infinity;
  for (let b = 0; b < NF4_CODE.length; b++) {
    let below = 0;
    while (NF4_MID[below] < b - 1) below++;
    NF4_CODE[b] = NF4_MID[below] <= b + 2 ? 16 + below : below;
  }
}

/** The NF4 code of u = 2048·x/absmax + 2048 (see above). */
function nf4Code(u: number): number {
  const c = NF4_CODE[u | 0];
  if (c < 16) return c;
  return u > NF4_MID[c - 16] ? c - 15 : c - 16;
}

/** Quantizes `data` with `p` and writes the packed codes (length layout.codeBytes) to `codes`. */
export function encodeCodes(layout: SectionLayout, data: Float32Array, p: EncodeParams, codes: Uint8Array): void {
  const k = layout.family !== 'nf4' && data.length >= WASM_MIN ? wasm() : null;
  if (k && wasmEncode(k, layout, data, p, codes)) return;
  encodeCodesJs(layout, data, p, codes);
}

/** encodeCodes in JavaScript. */
export function encodeCodesJs(layout: SectionLayout, data: Float32Array, p: EncodeParams, codes: Uint8Array): void {
  const { bits, rows, cols } = layout;
  const grouping = layout.grouping!;
  const nf4 = layout.family === 'nf4';
  if (grouping.kind === 'contiguous' && (grouping.runLength * bits) % 8 === 0) {
    const L = grouping.runLength;
    if (nf4) return runsNf4(data, p.mul, p.add, L, codes);
    if (bits === 8) return runs8(data, p.mul, p.add, L, codes);
    if (bits === 4) return runs4(data, p.mul, p.add, L, codes);
    return runs2(data, p.mul, p.add, L, codes);
  }
  if (grouping.kind === 'channel' && (cols * bits) % 8 === 0) {
    // Rows start on byte boundaries. Each block of rows shares one set of per-column constants;
    // the kernels take four rows per pass (one load of each constant for four values), and a
    // block's last rows % 4 go through the generic loop.
    const B = grouping.blockRows;
    const kernel = nf4 ? channelsNf4 : bits === 8 ? channels8 : bits === 4 ? channels4 : channels2;
    for (let r0 = 0; r0 < rows; r0 += B) {
      const r1 = Math.min(rows, r0 + B);
      const r4 = r1 - ((r1 - r0) & 3);
      kernel(data, p.mul, p.add, (r0 / B) * cols, r0, r4, cols, codes);
      if (r4 < r1) encodeRowsAnyShape(layout, data, p, codes, r4, r1);
    }
    return;
  }
  encodeRowsAnyShape(layout, data, p, codes, 0, rows);
}

/** Generic rows [r0, r1) (r0·cols·bits a multiple of 8): codes one per byte, then packed. */
function encodeRowsAnyShape(layout: SectionLayout, data: Float32Array, p: EncodeParams, codes: Uint8Array, r0: number, r1: number): void {
  const { bits, cols } = layout;
  const q = scratchCodes(layout.count);
  codesAnyShape(layout, data, p, q, r0, r1);
  const from = r0 * cols;
  packCodes(bits, q.subarray(from), (r1 - r0) * cols, codes.subarray((from * bits) / 8));
}

function runs8(x: Float32Array, mul: Float64Array, add: Float64Array, L: number, out: Uint8Array): void {
  for (let g = 0, i = 0; g < mul.length; g++) {
    const k = mul[g];
    const b = add[g];
    for (const end = i + L; i < end; i++) out[i] = (x[i] * k + b) | 0;
  }
}

function runs4(x: Float32Array, mul: Float64Array, add: Float64Array, L: number, out: Uint8Array): void {
  for (let g = 0, i = 0, j = 0; g < mul.length; g++) {
    const k = mul[g];
    const b = add[g];
    for (const end = i + L; i < end; i += 2, j++) out[j] = ((x[i] * k + b) | 0) | (((x[i + 1] * k + b) | 0) << 4);
  }
}

function runs2(x: Float32Array, mul: Float64Array, add: Float64Array, L: number, out: Uint8Array): void {
  for (let g = 0, i = 0, j = 0; g < mul.length; g++) {
    const k = mul[g];
    const b = add[g];
    for (const end = i + L; i < end; i += 4, j++) {
      out[j] = ((x[i] * k + b) | 0) | (((x[i + 1] * k + b) | 0) << 2) |
        (((x[i + 2] * k + b) | 0) << 4) | (((x[i + 3] * k + b) | 0) << 6);
    }
  }
}

function runsNf4(x: Float32Array, mul: Float64Array, add: Float64Array, L: number, out: Uint8Array): void {
  const table = NF4_CODE;
  for (let g = 0, i = 0, j = 0; g < mul.length; g++) {
    const k = mul[g];
    const b = add[g];
    for (const end = i + L; i < end; i += 2, j++) {
      const u0 = x[i] * k + b;
      const u1 = x[i + 1] * k + b;
      let c0 = table[u0 | 0];
      let c1 = table[u1 | 0];
      if ((c0 | c1) >= 16) { // rare: a value next to a midpoint
        c0 = nf4Code(u0);
        c1 = nf4Code(u1);
      }
      out[j] = c0 | (c1 << 4);
    }
  }
}

// Per-channel kernels: rows [r0, r4) of one block (r4 - r0 a multiple of 4), constants at g0 + c.

function channels8(x: Float32Array, mul: Float64Array, add: Float64Array, g0: number, r0: number, r4: number,
  cols: number, out: Uint8Array): void {
  for (let r = r0; r < r4; r += 4) {
    for (let c = 0, i = r * cols; c < cols; c++, i++) {
      const k = mul[g0 + c];
      const b = add[g0 + c];
      out[i] = (x[i] * k + b) | 0;
      out[i + cols] = (x[i + cols] * k + b) | 0;
      out[i + 2 * cols] = (x[i + 2 * cols] * k + b) | 0;
      out[i + 3 * cols] = (x[i + 3 * cols] * k + b) | 0;
    }
  }
}

function channels4(x: Float32Array, mul: Float64Array, add: Float64Array, g0: number, r0: number, r4: number,
  cols: number, out: Uint8Array): void {
  const rb = cols >> 1; // bytes per row
  for (let r = r0; r < r4; r += 4) {
    for (let c = 0, i = r * cols, j = r * rb; c < cols; c += 2, i += 2, j++) {
      const k0 = mul[g0 + c];
      const b0 = add[g0 + c];
      const k1 = mul[g0 + c + 1];
      const b1 = add[g0 + c + 1];
      for (let t = 0; t < 4; t++) {
        const ii = i + t * cols;
        out[j + t * rb] = ((x[ii] * k0 + b0) | 0) | (((x[ii + 1] * k1 + b1) | 0) << 4);
      }
    }
  }
}

function channels2(x: Float32Array, mul: Float64Array, add: Float64Array, g0: number, r0: number, r4: number,
  cols: number, out: Uint8Array): void {
  const rb = cols >> 2;
  for (let r = r0; r < r4; r += 4) {
    for (let c = 0, i = r * cols, j = r * rb; c < cols; c += 4, i += 4, j++) {
      const g = g0 + c;
      const k0 = mul[g], k1 = mul[g + 1], k2 = mul[g + 2], k3 = mul[g + 3];
      const b0 = add[g], b1 = add[g + 1], b2 = add[g + 2], b3 = add[g + 3];
      for (let t = 0; t < 4; t++) {
        const ii = i + t * cols;
        out[j + t * rb] = ((x[ii] * k0 + b0) | 0) | (((x[ii + 1] * k1 + b1) | 0) << 2) |
          (((x[ii + 2] * k2 + b2) | 0) << 4) | (((x[ii + 3] * k3 + b3) | 0) << 6);
      }
    }
  }
}

function channelsNf4(x: Float32Array, mul: Float64Array, add: Float64Array, g0: number, r0: number, r4: number,
  cols: number, out: Uint8Array): void {
  const rb = cols >> 1;
  for (let r = r0; r < r4; r += 4) {
    for (let c = 0, i = r * cols, j = r * rb; c < cols; c += 2, i += 2, j++) {
      const k0 = mul[g0 + c];
      const k1 = mul[g0 + c + 1];
      const b0 = add[g0 + c];
      const b1 = add[g0 + c + 1];
      for (let t = 0; t < 4; t++) {
        const ii = i + t * cols;
        out[j + t * rb] = nf4Code(x[ii] * k0 + b0) | (nf4Code(x[ii + 1] * k1 + b1) << 4);
      }
    }
  }
}

/**
 * One code per byte into `q`, for any shape (rows ending mid-byte, odd group sizes); also the
 * fake-quant path, which never packs.
 */
export function codesAnyShape(layout: SectionLayout, x: Float32Array, p: EncodeParams, q: Uint8Array,
  r0 = 0, r1 = layout.rows): void {
  const { cols } = layout;
  const grouping = layout.grouping!;
  const { mul, add } = p;
  const nf4 = layout.family === 'nf4';
  for (let r = r0, i = r0 * cols; r < r1; r++) {
    const g0 = grouping.kind === 'channel' ? Math.floor(r / grouping.blockRows) * cols : 0;
    for (let c = 0; c < cols; c++, i++) {
      const g = grouping.kind === 'channel' ? g0 + c : Math.floor(i / grouping.runLength);
      const u = x[i] * mul[g] + add[g];
      q[i] = nf4 ? nf4Code(u) : u | 0;
    }
  }
}
