/**
 * A growing, token-major (T, kvHeads, headDim) K/V store per layer: the layout the graph reads
 * and writes, so a decode step appends its new K/V in place and feeds a prefix view back without
 * copying. KvCache (head-major) is the public currency; conversion happens once at the edges.
 */
import { KvwireError } from '../errors.js';
import { KvCache, type FloatPool, type KvShape } from '../kv/index.js';
import { wasm, wasmHeadsToTokens } from '../quant/wasm/kernels.js';

export class KvBuffer {
  readonly shape: KvShape;
  length = 0;
  private capacity: number;
  private keys: Float32Array[];
  private values: Float32Array[];
  private pos: Int32Array;
  private tok: Int32Array;
  private released = false;

  /**
   * With a `pool`, the layer arrays come from it when it holds arrays of this size (their stale
   * contents are never read: only rows below `length` are, and each is written first).
   */
  constructor(shape: KvShape, capacity = 64, pool?: FloatPool) {
    this.shape = shape;
    this.capacity = Math.max(1, capacity);
    const n = this.capacity * shape.kvHeads * shape.headDim;
    const layer = () => pool?.take(n) ?? new Float32Array(n);
    this.keys = Array.from({ length: shape.layers }, layer);
    this.values = Array.from({ length: shape.layers }, layer);
    this.pos = new Int32Array(this.capacity);
    this.tok = new Int32Array(this.capacity);
  }

  static fromCache(cache: KvCache, extra = 64, pool?: FloatPool): KvBuffer {
    const buf = new KvBuffer(cache.shape, cache.length + extra, pool);
    const { kvHeads: KV, headDim: D } = cache;
    const T = cache.length;
    const kernels = T * KV * D >= 256 ? wasm() : null;
    for (let l = 0; l < cache.layers; l++) {
      const k = cache.keys[l];
      const v = cache.values[l];
      const bk = buf.keys[l];
      const bv = buf.values[l];
      if (kernels) { // WebAssembly SIMD, block by block (quant/wasm/kernels.ts): same values
        wasmHeadsToTokens(kernels, k, bk, KV, T, D);
        wasmHeadsToTokens(kernels, v, bv, KV, T, D);
        continue;
      }
      // Head-major -> token-major with plain loops: a subarray + set per (head, token) row cost
      // more than the copy itself (two objects per 64-float row).
      for (let h = 0; h < KV; h++) {
        for (let t = 0; t < T; t++) {
          const src = (h * T + t) * D;
          const dst = (t * KV + h) * D;
          for (let d = 0; d < D; d++) {
            bk[dst + d] = k[src + d];
            bv[dst + d] = v[src + d];
          }
        }
      }
    }
    buf.pos.set(cache.positions);
    buf.tok.set(cache.tokens);
    buf.length = T;
    return buf;
  }

  /**
   * Hands the layer arrays to `pool` for the next buffer of this size; the buffer is unusable
   * afterwards (append throws; Sequence refuses every call once closed).
   */
  release(pool: FloatPool): void {
    pool.give([...this.keys, ...this.values]);
    this.keys = this.values = [];
    this.length = this.capacity = 0;
    this.released = true;
  }

  get positions(): Int32Array {
    return this.pos.subarray(0, this.length);
  }

  get tokens(): Int32Array {
    return this.tok.subarray(0, this.length);
  }

  /** Layer l's keys (T, kvHeads, headDim), a view valid until the next append. */
  keyView(l: number): Float32Array {
    return this.keys[l].subarray(0, this.length * this.shape.kvHeads * this.shape.headDim);
  }

  valueView(l: number): Float32Array {
    return this.values[l].subarray(0, this.length * this.shape.kvHeads * this.shape.headDim);
  }

  /** Appends S tokens: newKeys[l], newValues[l] are (S, kvHeads, headDim). */
  append(newKeys: Float32Array[], newValues: Float32Array[], positions: ArrayLike<number>, tokens: ArrayLike<number>): void {
    const S = positions.length;
    const row = this.shape.kvHeads * this.shape.headDim;
    if (this.released) throw new KvwireError('BAD_ARGUMENT', 'KvBuffer.append after release (the sequence was closed)');
    if (this.length + S > this.capacity) this.grow(Math.max(this.length + S, this.capacity * 2));
    for (let l = 0; l < this.shape.layers; l++) {
      this.keys[l].set(newKeys[l], this.length * row);
      this.values[l].set(newValues[l], this.length * row);
    }
    this.pos.set(positions, this.length);
    this.tok.set(tokens, this.length);
    this.length += S;
  }

  /** Tokens [start, end) as a head-major KvCache (a copy). */
  toCache(start = 0, end = this.length): KvCache {
    const { kvHeads: KV, headDim: D } = this.shape;
    const T = end - start;
    const convert = (src: Float32Array) => {
      const out = new Float32Array(KV * T * D);
      for (let t = 0; t < T; t++) {
        for (let h = 0; h < KV; h++) {
          const s = ((start + t) * KV + h) * D;
          out.set(src.subarray(s, s + D), (h * T + t) * D);
        }
      }
      return out;
    };
    return new KvCache(this.shape, this.keys.map(convert), this.values.map(convert),
      this.pos.slice(start, end), this.tok.slice(start, end));
  }

  private grow(capacity: number): void {
    const row = this.shape.kvHeads * this.shape.headDim;
    const regrow = (a: Float32Array) => {
      const b = new Float32Array(capacity * row);
      b.set(a.subarray(0, this.length * row));
      return b;
    };
    this.keys = this.keys.map(regrow);
    this.values = this.values.map(regrow);
    const p = new Int32Array(capacity);
    p.set(this.pos.subarray(0, this.length));
    const t = new Int32Array(capacity);
    t.set(this.tok.subarray(0, this.length));
    this.pos = p;
    this.tok = t;
    this.capacity = capacity;
  }
}
