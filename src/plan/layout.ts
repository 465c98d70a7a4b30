/**
 * The byte layout of a plan's metadata, the one definition both `planBytes` (counting) and
 * applyPlan / materialize (writing, reading) use. All integers little-endian.
 *
 *   header (HEADER_BYTES = 16)
 *     u32 length T · u32 kept n · u32 firstPosition · u16 layers · u8 indexEncoding · u8 version (1)
 *   per layer: u8 classCount · u8 mapScope (0 none, 1 token, 2 head) · classCount × (keys spec, values spec)
 *     spec (SPEC_BYTES = 4): u8 format · u8 (scheme << 4 | axis) · u16 group (0 = none)
 *   indices: 0 all (no bytes) · 1 bitmap ceil(T/8), bit t of byte t>>3 · 2 u16 list 2n · 3 u32 list 4n
 *   class map of a layer with one: symbols (n, or kvHeads·n head-major) in MAP_BITS(classCount)
 *     bits each, packed like quant codes (low bits first); symbol classCount = DROPPED
 *   sections: quant sections (codes, fp16 scales, fp16 zeros; src/quant README), in plan order
 *
 * kvHeads and headDim are not repeated: they come with the model fingerprint the card binds.
 */
import { KvwireError, ensure } from '../errors.js';
import type { KvShape } from '../kv/index.js';
import { isFloatSpec, packCodes, sectionBytes, unpackCodes, validateSpec, type QuantSpec } from '../quant/index.js';
import { DROPPED, type LayerPlan, type PlanBytes } from './types.js';

export const HEADER_BYTES = 16;
export const SPEC_BYTES = 4;
export const PLAN_VERSION = 1;

const FORMATS = ['fp16', 'fp32', 'int8', 'int4', 'int2', 'nf4'] as const;
const AXES = ['token', 'channel', 'head', 'group'] as const;

export type IndexEncoding = 0 | 1 | 2 | 3;

/** The smallest encoding of n kept tokens out of T, and its bytes. */
export function indexEncoding(T: number, n: number): { encoding: IndexEncoding; bytes: number } {
  if (n === T) return { encoding: 0, bytes: 0 };
  const options: Array<[IndexEncoding, number]> = [[1, Math.ceil(T / 8)], [3, 4 * n]];
  if (T <= 65536) options.push([2, 2 * n]);
  options.sort((a, b) => a[1] - b[1] || a[0] - b[0]);
  return { encoding: options[0][0], bytes: options[0][1] };
}

/** Bits per class-map symbol: classCount classes plus the DROPPED symbol, in 2, 4 or 8 bits. */
export function mapBits(classCount: number): number {
  return classCount + 1 <= 4 ? 2 : classCount + 1 <= 16 ? 4 : 8;
}

/** Rows of each (class, head) section of a layer: rows[c][h]. */
export function sectionRows(layer: LayerPlan, kvHeads: number, n: number): number[][] {
  const rows = layer.classes.map(() => new Array<number>(kvHeads).fill(0));
  if (!layer.map) {
    if (rows.length) rows[0].fill(n);
    return rows;
  }
  const { scope, classOf } = layer.map;
  for (let h = 0; h < kvHeads; h++) {
    for (let i = 0; i < n; i++) {
      const c = classOf[scope === 'token' ? i : h * n + i];
      if (c !== DROPPED) rows[c][h]++;
    }
  }
  return rows;
}

/** Exact bytes of a plan with these layers over n of T tokens. */
export function planBytes(shape: KvShape, T: number, kept: number, layers: LayerPlan[]): PlanBytes {
  const b: PlanBytes = { header: HEADER_BYTES, descriptors: 0, indices: indexEncoding(T, kept).bytes, classMaps: 0, codes: 0, scales: 0, zeros: 0, total: 0 };
  for (const layer of layers) {
    b.descriptors += 2 + 2 * SPEC_BYTES * layer.classes.length;
    if (layer.map) b.classMaps += Math.ceil((layer.map.classOf.length * mapBits(layer.classes.length)) / 8);
    sectionRows(layer, shape.kvHeads, kept).forEach((perHead, c) => {
      for (const rows of perHead) {
        if (rows === 0) continue;
        for (const spec of [layer.classes[c].keys, layer.classes[c].values]) {
          const s = sectionBytes(spec, rows, shape.headDim);
          b.codes += s.codes;
          b.scales += s.scales;
          b.zeros += s.zeros;
        }
      }
    });
  }
  b.total = b.header + b.descriptors + b.indices + b.classMaps + b.codes + b.scales + b.zeros;
  return b;
}

function writeSpec(view: DataView, at: number, spec: QuantSpec): void {
  view.setUint8(at, FORMATS.indexOf(spec.format));
  if (isFloatSpec(spec)) return;
  view.setUint8(at + 1, ((spec.scheme === 'asym' ? 1 : 0) << 4) | AXES.indexOf(spec.axis));
  view.setUint16(at + 2, spec.group ?? 0, true);
}

function readSpec(view: DataView, at: number): QuantSpec {
  const format = FORMATS[view.getUint8(at)];
  if (format === undefined) throw new KvwireError('BAD_FORMAT', `plan descriptor: unknown format code ${view.getUint8(at)} at byte ${at}`);
  if (format === 'fp16' || format === 'fp32') return { format };
  const b = view.getUint8(at + 1);
  const axis = AXES[b & 15];
  if (axis === undefined || b >> 4 > 1) throw new KvwireError('BAD_FORMAT', `plan descriptor: bad scheme/axis byte ${b} at byte ${at + 1}`);
  const group = view.getUint16(at + 2, true);
  const spec: QuantSpec = { format, scheme: b >> 4 ? 'asym' : 'sym', axis, ...(group ? { group } : {}) };
  try {
    validateSpec(spec);
  } catch (cause) {
    throw new KvwireError('BAD_FORMAT', `plan descriptor: invalid spec at byte ${at}: ${(cause as Error).message}`, { cause });
  }
  return spec;
}

/** Header and layer descriptors as bytes. */
export function encodeDescriptor(T: number, n: number, firstPosition: number, layers: LayerPlan[]): Uint8Array {
  const size = HEADER_BYTES + layers.reduce((a, l) => a + 2 + 2 * SPEC_BYTES * l.classes.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, T, true);
  view.setUint32(4, n, true);
  view.setUint32(8, firstPosition, true);
  view.setUint16(12, layers.length, true);
  view.setUint8(14, indexEncoding(T, n).encoding);
  view.setUint8(15, PLAN_VERSION);
  let at = HEADER_BYTES;
  for (const layer of layers) {
    view.setUint8(at, layer.classes.length);
    view.setUint8(at + 1, layer.map ? (layer.map.scope === 'token' ? 1 : 2) : 0);
    at += 2;
    for (const c of layer.classes) {
      writeSpec(view, at, c.keys);
      writeSpec(view, at + SPEC_BYTES, c.values);
      at += 2 * SPEC_BYTES;
    }
  }
  return out;
}

export interface DecodedDescriptor {
  length: number;
  kept: number;
  firstPosition: number;
  indexEncoding: IndexEncoding;
  layers: Array<{ classes: Array<{ keys: QuantSpec; values: QuantSpec }>; mapScope: 0 | 1 | 2 }>;
}

/** Reads header and layer descriptors, checking every length before use. */
export function decodeDescriptor(bytes: Uint8Array): DecodedDescriptor {
  const fail = (what: string) => new KvwireError('BAD_FORMAT', `plan descriptor: ${what}`);
  if (bytes.length < HEADER_BYTES) throw fail(`${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint8(15) !== PLAN_VERSION) throw fail(`version ${view.getUint8(15)}, this reader knows ${PLAN_VERSION}`);
  const length = view.getUint32(0, true);
  const kept = view.getUint32(4, true);
  const enc = view.getUint8(14);
  if (kept > length) throw fail(`kept ${kept} > length ${length}`);
  if (enc > 3 || (enc === 0) !== (kept === length)) throw fail(`index encoding ${enc} does not fit ${kept} of ${length} tokens`);
  const L = view.getUint16(12, true);
  const layers: DecodedDescriptor['layers'] = [];
  let at = HEADER_BYTES;
  for (let l = 0; l < L; l++) {
    if (at + 2 > bytes.length) throw fail(`truncated at layer ${l}`);
    const count = view.getUint8(at);
    const scope = view.getUint8(at + 1);
    if (scope > 2) throw fail(`layer ${l}: map scope ${scope}`);
    if (count === 0 && kept > 0) throw fail(`layer ${l} has no class for ${kept} kept tokens`);
    at += 2;
    if (at + 2 * SPEC_BYTES * count > bytes.length) throw fail(`truncated in layer ${l}'s classes`);
    const classes = [];
    for (let c = 0; c < count; c++, at += 2 * SPEC_BYTES) classes.push({ keys: readSpec(view, at), values: readSpec(view, at + SPEC_BYTES) });
    layers.push({ classes, mapScope: scope as 0 | 1 | 2 });
  }
  if (at !== bytes.length) throw fail(`${bytes.length - at} trailing bytes`);
  return { length, kept, firstPosition: view.getUint32(8, true), indexEncoding: enc as IndexEncoding, layers };
}

/** The kept set as bytes in its encoding. */
export function encodeIndices(T: number, kept: Int32Array): Uint8Array {
  const { encoding, bytes } = indexEncoding(T, kept.length);
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  if (encoding === 1) for (const t of kept) out[t >> 3] |= 1 << (t & 7);
  if (encoding === 2) kept.forEach((t, i) => view.setUint16(2 * i, t, true));
  if (encoding === 3) kept.forEach((t, i) => view.setUint32(4 * i, t, true));
  return out;
}

export function decodeIndices(T: number, n: number, encoding: IndexEncoding, bytes: Uint8Array): Int32Array {
  const expected = encoding === 0 ? 0 : encoding === 1 ? Math.ceil(T / 8) : encoding === 2 ? 2 * n : 4 * n;
  ensure(bytes.length === expected, 'BAD_FORMAT', `plan indices: ${bytes.length} bytes, expected ${expected} for encoding ${encoding}`);
  if (encoding === 0) return Int32Array.from({ length: T }, (_, i) => i);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = encoding === 1
    ? Int32Array.from(Array.from({ length: T }, (_, t) => t).filter((t) => bytes[t >> 3] & (1 << (t & 7))))
    : Int32Array.from({ length: n }, (_, i) => (encoding === 2 ? view.getUint16(2 * i, true) : view.getUint32(4 * i, true)));
  ensure(out.length === n, 'BAD_FORMAT', `plan indices: bitmap holds ${out.length} tokens, header says ${n}`);
  out.forEach((t, i) => ensure(t < T && (i === 0 || t > out[i - 1]), 'BAD_FORMAT', `plan indices: entry ${i} (${t}) not increasing within 0..${T - 1}`));
  return out;
}

/** A class map packed in mapBits(classCount) bits per symbol (DROPPED written as classCount). */
export function encodeClassMap(classOf: Uint8Array, classCount: number): Uint8Array {
  const bits = mapBits(classCount);
  const symbols = classOf.map((c) => (c === DROPPED ? classCount : c));
  const out = new Uint8Array(Math.ceil((symbols.length * bits) / 8));
  packCodes(bits, symbols, symbols.length, out);
  return out;
}

export function decodeClassMap(bytes: Uint8Array, count: number, classCount: number): Uint8Array {
  const bits = mapBits(classCount);
  ensure(bytes.length === Math.ceil((count * bits) / 8), 'BAD_FORMAT', `class map: ${bytes.length} bytes for ${count} symbols of ${bits} bits`);
  const symbols = new Uint8Array(count);
  unpackCodes(bits, bytes, count, symbols);
  return symbols.map((s, i) => {
    ensure(s <= classCount, 'BAD_FORMAT', `class map: symbol ${i} is ${s}, above ${classCount} (DROPPED)`);
    return s === classCount ? DROPPED : s;
  });
}
