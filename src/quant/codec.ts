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
import { floatToHalf, halfArrayToFloat } from '../util/fp16.js';
import { decodeCodes, valuesAnyShape } from './decode-kernels.js';
import { codesAnyShape, encodeCodes } from './encode-kernels.js';
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
  const n = layout.count;
  const codes = new Uint8Array(layout.codeBytes);
  if (layout.bits === 32) {
    const view = new DataView(codes.buffer);
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(data[i])) throw nonFinite(data, name, layout);
      view.setFloat32(4 * i, data[i], true);
    }
    return codes;
  }
  for (let i = 0; i < n; i++) {
    const x = data[i];
    if (!Number.isFinite(x)) throw nonFinite(data, name, layout);
    const h = floatToHalf(x);
    if ((h & 0x7c00) === 0x7c00) {
      throw new KvwireError('BAD_ARGUMENT',
        `${name}: element [${Math.floor(i / layout.cols)}, ${i % layout.cols}] = ${x} exceeds fp16's range (±65504)`,
        { path: name });
    }
    codes[2 * i] = h & 0xff;
    codes[2 * i + 1] = h >> 8;
  }
  return codes;
}

function decodeFloats(layout: SectionLayout, codes: Uint8Array, out: Float32Array): Float32Array {
  const n = layout.count;
  if (layout.bits === 32) {
    const view = new DataView(codes.buffer, codes.byteOffset, codes.byteLength);
    for (let i = 0; i < n; i++) {
      const x = view.getFloat32(4 * i, true);
      if (!Number.isFinite(x)) throw badFloat(i, layout);
      out[i] = x;
    }
    return out;
  }
  const halves = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const h = codes[2 * i] | (codes[2 * i + 1] << 8);
    if ((h & 0x7c00) === 0x7c00) throw badFloat(i, layout);
    halves[i] = h;
  }
  halfArrayToFloat(halves, out as Float32Array<ArrayBuffer>);
  return out;
}

function badFloat(i: number, layout: SectionLayout): KvwireError {
  return new KvwireError('BAD_FORMAT',
    `quantized ${layout.spec.format} section: element [${Math.floor(i / layout.cols)}, ${i % layout.cols}] is not finite`);
}
