/**
 * The one definition of the CacheCard byte layout (docs/cachecard.md is its prose form; a test
 * holds the doc's tables to these definitions). The encoder writes and the decoder reads every
 * fixed-size struct through `writeStruct` / `readStruct` driven by the tables below, and both
 * walk a chunk's payload with the same `chunkEntries`, so they cannot disagree on field order
 * (LMCache's hand-written pack/unpack once did).
 *
 * All integers are little-endian. Section bodies start on 8-byte boundaries.
 */
import { KvwireError } from '../errors.js';
import { isFloatSpec, sectionLayout, validateSpec, type CodeSpec, type QuantSpec } from '../quant/index.js';

// ---------------------------------------------------------------------------------------------
// Field types and structs
// ---------------------------------------------------------------------------------------------

/** An integer field type, or a byte-array length. */
export type FieldType = 'u8' | 'u16' | 'u32' | 'i32' | 'u64' | number;
export type FieldDef = readonly [name: string, type: FieldType, doc: string];

/** Byte arrays for `number` fields, numbers for integer fields (u64 must stay <= 2^53 - 1). */
export type StructValues<F extends readonly FieldDef[]> = { [D in F[number] as D[0]]: D[1] extends number ? Uint8Array : number };

/** The value type of a struct. */
export type ValuesOf<S> = S extends Struct<infer F> ? StructValues<F> : never;

export interface Field { name: string; type: FieldType; offset: number; size: number; doc: string }

export interface Struct<F extends readonly FieldDef[]> {
  name: string;
  size: number;
  fields: Field[];
  /** Phantom: the value type. */
  readonly _values?: StructValues<F>;
}

const SIZES = { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8 } as const;

export function defineStruct<const F extends readonly FieldDef[]>(name: string, defs: F): Struct<F> {
  let offset = 0;
  const fields = defs.map(([n, type, doc]) => {
    const size = typeof type === 'number' ? type : SIZES[type];
    const f = { name: n, type, offset, size, doc };
    offset += size;
    return f;
  });
  return { name, size: offset, fields };
}

export function writeStruct<F extends readonly FieldDef[]>(s: Struct<F>, values: StructValues<F>, out: Uint8Array, at = 0): void {
  const view = new DataView(out.buffer, out.byteOffset + at, s.size);
  const v = values as Record<string, number | Uint8Array>;
  for (const f of s.fields) {
    const x = v[f.name];
    if (typeof f.type === 'number') {
      const b = x as Uint8Array;
      if (!(b instanceof Uint8Array) || b.length !== f.size) throw new Error(`${s.name}.${f.name}: expected ${f.size} bytes`);
      out.set(b, at + f.offset);
      continue;
    }
    const n = x as number;
    if (!Number.isSafeInteger(n)) throw new Error(`${s.name}.${f.name}: ${n} is not an integer`);
    switch (f.type) {
      case 'u8': view.setUint8(f.offset, n); break;
      case 'u16': view.setUint16(f.offset, n, true); break;
      case 'u32': view.setUint32(f.offset, n, true); break;
      case 'i32': view.setInt32(f.offset, n, true); break;
      case 'u64': view.setBigUint64(f.offset, BigInt(n), true); break;
    }
  }
}

/**
 * Reads a struct from untrusted bytes (the caller has checked that `s.size` bytes are present).
 * A u64 above 2^53 - 1 throws CARD_CORRUPT: the spec allows no card field to be that large.
 */
export function readStruct<F extends readonly FieldDef[]>(s: Struct<F>, bytes: Uint8Array, at = 0): StructValues<F> {
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, s.size);
  const out: Record<string, number | Uint8Array> = {};
  for (const f of s.fields) {
    switch (f.type) {
      case 'u8': out[f.name] = view.getUint8(f.offset); break;
      case 'u16': out[f.name] = view.getUint16(f.offset, true); break;
      case 'u32': out[f.name] = view.getUint32(f.offset, true); break;
      case 'i32': out[f.name] = view.getInt32(f.offset, true); break;
      case 'u64': {
        const big = view.getBigUint64(f.offset, true);
        if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
          throw new KvwireError('CARD_CORRUPT', `card ${s.name}.${f.name} = ${big} is beyond 2^53 - 1, which no card field may be`, { path: `${s.name}.${f.name}` });
        }
        out[f.name] = Number(big);
        break;
      }
      default: out[f.name] = bytes.slice(at + f.offset, at + f.offset + f.size);
    }
  }
  return out as StructValues<F>;
}

// ---------------------------------------------------------------------------------------------
// The card
// ---------------------------------------------------------------------------------------------

/** 0x89 'K' 'V' 'W' 'C' CR LF SUB: the high byte catches 7-bit channels, CR LF newline rewriting (PNG's trick). */
export const MAGIC = Uint8Array.from([0x89, 0x4b, 0x56, 0x57, 0x43, 0x0d, 0x0a, 0x1a]);
export const VERSION_MAJOR = 1;
/** The minor version of a card that uses nothing newer than 1.0; cards with per-head maps are 1.1. */
export const VERSION_MINOR = 0;
export const ALIGN = 8;

/** Card header flags. */
export const CARD_FLAG_SIGNED = 1;

export const CARD_HEADER = defineStruct('CardHeader', [
  ['magic', 8, '0x89 4B 56 57 43 0D 0A 1A ("\\x89KVWC\\r\\n\\x1a")'],
  ['versionMajor', 'u16', 'incompatible changes; readers refuse other majors'],
  ['versionMinor', 'u16', 'compatible additions; readers accept any minor'],
  ['headerLength', 'u32', 'bytes of this header, >= 64 (a later minor may append fields)'],
  ['flags', 'u32', 'bit 0 SIGNED: the END section carries an HMAC; other bits 0'],
  ['sectionCount', 'u32', 'number of sections that follow, END included'],
  ['totalLength', 'u64', 'bytes of the whole card, header to END inclusive'],
  ['headerHash', 32, 'SHA-256 of bytes [0, 32) and [64, headerLength)'],
] as const);

/** Section flags. */
export const SECTION_FLAG_REQUIRED = 1;

export const SECTION_HEADER = defineStruct('SectionHeader', [
  ['kind', 'u16', 'section kind (table of kinds)'],
  ['flags', 'u16', 'bit 0 REQUIRED: a reader that does not know `kind` must refuse the card'],
  ['reserved', 'u32', '0'],
  ['length', 'u64', 'body bytes, without the zero padding to the next multiple of 8'],
  ['hash', 32, 'SHA-256 of header bytes [0, 16) followed by the padded body'],
] as const);

/** Section kinds. Flags of known kinds are fixed (REQUIRED or not); a mismatch is corruption. */
export const KIND = {
  MODEL: 1,
  LAYOUT: 2,
  PLAN: 3,
  TOKENS: 4,
  CHUNK: 5,
  FUSION: 6,
  META: 0x100,
  SCORES: 0x101,
  END: 0xffff,
} as const;
export type KindName = keyof typeof KIND;

/** Kinds whose REQUIRED flag is set. All but FUSION (at most one, cross-model cards only) are in every card. */
export const REQUIRED_KINDS: ReadonlySet<number> = new Set([KIND.MODEL, KIND.LAYOUT, KIND.PLAN, KIND.TOKENS, KIND.CHUNK, KIND.FUSION, KIND.END]);

/** The minor version of a card with a FUSION section (1.3). */
export const FUSION_VERSION_MINOR = 3;

export function kindName(kind: number): string {
  const e = Object.entries(KIND).find(([, k]) => k === kind);
  return e ? e[0] : `0x${kind.toString(16).padStart(4, '0')}`;
}

/** LAYOUT body: the cache's shape and how its payload is cut into chunks. */
export const LAYOUT = defineStruct('Layout', [
  ['layers', 'u32', 'transformer layers L'],
  ['kvHeads', 'u32', 'KV heads H per layer'],
  ['headDim', 'u32', 'channels D per head'],
  ['tokenCount', 'u32', 'tokens N carried by the card (after selection)'],
  ['nextPosition', 'u32', 'position the receiver continues at (the sharer context length)'],
  ['layerGroup', 'u32', 'layers per chunk G (the last group may be shorter)'],
  ['tokenBlock', 'u32', 'tokens per chunk B (the last block may be shorter)'],
  ['chunkCount', 'u32', 'ceil(L / G) * max(1, ceil(N / B))'],
] as const);

/** PLAN body, first part: table sizes. */
export const PLAN_HEADER = defineStruct('PlanHeader', [
  ['specCount', 'u16', 'entries S of the quantizer table, 1..255'],
  ['classCount', 'u16', 'precision classes C, 1..255'],
  ['mapScope', 'u8', '0: one class per token (TOKENS.classes N bytes); 1: per layer (L x N bytes); 2: per layer and KV head (L x H x N bytes, 255 = dropped); 3: per layer and KV head, bit-packed (ceil(L x H x N x b / 8) bytes, symbol C = dropped)'],
  ['reserved', 'u8', '0'],
  ['reserved2', 'u16', '0'],
] as const);

/** One quantizer table entry (see quant/README.md for what each combination means). */
export const SPEC_ENTRY = defineStruct('QuantSpecEntry', [
  ['format', 'u8', '1 fp32, 2 fp16, 3 int8, 4 int4, 5 int2, 6 nf4'],
  ['scheme', 'u8', '0 none (fp16/fp32), 1 sym, 2 asym'],
  ['axis', 'u8', '0 none (fp16/fp32), 1 token, 2 channel, 3 head, 4 group'],
  ['reserved', 'u8', '0'],
  ['group', 'u32', 'group size G, 0 when the spec has none'],
] as const);

/** CHUNK body header; the payload follows. */
export const CHUNK_HEADER = defineStruct('ChunkHeader', [
  ['index', 'u32', 'chunk index i, 0..chunkCount-1, in order'],
  ['layerStart', 'u32', 'first layer: floor(i / blocks) * G'],
  ['layerCount', 'u32', 'layers in this chunk'],
  ['tokenStart', 'u32', 'first token: (i mod blocks) * B'],
  ['tokenCount', 'u32', 'tokens in this chunk'],
  ['reserved', 'u32', '0'],
] as const);

/** Class-map value of a (layer, head, token) entry that a per-head card does not carry. */
export const DROPPED = 255;

export const END_DIGEST_BYTES = 32;
export const END_HMAC_BYTES = 32;

const FORMATS = ['', 'fp32', 'fp16', 'int8', 'int4', 'int2', 'nf4'] as const;
const SCHEMES = ['', 'sym', 'asym'] as const;
const AXES = ['', 'token', 'channel', 'head', 'group'] as const;

/** A quant spec as a table entry. */
export function specToEntry(spec: QuantSpec): ValuesOf<typeof SPEC_ENTRY> {
  if (isFloatSpec(spec)) return { format: FORMATS.indexOf(spec.format), scheme: 0, axis: 0, reserved: 0, group: 0 };
  return { format: FORMATS.indexOf(spec.format), scheme: SCHEMES.indexOf(spec.scheme), axis: AXES.indexOf(spec.axis), reserved: 0, group: spec.group ?? 0 };
}

/**
 * A table entry as a quant spec. Codes this version does not know are CARD_UNSUPPORTED (a later
 * version may add formats); known codes in an impossible combination are CARD_CORRUPT.
 */
export function entryToSpec(e: { format: number; scheme: number; axis: number; reserved: number; group: number }, where: string): QuantSpec {
  if (e.format < 1 || e.format >= FORMATS.length) throw new KvwireError('CARD_UNSUPPORTED', `${where}: unknown quantizer format code ${e.format}`, { path: where });
  if (e.scheme >= SCHEMES.length) throw new KvwireError('CARD_UNSUPPORTED', `${where}: unknown scheme code ${e.scheme}`, { path: where });
  if (e.axis >= AXES.length) throw new KvwireError('CARD_UNSUPPORTED', `${where}: unknown axis code ${e.axis}`, { path: where });
  const format = FORMATS[e.format] as QuantSpec['format'];
  const corrupt = (why: string) => new KvwireError('CARD_CORRUPT', `${where}: ${why}`, { path: where });
  if (e.reserved !== 0) throw corrupt(`reserved byte is ${e.reserved}, expected 0`);
  let spec: QuantSpec;
  if (format === 'fp16' || format === 'fp32') {
    if (e.scheme !== 0 || e.axis !== 0 || e.group !== 0) throw corrupt(`${format} takes no scheme, axis or group`);
    spec = { format };
  } else {
    if (e.scheme === 0 || e.axis === 0) throw corrupt(`${format} needs a scheme and an axis`);
    const code: CodeSpec = { format, scheme: SCHEMES[e.scheme] as CodeSpec['scheme'], axis: AXES[e.axis] as CodeSpec['axis'] };
    if (e.group !== 0) code.group = e.group;
    try {
      validateSpec(code);
    } catch (cause) {
      throw new KvwireError('CARD_CORRUPT', `${where}: ${(cause as Error).message}`, { path: where, cause });
    }
    spec = code;
  }
  return spec;
}

/** Rounds up to the next multiple of ALIGN. */
export const padded = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

// ---------------------------------------------------------------------------------------------
// Chunk payload order (one definition for the writer and the reader)
// ---------------------------------------------------------------------------------------------

export interface CardGeometry {
  layers: number;
  kvHeads: number;
  headDim: number;
  tokenCount: number;
  layerGroup: number;
  tokenBlock: number;
}

/** specs[specIndex[c][l][kv]]: the quantizer of class c, layer l, keys (0) or values (1). */
export interface CardPrecisionTable {
  specs: QuantSpec[];
  /** [class][layer] -> [keySpecIndex, valueSpecIndex]. */
  assign: Array<Array<[number, number]>>;
  /**
   * Class of each token: `perLayer` false: N entries shared by all layers; true: L·N entries,
   * layer-major (class of token t in layer l at l·N + t); `perHead` (implies perLayer): L·H·N
   * entries, layer-major then head-major (class of token t in layer l, head h at (l·H + h)·N + t),
   * where DROPPED marks a (layer, head, token) the card does not carry (per-head selections).
   * Null when there is one class and nothing is dropped.
   */
  classMap: { perLayer: boolean; perHead?: boolean; packed?: boolean; classes: Uint8Array } | null;
}

/**
 * Bits per symbol of a bit-packed per-head class map (PLAN.mapScope 3): C classes plus the
 * DROPPED symbol (written as C) in the fewest of 1, 2, 4 or 8 bits.
 */
export function headMapBits(classCount: number): number {
  return classCount + 1 <= 2 ? 1 : classCount + 1 <= 4 ? 2 : classCount + 1 <= 16 ? 4 : 8;
}

/** Bytes of a bit-packed per-head map of `count` entries. */
export const packedMapBytes = (count: number, classCount: number): number => Math.ceil((count * headMapBits(classCount)) / 8);

/**
 * Packs a byte class map (classes 0..C-1, DROPPED = 255) as mapScope 3 symbols: entry i takes
 * bits (i·b) mod 8 .. of byte floor(i·b / 8), low bits first; DROPPED is written as C.
 */
export function packHeadMap(classes: Uint8Array, classCount: number, out: Uint8Array = new Uint8Array(packedMapBytes(classes.length, classCount))): Uint8Array {
  const b = headMapBits(classCount);
  out.fill(0);
  if (b === 1) {
    // C = 1: bit i set where entry i is DROPPED, 8 entries per byte.
    const n = classes.length;
    const whole = n & ~7;
    let i = 0;
    for (; i < whole; i += 8) {
      out[i >> 3] = (classes[i] === DROPPED ? 1 : 0) | (classes[i + 1] === DROPPED ? 2 : 0) | (classes[i + 2] === DROPPED ? 4 : 0)
        | (classes[i + 3] === DROPPED ? 8 : 0) | (classes[i + 4] === DROPPED ? 16 : 0) | (classes[i + 5] === DROPPED ? 32 : 0)
        | (classes[i + 6] === DROPPED ? 64 : 0) | (classes[i + 7] === DROPPED ? 128 : 0);
    }
    for (; i < n; i++) if (classes[i] === DROPPED) out[i >> 3] |= 1 << (i & 7);
    return out;
  }
  for (let i = 0; i < classes.length; i++) {
    const c = classes[i];
    const sym = c === DROPPED ? classCount : c;
    const bit = i * b;
    out[bit >> 3] |= sym << (bit & 7);
  }
  return out;
}

/**
 * Unpacks a mapScope 3 map into a byte map (DROPPED = 255). Returns the index of the first bad
 * entry instead of throwing (symbol above C, or a non-zero unused bit at the end: index `count`),
 * so the reader can name it; -1 when every entry is valid.
 */
export function unpackHeadMap(bytes: Uint8Array, count: number, classCount: number, out: Uint8Array): number {
  const b = headMapBits(classCount);
  const mask = (1 << b) - 1;
  if (b === 1) {
    for (let i = 0; i < count; i++) out[i] = (bytes[i >> 3] >> (i & 7)) & 1 ? DROPPED : 0;
  } else {
    for (let i = 0; i < count; i++) {
      const bit = i * b;
      const sym = (bytes[bit >> 3] >> (bit & 7)) & mask;
      if (sym > classCount) return i;
      out[i] = sym === classCount ? DROPPED : sym;
    }
  }
  const used = count * b;
  if (used & 7 && bytes[used >> 3] >> (used & 7)) return count;
  return -1;
}

export function chunkCount(g: CardGeometry): number {
  return Math.ceil(g.layers / g.layerGroup) * Math.max(1, Math.ceil(g.tokenCount / g.tokenBlock));
}

/** Layer and token range of chunk i (layer-group major: a group's blocks come together). */
export function chunkRange(g: CardGeometry, i: number): { layerStart: number; layerCount: number; tokenStart: number; tokenCount: number } {
  const blocks = Math.max(1, Math.ceil(g.tokenCount / g.tokenBlock));
  const layerStart = Math.floor(i / blocks) * g.layerGroup;
  const tokenStart = (i % blocks) * g.tokenBlock;
  return {
    layerStart, layerCount: Math.min(g.layerGroup, g.layers - layerStart),
    tokenStart, tokenCount: Math.min(g.tokenBlock, g.tokenCount - tokenStart),
  };
}

/** One coded section inside a chunk payload: one head of one layer's K or V, one class's rows. */
export interface ChunkEntry {
  layer: number;
  /** 0 keys, 1 values. */
  kv: 0 | 1;
  cls: number;
  head: number;
  /** Indices (into the card's tokens) of this entry's rows, increasing. */
  rows: Int32Array;
  spec: QuantSpec;
  codeBytes: number;
  scaleCount: number;
  zeroCount: number;
  /** Byte offset of the codes inside the chunk body. */
  offset: number;
  bytes: number;
}

/**
 * The payload of chunk i in order: for each layer, keys then values; for each class present in
 * the token range in that layer (ascending), for each head: codes, scales (fp16), zeros (fp16, asym only),
 * concatenated without padding. Returns the entries and the body length (header included).
 */
export function chunkEntries(g: CardGeometry, p: CardPrecisionTable, i: number): { entries: ChunkEntry[]; bodyBytes: number } {
  const r = chunkRange(g, i);
  const perHead = Boolean(p.classMap?.perHead);
  const shared = p.classMap?.perLayer ? null : rowsByClass(p, g, 0, 0, r.tokenStart, r.tokenCount);
  const C = p.assign.length;
  const entries: ChunkEntry[] = [];
  let offset = CHUNK_HEADER.size;
  for (let layer = r.layerStart; layer < r.layerStart + r.layerCount; layer++) {
    // rows[head][class]: one list for every head unless the map is per head.
    const byHead = perHead ? Array.from({ length: g.kvHeads }, (_, h) => rowsByClass(p, g, layer, h, r.tokenStart, r.tokenCount)) : null;
    const classRows = byHead ? null : shared ?? rowsByClass(p, g, layer, 0, r.tokenStart, r.tokenCount);
    for (const kv of [0, 1] as const) {
      for (let cls = 0; cls < C; cls++) {
        const spec = p.specs[p.assign[cls][layer][kv]];
        for (let head = 0; head < g.kvHeads; head++) {
          const rows = byHead ? byHead[head][cls] : classRows![cls];
          if (rows.length === 0) continue;
          const l = sectionLayout(spec, rows.length, g.headDim);
          entries.push({ layer, kv, cls, head, rows, spec, codeBytes: l.codeBytes, scaleCount: l.scaleCount, zeroCount: l.zeroCount, offset, bytes: l.totalBytes });
          offset += l.totalBytes;
        }
      }
    }
  }
  return { entries, bodyBytes: offset };
}

/**
 * The chunk's token indices [start, start + count) split by class (in `layer`, and `head` for
 * per-head maps). DROPPED entries belong to no class.
 */
function rowsByClass(p: CardPrecisionTable, g: CardGeometry, layer: number, head: number, start: number, count: number): Int32Array[] {
  const C = p.assign.length;
  const N = g.tokenCount;
  if (!p.classMap) {
    const all = new Int32Array(count);
    for (let k = 0; k < count; k++) all[k] = start + k;
    return [all];
  }
  const m = p.classMap;
  const at = m.perHead ? (layer * g.kvHeads + head) * N : m.perLayer ? layer * N : 0;
  const cls = m.classes.subarray(at, at + N);
  const counts = new Array<number>(C).fill(0);
  for (let t = start; t < start + count; t++) if (cls[t] < C) counts[cls[t]]++;
  const rows = counts.map((n) => new Int32Array(n));
  const fill = new Array<number>(C).fill(0);
  for (let t = start; t < start + count; t++) {
    const c = cls[t];
    if (c < C) rows[c][fill[c]++] = t;
  }
  return rows;
}
