/**
 * encodeCard: KvCache + precision plan -> CacheCard bytes (docs/cachecard.md).
 *
 * Every size is known from the layout before any byte is written (the same `chunkEntries` the
 * reader uses), so the card is one allocation, written front to back; `cardBytes` gives the
 * exact size without encoding, for planners that count bytes.
 */
import { createHash, createHmac } from 'node:crypto';
import { KvwireError, ensure } from '../errors.js';
import type { KvCache } from '../kv/index.js';
import { encodeInto } from '../quant/index.js';
import {
  CARD_FLAG_SIGNED, CARD_HEADER, CHUNK_HEADER, END_DIGEST_BYTES, END_HMAC_BYTES, KIND, LAYOUT, MAGIC, PLAN_HEADER,
  FUSION_VERSION_MINOR, REQUIRED_KINDS, SECTION_FLAG_REQUIRED, SECTION_HEADER, SPEC_ENTRY, VERSION_MAJOR, VERSION_MINOR, chunkCount,
  chunkEntries, chunkRange, packHeadMap, packedMapBytes, padded, specToEntry, writeStruct, type CardGeometry, type CardPrecisionTable,
} from './layout.js';
import { encodeFusion, fusionLength, type FusionSection } from './fusion.js';
import { precisionTable, type CardModel, type CardPrecision } from './types.js';

export interface EncodeCardOptions {
  /** The sharer model's fingerprint: the card is refused by any other model. */
  model: CardModel;
  precision: CardPrecision;
  /** Position the receiver continues at (default: one past the cache's last position). */
  nextPosition?: number;
  /** Layers per chunk (default 1: a receiver can decode layer by layer as bytes arrive). */
  layerGroup?: number;
  /** Tokens per chunk (default: all tokens in one block). Channel-axis scales are per block. */
  tokenBlock?: number;
  /** Free-form JSON for the optional META section (provenance, hop count, method names). */
  meta?: Record<string, unknown>;
  /** Per-token importance scores for the optional SCORES section (one float32 per token). */
  scores?: Float32Array;
  /** Shared HMAC-SHA256 key: signs the card (header flag SIGNED, HMAC in END). */
  key?: Uint8Array | string;
  /** Extra sections, written before the chunks (tests use them for unknown kinds). */
  extraSections?: Array<{ kind: number; required: boolean; body: Uint8Array }>;
  /**
   * The cache's token indices the card carries (strictly increasing in 0..T-1; default all): a
   * selection is encoded straight from the full cache, without gathering a copy first.
   */
  rows?: Int32Array;
  /**
   * How a per-head class map travels: 'packed' (default; PLAN.mapScope 3, b bits per entry,
   * card version 1.2) or 'bytes' (mapScope 2, one byte per entry, version 1.1, for 1.1 readers).
   */
  headMap?: 'packed' | 'bytes';
  /**
   * A cross-model card (docs/cachecard.md "FUSION"): `model` is the sharer, the cache holds the
   * sharer layers `fusion.layerIndex` (so `fusion.layerIndex.length` must equal the cache's
   * layers) and the card names the receiver it is for. Written right after MODEL; version 1.3.
   */
  fusion?: FusionSection;
}

export interface EncodedCard {
  bytes: Uint8Array;
  /** Hex SHA-256 card digest: the card's identity (ETag, store key). */
  digest: string;
  /** Byte offset of every section header, in order (END last). */
  sectionOffsets: number[];
  /** Bytes by part: header and head sections, token ids/positions, payload chunks, optional, END. */
  breakdown: { head: number; tokens: number; payload: number; optional: number; end: number };
}

/** A section to lay out: its kind, REQUIRED flag (or raw `flags`), body length and a writer for the body. */
export interface PendingSection { kind: number; required: boolean; flags?: number; length: number; write: (body: Uint8Array) => void }

const utf8 = new TextEncoder();

export function encodeCard(cache: KvCache, options: EncodeCardOptions): EncodedCard {
  const writer = createCardWriter(cache, options);
  while (writer.step() !== null);
  return writer.result();
}

/**
 * A card written section by section into one buffer (shared memory with `shared`, so another
 * thread can send bytes [0, step()) while the rest is still being encoded). Every size is known
 * up front, so the header (total length, section count) comes first; the digest is in END.
 */
export interface CardWriter {
  /** The whole card's buffer; bytes before the last `step()` result are final. */
  bytes: Uint8Array;
  totalLength: number;
  /** Writes the next section (the card header first); returns the offset written so far, or null when done. */
  step(): number | null;
  /** The finished card (after `step()` returned null). */
  result(): EncodedCard;
}

export function createCardWriter(cache: KvCache, options: EncodeCardOptions & { shared?: boolean }): CardWriter {
  const rows = options.rows ?? null;
  if (rows) {
    for (let i = 0; i < rows.length; i++) {
      ensure(Number.isInteger(rows[i]) && rows[i] >= 0 && rows[i] < cache.length && (i === 0 || rows[i] > rows[i - 1]), 'BAD_ARGUMENT',
        `encodeCard: rows must be increasing token indices in 0..${cache.length - 1}; entry ${i} is ${rows[i]}`);
    }
  }
  const n = rows ? rows.length : cache.length;
  const src: CardSource = {
    cache, rows, tokens: rows ? Int32Array.from(rows, (t) => cache.tokens[t]) : cache.tokens,
    positions: rows ? Int32Array.from(rows, (t) => cache.positions[t]) : cache.positions,
  };
  const lastNext = n === 0 ? 0 : src.positions[n - 1] + 1;
  const geometry: CardGeometry = {
    layers: cache.layers, kvHeads: cache.kvHeads, headDim: cache.headDim, tokenCount: n,
    layerGroup: options.layerGroup ?? 1, tokenBlock: options.tokenBlock ?? Math.max(1, n),
  };
  ensure(Number.isInteger(geometry.layerGroup) && geometry.layerGroup >= 1, 'BAD_ARGUMENT', `encodeCard: layerGroup must be a positive integer, got ${geometry.layerGroup}`);
  ensure(Number.isInteger(geometry.tokenBlock) && geometry.tokenBlock >= 1, 'BAD_ARGUMENT', `encodeCard: tokenBlock must be a positive integer, got ${geometry.tokenBlock}`);
  const nextPosition = options.nextPosition ?? lastNext;
  ensure(Number.isInteger(nextPosition) && nextPosition >= lastNext && nextPosition <= 0xffffffff, 'BAD_ARGUMENT',
    `encodeCard: nextPosition ${nextPosition} must be an integer >= ${lastNext} (one past the last cached position)`);
  ensure(n === 0 || src.positions[0] >= 0, 'BAD_ARGUMENT', `encodeCard: positions must be >= 0, got ${src.positions[0]}`);
  const table = withHeadMap(precisionTable(options.precision, cache.layers, n, cache.kvHeads), options.headMap);
  if (options.scores) {
    ensure(options.scores.length === n, 'BAD_ARGUMENT', `encodeCard: ${options.scores.length} scores for ${n} tokens`);
  }

  const fusion = options.fusion ? fusionSection(options.fusion, cache.layers) : null;
  const sections: PendingSection[] = [
    modelSection(options.model),
    ...(fusion ? [fusion] : []),
    fixed(KIND.LAYOUT, LAYOUT.size, (b) => writeStruct(LAYOUT, { ...geometry, nextPosition, chunkCount: chunkCount(geometry) }, b)),
    planSection(table, cache.layers),
    tokensSection(src, table),
  ];
  if (options.meta) {
    const json = utf8.encode(JSON.stringify(options.meta));
    sections.push({ kind: KIND.META, required: false, length: json.length, write: (b) => b.set(json) });
  }
  if (options.scores) {
    const s = options.scores;
    sections.push({ kind: KIND.SCORES, required: false, length: 4 * n, write: (b) => { const v = view(b); s.forEach((x, t) => v.setFloat32(4 * t, x, true)); } });
  }
  for (const x of options.extraSections ?? []) sections.push({ kind: x.kind, required: x.required, length: x.body.length, write: (b) => b.set(x.body) });
  const chunks = chunkCount(geometry);
  for (let i = 0; i < chunks; i++) sections.push(chunkSection(src, geometry, table, i));
  // Per-head class maps came with version 1.1 (bytes, mapScope 2) and 1.2 (bit-packed, mapScope 3);
  // other cards stay 1.0, byte for byte.
  // A FUSION section came with 1.3.
  const versionMinor = fusion ? FUSION_VERSION_MINOR : table.classMap?.perHead ? (table.classMap.packed ? 2 : 1) : VERSION_MINOR;
  return sectionWriter(sections, { key: options.key, shared: options.shared, override: { versionMinor } });
}

export interface AssembleOptions {
  key?: Uint8Array | string;
  /** Header fields to write instead of the computed ones (tools and attack files only). */
  override?: { versionMajor?: number; versionMinor?: number; flags?: number; sectionCount?: number; totalLength?: number };
}

/**
 * Lays sections out as a card: header, each section (header, body, zero padding, hash), END with
 * the digest and, with a key, the HMAC. Exported for tools and tests that build unusual cards.
 */
export function assembleCard(sections: PendingSection[], options: AssembleOptions = {}): EncodedCard {
  const writer = sectionWriter(sections, options);
  while (writer.step() !== null);
  return writer.result();
}

function sectionWriter(sections: PendingSection[], options: AssembleOptions & { shared?: boolean }): CardWriter {
  const key = options.key === undefined ? undefined : typeof options.key === 'string' ? utf8.encode(options.key) : options.key;
  const endLength = END_DIGEST_BYTES + (key ? END_HMAC_BYTES : 0);
  let total = CARD_HEADER.size;
  for (const s of sections) total += SECTION_HEADER.size + padded(s.length);
  total += SECTION_HEADER.size + padded(endLength);
  const bytes = new Uint8Array(options.shared ? new SharedArrayBuffer(total) : new ArrayBuffer(total));
  const digest = createHash('sha256');
  const sectionOffsets: number[] = [];
  const breakdown = { head: CARD_HEADER.size, tokens: 0, payload: 0, optional: 0, end: 0 };
  let at = 0;
  let next = -1; // -1: the card header; sections.length: END
  let digestHex = '';
  const put = (s: PendingSection) => {
    sectionOffsets.push(at);
    const bodyAt = at + SECTION_HEADER.size;
    const size = SECTION_HEADER.size + padded(s.length);
    s.write(bytes.subarray(bodyAt, bodyAt + s.length));
    writeStruct(SECTION_HEADER, {
      kind: s.kind, flags: s.flags ?? (s.required ? SECTION_FLAG_REQUIRED : 0), reserved: 0, length: s.length, hash: new Uint8Array(32),
    }, bytes, at);
    const h = createHash('sha256').update(bytes.subarray(at, at + 16)).update(bytes.subarray(bodyAt, bodyAt + padded(s.length))).digest();
    bytes.set(h, at + 16);
    const part = s.kind === KIND.CHUNK ? 'payload' : s.kind === KIND.TOKENS ? 'tokens' : s.kind === KIND.END ? 'end'
      : REQUIRED_KINDS.has(s.kind) ? 'head' : 'optional';
    breakdown[part] += size;
    if (s.kind !== KIND.END) digest.update(bytes.subarray(at, at + SECTION_HEADER.size));
    at += size;
  };
  return {
    bytes, totalLength: total,
    step() {
      if (next > sections.length) return null;
      if (next === -1) {
        writeStruct(CARD_HEADER, {
          magic: MAGIC, versionMajor: VERSION_MAJOR, versionMinor: VERSION_MINOR, headerLength: CARD_HEADER.size,
          flags: key ? CARD_FLAG_SIGNED : 0, sectionCount: sections.length + 1, totalLength: total, headerHash: new Uint8Array(32),
          ...options.override,
        }, bytes);
        bytes.set(createHash('sha256').update(bytes.subarray(0, 32)).digest(), 32);
        digest.update(bytes.subarray(0, CARD_HEADER.size));
        at = CARD_HEADER.size;
      } else if (next < sections.length) {
        put(sections[next]);
      } else {
        const digestBytes = digest.digest();
        digestHex = digestBytes.toString('hex');
        put({
          kind: KIND.END, required: true, length: endLength, write: (b) => {
            b.set(digestBytes);
            if (key) b.set(createHmac('sha256', key).update(digestBytes).digest(), END_DIGEST_BYTES);
          },
        });
        if (at !== total) throw new KvwireError('ENGINE', `encodeCard: wrote ${at} bytes, planned ${total} (a layout bug)`);
      }
      next++;
      return at;
    },
    result() {
      if (next <= sections.length) throw new KvwireError('ENGINE', 'CardWriter.result() before the card was written');
      return { bytes, digest: digestHex, sectionOffsets, breakdown };
    },
  };
}

/**
 * Exact size in bytes of the card `encodeCard` would write for a cache of this shape and plan
 * (without META/SCORES/extra sections, which add 48 + padded(length) each).
 */
export function cardBytes(shape: { layers: number; kvHeads: number; headDim: number }, tokenCount: number, precision: CardPrecision,
  options: { model: CardModel; layerGroup?: number; tokenBlock?: number; signed?: boolean; headMap?: 'packed' | 'bytes'; fusion?: FusionSection }): number {
  const g: CardGeometry = { ...shape, tokenCount, layerGroup: options.layerGroup ?? 1, tokenBlock: options.tokenBlock ?? Math.max(1, tokenCount) };
  const table = withHeadMap(precisionTable(precision, shape.layers, tokenCount, shape.kvHeads), options.headMap);
  const section = (len: number) => SECTION_HEADER.size + padded(len);
  let total = CARD_HEADER.size + section(modelSection(options.model).length) + section(LAYOUT.size)
    + section(planLength(table, shape.layers)) + section(tokensLength(tokenCount, table))
    + (options.fusion ? section(fusionSection(options.fusion, shape.layers).length) : 0);
  for (let i = 0; i < chunkCount(g); i++) total += section(chunkEntries(g, table, i).bodyBytes);
  return total + section(END_DIGEST_BYTES + (options.signed ? END_HMAC_BYTES : 0));
}

/** Marks a per-head map as bit-packed (the default) or bytes. */
function withHeadMap(t: CardPrecisionTable, headMap: 'packed' | 'bytes' = 'packed'): CardPrecisionTable {
  ensure(headMap === 'packed' || headMap === 'bytes', 'BAD_ARGUMENT', `encodeCard: headMap must be 'packed' or 'bytes', got ${String(headMap)}`);
  if (t.classMap?.perHead) t.classMap.packed = headMap === 'packed';
  return t;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function fixed(kind: number, length: number, write: (b: Uint8Array) => void): PendingSection {
  return { kind, required: true, length, write };
}

/** MODEL: five strings (id, family, shape, weights digest, tokenizer digest), each u16 length + UTF-8. */
export function modelSection(m: CardModel): PendingSection {
  const parts = [m.id, m.family, m.shape, m.weightsDigest, m.tokenizerDigest].map((s) => utf8.encode(s));
  for (const p of parts) ensure(p.length <= 1024, 'BAD_ARGUMENT', `card model field longer than 1024 bytes`);
  const length = parts.reduce((a, p) => a + 2 + p.length, 0);
  return fixed(KIND.MODEL, length, (b) => {
    let o = 0;
    for (const p of parts) {
      view(b).setUint16(o, p.length, true);
      b.set(p, o + 2);
      o += 2 + p.length;
    }
  });
}

/** FUSION: the receiver, the fuser digest, the carried sharer layers (one per cache layer), protocol and flags. */
function fusionSection(f: FusionSection, layers: number): PendingSection {
  ensure(f.layerIndex.length === layers, 'BAD_ARGUMENT',
    `encodeCard: the FUSION section lists ${f.layerIndex.length} sharer layers, the cache has ${layers}`);
  const body = encodeFusion(f);
  ensure(body.length === fusionLength(f), 'ENGINE', 'FUSION body length');
  return fixed(KIND.FUSION, body.length, (b) => b.set(body));
}

export const planLength = (t: CardPrecisionTable, layers: number): number =>
  PLAN_HEADER.size + SPEC_ENTRY.size * t.specs.length + 2 * t.assign.length * layers;

/** PLAN: header, quantizer table, then [class][layer] pairs of u8 spec indices (keys, values). */
function planSection(t: CardPrecisionTable, layers: number): PendingSection {
  return fixed(KIND.PLAN, planLength(t, layers), (b) => {
    const mapScope = t.classMap?.perHead ? (t.classMap.packed ? 3 : 2) : t.classMap?.perLayer ? 1 : 0;
    writeStruct(PLAN_HEADER, { specCount: t.specs.length, classCount: t.assign.length, mapScope, reserved: 0, reserved2: 0 }, b);
    t.specs.forEach((s, i) => writeStruct(SPEC_ENTRY, specToEntry(s), b, PLAN_HEADER.size + SPEC_ENTRY.size * i));
    let o = PLAN_HEADER.size + SPEC_ENTRY.size * t.specs.length;
    for (const cls of t.assign) for (const [k, v] of cls) { b[o++] = k; b[o++] = v; }
  });
}

export const tokensLength = (n: number, t: CardPrecisionTable): number =>
  8 * n + (t.classMap?.packed ? packedMapBytes(t.classMap.classes.length, t.assign.length) : t.classMap?.classes.length ?? 0);

/**
 * TOKENS: ids (i32 × N), positions (i32 × N), classes (u8 × N, or × L·N per layer; only with
 * more than one class; or the per-head map: L·H·N bytes, or bit-packed).
 */
function tokensSection(src: CardSource, t: CardPrecisionTable): PendingSection {
  const n = src.tokens.length;
  return fixed(KIND.TOKENS, tokensLength(n, t), (b) => {
    const v = view(b);
    for (let i = 0; i < n; i++) {
      v.setInt32(4 * i, src.tokens[i], true);
      v.setInt32(4 * (n + i), src.positions[i], true);
    }
    if (t.classMap?.packed) packHeadMap(t.classMap.classes, t.assign.length, b.subarray(8 * n));
    else if (t.classMap) b.set(t.classMap.classes, 8 * n);
  });
}

/** CHUNK i: its header, then every entry of chunkEntries coded with quant.encode. */
/** What the chunks read: the cache, and which of its tokens the card carries (null: all). */
interface CardSource { cache: KvCache; rows: Int32Array | null; tokens: Int32Array; positions: Int32Array }

function chunkSection(source: CardSource, g: CardGeometry, t: CardPrecisionTable, i: number): PendingSection {
  const { entries, bodyBytes } = chunkEntries(g, t, i);
  const r = chunkRange(g, i);
  const cache = source.cache;
  return fixed(KIND.CHUNK, bodyBytes, (b) => {
    writeStruct(CHUNK_HEADER, { index: i, ...r, reserved: 0 }, b);
    const D = g.headDim;
    const T = cache.length;
    let scratch: Float32Array | null = null; // gathered rows of a class that is not one contiguous run
    let mapped = new Int32Array(0); // the entry's rows as indices into the source cache
    for (const e of entries) {
      const src = (e.kv === 0 ? cache.keys : cache.values)[e.layer];
      const head = src.subarray(e.head * T * D, (e.head + 1) * T * D);
      const rows = e.rows.length;
      let at = e.rows;
      if (source.rows) {
        if (mapped.length < rows) mapped = new Int32Array(Math.max(rows, 2 * mapped.length));
        at = mapped.subarray(0, rows);
        for (let k = 0; k < rows; k++) at[k] = source.rows[e.rows[k]];
      }
      const contiguous = at[rows - 1] - at[0] === rows - 1;
      let data: Float32Array;
      if (contiguous) data = head.subarray(at[0] * D, (at[0] + rows) * D);
      else {
        if (!scratch || scratch.length < rows * D) scratch = new Float32Array(rows * D);
        data = gatherRows(head, at, D, scratch.subarray(0, rows * D));
      }
      const name = `${e.kv ? 'values' : 'keys'}[layer ${e.layer}, head ${e.head}, class ${e.cls}]`;
      encodeInto(e.spec, data, rows, D, b.subarray(e.offset, e.offset + e.bytes), name);
    }
  });
}

/** Copies `rows` of `head` (rows × D) into `out`, one copy per run of consecutive rows. */
function gatherRows(head: Float32Array, rows: Int32Array, D: number, out: Float32Array): Float32Array {
  for (let k = 0; k < rows.length;) {
    let end = k + 1;
    while (end < rows.length && rows[end] === rows[end - 1] + 1) end++;
    out.set(head.subarray(rows[k] * D, (rows[end - 1] + 1) * D), k * D);
    k = end;
  }
  return out;
}
