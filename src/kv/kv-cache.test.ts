import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvwireError } from '../errors.js';
import { KvCache } from './kv-cache.js';

const shape = { layers: 2, kvHeads: 3, headDim: 4 };
/** A cache whose every value encodes (layer, K/V, head, position, dim), so moves are checkable. */
function cacheAt(positions: number[]): KvCache {
  const T = positions.length;
  const fill = (l: number, kv: number) => {
    const a = new Float32Array(shape.kvHeads * T * shape.headDim);
    for (let h = 0; h < shape.kvHeads; h++) {
      for (let t = 0; t < T; t++) {
        for (let d = 0; d < shape.headDim; d++) a[(h * T + t) * shape.headDim + d] = l * 1e5 + kv * 1e4 + h * 1e3 + positions[t] * 10 + d;
      }
    }
    return a;
  };
  return new KvCache(shape, [0, 1].map((l) => fill(l, 0)), [0, 1].map((l) => fill(l, 1)),
    Int32Array.from(positions), Int32Array.from(positions, (p) => 100 + p));
}

test('gather keeps the chosen tokens of every head and layer, with their positions', () => {
  const c = cacheAt([0, 1, 2, 3, 4, 5]);
  const g = c.gather([1, 4, 5]);
  assert.deepEqual(Array.from(g.positions), [1, 4, 5]);
  assert.deepEqual(Array.from(g.tokens), [101, 104, 105]);
  assert.deepEqual(g, cacheAt([1, 4, 5]));
  assert.equal(g.nextPosition, 6);
});

test('slice and concat are inverse', () => {
  const c = cacheAt([0, 2, 3, 7, 9]);
  assert.deepEqual(c.slice(0, 2).concat(c.slice(2)), c);
  assert.deepEqual(c.slice(1, 3), cacheAt([2, 3]));
});

test('scatter writes rows back in place', () => {
  const full = cacheAt([0, 1, 2, 3]);
  const zeros = cacheAt([1, 3]);
  for (const a of [...zeros.keys, ...zeros.values]) a.fill(0);
  const s = full.scatter([1, 3], zeros);
  assert.equal(s.keys[0][1 * 4], 0);           // head 0, token 1
  assert.equal(s.keys[0][0], full.keys[0][0]); // head 0, token 0 untouched
  assert.equal(s.values[1][(2 * 4 + 3) * 4 + 1], 0); // head 2, token 3
  assert.deepEqual(s.gather([0, 2]), full.gather([0, 2]));
});

test('byte sizes', () => {
  const c = cacheAt([0, 1, 2]);
  assert.equal(c.floatBytes, 2 * 2 * 3 * 3 * 4 * 4);
  assert.equal(c.payloadBytes(16), 2 * 2 * 3 * 3 * 4 * 2);
  assert.equal(c.payloadBytes(4), 2 * 2 * 3 * 3 * 4 / 2);
});

test('bad input is refused with a typed error', () => {
  const c = cacheAt([0, 1, 2]);
  const code = (fn: () => unknown, expected: string) =>
    assert.throws(fn, (e: unknown) => e instanceof KvwireError && e.code === expected);
  code(() => c.gather([2, 1]), 'BAD_ARGUMENT');
  code(() => c.gather([0, 3]), 'BAD_ARGUMENT');
  code(() => c.slice(2, 5), 'BAD_ARGUMENT');
  code(() => cacheAt([3, 2]), 'CACHE_MISMATCH');
  code(() => new KvCache(shape, c.keys, c.values.slice(0, 1), c.positions, c.tokens), 'CACHE_MISMATCH');
  code(() => c.concat(new KvCache({ ...shape, headDim: 2 }, [new Float32Array(0), new Float32Array(0)], [new Float32Array(0), new Float32Array(0)], new Int32Array(0), new Int32Array(0))), 'CACHE_MISMATCH');
});
