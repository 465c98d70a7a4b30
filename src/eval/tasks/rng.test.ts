import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hash32, Rng, rngFor } from './rng.js';

test('hash32 is stable and spreads nearby strings', () => {
  assert.equal(hash32('kvwire'), hash32('kvwire'));
  assert.notEqual(hash32('a'), hash32('b'));
  assert.ok(hash32('') >= 0 && hash32('x') < 2 ** 32);
});

test('Rng: same seed same stream, different seed different stream', () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const sa = Array.from({ length: 8 }, () => a.next());
  assert.deepEqual(sa, Array.from({ length: 8 }, () => b.next()));
  assert.notDeepEqual(sa, Array.from({ length: 8 }, () => c.next()));
  assert.deepEqual(rngFor('x', 1).shuffle([1, 2, 3, 4, 5, 6]), rngFor('x', 1).shuffle([1, 2, 3, 4, 5, 6]));
});

test('Rng.int stays in range and hits both ends', () => {
  const r = new Rng(1);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const v = r.int(3, 7);
    assert.ok(v >= 3 && v <= 7 && Number.isInteger(v));
    seen.add(v);
  }
  assert.deepEqual([...seen].sort(), [3, 4, 5, 6, 7]);
  assert.throws(() => r.int(5, 4), RangeError);
});

test('Rng.shuffle is a permutation; sample gives distinct items', () => {
  const r = new Rng(9);
  const items = Array.from({ length: 50 }, (_, i) => i);
  assert.deepEqual(r.shuffle(items).sort((x, y) => x - y), items);
  const s = r.sample(items, 20);
  assert.equal(new Set(s).size, 20);
  assert.throws(() => r.sample([1, 2], 3), RangeError);
});
