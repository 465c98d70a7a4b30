/**
 * Whole-array float32 <-> fp16 kernels for the codec's fp16 format: integer arithmetic on the
 * float32 bits (no per-element conversion call, no scratch Float32Array round trip), writing
 * little-endian fp16 straight into the destination bytes.
 *
 * float32 -> fp16 rounds to nearest even exactly like util/fp16's floatToHalf (a test holds the
 * two to the same bits over every exponent): for a normal half, adding 0xfff plus the lowest kept
 * mantissa bit to the rebiased bits and shifting right by 13 is round-half-even (F. Giesen's
 * float_to_half_fast3_rtne); halves below 2^-14 (subnormal) go through floatToHalf, a rare path.
 * fp16 -> float32 is exact: normal halves by shifting the bits, zero and subnormals by a table.
 *
 * Both directions run as WebAssembly SIMD (wasm/kernels.c, same bits) when it is available; the
 * loops here are the reference and the fallback (floatsToHalvesJs, halvesToFloatsJs).
 */
import { floatToHalf, halfToFloat } from '../util/fp16.js';
import { WASM_MIN, wasm, wasmFloatsToHalves, wasmHalvesToFloats } from './wasm/kernels.js';

/** Whether this platform stores typed arrays little-endian (the card's byte order). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** float32 bit pattern of the smallest normal half (2^-14). */
const MIN_NORMAL = 0x38800000;
/** float32 bit pattern of 65536: at or above it the half overflows (65520 and up round to Inf, caught below). */
const OVERFLOW = 0x47800000;

/**
 * Writes `src` as little-endian fp16 into `out` (2·src.length bytes). Returns -1, or the index of
 * the first element that is not finite or overflows fp16 (the rest of `out` is then unspecified).
 */
export function floatsToHalves(src: Float32Array, out: Uint8Array): number {
  const k = src.length >= WASM_MIN ? wasm() : null;
  return k ? wasmFloatsToHalves(k, src, out) : floatsToHalvesJs(src, out);
}

/** floatsToHalves in JavaScript. */
export function floatsToHalvesJs(src: Float32Array, out: Uint8Array): number {
  const n = src.length;
  const bits = new Uint32Array(src.buffer, src.byteOffset, n);
  if (LITTLE_ENDIAN && (out.byteOffset & 1) === 0) {
    const h16 = new Uint16Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const b = bits[i];
      const a = b & 0x7fffffff;
      let h: number;
      if (a >= MIN_NORMAL) {
        if (a >= OVERFLOW) return i;
        h = (a - 0x38000000 + 0xfff + ((a >>> 13) & 1)) >>> 13;
        if (h >= 0x7c00) return i; // rounded up to Inf
        h |= (b >>> 16) & 0x8000;
      } else {
        h = floatToHalf(src[i]);
      }
      h16[i] = h;
    }
    return -1;
  }
  for (let i = 0; i < n; i++) {
    const h = floatToHalf(src[i]);
    if ((h & 0x7c00) === 0x7c00) return i;
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return -1;
}

let subnormals: Float32Array | undefined;
/** Values of the halves 0x0000..0x03ff (zero and the subnormals). */
function subnormalTable(): Float32Array {
  subnormals ??= Float32Array.from({ length: 1024 }, (_, h) => halfToFloat(h));
  return subnormals;
}

/**
 * Reads `out.length` little-endian fp16 values from `bytes` into `out`. Returns -1, or the index
 * of the first Inf or NaN (which no encoder writes).
 */
export function halvesToFloats(bytes: Uint8Array, out: Float32Array): number {
  const k = out.length >= WASM_MIN ? wasm() : null;
  return k ? wasmHalvesToFloats(k, bytes, out) : halvesToFloatsJs(bytes, out);
}

/** halvesToFloats in JavaScript. */
export function halvesToFloatsJs(bytes: Uint8Array, out: Float32Array): number {
  const n = out.length;
  const sub = subnormalTable();
  const outBits = new Uint32Array(out.buffer, out.byteOffset, n);
  const aligned = LITTLE_ENDIAN && (bytes.byteOffset & 1) === 0;
  const h16 = aligned ? new Uint16Array(bytes.buffer, bytes.byteOffset, n) : null;
  for (let i = 0; i < n; i++) {
    const h = h16 ? h16[i] : bytes[2 * i] | (bytes[2 * i + 1] << 8);
    const e = h & 0x7c00;
    if (e === 0x7c00) return i;
    if (e === 0) out[i] = h & 0x8000 ? -sub[h & 0x3ff] : sub[h];
    else outBits[i] = ((h & 0x8000) << 16) | (((h & 0x7fff) << 13) + 0x38000000);
  }
  return -1;
}
