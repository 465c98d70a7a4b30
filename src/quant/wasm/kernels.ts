/**
 * The WebAssembly SIMD kernels (kernels.c, embedded as kernels-wasm.ts) behind the codec's hot
 * loops, and the copies in and out of their memory. Callers (fp16-kernels.ts, ranges.ts,
 * params.ts, encode-kernels.ts, decode-kernels.ts, engine/kv-buffer.ts) ask `wasm()` and fall
 * back to their JavaScript loops,
 * which stay the reference, when it returns null: WebAssembly SIMD unavailable, a big-endian
 * host (wasm memory is little-endian), KVWIRE_NO_WASM=1, or a section too large to copy.
 *
 * One instance per thread (module state; a worker loads its own). JavaScript runs one call at a
 * time, so every call lays its buffers out from __heap_base afresh. The one exception is a
 * section's encode (decode): wasmEncodeParams (wasmDecodeParams) leaves the values and the
 * constants in memory, and wasmEncode (wasmDecode), called next with its result, finds them
 * there instead of copying them again (any other call in between clears that). So encodeCodes
 * sees the values as they were at encodeParams, which is what its constants describe: codec.ts
 * calls the two back to back.
 */
import type { DecodeParams, EncodeParams } from '../params.js';
import type { SectionLayout } from '../spec.js';
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';

interface Exports {
  memory: WebAssembly.Memory;
  __heap_base: WebAssembly.Global;
  f32_to_f16(src: number, dst: number, n: number): number;
  f16_to_f32(src: number, dst: number, n: number): number;
  run_minmax(bits: number, L: number, groups: number, lo: number, hi: number): void;
  run_absmax(bits: number, L: number, groups: number, lo: number, hi: number): void;
  ch_minmax(x: number, rows: number, cols: number, B: number, lo: number, hi: number): number;
  ch_absmax(x: number, rows: number, cols: number, B: number, lo: number, hi: number): number;
  enc_params(x: number, approx: number, L: number, asym: number, nf4: number, qmax: number, offset: number,
    lo: number, hi: number, n: number, scales: number, zeros: number, mul: number, add: number): number;
  enc_runs(bits: number, x: number, mul: number, add: number, L: number, groups: number, out: number): void;
  enc_channels(bits: number, x: number, mul: number, add: number, rows: number, cols: number, B: number, out: number): void;
  dec_runs(bits: number, codes: number, scale: number, base: number, L: number, groups: number, out: number): void;
  dec_channels(bits: number, codes: number, scale: number, base: number, rows: number, cols: number, B: number, out: number): void;
  dec_params(scales: number, zeros: number, asym: number, n: number, offset: number, scale: number, base: number): void;
  heads_to_tokens(src: number, dst: number, KV: number, rows: number, D: number): void;
}

export type KernelPath = 'wasm' | 'js';

let loaded: Exports | null | undefined;
let forced: KernelPath | null = null;
const disabled = process.env.KVWIRE_NO_WASM === '1';

function load(): Exports | null {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) return null;
  const bytes = Buffer.from(KERNELS_WASM_BASE64, 'base64');
  // validate() is false where the engine lacks simd128 (or any other feature the module uses).
  if (typeof WebAssembly !== 'object' || !WebAssembly.validate(bytes)) return null;
  return new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Exports;
}

/** The kernels when the WASM path is on, else null (use the JavaScript loops). */
export function wasm(): Exports | null {
  if (forced === 'js' || (forced === null && disabled)) return null;
  if (loaded === undefined) loaded = load();
  return loaded;
}

/** Which path the codec's kernels take now. */
export function kernelPath(): KernelPath {
  return wasm() ? 'wasm' : 'js';
}

/**
 * Forces a path (tests compare the two; benchmarks label runs); null restores the default
 * (wasm unless KVWIRE_NO_WASM=1). Forcing 'wasm' where it cannot load throws.
 */
export function setKernelPath(path: KernelPath | null): void {
  forced = path;
  if (path === 'wasm' && !wasm()) throw new Error('WebAssembly SIMD kernels are not available on this platform');
}

/** Sections below this many values stay in JavaScript (the call and copies would dominate). */
export const WASM_MIN = 256;
/** Nor above this many bytes of linear memory per call (kernels that copy a whole section). */
const MAX_BYTES = 256 * 2 ** 20;
/** fp16 conversion goes through memory in blocks of this many values (cache-resident). */
const BLOCK = 32768;

/** Byte offsets of consecutive 16-byte aligned buffers of `sizes` bytes, growing memory to fit. */
function reserve(k: Exports, sizes: number[]): number[] | null {
  staged = null;
  let at = k.__heap_base.value as number;
  const offsets = sizes.map((s) => {
    at = (at + 15) & ~15;
    const o = at;
    at += s;
    return o;
  });
  if (at - (k.__heap_base.value as number) > MAX_BYTES) return null;
  const short = at - k.memory.buffer.byteLength;
  if (short > 0) k.memory.grow(Math.ceil(short / 65536));
  return offsets;
}

const u8 = (k: Exports, at: number, n: number) => new Uint8Array(k.memory.buffer, at, n);

/** floatsToHalves (fp16-kernels.ts) through f32_to_f16, block by block. */
export function wasmFloatsToHalves(k: Exports, src: Float32Array, out: Uint8Array): number {
  const n = src.length;
  const [pin, pout] = reserve(k, [4 * BLOCK, 2 * BLOCK])!;
  const input = new Float32Array(k.memory.buffer, pin, BLOCK);
  const output = u8(k, pout, 2 * BLOCK);
  for (let i = 0; i < n; i += BLOCK) {
    const m = Math.min(BLOCK, n - i);
    input.set(src.subarray(i, i + m));
    const bad = k.f32_to_f16(pin, pout, m);
    if (bad >= 0) return i + bad;
    out.set(m === BLOCK ? output : output.subarray(0, 2 * m), 2 * i);
  }
  return -1;
}

/** halvesToFloats (fp16-kernels.ts) through f16_to_f32, block by block. */
export function wasmHalvesToFloats(k: Exports, bytes: Uint8Array, out: Float32Array): number {
  const n = out.length;
  const [pin, pout] = reserve(k, [2 * BLOCK, 4 * BLOCK])!;
  const input = u8(k, pin, 2 * BLOCK);
  const output = new Float32Array(k.memory.buffer, pout, BLOCK);
  for (let i = 0; i < n; i += BLOCK) {
    const m = Math.min(BLOCK, n - i);
    input.set(bytes.subarray(2 * i, 2 * (i + m)));
    const bad = k.f16_to_f32(pin, pout, m);
    if (bad >= 0) return i + bad;
    out.set(m === BLOCK ? output : output.subarray(0, m), i);
  }
  return -1;
}

/**
 * groupRanges' loops (ranges.ts): contiguous runs of L (L > 0) or channel blocks of B rows.
 * Returns null when the section is too large for one copy, else whether a NaN was met
 * (channel groupings; always false for runs, whose NaN shows in lo/hi).
 */
export function wasmRanges(k: Exports, data: Float32Array, rows: number, cols: number, run: number, B: number,
  asym: boolean, lo: Float64Array, hi: Float64Array): boolean | null {
  const n = lo.length;
  const at = reserve(k, [4 * data.length, 8 * n, 8 * n]);
  if (!at) return null;
  const [px, plo, phi] = at;
  new Float32Array(k.memory.buffer, px, data.length).set(data);
  let bad = false;
  if (run > 0) (asym ? k.run_minmax : k.run_absmax)(px, run, n, plo, phi);
  else bad = (asym ? k.ch_minmax : k.ch_absmax)(px, rows, cols, B, plo, phi) !== 0;
  lo.set(new Float64Array(k.memory.buffer, plo, n));
  hi.set(new Float64Array(k.memory.buffer, phi, n));
  return bad;
}

/**
 * What sits in memory after wasmEncodeParams (the values, and the constants tagged stagedTag) or
 * wasmDecodeParams (the constants: their scale array).
 */
let staged: Float32Array | Float64Array | null = null;
let stagedTag = 0;

/** One section's encode buffers: values, lo, hi, mul, add, scales, zeros, codes. */
function reserveEncode(k: Exports, count: number, groups: number, codeBytes: number): number[] | null {
  const g8 = 8 * groups;
  return reserve(k, [4 * count, g8, g8, g8, g8, 2 * groups, 2 * groups, codeBytes]);
}

/**
 * encodeParams (params.ts) of a uniform or nf4 section: ranges and per-group constants in one
 * pass over memory. Returns null when JavaScript must run instead: the section is too large, or
 * a group would make encodeParams throw (the JavaScript then throws the same error).
 */
export function wasmEncodeParams(k: Exports, layout: SectionLayout, data: Float32Array): EncodeParams | null {
  const n = layout.scaleCount;
  const asym = layout.zeroCount > 0;
  const at = reserveEncode(k, data.length, n, layout.codeBytes);
  if (!at) return null;
  const [px, plo, phi, pmul, padd, pscales, pzeros] = at;
  new Float32Array(k.memory.buffer, px, data.length).set(data);
  const grouping = layout.grouping!;
  const run = grouping.kind === 'contiguous' ? grouping.runLength : 0;
  if (grouping.kind === 'contiguous') (asym ? k.run_minmax : k.run_absmax)(px, run, n, plo, phi);
  else if ((asym ? k.ch_minmax : k.ch_absmax)(px, layout.rows, layout.cols, grouping.blockRows, plo, phi)) return null;
  const approx = run > 0 && asym ? 1 : 0;
  const failed = k.enc_params(px, approx, run, asym ? 1 : 0, layout.family === 'nf4' ? 1 : 0, layout.qmax, layout.offset,
    plo, phi, n, pscales, pzeros, pmul, padd);
  if (failed >= 0) return null;
  const buf = k.memory.buffer;
  staged = data;
  return {
    scales: new Uint16Array(buf, pscales, n).slice(),
    zeros: asym ? new Uint16Array(buf, pzeros, n).slice() : undefined,
    mul: new Float64Array(buf, pmul, n).slice(),
    add: new Float64Array(buf, padd, n).slice(),
    staged: ++stagedTag,
  };
}

/**
 * The shapes the fused kernels take (as encode-kernels.ts' and decode-kernels.ts' JavaScript fast
 * paths): contiguous runs of `run` values that end on byte boundaries (B = 0), or channel blocks
 * of B rows whose rows do (run = 0); null for any other shape.
 */
function fusedShape(layout: SectionLayout): { run: number; B: number } | null {
  const g = layout.grouping!;
  if (g.kind === 'contiguous' && (g.runLength * layout.bits) % 8 === 0) return { run: g.runLength, B: 0 };
  if (g.kind === 'channel' && (layout.cols * layout.bits) % 8 === 0) return { run: 0, B: g.blockRows };
  return null;
}

/**
 * encodeCodes' fused paths (encode-kernels.ts) for int8/int4/int2. Returns false when JavaScript
 * must run instead: a shape the kernels do not take, or a section too large.
 */
export function wasmEncode(k: Exports, layout: SectionLayout, data: Float32Array, p: EncodeParams, codes: Uint8Array): boolean {
  const shape = fusedShape(layout);
  if (!shape) return false;
  const { bits, rows, cols } = layout;
  const { run, B } = shape;
  const n = p.mul.length;
  const bytes = Math.ceil((data.length * bits) / 8); // layout.codeBytes: codes may be longer
  // Still in memory from wasmEncodeParams(data) when nothing ran in between.
  const inPlace = staged === data && p.staged === stagedTag;
  const at = reserveEncode(k, data.length, n, bytes);
  if (!at) return false;
  const [px, , , pmul, padd, , , pout] = at;
  const buf = k.memory.buffer;
  if (!inPlace) {
    new Float32Array(buf, px, data.length).set(data);
    new Float64Array(buf, pmul, n).set(p.mul);
    new Float64Array(buf, padd, n).set(p.add);
  }
  if (run > 0) k.enc_runs(bits, px, pmul, padd, run, n, pout);
  else k.enc_channels(bits, px, pmul, padd, rows, cols, B, pout);
  codes.set(u8(k, pout, bytes));
  return true;
}

/** One section's decode buffers: codes, scale, base, values. */
function reserveDecode(k: Exports, codeBytes: number, groups: number, count: number): number[] | null {
  return reserve(k, [codeBytes, 8 * groups, 8 * groups, 4 * count]);
}

/** decodeParams (params.ts) of a uniform or nf4 section; null when too large. */
export function wasmDecodeParams(k: Exports, layout: SectionLayout, scales: Uint16Array, zeros: Uint16Array | undefined): DecodeParams | null {
  const n = layout.scaleCount;
  const at = reserveDecode(k, layout.codeBytes, n, layout.count);
  if (!at) return null;
  const [, ps, pz, pout] = at;
  // scales and zeros go where the values will be written (they are read first).
  const buf = k.memory.buffer;
  new Uint16Array(buf, pout, n).set(scales);
  if (zeros) new Uint16Array(buf, pout + 2 * n, n).set(zeros);
  k.dec_params(pout, pout + 2 * n, zeros ? 1 : 0, n, layout.offset, ps, pz);
  const scale = new Float64Array(buf, ps, n).slice();
  staged = scale;
  return { scale, base: new Float64Array(buf, pz, n).slice(), staged: ++stagedTag };
}

/** decodeCodes' direct paths (decode-kernels.ts), as wasmEncode. */
export function wasmDecode(k: Exports, layout: SectionLayout, codes: Uint8Array, p: DecodeParams, out: Float32Array): boolean {
  const shape = fusedShape(layout);
  if (!shape) return false;
  const { bits, rows, cols } = layout;
  const { run, B } = shape;
  const n = p.scale.length;
  const bytes = Math.ceil((out.length * bits) / 8); // layout.codeBytes: codes may be longer
  const inPlace = staged === p.scale && p.staged === stagedTag;
  const at = reserveDecode(k, bytes, n, out.length);
  if (!at) return false;
  const [pc, ps, pz, pout] = at;
  const buf = k.memory.buffer;
  u8(k, pc, bytes).set(codes.subarray(0, bytes));
  if (!inPlace) {
    new Float64Array(buf, ps, n).set(p.scale);
    new Float64Array(buf, pz, n).set(p.base);
  }
  if (run > 0) k.dec_runs(bits, pc, ps, pz, run, n, pout);
  else k.dec_channels(bits, pc, ps, pz, rows, cols, B, pout);
  out.set(new Float32Array(k.memory.buffer, pout, out.length));
  return true;
}

/**
 * KvBuffer.fromCache's layout change of one layer: `src` [KV, T, D] (head-major) into the first
 * T·KV·D floats of `dst` [T, KV, D] (token-major), a block of tokens at a time. Values are copied
 * as bit patterns.
 */
export function wasmHeadsToTokens(k: Exports, src: Float32Array, dst: Float32Array, KV: number, T: number, D: number): void {
  const rows = Math.max(1, Math.floor(BLOCK / (KV * D)));
  const [pin, pout] = reserve(k, [4 * rows * KV * D, 4 * rows * KV * D])!;
  const input = new Float32Array(k.memory.buffer, pin, rows * KV * D);
  const output = new Float32Array(k.memory.buffer, pout, rows * KV * D);
  for (let t0 = 0; t0 < T; t0 += rows) {
    const m = Math.min(rows, T - t0);
    for (let h = 0; h < KV; h++) input.set(src.subarray((h * T + t0) * D, (h * T + t0 + m) * D), h * m * D);
    k.heads_to_tokens(pin, pout, KV, m, D);
    dst.set(m === rows ? output : output.subarray(0, m * KV * D), t0 * KV * D);
  }
}
