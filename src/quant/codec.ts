/**
 * encode / decode of one `[rows, cols]` float32 section, driven by `sectionLayout`.
 *
 * encode: check shape -> per-group fp16 scales (and zeros) -> codes, packed (params.ts,
 * encode-kernels.ts). decode: check every buffer's length and every scale against the layout
 * before touching them -> values (decode-kernels.ts). fakeQuantize uses the same parameters but
 * the generic unpacked loops, so an ablation with it gives bit-identical values to
 * decode(encode(x)).
 */
import { KvwireError } from '../errors.js';
import { decodeCodes, valuesAnyShape } from './decode-kernels.js';
import { codesAnyShape, encodeCodes } from './encode-kernels.js';
import { LITTLE_ENDIAN, floatsToHalves, halvesToFloats } from './fp16-kernels.js';
import { scratchCodes } from './pack.js';
import { decodeParams, encodeParams, nonFinite } from './params.js';
import { NF4_HALF_GAP, sectionLayout, type QuantSpec, type SectionLayout } from './spec.js';

/** One coded section: everything a receiver needs besides the spec's meaning. */
export interface QuantizedSection {
  spec: QuantSpec;
  rows: number;
  cols: number;
  /** Packed codes (or fp16/fp32 little-endian bytes); length sectionBytes(...).codes. */
  codes: Uint8Array;
  /** fp16 bits, one per group (empty for fp16/fp32). */
  scales: Uint16Array;
  /** fp16 bits, one per group, for scheme 'asym' only. */
  zeros?: Uint16Array;
}

/** Quantizes and packs `data` (row-major `[rows, cols]`). `name` labels errors (e.g. 'keys[3,1]'). */
export function encode(spec: QuantSpec, data: Float32Array, rows: number, cols: number, name = 'section'): QuantizedSection {
  const layout = sectionLayout(spec, rows, cols);
  checkData(layout, data, name);
  if (layout.family === 'float') {
    return { spec, rows, cols, codes: encodeFloats(layout, data, name), scales: new Uint16Array(0) };
  }
  const p = encodeParams(layout, data, name);
  const codes = new Uint8Array(layout.codeBytes);
  encodeCodes(layout, data, p, codes);
  const section: QuantizedSection = { spec, rows, cols, codes, scales: p.scales };
  if (p.zeros) section.zeros = p.zeros;
  return section;
}

/**
 * encode, written straight into `out` (layout.totalBytes bytes): codes, then the scales and then
 * the zero points as little-endian fp16 — the order a CacheCard stores an entry in, so a card
 * writer encodes into its own buffer without an intermediate copy. Same bytes as `encode`.
 */
export function encodeInto(spec: QuantSpec, data: Float32Array, rows: number, cols: number, out: Uint8Array, name = 'section'): SectionLayout {
  const layout = sectionLayout(spec, rows, cols);
  checkData(layout, data, name);
  if (out.length !== layout.totalBytes) {
    throw new KvwireError('BAD_ARGUMENT', `${name}: encodeInto needs ${layout.totalBytes} bytes, got ${out.length}`, { path: name });
  }
  if (layout.family === 'float') {
    writeFloats(layout, data, out, name);
    return layout;
  }
  const p = encodeParams(layout, data, name);
  encodeCodes(layout, data, p, out.subarray(0, layout.codeBytes));
  putHalves(p.scales, out, layout.codeBytes);
  if (p.zeros) putHalves(p.zeros, out, layout.codeBytes + 2 * layout.scaleCount);
  return layout;
}

/** Writes fp16 bits little-endian at byte `at` of `out`. */
function putHalves(h: Uint16Array, out: Uint8Array, at: number): void {
  if (LITTLE_ENDIAN && ((out.byteOffset + at) & 1) === 0) {
    new Uint16Array(out.buffer, out.byteOffset + at, h.length).set(h);
    return;
  }
  for (let k = 0; k < h.length; k++) {
    out[at + 2 * k] = h[k] & 0xff;
    out[at + 2 * k + 1] = h[k] >>> 8;
  }
}

/** Unpacks and dequantizes `section` into `out` (allocated when absent; length rows·cols). */
export function decode(section: QuantizedSection, out?: Float32Array): Float32Array {
  const layout = checkSection(section);
  if (out === undefined) out = new Float32Array(layout.count);
  else if (out.length !== layout.count) {
    throw new KvwireError('BAD_ARGUMENT',
      `decode: out holds ${out.length} floats, expected rows·cols = ${layout.count}`);
  }
  if (layout.family === 'float') return decodeFloats(layout, section.codes, out);
  decodeCodes(layout, section.codes, decodeParams(layout, section.scales, section.zeros), out);
  return out;
}

/**
 * quantize -> dequantize in float with no packing (ablations only: nothing to send). It runs the
 * generic per-element loops rather than the fused ones, and its values are bit-identical to
 * decode(encode(spec, data, rows, cols)) (a test holds the two paths to that).
 */
export function fakeQuantize(spec: QuantSpec, data: Float32Array, rows: number, cols: number,
  out?: Float32Array, name = 'section'): Float32Array {
  const layout = sectionLayout(spec, rows, cols);
  checkData(layout, data, name);
  out ??= new Float32Array(layout.count);
  if (out.length !== layout.count) {
    throw new KvwireError('BAD_ARGUMENT', `fakeQuantize: out holds ${out.length} floats, expected ${layout.count}`);
  }
  if (layout.family === 'float') return decodeFloats(layout, encodeFloats(layout, data, name), out);
  const p = encodeParams(layout, data, name);
  const q = scratchCodes(layout.count);
  codesAnyShape(layout, data, p, q);
  valuesAnyShape(layout, q, decodeParams(layout, p.scales, p.zeros), out);
  return out;
}

/**
 * Per-element bound on |x - decode(encode(x))| that the encoder guarantees (tests check it):
 * - uniform: s·(1/2 + 2^-12) + 2^-23·(|base| + codeMax·s): half a step, plus float64 slack in
 *   the encoder's x·(1/s) + (offset + 1/2 - z/s) (far below 2^-12 of a step) and the float32
 *   rounding of the decoded value;
 * - nf4: s·(NF4_HALF_GAP + 2^-12) + 2^-23·s, NF4_HALF_GAP being half the widest gap between
 *   levels (-1 → -0.6962: 0.1519);
 * - fp16: max(2^-11·|x̂|, 2^-25) (half an fp16 ulp); fp32: 0.
 */
export function errorBounds(section: QuantizedSection): Float64Array {
  const layout = checkSection(section);
  const bounds = new Float64Array(layout.count);
  if (layout.family === 'float') {
    if (layout.bits === 16) {
      const x = decode(section);
      for (let i = 0; i < x.length; i++) bounds[i] = Math.max(Math.abs(x[i]) * 2 ** -11, 2 ** -25);
    }
    return bounds;
  }
  const p = decodeParams(layout, section.scales, section.zeros);
  const perGroup = new Float64Array(layout.scaleCount);
  for (let g = 0; g < perGroup.length; g++) {
    const s = p.scale[g];
    perGroup[g] = layout.family === 'nf4'
      ? s * (NF4_HALF_GAP + 2 ** -12) + s * 2 ** -23
      : s * (0.5 + 2 ** -12) + 2 ** -23 * (Math.abs(p.base[g]) + layout.codeMax * s);
  }
  const grouping = layout.grouping!;
  for (let i = 0; i < layout.count; i++) {
    const r = Math.floor(i / layout.cols);
    bounds[i] = grouping.kind === 'contiguous'
      ? perGroup[Math.floor(i / grouping.runLength)]
      : perGroup[Math.floor(r / grouping.blockRows) * layout.cols + (i % layout.cols)];
  }
  return bounds;
}

/** The largest per-element error bound of `section` (see errorBounds). */
export function maxError(section: QuantizedSection): number {
  let m = 0;
  for (const b of errorBounds(section)) m = Math.max(m, b);
  return m;
}

/** The layout of a received section, after checking every buffer against it (BAD_FORMAT). */
export function checkSection(section: QuantizedSection): SectionLayout {
  let layout: SectionLayout;
  try {
    layout = sectionLayout(section.spec, section.rows, section.cols);
  } catch (e) {
    throw new KvwireError('BAD_FORMAT', `quantized section: ${(e as Error).message}`, { cause: e });
  }
  const expect = (what: string, got: number | undefined, want: number) => {
    if (got !== want) {
      throw new KvwireError('BAD_FORMAT',
        `quantized section [${layout.rows}, ${layout.cols}] ${JSON.stringify(layout.spec)}: ` +
        `${what} has length ${got ?? 'none'}, expected ${want}`);
    }
  };
  expect('codes', section.codes?.length, layout.codeBytes);
  expect('scales', section.scales?.length, layout.scaleCount);
  if (layout.zeroCount > 0 || section.zeros !== undefined) expect('zeros', section.zeros?.length, layout.zeroCount);
  // Scales must be finite and non-negative; zero points finite. The encoder writes no other.
  for (let g = 0; g < layout.scaleCount; g++) {
    const s = section.scales[g];
    const z = section.zeros ? section.zeros[g] : 0;
    if ((s & 0x7c00) === 0x7c00 || (s & 0x8000 && s !== 0x8000) || (z & 0x7c00) === 0x7c00) {
      throw new KvwireError('BAD_FORMAT',
        `quantized section: group ${g} has scale 0x${s.toString(16)} / zero 0x${z.toString(16)}, ` +
        `expected a finite non-negative fp16 scale and a finite zero point`);
    }
  }
  return layout;
}

function checkData(layout: SectionLayout, data: Float32Array, name: string): void {
  if (!(data instanceof Float32Array)) {
    throw new KvwireError('BAD_ARGUMENT', `${name}: expected a Float32Array`, { path: name });
  }
  if (data.length !== layout.count) {
    throw new KvwireError('BAD_ARGUMENT',
      `${name}: holds ${data.length} floats, but rows·cols = ${layout.rows}·${layout.cols} = ${layout.count}`,
      { path: name });
  }
}

/** fp16: 2 bytes per value, little-endian IEEE binary16; fp32: 4 bytes, little-endian binary32. */
function encodeFloats(layout: SectionLayout, data: Float32Array, name: string): Uint8Array {
  const codes = new Uint8Array(layout.codeBytes);
  writeFloats(layout, data, codes, name);
  return codes;
}

function writeFloats(layout: SectionLayout, data: Float32Array, codes: Uint8Array, name: string): void {
  const n = layout.count;
  if (layout.bits === 32) {
    for (let i = 0; i < n; i++) if (!Number.isFinite(data[i])) throw nonFinite(data, name, layout);
    if (LITTLE_ENDIAN) {
      codes.set(new Uint8Array(data.buffer, data.byteOffset, 4 * n));
      return;
    }
    const view = new DataView(codes.buffer, codes.byteOffset, codes.byteLength);
    for (let i = 0; i < n; i++) view.setFloat32(4 * i, data[i], true);
    return;
  }
  const bad = floatsToHalves(data.subarray(0, n), codes);
  if (bad >= 0) {
    const x = data[bad];
    if (!Number.isFinite(x)) throw nonFinite(data, name, layout);
    throw new KvwireError('BAD_ARGUMENT',
      `${name}: element [${Math.floor(bad / layout.cols)}, ${bad % layout.cols}] = ${x} exceeds fp16's range (±65504)`,
      { path: name });
  }
}

function decodeFloats(layout: SectionLayout, codes: Uint8Array, out: Float32Array): Float32Array {
  const n = layout.count;
  if (layout.bits === 32) {
    if (LITTLE_ENDIAN) new Uint8Array(out.buffer, out.byteOffset, 4 * n).set(codes.subarray(0, 4 * n));
    else {
      const view = new DataView(codes.buffer, codes.byteOffset, codes.byteLength);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
    }
    for (let i = 0; i < n; i++) if (!Number.isFinite(out[i])) throw badFloat(i, layout);
    return out;
  }
  const bad = halvesToFloats(codes, out.subarray(0, n));
  if (bad >= 0) throw badFloat(bad, layout);
  return out;
}

function badFloat(i: number, layout: SectionLayout): KvwireError {
  return new KvwireError('BAD_FORMAT',
    `quantized ${layout.spec.format} section: element [${Math.floor(i / layout.cols)}, ${i % layout.cols}] is not finite`);
}
