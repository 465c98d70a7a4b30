import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KvwireError, type KvwireErrorCode } from '../errors.js';
import { FloatPool } from '../kv/index.js';
import { createRng } from '../quant/index.js';
import { repoRoot } from '../util/data.js';
import { decodeCard } from './decode.js';
import { cardBytes, encodeCard } from './encode.js';
import { TEST_MODEL, testCache } from './fixtures.js';
import type { DecodedCard } from './types.js';
import { DROPPED, KIND, PLAN_HEADER, headMapBits, packHeadMap, packedMapBytes, unpackHeadMap, writeStruct, readStruct } from './layout.js';
import { reassemble, splitCard } from './raw.js';
import type { QuantSpec } from '../quant/index.js';

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Every layer's keys and values of two decoded cards, bit for bit. */
function assertSameBits(a: DecodedCard, b: DecodedCard): void {
  for (let l = 0; l < a.cache.layers; l++) {
    assert.ok(bits(a.cache.keys[l]).equals(bits(b.cache.keys[l])), `keys ${l}`);
    assert.ok(bits(a.cache.values[l]).equals(bits(b.cache.values[l])), `values ${l}`);
  }
}

function expectCode(fn: () => unknown, code: KvwireErrorCode, what: string, message?: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KvwireError, `${what}: threw ${(e as Error)?.message}, not a KvwireError`);
    assert.equal(e.code, code, `${what}: ${e.message}`);
    if (message) assert.match(e.message, message);
    return;
  }
  assert.fail(`${what}: no error`);
}

/** A random byte map over C classes with ~60% DROPPED. */
function randomMap(n: number, C: number, seed: number): Uint8Array {
  const rng = createRng(seed);
  return Uint8Array.from({ length: n }, () => (rng() < 0.6 ? DROPPED : Math.floor(rng() * C)));
}

describe('bit-packed per-head class maps (PLAN.mapScope 3)', () => {
  it('uses 1, 2, 4 or 8 bits per entry and round-trips every class count', () => {
    assert.deepEqual([1, 2, 3, 4, 15, 16, 254].map(headMapBits), [1, 2, 2, 4, 4, 8, 8]);
    for (const C of [1, 2, 3, 4, 7, 15, 16, 100, 254]) {
      for (const n of [0, 1, 7, 8, 9, 63, 1001]) {
        const map = randomMap(n, C, 31 * C + n);
        const packed = packHeadMap(map, C);
        assert.equal(packed.length, packedMapBytes(n, C));
        assert.equal(packed.length, Math.ceil((n * headMapBits(C)) / 8));
        const back = new Uint8Array(n);
        assert.equal(unpackHeadMap(packed, n, C, back), -1, `C ${C} n ${n}`);
        assert.deepEqual(back, map, `C ${C} n ${n}`);
      }
    }
  });

  it('writes the documented bytes: entry i at bits (i·b) mod 8 of byte floor(i·b/8), low bits first, DROPPED = C', () => {
    // C = 1: bit set = dropped
    assert.deepEqual(Array.from(packHeadMap(Uint8Array.from([0, DROPPED, DROPPED, 0, 0, 0, 0, 0, DROPPED]), 1)), [0b00000110, 0b00000001]);
    // C = 2 (2 bits): symbols 1, 2 (DROPPED), 0, 1 -> 0b01_00_10_01
    assert.deepEqual(Array.from(packHeadMap(Uint8Array.from([1, DROPPED, 0, 1, DROPPED]), 2)), [0b01001001, 0b00000010]);
    // C = 5 (4 bits): 3, DROPPED (5) -> 0x53
    assert.deepEqual(Array.from(packHeadMap(Uint8Array.from([3, DROPPED]), 5)), [0x53]);
  });

  it('reports a symbol above C and non-zero unused bits', () => {
    const out = new Uint8Array(4);
    assert.equal(unpackHeadMap(Uint8Array.from([0b11_10_01_00]), 4, 2, out), 3, 'symbol 3 > C = 2');
    assert.equal(unpackHeadMap(Uint8Array.from([0b00010000]), 4, 1, out), 4, 'bit 4 set past 4 entries');
    assert.equal(unpackHeadMap(Uint8Array.from([0b00001111]), 4, 1, out), -1);
  });

  const shape = { layers: 4, kvHeads: 2, headDim: 8 };
  const N = 37;
  const cache = testCache(shape, N, 5);
  const int4: QuantSpec = { format: 'int4', scheme: 'asym', axis: 'group', group: 4 };
  const classes = [{ keys: int4, values: int4 }];
  const headClass = Array.from({ length: shape.layers }, (_, l) => randomMap(shape.kvHeads * N, 1, 100 + l));

  it('a one-class per-head card spends L·H·N/8 bytes on its map and decodes like the byte map, bit for bit', () => {
    const packed = encodeCard(cache, { model: TEST_MODEL, precision: { classes, headClass } });
    const bytes = encodeCard(cache, { model: TEST_MODEL, precision: { classes, headClass }, headMap: 'bytes' });
    const tokens = (b: Uint8Array) => splitCard(b).sections.find((s) => s.kind === KIND.TOKENS)!.body.length;
    assert.equal(tokens(packed.bytes), 8 * N + Math.ceil((shape.layers * shape.kvHeads * N) / 8));
    assert.equal(tokens(bytes.bytes), 8 * N + shape.layers * shape.kvHeads * N);
    assert.equal(packed.bytes.length, cardBytes(shape, N, { classes, headClass }, { model: TEST_MODEL }));
    const a = decodeCard(packed.bytes);
    const b = decodeCard(bytes.bytes);
    assert.equal(a.info.versionMinor, 2);
    assert.equal(b.info.versionMinor, 1);
    assert.deepEqual(a.absent, headClass.map((m) => m.map((c) => (c === DROPPED ? 1 : 0))));
    assert.deepEqual(a.absent, b.absent);
    for (let l = 0; l < shape.layers; l++) {
      assert.ok(bits(a.cache.keys[l]).equals(bits(b.cache.keys[l])));
      assert.ok(bits(a.cache.values[l]).equals(bits(b.cache.values[l])));
    }
  });

  it('refuses packed maps with a bad symbol or stray bits (CARD_CORRUPT), and unknown map scopes (CARD_UNSUPPORTED)', () => {
    const two = [{ keys: int4, values: int4 }, { keys: { format: 'fp16' } as QuantSpec, values: { format: 'fp16' } as QuantSpec }];
    const map2 = Array.from({ length: shape.layers }, (_, l) => randomMap(shape.kvHeads * N, 2, 200 + l));
    const edit = (precision: { classes: typeof two; headClass: Uint8Array[] }, kind: number, change: (body: Uint8Array) => void) => {
      const { sections } = splitCard(encodeCard(cache, { model: TEST_MODEL, precision }).bytes);
      const s = sections.find((x) => x.kind === kind)!;
      change(s.body);
      return reassemble(sections).bytes;
    };
    // 2 bits per entry: symbol 3 is neither a class (0, 1) nor DROPPED (2)
    const badSymbol = edit({ classes: two, headClass: map2 }, KIND.TOKENS, (b) => { b[8 * N + 5] |= 0b11000000; });
    expectCode(() => decodeCard(badSymbol), 'CARD_CORRUPT', 'symbol 3 of 2 classes', /TOKENS\.classes\[23\]/);
    // 13 entries of 1 bit: byte 1 uses bits 0..4, bits 5..7 must be zero
    const s13 = testCache({ layers: 1, kvHeads: 1, headDim: 8 }, 13, 8);
    const oneMap = [Uint8Array.from({ length: 13 }, (_, t) => (t % 3 ? 0 : DROPPED))];
    const x = splitCard(encodeCard(s13, { model: TEST_MODEL, precision: { classes: [{ keys: int4, values: int4 }], headClass: oneMap } }).bytes);
    const t13 = x.sections.find((s) => s.kind === KIND.TOKENS)!;
    assert.equal(t13.body.length, 8 * 13 + 2);
    t13.body[t13.body.length - 1] |= 0x20; // entry 13 does not exist
    expectCode(() => decodeCard(reassemble(x.sections).bytes), 'CARD_CORRUPT', 'stray bit', /unused bits/);
    // mapScope 4 is not known to this version
    const scope4 = edit({ classes: two, headClass: map2 }, KIND.PLAN, (b) => {
      const h = readStruct(PLAN_HEADER, b);
      writeStruct(PLAN_HEADER, { ...h, mapScope: 4 }, b);
    });
    expectCode(() => decodeCard(scope4), 'CARD_UNSUPPORTED', 'mapScope 4', /mapScope 4/);
  });

  it('still reads the committed 1.1 card (byte map, mapScope 2) and re-encodes it as 1.2 with the same cache', () => {
    const file = new Uint8Array(readFileSync(join(repoRoot, 'src', 'card', 'testdata', 'per-head-v1.1.card')));
    assert.equal(createHash('sha256').update(file).digest('hex'), 'cb022ed366f029e4f84905aa614292f0b4d35a7c61278fa24efbd50029aba8e1');
    const old = decodeCard(file, { expectModel: TEST_MODEL });
    assert.equal(old.info.versionMinor, 1);
    assert.equal(old.digest, '191af0f542ad49828689f7a831b3fe7d384ccd15b492c94b73cb9865f59f1681');
    // the same cache and plan that made the file (src/card/testdata: 2 layers, 2 heads, 7 tokens, seed 7)
    const N7 = 7;
    const src = testCache({ layers: 2, kvHeads: 2, headDim: 8 }, N7, 7);
    const map = [0, 1].map((l) => Uint8Array.from({ length: 2 * N7 }, (_, j) => {
      const h = Math.floor(j / N7);
      const t = j % N7;
      return (t + l + h) % 3 === 0 ? DROPPED : (t + l) % 2;
    }));
    const cls = [
      { keys: { format: 'int4', scheme: 'asym', axis: 'group', group: 4 } as QuantSpec, values: { format: 'int4', scheme: 'asym', axis: 'token' } as QuantSpec },
      { keys: { format: 'fp16' } as QuantSpec, values: { format: 'fp16' } as QuantSpec },
    ];
    assert.deepEqual(encodeCard(src, { model: TEST_MODEL, precision: { classes: cls, headClass: map }, tokenBlock: 4, headMap: 'bytes' }).bytes, file,
      'today\'s encoder writes the committed 1.1 bytes with headMap: bytes');
    const now = decodeCard(encodeCard(src, { model: TEST_MODEL, precision: { classes: cls, headClass: map }, tokenBlock: 4 }).bytes);
    assert.equal(now.info.versionMinor, 2);
    assert.deepEqual(now.absent, old.absent);
    for (let l = 0; l < 2; l++) {
      assert.ok(bits(now.cache.keys[l]).equals(bits(old.cache.keys[l])));
      assert.ok(bits(now.cache.values[l]).equals(bits(old.cache.values[l])));
    }
  });

  it('refuses a bad headMap option with BAD_ARGUMENT', () => {
    expectCode(() => encodeCard(cache, { model: TEST_MODEL, precision: { classes, headClass }, headMap: 'nibbles' as never }), 'BAD_ARGUMENT', 'headMap');
  });
});

describe('encodeCard({ rows }): a selection encoded from the full cache', () => {
  it('writes the same bytes as encoding the gathered cache, and refuses bad rows', () => {
    const shape = { layers: 3, kvHeads: 2, headDim: 8 };
    const T = 50;
    const cache = testCache(shape, T, 9);
    const rows = Int32Array.from([0, 1, 2, 7, 8, 20, 21, 22, 23, 40, 49]);
    const n = rows.length;
    const headClass = Array.from({ length: shape.layers }, (_, l) => randomMap(shape.kvHeads * n, 1, 400 + l));
    const int4: QuantSpec = { format: 'int4', scheme: 'asym', axis: 'group', group: 4 };
    for (const precision of [{ classes: [{ keys: int4, values: int4 }] }, { classes: [{ keys: int4, values: { format: 'fp16' } as QuantSpec }], headClass }]) {
      const direct = encodeCard(cache, { model: TEST_MODEL, precision, rows, nextPosition: cache.nextPosition, tokenBlock: 4 });
      const gathered = encodeCard(cache.gather(rows), { model: TEST_MODEL, precision, nextPosition: cache.nextPosition, tokenBlock: 4 });
      assert.equal(direct.digest, gathered.digest);
      assert.deepEqual(direct.bytes, gathered.bytes);
    }
    const one = { classes: [{ keys: int4, values: int4 }] };
    expectCode(() => encodeCard(cache, { model: TEST_MODEL, precision: one, rows: Int32Array.from([3, 2]) }), 'BAD_ARGUMENT', 'decreasing rows');
    expectCode(() => encodeCard(cache, { model: TEST_MODEL, precision: one, rows: Int32Array.from([0, T]) }), 'BAD_ARGUMENT', 'row past T');
    expectCode(() => encodeCard(cache, { model: TEST_MODEL, precision: one, rows, nextPosition: cache.positions[49] }), 'BAD_ARGUMENT', 'nextPosition inside the rows');
  });
});

describe('CardDecoder({ pool })', () => {
  it('decodes into pooled arrays exactly as into fresh ones, dropped entries zero even when the pooled arrays were dirty', async () => {
    const shape = { layers: 3, kvHeads: 2, headDim: 8 };
    const N = 29;
    const cache = testCache(shape, N, 12);
    const int4: QuantSpec = { format: 'int4', scheme: 'asym', axis: 'group', group: 4 };
    const headClass = Array.from({ length: shape.layers }, (_, l) => randomMap(shape.kvHeads * N, 1, 500 + l));
    const card = encodeCard(cache, { model: TEST_MODEL, precision: { classes: [{ keys: int4, values: int4 }], headClass } }).bytes;
    const fresh = decodeCard(card);
    const pool = new FloatPool();
    const dirty = Array.from({ length: 2 * shape.layers }, () => new Float32Array(shape.kvHeads * N * shape.headDim).fill(NaN));
    pool.give(dirty);
    assert.equal(pool.bytes, 2 * shape.layers * shape.kvHeads * N * shape.headDim * 4);
    const pooled = decodeCard(card, { pool });
    assert.equal(pool.bytes, 0, 'every array came from the pool');
    for (let l = 0; l < shape.layers; l++) {
      assert.ok(dirty.some((a) => a === pooled.cache.keys[l]) && dirty.some((a) => a === pooled.cache.values[l]));
    }
    assertSameBits(pooled, fresh);
    // arrays of another size, views and shared memory are not taken
    pool.give([new Float32Array(5), new Float32Array(10).subarray(2), new Float32Array(new SharedArrayBuffer(40))]);
    assert.equal(pool.bytes, 20);
    const again = decodeCard(card, { pool });
    assert.ok(bits(again.cache.keys[0]).equals(bits(fresh.cache.keys[0])));
    assert.equal(pool.bytes, 20);
  });

  it('a card without a per-head map overwrites every float of dirty pooled arrays', async () => {
    const shape = { layers: 2, kvHeads: 2, headDim: 8 };
    const N = 21;
    const cache = testCache(shape, N, 13);
    const int4: QuantSpec = { format: 'int4', scheme: 'asym', axis: 'group', group: 4 };
    const int8: QuantSpec = { format: 'int8', scheme: 'asym', axis: 'group', group: 8 };
    // one class, and two classes per token (a per-token map), over token blocks of 8
    for (const precision of [{ classes: [{ keys: int4, values: int4 }] },
      { classes: [{ keys: int4, values: int4 }, { keys: int8, values: int8 }], tokenClass: Uint8Array.from({ length: N }, (_, t) => (t * 7) % 3 === 0 ? 1 : 0) }]) {
      const card = encodeCard(cache, { model: TEST_MODEL, precision, tokenBlock: 8 }).bytes;
      const fresh = decodeCard(card);
      const pool = new FloatPool();
      pool.give(Array.from({ length: 2 * shape.layers }, () => new Float32Array(shape.kvHeads * N * shape.headDim).fill(NaN)));
      const pooled = decodeCard(card, { pool });
      assert.equal(pool.bytes, 0, 'every array came from the pool');
      assertSameBits(pooled, fresh);
    }
  });
});
