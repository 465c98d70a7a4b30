import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FloatPool } from './float-pool.js';

describe('FloatPool', () => {
  it('hands back arrays of the asked size, newest first, and nothing it was not given', () => {
    const pool = new FloatPool();
    const [a, b, c] = [new Float32Array(8), new Float32Array(8), new Float32Array(4)];
    pool.give([a, b, c, a, new Float32Array(16).subarray(0, 8), new Float32Array(new SharedArrayBuffer(32))]);
    assert.equal(pool.bytes, 4 * (8 + 8 + 4), 'duplicates, views and shared memory are not pooled');
    assert.equal(pool.take(8), b);
    assert.equal(pool.take(8), a);
    assert.equal(pool.take(8), null);
    assert.equal(pool.take(4), c);
    assert.equal(pool.bytes, 0);
  });

  it('stays within maxBytes by dropping the oldest arrays, of any size', () => {
    const pool = new FloatPool(4 * 20);
    const [a, b, c] = [new Float32Array(8), new Float32Array(6), new Float32Array(10)];
    pool.give([a, b]);
    pool.give([c]); // 8 + 6 + 10 > 20: a (the oldest) goes
    assert.equal(pool.bytes, 4 * 16);
    assert.equal(pool.take(8), null);
    assert.equal(pool.take(6), b);
    assert.equal(pool.take(10), c);
    pool.give([new Float32Array(21)]); // larger than the whole pool: refused
    assert.equal(pool.bytes, 0);
  });
});
