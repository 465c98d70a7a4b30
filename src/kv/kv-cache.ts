/**
 * KvCache: the one currency between kvwire's modules.
 *
 * Per layer, K and V are float32 `[kvHeads, T, headDim]` (head-major, so one head's tokens are
 * contiguous: the layout attention reads and quantizers group by). Keys are stored *after* RoPE,
 * so each token's position is baked into its key; `positions[t]` records it, and a sparse cache
 * (any increasing subset of 0..N-1) stays valid as long as its positions travel with it.
 */
import { KvwireError, ensure } from '../errors.js';

export interface KvShape {
  layers: number;
  kvHeads: number;
  headDim: number;
}

export class KvCache implements KvShape {
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Number of cached tokens T. */
  readonly length: number;
  /** keys[l]: (kvHeads, T, headDim), after RoPE. */
  readonly keys: Float32Array[];
  /** values[l]: (kvHeads, T, headDim). */
  readonly values: Float32Array[];
  /** positions[t]: the RoPE position token t was encoded at; strictly increasing. */
  readonly positions: Int32Array;
  /** tokens[t]: the token id at t. */
  readonly tokens: Int32Array;

  constructor(shape: KvShape, keys: Float32Array[], values: Float32Array[], positions: Int32Array, tokens: Int32Array) {
    const T = positions.length;
    ensure(tokens.length === T, 'CACHE_MISMATCH', `KvCache: ${tokens.length} tokens but ${T} positions`);
    ensure(keys.length === shape.layers && values.length === shape.layers, 'CACHE_MISMATCH',
      `KvCache: expected ${shape.layers} layers of keys and values, got ${keys.length} and ${values.length}`);
    const per = shape.kvHeads * T * shape.headDim;
    for (let l = 0; l < shape.layers; l++) {
      ensure(keys[l].length === per && values[l].length === per, 'CACHE_MISMATCH',
        `KvCache: layer ${l} K/V hold ${keys[l].length}/${values[l].length} floats, expected kvHeads*T*headDim = ${per}`);
    }
    for (let t = 1; t < T; t++) {
      ensure(positions[t] > positions[t - 1], 'CACHE_MISMATCH',
        `KvCache: positions must increase strictly, but positions[${t - 1}]=${positions[t - 1]} >= positions[${t}]=${positions[t]}`);
    }
    this.layers = shape.layers;
    this.kvHeads = shape.kvHeads;
    this.headDim = shape.headDim;
    this.length = T;
    this.keys = keys;
    this.values = values;
    this.positions = positions;
    this.tokens = tokens;
  }

  static empty(shape: KvShape): KvCache {
    const none = () => Array.from({ length: shape.layers }, () => new Float32Array(0));
    return new KvCache(shape, none(), none(), new Int32Array(0), new Int32Array(0));
  }

  get shape(): KvShape {
    return { layers: this.layers, kvHeads: this.kvHeads, headDim: this.headDim };
  }

  /** The position the next token continues at: one past the last cached position. */
  get nextPosition(): number {
    return this.length === 0 ? 0 : this.positions[this.length - 1] + 1;
  }

  /** Float32 bytes of K and V (what an uncompressed float32 cache occupies). */
  get floatBytes(): number {
    return 2 * this.layers * this.kvHeads * this.length * this.headDim * 4;
  }

  /** Bytes of K and V at `bitsPerValue` (16 for the FP16 baseline), without metadata. */
  payloadBytes(bitsPerValue = 16): number {
    return Math.ceil((2 * this.layers * this.kvHeads * this.length * this.headDim * bitsPerValue) / 8);
  }

  /** Keeps the tokens at `indices` (strictly increasing, in 0..T-1), in every layer. */
  gather(indices: ArrayLike<number>): KvCache {
    checkIndices(indices, this.length, 'gather');
    const n = indices.length;
    const D = this.headDim;
    const pick = (src: Float32Array) => {
      const out = new Float32Array(this.kvHeads * n * D);
      for (let h = 0; h < this.kvHeads; h++) {
        const s0 = h * this.length * D;
        const d0 = h * n * D;
        for (let i = 0; i < n; i++) out.set(src.subarray(s0 + indices[i] * D, s0 + indices[i] * D + D), d0 + i * D);
      }
      return out;
    };
    const positions = Int32Array.from(indices, (t) => this.positions[t]);
    const tokens = Int32Array.from(indices, (t) => this.tokens[t]);
    return new KvCache(this.shape, this.keys.map(pick), this.values.map(pick), positions, tokens);
  }

  /** Tokens [start, end) in every layer. */
  slice(start: number, end = this.length): KvCache {
    ensure(start >= 0 && end <= this.length && start <= end, 'BAD_ARGUMENT',
      `KvCache.slice(${start}, ${end}) is out of range for a cache of ${this.length} tokens`);
    return this.gather(Array.from({ length: end - start }, (_, i) => start + i));
  }

  /**
   * Writes `src`'s tokens over this cache's tokens at `indices` and returns the result; used
   * to put fused or dequantized rows back in place. Positions and token ids must agree.
   */
  scatter(indices: ArrayLike<number>, src: KvCache): KvCache {
    checkShape(this, src, 'scatter');
    checkIndices(indices, this.length, 'scatter');
    ensure(indices.length === src.length, 'CACHE_MISMATCH',
      `KvCache.scatter: ${indices.length} indices for a source of ${src.length} tokens`);
    for (let i = 0; i < indices.length; i++) {
      ensure(this.positions[indices[i]] === src.positions[i], 'CACHE_MISMATCH',
        `KvCache.scatter: source token ${i} has position ${src.positions[i]} but target token ${indices[i]} has ${this.positions[indices[i]]}`);
    }
    const D = this.headDim;
    const put = (dst: Float32Array, from: Float32Array) => {
      const out = dst.slice();
      for (let h = 0; h < this.kvHeads; h++) {
        for (let i = 0; i < indices.length; i++) {
          const s = (h * src.length + i) * D;
          out.set(from.subarray(s, s + D), (h * this.length + indices[i]) * D);
        }
      }
      return out;
    };
    return new KvCache(this.shape, this.keys.map((k, l) => put(k, src.keys[l])),
      this.values.map((v, l) => put(v, src.values[l])), this.positions.slice(), this.tokens.slice());
  }

  /** This cache followed by `next` (whose positions must all come after this cache's). */
  concat(next: KvCache): KvCache {
    checkShape(this, next, 'concat');
    const T = this.length + next.length;
    const D = this.headDim;
    const join = (a: Float32Array, b: Float32Array) => {
      const out = new Float32Array(this.kvHeads * T * D);
      for (let h = 0; h < this.kvHeads; h++) {
        out.set(a.subarray(h * this.length * D, (h + 1) * this.length * D), h * T * D);
        out.set(b.subarray(h * next.length * D, (h + 1) * next.length * D), (h * T + this.length) * D);
      }
      return out;
    };
    const positions = new Int32Array(T);
    positions.set(this.positions);
    positions.set(next.positions, this.length);
    const tokens = new Int32Array(T);
    tokens.set(this.tokens);
    tokens.set(next.tokens, this.length);
    return new KvCache(this.shape, this.keys.map((k, l) => join(k, next.keys[l])),
      this.values.map((v, l) => join(v, next.values[l])), positions, tokens);
  }

  /** A deep copy. */
  clone(): KvCache {
    return new KvCache(this.shape, this.keys.map((k) => k.slice()), this.values.map((v) => v.slice()),
      this.positions.slice(), this.tokens.slice());
  }
}

function checkShape(a: KvShape, b: KvShape, op: string): void {
  if (a.layers !== b.layers || a.kvHeads !== b.kvHeads || a.headDim !== b.headDim) {
    throw new KvwireError('CACHE_MISMATCH',
      `KvCache.${op}: shapes differ (layers/kvHeads/headDim ${a.layers}/${a.kvHeads}/${a.headDim} vs ${b.layers}/${b.kvHeads}/${b.headDim})`);
  }
}

function checkIndices(indices: ArrayLike<number>, T: number, op: string): void {
  for (let i = 0; i < indices.length; i++) {
    const t = indices[i];
    ensure(Number.isInteger(t) && t >= 0 && t < T, 'BAD_ARGUMENT', `KvCache.${op}: index ${t} is outside 0..${T - 1}`);
    ensure(i === 0 || t > indices[i - 1], 'BAD_ARGUMENT', `KvCache.${op}: indices must increase strictly (index ${i})`);
  }
}
