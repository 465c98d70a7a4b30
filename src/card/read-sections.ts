/**
 * Parsers for the bodies of known sections, for the decoder. Each takes bytes whose SHA-256 has
 * already been checked, validates every field against the spec and the receiver's limits, and
 * throws CARD_CORRUPT (inconsistent), CARD_LIMIT (beyond a cap) or CARD_UNSUPPORTED (a code this
 * version does not know) naming the section and field. Nothing here allocates more than the
 * validated sizes allow.
 */
import { KvwireError } from '../errors.js';
import { decode, sectionLayout } from '../quant/index.js';
import {
  CHUNK_HEADER, DROPPED, LAYOUT, PLAN_HEADER, SPEC_ENTRY, chunkCount, chunkEntries, chunkRange, entryToSpec, packedMapBytes, readStruct, unpackHeadMap,
  type CardGeometry, type CardPrecisionTable,
} from './layout.js';
import type { CardLimits, CardModel } from './types.js';

export const corrupt = (where: string, why: string): KvwireError =>
  new KvwireError('CARD_CORRUPT', `card ${where}: ${why}`, { path: where });
export const overLimit = (where: string, why: string): KvwireError =>
  new KvwireError('CARD_LIMIT', `card ${where}: ${why}`, { path: where });

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function readModel(body: Uint8Array): CardModel {
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const names = ['id', 'family', 'shape', 'weightsDigest', 'tokenizerDigest'] as const;
  const out: Record<string, string> = {};
  let o = 0;
  for (const name of names) {
    if (o + 2 > body.length) throw corrupt(`MODEL.${name}`, 'body ends before the field');
    const len = v.getUint16(o, true);
    if (o + 2 + len > body.length) throw corrupt(`MODEL.${name}`, `length ${len} runs past the body`);
    try {
      out[name] = utf8.decode(body.subarray(o + 2, o + 2 + len));
    } catch {
      throw corrupt(`MODEL.${name}`, 'not valid UTF-8');
    }
    o += 2 + len;
  }
  if (o !== body.length) throw corrupt('MODEL', `${body.length - o} bytes after the last field`);
  return out as unknown as CardModel;
}

/** Refuses a card bound to another model (CARD_MODEL), naming the first field that differs. */
export function checkModel(got: CardModel, want: CardModel): void {
  for (const f of ['id', 'weightsDigest', 'tokenizerDigest', 'family', 'shape'] as const) {
    if (got[f] !== want[f]) {
      throw new KvwireError('CARD_MODEL',
        `card is bound to another model: MODEL.${f} is ${JSON.stringify(got[f])}, this receiver's model has ${JSON.stringify(want[f])}`,
        { path: `MODEL.${f}` });
    }
  }
}

export interface Layout extends CardGeometry { nextPosition: number; chunkCount: number }

export function readLayout(body: Uint8Array, limits: CardLimits): Layout {
  if (body.length !== LAYOUT.size) throw corrupt('LAYOUT', `body is ${body.length} bytes, expected ${LAYOUT.size}`);
  const l = readStruct(LAYOUT, body);
  const cap = (f: keyof typeof l, max: number, min: number) => {
    if (l[f] > max) throw overLimit(`LAYOUT.${f}`, `${l[f]} exceeds the receiver's limit ${max}`);
    if (l[f] < min) throw corrupt(`LAYOUT.${f}`, `${l[f]} is below ${min}`);
  };
  cap('layers', limits.maxLayers, 1);
  cap('kvHeads', limits.maxKvHeads, 1);
  cap('headDim', limits.maxHeadDim, 1);
  cap('tokenCount', limits.maxTokens, 0);
  if (l.layerGroup < 1 || l.layerGroup > l.layers) throw corrupt('LAYOUT.layerGroup', `${l.layerGroup} is outside 1..${l.layers}`);
  if (l.tokenBlock < 1) throw corrupt('LAYOUT.tokenBlock', 'must be >= 1');
  if (l.chunkCount !== chunkCount(l)) throw corrupt('LAYOUT.chunkCount', `${l.chunkCount}, but layers and blocks give ${chunkCount(l)}`);
  if (l.nextPosition < l.tokenCount) throw corrupt('LAYOUT.nextPosition', `${l.nextPosition} is below the token count ${l.tokenCount}`);
  // Caps keep every product below 2^53: 4096·1024·2^24·8192·8 would not, so check the real one.
  const decoded = 8 * l.layers * l.kvHeads * l.tokenCount * l.headDim;
  if (!Number.isSafeInteger(decoded) || decoded > limits.maxDecodedBytes) {
    throw overLimit('LAYOUT', `the cache would decode to ${decoded} bytes of float32, over the receiver's limit ${limits.maxDecodedBytes}`);
  }
  return l;
}

export function readPlan(body: Uint8Array, layout: Layout): CardPrecisionTable {
  if (body.length < PLAN_HEADER.size) throw corrupt('PLAN', 'body shorter than its header');
  const h = readStruct(PLAN_HEADER, body);
  if (h.specCount < 1 || h.specCount > 255) throw corrupt('PLAN.specCount', `${h.specCount} is outside 1..255`);
  if (h.classCount < 1 || h.classCount > 255) throw corrupt('PLAN.classCount', `${h.classCount} is outside 1..255`);
  if (h.reserved !== 0 || h.reserved2 !== 0) throw corrupt('PLAN.reserved', 'must be 0');
  if (h.mapScope > 3) throw new KvwireError('CARD_UNSUPPORTED', `card PLAN.mapScope ${h.mapScope}: v1 knows 0 (per token), 1 (per layer), 2 (per layer and head) and 3 (per layer and head, bit-packed)`, { path: 'PLAN.mapScope' });
  if (h.mapScope === 1 && h.classCount === 1) throw corrupt('PLAN.mapScope', 'a per-layer class map with a single class');
  const want = PLAN_HEADER.size + SPEC_ENTRY.size * h.specCount + 2 * h.classCount * layout.layers;
  if (body.length !== want) throw corrupt('PLAN', `body is ${body.length} bytes, expected ${want} for ${h.specCount} quantizers, ${h.classCount} classes, ${layout.layers} layers`);
  const specs = Array.from({ length: h.specCount }, (_, i) => {
    const where = `PLAN.quantizer[${i}]`;
    const spec = entryToSpec(readStruct(SPEC_ENTRY, body, PLAN_HEADER.size + SPEC_ENTRY.size * i), where);
    try {
      sectionLayout(spec, 1, layout.headDim);
    } catch (cause) {
      throw corrupt(where, `does not fit head dim ${layout.headDim}: ${(cause as Error).message}`);
    }
    return spec;
  });
  let o = PLAN_HEADER.size + SPEC_ENTRY.size * h.specCount;
  const assign = Array.from({ length: h.classCount }, (_, c) => Array.from({ length: layout.layers }, (_, l): [number, number] => {
    const k = body[o++];
    const v = body[o++];
    if (k >= h.specCount || v >= h.specCount) throw corrupt(`PLAN.assign[${c}][${l}]`, `quantizer index ${Math.max(k, v)} >= ${h.specCount}`);
    return [k, v];
  }));
  const classMap = h.mapScope >= 2 ? { perLayer: true, perHead: true, packed: h.mapScope === 3, classes: new Uint8Array(0) }
    : h.classCount > 1 ? { perLayer: h.mapScope === 1, classes: new Uint8Array(0) } : null;
  return { specs, assign, classMap };
}

export function tokensLength(layout: Layout, plan: CardPrecisionTable): number {
  const m = plan.classMap;
  if (m?.packed) return 8 * layout.tokenCount + packedMapBytes(layout.layers * layout.kvHeads * layout.tokenCount, plan.assign.length);
  return 8 * layout.tokenCount + (m ? (m.perHead ? layout.layers * layout.kvHeads : m.perLayer ? layout.layers : 1) * layout.tokenCount : 0);
}

/** TOKENS: ids >= 0, positions strictly increasing in 0..nextPosition-1, classes < classCount. */
export function readTokens(body: Uint8Array, layout: Layout, plan: CardPrecisionTable): { tokens: Int32Array; positions: Int32Array } {
  const n = layout.tokenCount;
  const want = tokensLength(layout, plan);
  if (body.length !== want) throw corrupt('TOKENS', `body is ${body.length} bytes, expected ${want} for ${n} tokens`);
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const tokens = new Int32Array(n);
  const positions = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    tokens[i] = v.getInt32(4 * i, true);
    positions[i] = v.getInt32(4 * (n + i), true);
    if (tokens[i] < 0) throw corrupt(`TOKENS.ids[${i}]`, `${tokens[i]} is negative`);
    const prev = i === 0 ? -1 : positions[i - 1];
    if (positions[i] <= prev) throw corrupt(`TOKENS.positions[${i}]`, `${positions[i]} does not follow ${prev}`);
  }
  if (n && positions[n - 1] >= layout.nextPosition) {
    throw corrupt(`TOKENS.positions[${n - 1}]`, `${positions[n - 1]} is not below LAYOUT.nextPosition ${layout.nextPosition}`);
  }
  if (plan.classMap?.packed) {
    const count = layout.layers * layout.kvHeads * n;
    const cls = new Uint8Array(count);
    const bad = unpackHeadMap(body.subarray(8 * n), count, plan.assign.length, cls);
    if (bad === count) throw corrupt('TOKENS.classes', 'non-zero unused bits after the last packed entry');
    if (bad >= 0) throw corrupt(`TOKENS.classes[${bad}]`, `packed symbol above ${plan.assign.length} (DROPPED) for ${plan.assign.length} classes`);
    plan.classMap.classes = cls;
  } else if (plan.classMap) {
    const cls = body.slice(8 * n);
    const dropped = plan.classMap.perHead ? DROPPED : -1;
    for (let i = 0; i < cls.length; i++) {
      if (cls[i] >= plan.assign.length && cls[i] !== dropped) throw corrupt(`TOKENS.classes[${i}]`, `${cls[i]} >= ${plan.assign.length} classes${dropped < 0 ? '' : ` and not DROPPED (${DROPPED})`}`);
    }
    plan.classMap.classes = cls;
  }
  return { tokens, positions };
}

/** Expected body length of every chunk (and their sum), from layout and plan alone. */
export function expectedChunkBytes(layout: Layout, plan: CardPrecisionTable): number[] {
  return Array.from({ length: layout.chunkCount }, (_, i) => chunkEntries(layout, plan, i).bodyBytes);
}

/**
 * Decodes chunk i into `keys` / `values` ([layer] -> (kvHeads, N, headDim) float32; arrays of
 * the chunk's layers are allocated here when missing).
 */
export function readChunk(body: Uint8Array, i: number, layout: Layout, plan: CardPrecisionTable, keys: Float32Array[], values: Float32Array[],
  alloc: (n: number) => Float32Array = (n) => new Float32Array(n)): void {
  const { entries, bodyBytes } = chunkEntries(layout, plan, i);
  if (body.length !== bodyBytes) throw corrupt(`CHUNK[${i}]`, `body is ${body.length} bytes, expected ${bodyBytes}`);
  const h = readStruct(CHUNK_HEADER, body);
  const r = chunkRange(layout, i);
  for (const f of ['layerStart', 'layerCount', 'tokenStart', 'tokenCount'] as const) {
    if (h[f] !== r[f]) throw corrupt(`CHUNK[${i}].${f}`, `${h[f]}, expected ${r[f]}`);
  }
  if (h.index !== i) throw corrupt(`CHUNK[${i}].index`, `${h.index}, expected ${i} (chunks come in order)`);
  if (h.reserved !== 0) throw corrupt(`CHUNK[${i}].reserved`, `${h.reserved}, expected 0`);
  const N = layout.tokenCount;
  const D = layout.headDim;
  const size = layout.kvHeads * N * D;
  for (let l = r.layerStart; l < r.layerStart + r.layerCount; l++) {
    keys[l] ??= alloc(size);
    values[l] ??= alloc(size);
  }
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  for (const e of entries) {
    const rows = e.rows.length;
    const codes = body.subarray(e.offset, e.offset + e.codeBytes);
    let o = e.offset + e.codeBytes;
    const scales = halves(body, v, o, e.scaleCount);
    o += 2 * e.scaleCount;
    const zeros = e.zeroCount ? halves(body, v, o, e.zeroCount) : undefined;
    const head = (e.kv === 0 ? keys : values)[e.layer].subarray(e.head * N * D, (e.head + 1) * N * D);
    const contiguous = e.rows[rows - 1] - e.rows[0] === rows - 1;
    // Rows that are not one run (per-head selections) decode into a reused scratch buffer, then
    // go to their places run by run.
    if (!contiguous && scratch.length < rows * D) scratch = new Float32Array(Math.max(rows * D, 2 * scratch.length));
    const out = contiguous ? head.subarray(e.rows[0] * D, (e.rows[0] + rows) * D) : scratch.subarray(0, rows * D);
    try {
      decode({ spec: e.spec, rows, cols: D, codes, scales, zeros }, out);
    } catch (cause) {
      throw new KvwireError('CARD_CORRUPT',
        `card CHUNK[${i}] ${e.kv ? 'values' : 'keys'} layer ${e.layer} head ${e.head}: ${(cause as Error).message}`, { path: `CHUNK[${i}]`, cause });
    }
    if (!contiguous) {
      const r = e.rows;
      for (let k = 0; k < rows;) {
        let end = k + 1;
        while (end < rows && r[end] === r[end - 1] + 1) end++;
        head.set(out.subarray(k * D, end * D), r[k] * D);
        k = end;
      }
    }
  }
}

/** Decode scratch for rows that are not one run; grows to the largest entry seen, reused across chunks. */
let scratch = new Float32Array(0);

/** n little-endian fp16 bit patterns at byte `at` of `body` (a view when aligned, else a copy). */
function halves(body: Uint8Array, v: DataView, at: number, n: number): Uint16Array {
  if (LITTLE_ENDIAN && ((body.byteOffset + at) & 1) === 0) return new Uint16Array(body.buffer, body.byteOffset + at, n);
  const out = new Uint16Array(n);
  for (let k = 0; k < n; k++) out[k] = v.getUint16(at + 2 * k, true);
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Per-head cards: per layer, (kvHeads, N) flags, 1 where the class map says DROPPED; null when none is. */
export function absentFromPlan(layout: Layout, plan: CardPrecisionTable): Uint8Array[] | null {
  const m = plan.classMap;
  if (!m?.perHead || !m.classes.includes(DROPPED)) return null;
  const size = layout.kvHeads * layout.tokenCount;
  return Array.from({ length: layout.layers }, (_, l) => {
    const cls = m.classes.subarray(l * size, (l + 1) * size);
    const out = new Uint8Array(size);
    for (let i = 0; i < size; i++) out[i] = cls[i] === DROPPED ? 1 : 0;
    return out;
  });
}
