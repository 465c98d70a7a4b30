import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvCache } from '../kv/index.js';
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
});
