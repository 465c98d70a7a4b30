import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FloatPool, KvCache } from '../kv/index.js';
import { KvwireError } from '../errors.js';
import { createRng, fillNormal } from '../quant/index.js';
import { KvBuffer } from './kv-buffer.js';

describe('KvBuffer.fromCache (head-major -> token-major)', () => {
  it('puts [h, t, d] at [t, h, d] and round-trips through toCache bit for bit', () => {
    const rng = createRng(2);
    for (const [layers, kvHeads, headDim, T] of [[1, 1, 1, 1], [2, 3, 5, 7], [3, 2, 64, 40]]) {
      const per = kvHeads * T * headDim;
      const cache = new KvCache({ layers, kvHeads, headDim }, Array.from({ length: layers }, () => fillNormal(new Float32Array(per), rng)),
        Array.from({ length: layers }, () => fillNormal(new Float32Array(per), rng)), Int32Array.from({ length: T }, (_, t) => 2 * t), Int32Array.from({ length: T }, (_, t) => t + 9));
      const buf = KvBuffer.fromCache(cache);
      for (let l = 0; l < layers; l++) {
        const k = buf.keyView(l);
        const v = buf.valueView(l);
        for (let h = 0; h < kvHeads; h++) {
          for (let t = 0; t < T; t++) {
            for (let d = 0; d < headDim; d++) {
              assert.ok(Object.is(k[(t * kvHeads + h) * headDim + d], cache.keys[l][(h * T + t) * headDim + d]));
              assert.ok(Object.is(v[(t * kvHeads + h) * headDim + d], cache.values[l][(h * T + t) * headDim + d]));
            }
          }
        }
      }
      const back = buf.toCache();
      assert.deepEqual(back.keys, cache.keys);
      assert.deepEqual(back.values, cache.values);
      assert.deepEqual(back.positions, cache.positions);
    }
  });

  it('reuses pooled arrays without reading their stale contents, and refuses appends after release', () => {
    const rng = createRng(3);
    const [layers, kvHeads, headDim, T] = [2, 2, 8, 10];
    const per = kvHeads * T * headDim;
    const cache = new KvCache({ layers, kvHeads, headDim }, Array.from({ length: layers }, () => fillNormal(new Float32Array(per), rng)),
      Array.from({ length: layers }, () => fillNormal(new Float32Array(per), rng)), Int32Array.from({ length: T }, (_, t) => t), Int32Array.from({ length: T }, (_, t) => t));
    const pool = new FloatPool();
    const size = (T + 4) * kvHeads * headDim;
    const poisoned = Array.from({ length: 2 * layers }, () => new Float32Array(size).fill(NaN));
    pool.give(poisoned);
    const buf = KvBuffer.fromCache(cache, 4, pool);
    assert.equal(pool.bytes, 0, 'every layer array came from the pool');
    const fresh = KvBuffer.fromCache(cache, 4);
    const row = kvHeads * headDim;
    const newRows = () => Array.from({ length: layers }, () => fillNormal(new Float32Array(3 * row), createRng(9)));
    for (const b of [buf, fresh]) b.append(newRows(), newRows(), [20, 21, 22], [1, 2, 3]);
    for (let l = 0; l < layers; l++) {
      assert.deepEqual(buf.keyView(l), fresh.keyView(l));
      assert.deepEqual(buf.valueView(l), fresh.valueView(l));
    }
    assert.deepEqual(buf.toCache(), fresh.toCache());
    buf.release(pool);
    assert.equal(pool.bytes, 2 * layers * size * 4, 'released arrays are back in the pool');
    assert.throws(() => buf.append(newRows(), newRows(), [23, 24, 25], [1, 2, 3]), (e) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT');
  });
});
