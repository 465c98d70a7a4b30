/**
 * Quantization specs and the one definition of a section's layout.
 *
 * A *section* is one float32 tensor viewed as `[rows, cols]` in row-major order (in kvwire: one
 * KV head's `[T, headDim]` block, rows = tokens, cols = channels). A spec says how it is coded;
 * `sectionLayout` turns (spec, rows, cols) into every size and constant that the encoder, the
 * decoder and the byte accounting need, so that the three can never disagree.
 */
import { KvwireError } from '../errors.js';

/** Sections kept as floats: fp16 (IEEE binary16) or fp32, little-endian, no scales. */
export interface FloatSpec {
  format: 'fp16' | 'fp32';
}

/**
 * Sections coded as small integers with scales (and zero points) shared by a group of values.
 * - `format`: int8 / int4 / int2 uniform grids, or nf4 (QLoRA's 16 normal-float levels).
 * - `scheme`: 'sym' (x̂ = q·s, q in -(2^(b-1)-1)..2^(b-1)-1) or 'asym' (x̂ = z + q·s,
 *   q in 0..2^b-1). nf4 is absmax-scaled, so 'sym' only.
 * - `axis`: which values share one scale:
 *   'token'   one per row (per token),
 *   'channel' one per column (per channel, KIVI's keys); with `group` = G, one per column per
 *             block of G consecutive rows (KIVI groups tokens this way; the last block may be short),
 *   'head'    one for the whole section (one head's [T, headDim] block in quantizeCache),
 *   'group'   one per G consecutive values along a row (`group` = G must divide cols).
 */
export interface CodeSpec {
  format: 'int8' | 'int4' | 'int2' | 'nf4';
  scheme: 'sym' | 'asym';
  axis: 'token' | 'channel' | 'head' | 'group';
  group?: number;
}

export type QuantSpec = FloatSpec | CodeSpec;
export type QuantFormat = QuantSpec['format'];

/** True for fp16/fp32 specs (no scales, no codes). */
export function isFloatSpec(spec: QuantSpec): spec is FloatSpec {
  return spec.format === 'fp16' || spec.format === 'fp32';
}

/** Bits per coded value. */
export const FORMAT_BITS: Readonly<Record<QuantFormat, number>> = {
  int8: 8, int4: 4, int2: 2, nf4: 4, fp16: 16, fp32: 32,
};

/**
 * The NF4 codebook of QLoRA (Dettmers et al. 2023; bitsandbytes' table, as float32): code k
 * decodes to NF4_CODEBOOK[k]·absmax. Codes are in increasing order; code 7 is exactly 0.
 */
export const NF4_CODEBOOK: Float32Array = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
  0.7229568362236023, 1.0,
]);

/**
 * Half the widest gap between adjacent NF4 levels (-1 → -0.6962, so 0.1519): the NF4 error bound
 * as a fraction of absmax.
 */
export const NF4_HALF_GAP: number = NF4_CODEBOOK.slice(1).reduce((m, v, k) => Math.max(m, (v - NF4_CODEBOOK[k]) / 2), 0);

/**
 * How scales map onto a section. Three of the four axes are *contiguous*: each scale covers a
 * run of `runLength` consecutive row-major values (token: cols; group: G; head: rows·cols).
 * Only 'channel' is strided: scale index = block(r)·cols + c, with block(r) = floor(r / blockRows).
 */
export type Grouping =
  | { kind: 'contiguous'; runLength: number }
  | { kind: 'channel'; blockRows: number };

export interface SectionLayout {
  spec: QuantSpec;
  rows: number;
  cols: number;
  /** rows·cols. */
  count: number;
  bits: number;
  /** 'float' (fp16/fp32), 'uniform' (intN) or 'nf4'. */
  family: 'float' | 'uniform' | 'nf4';
  /** Largest unsigned code (2^bits - 1) for coded formats. */
  codeMax: number;
  /** Largest |q| on the grid: 2^bits-1 for asym, 2^(bits-1)-1 for sym (1 for nf4: absmax). */
  qmax: number;
  /** Stored code = q + offset; 2^(bits-1) for sym, 0 for asym and nf4. */
  offset: number;
  grouping: Grouping | null;
  /** Byte length of `codes`: ceil(count·bits / 8). */
  codeBytes: number;
  /** Number of fp16 scales (one per group); 0 for float formats. */
  scaleCount: number;
  /** Number of fp16 zero points; = scaleCount for asym, else 0. */
  zeroCount: number;
  /** codeBytes + 2·scaleCount + 2·zeroCount. */
  totalBytes: number;
}

export interface SectionBytes {
  codes: number;
  scales: number;
  zeros: number;
  total: number;
}

/** Throws BAD_ARGUMENT unless `spec` is a complete, meaningful spec. */
export function validateSpec(spec: QuantSpec): void {
  const where = `quant spec ${JSON.stringify(spec)}`;
  if (spec === null || typeof spec !== 'object' || !(spec.format in FORMAT_BITS)) {
    throw new KvwireError('BAD_ARGUMENT', `${where}: format must be one of ${Object.keys(FORMAT_BITS).join(', ')}`);
  }
  if (isFloatSpec(spec)) return;
  const s = spec;
  if (s.scheme !== 'sym' && s.scheme !== 'asym') {
    throw new KvwireError('BAD_ARGUMENT', `${where}: scheme must be 'sym' or 'asym'`);
  }
  if (s.format === 'nf4' && s.scheme !== 'sym') {
    throw new KvwireError('BAD_ARGUMENT', `${where}: nf4 is absmax-scaled and has no zero point; use scheme 'sym'`);
  }
  if (!['token', 'channel', 'head', 'group'].includes(s.axis)) {
    throw new KvwireError('BAD_ARGUMENT', `${where}: axis must be 'token', 'channel', 'head' or 'group'`);
  }
  const needsGroup = s.axis === 'group';
  const allowsGroup = s.axis === 'group' || s.axis === 'channel';
  if (s.group === undefined) {
    if (needsGroup) throw new KvwireError('BAD_ARGUMENT', `${where}: axis 'group' needs a group size`);
  } else {
    if (!allowsGroup) {
      throw new KvwireError('BAD_ARGUMENT', `${where}: a group size only applies to axis 'group' or 'channel'`);
    }
    if (!Number.isInteger(s.group) || s.group < 1) {
      throw new KvwireError('BAD_ARGUMENT', `${where}: group must be a positive integer, got ${s.group}`);
    }
  }
}

/** The layout of a `[rows, cols]` section coded with `spec`; validates all three. */
export function sectionLayout(spec: QuantSpec, rows: number, cols: number): SectionLayout {
  validateSpec(spec);
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) {
    throw new KvwireError('BAD_ARGUMENT',
      `quant section: rows and cols must be positive integers, got [${rows}, ${cols}] (an empty section has nothing to quantize)`);
  }
  const count = rows * cols;
  if (!Number.isSafeInteger(count * 32)) {
    throw new KvwireError('BAD_ARGUMENT', `quant section: [${rows}, ${cols}] is too large`);
  }
  const bits = FORMAT_BITS[spec.format];
  const codeBytes = Math.ceil((count * bits) / 8);
  if (isFloatSpec(spec)) {
    return {
      spec, rows, cols, count, bits, family: 'float', codeMax: 0, qmax: 0, offset: 0, grouping: null,
      codeBytes, scaleCount: 0, zeroCount: 0, totalBytes: codeBytes,
    };
  }
  let grouping: Grouping;
  let scaleCount: number;
  switch (spec.axis) {
    case 'token':
      grouping = { kind: 'contiguous', runLength: cols };
      scaleCount = rows;
      break;
    case 'head':
      grouping = { kind: 'contiguous', runLength: count };
      scaleCount = 1;
      break;
    case 'group': {
      const g = spec.group as number;
      if (cols % g !== 0) {
        throw new KvwireError('BAD_ARGUMENT', `quant spec: group ${g} does not divide cols ${cols}`);
      }
      grouping = { kind: 'contiguous', runLength: g };
      scaleCount = count / g;
      break;
    }
    default: { // 'channel'
      const blockRows = Math.min(spec.group ?? rows, rows);
      grouping = { kind: 'channel', blockRows };
      scaleCount = Math.ceil(rows / blockRows) * cols;
      break;
    }
  }
  const nf4 = spec.format === 'nf4';
  const sym = spec.scheme === 'sym';
  const zeroCount = sym ? 0 : scaleCount;
  return {
    spec, rows, cols, count, bits,
    family: nf4 ? 'nf4' : 'uniform',
    codeMax: 2 ** bits - 1,
    qmax: nf4 ? 1 : sym ? 2 ** (bits - 1) - 1 : 2 ** bits - 1,
    offset: sym && !nf4 ? 2 ** (bits - 1) : 0,
    grouping, codeBytes, scaleCount, zeroCount,
    totalBytes: codeBytes + 2 * scaleCount + 2 * zeroCount,
  };
}

/** Bytes a `[rows, cols]` section takes with `spec`, by formula (equals the encoded buffers). */
export function sectionBytes(spec: QuantSpec, rows: number, cols: number): SectionBytes {
  const l = sectionLayout(spec, rows, cols);
  return { codes: l.codeBytes, scales: 2 * l.scaleCount, zeros: 2 * l.zeroCount, total: l.totalBytes };
}

/** A short label such as 'int4-asym-channel' or 'nf4-sym-group64', for tables and names. */
export function specLabel(spec: QuantSpec): string {
  if (isFloatSpec(spec)) return spec.format;
  const g = spec.group === undefined ? '' : String(spec.group);
  return `${spec.format}-${spec.scheme}-${spec.axis}${g}`;
}
