import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvwireError } from '../errors.js';
import { KvCache } from '../kv/kv-cache.js';
import { floatToHalf, halfToFloat } from '../util/fp16.js';
import { errorBounds, type QuantizedSection } from './codec.js';
import { dequantizeCache, fakeQuantizeCache, kivi, quantizeCache, quantizedCacheBytes } from './cache.js';
import { createRng, fillNormal } from '../util/random.js';
import { sectionBytes } from './spec.js';

const shape = { layers: 3, kvHeads: 2, headDim: 8 };

function makeCache(T: number, seed = 1): KvCache {
  const rng = createRng(seed);
  const per = shape.kvHeads * T * shape.headDim;
  const layer = () => fillNormal(new Float32Array(per), rng, 0, 2);
  return new KvCache(shape, [layer(), layer(), layer()], [layer(), layer(), layer()],
    Int32Array.from({ length: T }, (_, t) => 3 * t + 5), Int32Array.from({ length: T }, (_, t) => 1000 + t));
}

/** Element-wise check that `got` is within each section's bound of `want`, head by head. */
function assertWithinBounds(want: Float32Array, got: Float32Array, heads: { body: QuantizedSection | null; recent: QuantizedSection | null }[]): void {
  const size = want.length / heads.length;
  heads.forEach((h, k) => {
    const bound = [...(h.body ? errorBounds(h.body) : []), ...(h.recent ? errorBounds(h.recent) : [])];
    for (let i = 0; i < size; i++) {
      assert.ok(Math.abs(want[k * size + i] - got[k * size + i]) <= bound[i], `head ${k} element ${i}`);
    }
  });
}

describe('quantizeCache', () => {
  it('quantizes per layer and head, within bounds, keeping positions and tokens', () => {
    const cache = makeCache(21);
    for (const format of ['int8', 'int4', 'int2', 'nf4'] as const) {
      const q = quantizeCache(cache, kivi(format));
      const back = dequantizeCache(q);
      assert.deepEqual(back.positions, cache.positions);
      assert.deepEqual(back.tokens, cache.tokens);
      assert.deepEqual(back.shape, cache.shape);
      for (let l = 0; l < shape.layers; l++) {
        assertWithinBounds(cache.keys[l], back.keys[l], q.keys[l]);
        assertWithinBounds(cache.values[l], back.values[l], q.values[l]);
      }
      assert.deepEqual(fakeQuantizeCache(cache, kivi(format)), back);
      const perHead = sectionBytes(q.options.keys, 21, 8).total + sectionBytes(q.options.values, 21, 8).total;
      assert.equal(quantizedCacheBytes(q), shape.layers * shape.kvHeads * perHead);
    }
  });

  it('KIVI keeps the last R tokens bit-exact in fp16', () => {
    const cache = makeCache(30, 2);
    const R = 7;
    const q = quantizeCache(cache, kivi('int2', { group: 4, recentWindow: R }));
    assert.deepEqual(q.keys[0][0].body!.spec, { format: 'int2', scheme: 'asym', axis: 'channel', group: 4 });
    assert.deepEqual(q.values[0][0].body!.spec, { format: 'int2', scheme: 'asym', axis: 'group', group: 4 });
    const back = dequantizeCache(q);
    const D = shape.headDim;
    for (let l = 0; l < shape.layers; l++) {
      for (const [orig, got] of [[cache.keys[l], back.keys[l]], [cache.values[l], back.values[l]]]) {
        for (let h = 0; h < shape.kvHeads; h++) {
          for (let t = 30 - R; t < 30; t++) {
            for (let d = 0; d < D; d++) {
              const i = (h * 30 + t) * D + d;
              assert.equal(got[i], halfToFloat(floatToHalf(orig[i])), `layer ${l} head ${h} token ${t}`);
            }
          }
        }
      }
      assertWithinBounds(cache.keys[l], back.keys[l], q.keys[l]);
    }
    // A window longer than the cache keeps everything in fp16.
    const all = quantizeCache(cache, kivi('int4', { recentWindow: 100 }));
    assert.equal(all.recentWindow, 30);
    assert.equal(all.keys[1][1].body, null);
    assert.deepEqual(dequantizeCache(all).values[2], cache.values[2].map((x) => halfToFloat(floatToHalf(x))));
  });

  it('handles an empty cache', () => {
    const empty = KvCache.empty(shape);
    const back = dequantizeCache(quantizeCache(empty, kivi('int4')));
    assert.equal(back.length, 0);
  });

  it('names the layer and head of a non-finite value', () => {
    const cache = makeCache(5);
    cache.values[1][5 * 8 + 3] = NaN; // head 1, token 0, channel 3
    assert.throws(() => quantizeCache(cache, kivi('int8')), (e: unknown) =>
      e instanceof KvwireError && e.code === 'NON_FINITE' && e.message.includes('values[layer 1, head 1]'));
  });

  it('rejects bad options and malformed quantized caches', () => {
    const cache = makeCache(6);
    assert.throws(() => quantizeCache(cache, { ...kivi('int4'), recentWindow: -1 }),
      (e: unknown) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT');
    const q = quantizeCache(cache, kivi('int4', { recentWindow: 2 }));
    const badFormat = (e: unknown) => e instanceof KvwireError && e.code === 'BAD_FORMAT';
    assert.throws(() => dequantizeCache({ ...q, keys: q.keys.slice(1) }), badFormat);
    assert.throws(() => dequantizeCache({ ...q, recentWindow: 3 }), badFormat);
    assert.throws(() => dequantizeCache({ ...q, values: q.values.map((l) => l.map((h) => ({ ...h, recent: null }))) }), badFormat);
  });
});
