/**
 * Whole-cache quantization: every layer's K and V, one section per KV head ([T, headDim], rows =
 * tokens, cols = channels), so that 'head' means one scale per head and 'channel' one per
 * channel of a head. KIVI (Liu et al. 2024) quantizes keys per channel (their outliers sit in
 * fixed channels) and values per token, and keeps the last R tokens in full precision because
 * they are the ones the next decode steps attend to most; `kivi()` builds that pairing.
 */
import { KvwireError } from '../errors.js';
import { KvCache, type KvShape } from '../kv/kv-cache.js';
import { decode, encode, fakeQuantize, type QuantizedSection } from './codec.js';
import { validateSpec, type CodeSpec, type QuantSpec } from './spec.js';

export interface CacheQuantOptions {
  keys: QuantSpec;
  values: QuantSpec;
  /** The last R tokens of every head are kept in fp16 instead (KIVI's residual). Default 0. */
  recentWindow?: number;
}

/** One head's tokens: the first T-R coded with the spec, the last R in fp16 (null when empty). */
export interface QuantizedHead {
  body: QuantizedSection | null;
  recent: QuantizedSection | null;
}

export interface QuantizedCache {
  shape: KvShape;
  /** T, the number of tokens. */
  length: number;
  /** R actually used: min(recentWindow, T). */
  recentWindow: number;
  options: CacheQuantOptions;
  positions: Int32Array;
  tokens: Int32Array;
  /** keys[layer][head], values[layer][head]. */
  keys: QuantizedHead[][];
  values: QuantizedHead[][];
}

const FP16: QuantSpec = { format: 'fp16' };

/**
 * KIVI's pairing at `format`: keys asym per channel (optionally in blocks of `group` tokens),
 * values asym per token (optionally in groups of `group` channels), last `recentWindow` in fp16.
 */
export function kivi(format: CodeSpec['format'], opts: { group?: number; recentWindow?: number } = {}): CacheQuantOptions {
  const scheme = format === 'nf4' ? 'sym' : 'asym';
  const keys: CodeSpec = { format, scheme, axis: 'channel' };
  const values: CodeSpec = { format, scheme, axis: opts.group === undefined ? 'token' : 'group' };
  if (opts.group !== undefined) {
    keys.group = opts.group;
    values.group = opts.group;
  }
  return { keys, values, recentWindow: opts.recentWindow ?? 0 };
}

/** Quantizes and packs every layer and head of `cache`. */
export function quantizeCache(cache: KvCache, options: CacheQuantOptions): QuantizedCache {
  const R = checkOptions(cache, options);
  const T = cache.length;
  const code = (spec: QuantSpec, kind: 'keys' | 'values') => cache[kind].map((layer, l) =>
    headBlocks(cache, layer).map((block, h): QuantizedHead => {
      const name = `${kind}[layer ${l}, head ${h}]`;
      const D = cache.headDim;
      return {
        body: T > R ? encode(spec, block.subarray(0, (T - R) * D), T - R, D, name) : null,
        recent: R > 0 ? encode(FP16, block.subarray((T - R) * D), R, D, `${name} recent`) : null,
      };
    }));
  return {
    shape: cache.shape, length: T, recentWindow: R, options: { ...options },
    positions: cache.positions.slice(), tokens: cache.tokens.slice(),
    keys: code(options.keys, 'keys'), values: code(options.values, 'values'),
  };
}

/** Unpacks and dequantizes a QuantizedCache back into a KvCache (same positions and tokens). */
export function dequantizeCache(q: QuantizedCache): KvCache {
  const { layers, kvHeads, headDim: D } = q.shape;
  const T = q.length;
  const R = q.recentWindow;
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new KvwireError('BAD_FORMAT', `quantized cache: ${what}`);
  };
  check(Number.isInteger(R) && R >= 0 && R <= T, `recent window ${R} is outside 0..${T}`);
  check(q.positions.length === T && q.tokens.length === T, `${T} tokens but ${q.positions.length} positions / ${q.tokens.length} ids`);
  const rebuild = (heads: QuantizedHead[][], kind: string) => {
    check(heads.length === layers, `${kind} has ${heads.length} layers, expected ${layers}`);
    return heads.map((layer, l) => {
      check(layer.length === kvHeads, `${kind} layer ${l} has ${layer.length} heads, expected ${kvHeads}`);
      const out = new Float32Array(kvHeads * T * D);
      layer.forEach((head, h) => {
        const block = out.subarray(h * T * D, (h + 1) * T * D);
        const part = (s: QuantizedSection | null, rows: number, at: number, what: string) => {
          if (rows === 0) return check(s === null, `${kind}[${l},${h}] ${what} should be empty`);
          check(s !== null && s.rows === rows && s.cols === D,
            `${kind}[${l},${h}] ${what} should be [${rows}, ${D}], got ${s ? `[${s.rows}, ${s.cols}]` : 'none'}`);
          decode(s!, block.subarray(at * D, (at + rows) * D));
        };
        part(head.body, T - R, 0, 'body');
        part(head.recent, R, T - R, 'recent window');
      });
      return out;
    });
  };
  return new KvCache(q.shape, rebuild(q.keys, 'keys'), rebuild(q.values, 'values'),
    q.positions.slice(), q.tokens.slice());
}

/**
 * quantize -> dequantize every head in float without packing (ablations): the same values as
 * dequantizeCache(quantizeCache(cache, options)).
 */
export function fakeQuantizeCache(cache: KvCache, options: CacheQuantOptions): KvCache {
  const R = checkOptions(cache, options);
  const T = cache.length;
  const D = cache.headDim;
  const run = (spec: QuantSpec, kind: 'keys' | 'values') => cache[kind].map((layer, l) => {
    const out = new Float32Array(layer.length);
    headBlocks(cache, layer).forEach((block, h) => {
      const name = `${kind}[layer ${l}, head ${h}]`;
      const dst = out.subarray(h * T * D, (h + 1) * T * D);
      if (T > R) fakeQuantize(spec, block.subarray(0, (T - R) * D), T - R, D, dst.subarray(0, (T - R) * D), name);
      if (R > 0) fakeQuantize(FP16, block.subarray((T - R) * D), R, D, dst.subarray((T - R) * D), `${name} recent`);
    });
    return out;
  });
  return new KvCache(cache.shape, run(options.keys, 'keys'), run(options.values, 'values'),
    cache.positions.slice(), cache.tokens.slice());
}

/** Bytes of all codes, scales and zero points of a QuantizedCache (no container metadata). */
export function quantizedCacheBytes(q: QuantizedCache): number {
  let total = 0;
  const add = (s: QuantizedSection | null) => {
    if (s) total += s.codes.length + 2 * s.scales.length + 2 * (s.zeros?.length ?? 0);
  };
  for (const heads of [q.keys, q.values]) for (const layer of heads) for (const h of layer) { add(h.body); add(h.recent); }
  return total;
}

/** The effective recent window, after checking the options against the cache. */
function checkOptions(cache: KvCache, options: CacheQuantOptions): number {
  validateSpec(options.keys);
  validateSpec(options.values);
  const R = options.recentWindow ?? 0;
  if (!Number.isInteger(R) || R < 0) {
    throw new KvwireError('BAD_ARGUMENT', `quantizeCache: recentWindow must be a non-negative integer, got ${R}`);
  }
  return Math.min(R, cache.length);
}

/** Each head's [T, headDim] block of one layer's [kvHeads, T, headDim] tensor, without copying. */
function headBlocks(cache: KvCache, layer: Float32Array): Float32Array[] {
  const size = cache.length * cache.headDim;
  return Array.from({ length: cache.kvHeads }, (_, h) => layer.subarray(h * size, (h + 1) * size));
}
