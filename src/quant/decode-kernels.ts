/**
 * The decoder's hot loops: packed codes -> float32 values, x̂ = float32(base + q·s) for uniform
 * formats and float32(NF4[q]·s) for nf4, with base and s per group (params.ts).
 *
 * Values are computed directly from each byte: measured on V8, that beats lookup tables (a
 * per-group table costs more to fill than it saves on 64-value rows, and a per-column table's
 * indexing is slower than four rows sharing each column's constants). Other shapes unpack first,
 * then use a generic loop. Every path evaluates the same expression, so they agree to the bit.
 *
 * The direct int8/int4/int2 paths run as WebAssembly SIMD (wasm/kernels.c, same bits) when it is
 * available; decodeCodesJs is the reference and the fallback, and NF4 always runs here.
 */
import type { DecodeParams } from './params.js';
import { scratchCodes, unpackCodes } from './pack.js';
import { NF4_CODEBOOK, type SectionLayout } from './spec.js';
import { WASM_MIN, wasm, wasmDecode } from './wasm/kernels.js';

const LEVELS: Float64Array = Float64Array.from(NF4_CODEBOOK);

/** Decodes the packed `codes` of `layout` into `out` (length rows·cols). */
export function decodeCodes(layout: SectionLayout, codes: Uint8Array, p: DecodeParams, out: Float32Array): void {
  const k = layout.family !== 'nf4' && out.length >= WASM_MIN ? wasm() : null;
  if (k && wasmDecode(k, layout, codes, p, out)) return;
  decodeCodesJs(layout, codes, p, out);
}

/** decodeCodes in JavaScript. */
export function decodeCodesJs(layout: SectionLayout, codes: Uint8Array, p: DecodeParams, out: Float32Array): void {
  const { bits, cols, rows } = layout;
  const grouping = layout.grouping!;
  const nf4 = layout.family === 'nf4';
  if (grouping.kind === 'contiguous' && (grouping.runLength * bits) % 8 === 0) {
    const L = grouping.runLength;
    if (nf4) return runsNf4(codes, p.scale, L, out);
    if (bits === 8) return runs8(codes, p.scale, p.base, L, out);
    if (bits === 4) return runs4(codes, p.scale, p.base, L, out);
    return runs2(codes, p.scale, p.base, L, out);
  }
  if (grouping.kind === 'channel' && (cols * bits) % 8 === 0) {
    // As in encode-kernels.ts: four rows per pass share each column's constants.
    const B = grouping.blockRows;
    const kernel = nf4 ? channelsNf4 : bits === 8 ? channels8 : bits === 4 ? channels4 : channels2;
    for (let r0 = 0; r0 < rows; r0 += B) {
      const r1 = Math.min(rows, r0 + B);
      const r4 = r1 - ((r1 - r0) & 3);
      kernel(codes, p.scale, p.base, (r0 / B) * cols, r0, r4, cols, out);
      if (r4 < r1) decodeRowsAnyShape(layout, codes, p, out, r4, r1);
    }
    return;
  }
  decodeRowsAnyShape(layout, codes, p, out, 0, rows);
}

/** Generic rows [r0, r1) (r0·cols·bits a multiple of 8): unpack, then one value per code. */
function decodeRowsAnyShape(layout: SectionLayout, codes: Uint8Array, p: DecodeParams, out: Float32Array, r0: number, r1: number): void {
  const { bits, cols } = layout;
  const from = r0 * cols;
  const q = scratchCodes(layout.count);
  unpackCodes(bits, codes.subarray((from * bits) / 8), (r1 - r0) * cols, q.subarray(from));
  valuesAnyShape(layout, q, p, out, r0, r1);
}

function runs8(codes: Uint8Array, scale: Float64Array, base: Float64Array, L: number, out: Float32Array): void {
  for (let g = 0, i = 0; g < scale.length; g++) {
    const s = scale[g];
    const z = base[g];
    for (const end = i + L; i < end; i++) out[i] = z + codes[i] * s;
  }
}

function runs4(codes: Uint8Array, scale: Float64Array, base: Float64Array, L: number, out: Float32Array): void {
  for (let g = 0, i = 0, j = 0; g < scale.length; g++) {
    const s = scale[g];
    const z = base[g];
    const end = i + L;
    for (; i + 4 <= end; i += 4, j += 2) { // two bytes per step: measured ~20% faster than one
      const b = codes[j];
      const c = codes[j + 1];
      out[i] = z + (b & 15) * s;
      out[i + 1] = z + (b >> 4) * s;
      out[i + 2] = z + (c & 15) * s;
      out[i + 3] = z + (c >> 4) * s;
    }
    if (i < end) {
      const b = codes[j++];
      out[i] = z + (b & 15) * s;
      out[i + 1] = z + (b >> 4) * s;
      i += 2;
    }
  }
}

function runs2(codes: Uint8Array, scale: Float64Array, base: Float64Array, L: number, out: Float32Array): void {
  for (let g = 0, i = 0, j = 0; g < scale.length; g++) {
    const s = scale[g];
    const z = base[g];
    for (const end = i + L; i < end; i += 4, j++) {
      const b = codes[j];
      out[i] = z + (b & 3) * s;
      out[i + 1] = z + ((b >> 2) & 3) * s;
      out[i + 2] = z + ((b >> 4) & 3) * s;
      out[i + 3] = z + (b >> 6) * s;
    }
  }
}

function runsNf4(codes: Uint8Array, scale: Float64Array, L: number, out: Float32Array): void {
  const lv = LEVELS;
  for (let g = 0, i = 0, j = 0; g < scale.length; g++) {
    const s = scale[g];
    for (const end = i + L; i < end; i += 2, j++) {
      const b = codes[j];
      out[i] = lv[b & 15] * s;
      out[i + 1] = lv[b >> 4] * s;
    }
  }
}

// Per-channel kernels: rows [r0, r4) of one block (r4 - r0 a multiple of 4), constants at g0 + c.

function channels8(codes: Uint8Array, scale: Float64Array, base: Float64Array, g0: number, r0: number, r4: number,
  cols: number, out: Float32Array): void {
  for (let r = r0; r < r4; r += 4) {
    for (let c = 0, i = r * cols; c < cols; c++, i++) {
      const s = scale[g0 + c];
      const z = base[g0 + c];
      out[i] = z + codes[i] * s;
      out[i + cols] = z + codes[i + cols] * s;
      out[i + 2 * cols] = z + codes[i + 2 * cols] * s;
      out[i + 3 * cols] = z + codes[i + 3 * cols] * s;
    }
  }
}

function channels4(codes: Uint8Array, scale: Float64Array, base: Float64Array, g0: number, r0: number, r4: number,
  cols: number, out: Float32Array): void {
  const rb = cols >> 1;
  for (let r = r0; r < r4; r += 4) {
    for (let c = 0, i = r * cols, j = r * rb; c < cols; c += 2, i += 2, j++) {
      const s0 = scale[g0 + c];
      const z0 = base[g0 + c];
      const s1 = scale[g0 + c + 1];
      const z1 = base[g0 + c + 1];
      for (let t = 0; t < 4; t++) {
        const b = codes[j + t * rb];
        const ii = i + t * cols;
        out[ii] = z0 + (b & 15) * s0;
        out[ii + 1] = z1 + (b >> 4) * s1;
      }
    }
  }
}

function channels2(codes: Uint8Array, scale: Float64Array, base: Float64Array, g0: number, r0: number, r4: number,
  cols: number, out: Float32Array): void {
  const rb = cols >> 2;
  for (let r = r0; r < r4; r += 4) {
    for (let c = 0, i = r * cols, j = r * rb; c < cols; c += 4, i += 4, j++) {
      const g = g0 + c;
      const s0 = scale[g], s1 = scale[g + 1], s2 = scale[g + 2], s3 = scale[g + 3];
      const z0 = base[g], z1 = base[g + 1], z2 = base[g + 2], z3 = base[g + 3];
      for (let t = 0; t < 4; t++) {
        const b = codes[j + t * rb];
        const ii = i + t * cols;
        out[ii] = z0 + (b & 3) * s0;
        out[ii + 1] = z1 + ((b >> 2) & 3) * s1;
        out[ii + 2] = z2 + ((b >> 4) & 3) * s2;
        out[ii + 3] = z3 + (b >> 6) * s3;
      }
    }
  }
}

function channelsNf4(codes: Uint8Array, scale: Float64Array, _base: Float64Array, g0: number, r0: number, r4: number,
  cols: number, out: Float32Array): void {
  const lv = LEVELS;
  const rb = cols >> 1;
  for (let r = r0; r < r4; r += 4) {
    for (let c = 0, i = r * cols, j = r * rb; c < cols; c += 2, i += 2, j++) {
      const s0 = scale[g0 + c];
      const s1 = scale[g0 + c + 1];
      for (let t = 0; t < 4; t++) {
        const b = codes[j + t * rb];
        const ii = i + t * cols;
        out[ii] = lv[b & 15] * s0;
        out[ii + 1] = lv[b >> 4] * s1;
      }
    }
  }
}

/** Any shape, from unpacked codes (one per byte); also the fake-quant path. */
export function valuesAnyShape(layout: SectionLayout, q: Uint8Array, p: DecodeParams, out: Float32Array,
  r0 = 0, r1 = layout.rows): void {
  const { cols } = layout;
  const grouping = layout.grouping!;
  const nf4 = layout.family === 'nf4';
  for (let r = r0, i = r0 * cols; r < r1; r++) {
    const g0 = grouping.kind === 'channel' ? Math.floor(r / grouping.blockRows) * cols : 0;
    for (let c = 0; c < cols; c++, i++) {
      const g = grouping.kind === 'channel' ? g0 + c : Math.floor(i / grouping.runLength);
      out[i] = nf4 ? LEVELS[q[i]] * p.scale[g] : p.base[g] + q[i] * p.scale[g];
    }
  }
}
