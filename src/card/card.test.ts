import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvwireError, type KvwireErrorCode } from '../errors.js';
import type { KvCache } from '../kv/index.js';
import { decode, dequantizeCache, encode, quantizeCache, type QuantSpec } from '../quant/index.js';
import { CardDecoder, decodeCard } from './decode.js';
import { cardBytes, encodeCard } from './encode.js';
import { OTHER_MODEL, TEST_KEY, TEST_MODEL, testCache } from './fixtures.js';
import { presetPrecision } from './precision.js';
import { DROPPED, padded } from './layout.js';

const shape = { layers: 3, kvHeads: 2, headDim: 16 };
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function assertSameCache(got: KvCache, want: KvCache): void {
  assert.deepEqual(got.shape, want.shape);
  assert.deepEqual(got.positions, want.positions);
  assert.deepEqual(got.tokens, want.tokens);
  for (let l = 0; l < want.layers; l++) {
    assert.ok(bits(got.keys[l]).equals(bits(want.keys[l])), `keys of layer ${l} differ`);
    assert.ok(bits(got.values[l]).equals(bits(want.values[l])), `values of layer ${l} differ`);
  }
}

function expectCode(fn: () => unknown, codes: KvwireErrorCode[], what: string): KvwireErrorCode {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KvwireError, `${what}: threw ${(e as Error)?.message}, not a KvwireError`);
    assert.ok(codes.includes(e.code), `${what}: code ${e.code} (${e.message}), expected ${codes.join('|')}`);
    return e.code;
  }
  assert.fail(`${what}: no error`);
}

const SPECS: QuantSpec[] = [{ format: 'fp32' }, { format: 'fp16' }];
for (const format of ['int8', 'int4', 'int2'] as const) {
  for (const scheme of ['sym', 'asym'] as const) {
    SPECS.push({ format, scheme, axis: 'token' }, { format, scheme, axis: 'channel' }, { format, scheme, axis: 'channel', group: 5 },
      { format, scheme, axis: 'head' }, { format, scheme, axis: 'group', group: 4 });
  }
}
SPECS.push({ format: 'nf4', scheme: 'sym', axis: 'token' }, { format: 'nf4', scheme: 'sym', axis: 'channel' },
  { format: 'nf4', scheme: 'sym', axis: 'head' }, { format: 'nf4', scheme: 'sym', axis: 'group', group: 8 });

describe('CacheCard round trip', () => {
  const cache = testCache(shape, 23);

  it('is bit-exact with the quantizer for every format, scheme and axis', () => {
    for (const spec of SPECS) {
      const keys = spec;
      const values: QuantSpec = spec.format === 'fp32' ? spec : { format: 'fp16' };
      for (const layerGroup of [1, 2]) {
        const card = encodeCard(cache, { model: TEST_MODEL, precision: { classes: [{ keys, values }] }, layerGroup });
        const got = decodeCard(card.bytes, { expectModel: TEST_MODEL });
        assertSameCache(got.cache, dequantizeCache(quantizeCache(cache, { keys, values })));
        assert.equal(got.nextPosition, cache.nextPosition);
        assert.equal(got.digest, card.digest);
        assert.equal(card.bytes.length, cardBytes(cache.shape, cache.length, { classes: [{ keys, values }] }, { model: TEST_MODEL, layerGroup }));
      }
    }
  });

  it('keeps fp32 exactly', () => {
    const got = decodeCard(encodeCard(cache, { model: TEST_MODEL, precision: presetPrecision('fp32', 23) }).bytes);
    assertSameCache(got.cache, cache);
  });

  it('codes mixed-precision classes in token blocks and per-layer specs as the quantizer does per block', () => {
    const tokenClass = Uint8Array.from({ length: 23 }, (_, t) => (t * 7) % 3);
    const classes = [
      { keys: [{ format: 'int4', scheme: 'asym', axis: 'channel' }, { format: 'int8', scheme: 'sym', axis: 'token' }, { format: 'fp16' }] as QuantSpec[], values: { format: 'int4', scheme: 'asym', axis: 'token' } as QuantSpec },
      { keys: { format: 'int2', scheme: 'asym', axis: 'channel' } as QuantSpec, values: { format: 'nf4', scheme: 'sym', axis: 'token' } as QuantSpec },
      { keys: { format: 'fp16' } as QuantSpec, values: { format: 'fp16' } as QuantSpec },
    ];
    const tokenBlock = 8;
    const card = encodeCard(cache, { model: TEST_MODEL, precision: { classes, tokenClass }, tokenBlock, layerGroup: 2 });
    const got = decodeCard(card.bytes).cache;
    const D = shape.headDim;
    for (let l = 0; l < shape.layers; l++) {
      for (const kv of ['keys', 'values'] as const) {
        for (let h = 0; h < shape.kvHeads; h++) {
          for (let start = 0; start < 23; start += tokenBlock) {
            for (let c = 0; c < 3; c++) {
              const rows = Array.from({ length: Math.min(tokenBlock, 23 - start) }, (_, k) => start + k).filter((t) => tokenClass[t] === c);
              if (!rows.length) continue;
              const specOf = classes[c][kv];
              const spec = Array.isArray(specOf) ? specOf[l] : specOf;
              const src = new Float32Array(rows.length * D);
              rows.forEach((t, k) => src.set(cache[kv][l].subarray((h * 23 + t) * D, (h * 23 + t + 1) * D), k * D));
              const want = decode(encode(spec, src, rows.length, D));
              rows.forEach((t, k) => assert.ok(bits(got[kv][l].subarray((h * 23 + t) * D, (h * 23 + t + 1) * D)).equals(bits(want.subarray(k * D, (k + 1) * D))),
                `${kv} layer ${l} head ${h} token ${t}`));
            }
          }
        }
      }
    }
  });

  it('codes per-layer class maps (a precision per layer and token)', () => {
    const maps = [0, 1, 2].map((l) => Uint8Array.from({ length: 23 }, (_, t) => (t + l) % 2));
    const classes = [
      { keys: { format: 'int4', scheme: 'asym', axis: 'token' } as QuantSpec, values: { format: 'int2', scheme: 'asym', axis: 'token' } as QuantSpec },
      { keys: { format: 'fp16' } as QuantSpec, values: { format: 'int8', scheme: 'sym', axis: 'token' } as QuantSpec },
    ];
    const card = encodeCard(cache, { model: TEST_MODEL, precision: { classes, tokenClass: maps }, tokenBlock: 10 });
    const got = decodeCard(card.bytes).cache;
    const D = shape.headDim;
    for (let l = 0; l < 3; l++) {
      for (let start = 0; start < 23; start += 10) {
        for (const c of [0, 1]) {
          const rows = Array.from({ length: Math.min(10, 23 - start) }, (_, k) => start + k).filter((t) => maps[l][t] === c);
          const src = new Float32Array(rows.length * D);
          rows.forEach((t, k) => src.set(cache.values[l].subarray((23 + t) * D, (23 + t + 1) * D), k * D)); // head 1
          const want = decode(encode(classes[c].values, src, rows.length, D));
          rows.forEach((t, k) => assert.ok(bits(got.values[l].subarray((23 + t) * D, (23 + t + 1) * D)).equals(bits(want.subarray(k * D, (k + 1) * D))), `layer ${l} token ${t}`));
        }
      }
    }
    // identical maps in every layer collapse to one shared map
    const same = encodeCard(cache, { model: TEST_MODEL, precision: { classes, tokenClass: [maps[0], maps[0], maps[0]] } });
    const shared = encodeCard(cache, { model: TEST_MODEL, precision: { classes, tokenClass: maps[0] } });
    assert.equal(same.digest, shared.digest);
  });

  it('codes per-head class maps (mapScope 3 packed, and 2 as bytes): each head its own rows, DROPPED entries absent and zero', () => {
    const N = 23;
    const D = shape.headDim;
    // layer l, head h: class (t + h) % 2, and every third token (offset by l + h) dropped
    const headClass = [0, 1, 2].map((l) => Uint8Array.from({ length: 2 * N }, (_, j) => {
      const h = Math.floor(j / N);
      const t = j % N;
      return (t + l + h) % 3 === 0 ? DROPPED : (t + h) % 2;
    }));
    const classes = [
      { keys: { format: 'int4', scheme: 'asym', axis: 'group', group: 4 } as QuantSpec, values: { format: 'int8', scheme: 'asym', axis: 'token' } as QuantSpec },
      { keys: { format: 'fp16' } as QuantSpec, values: { format: 'int2', scheme: 'asym', axis: 'token' } as QuantSpec },
    ];
    const card = encodeCard(cache, { model: TEST_MODEL, precision: { classes, headClass }, tokenBlock: 10 });
    assert.equal(card.bytes.length, cardBytes(shape, N, { classes, headClass }, { model: TEST_MODEL, tokenBlock: 10 }));
    const got = decodeCard(card.bytes);
    assert.equal(got.info.versionMinor, 2, 'a bit-packed per-head card is version 1.2');
    const asBytes = encodeCard(cache, { model: TEST_MODEL, precision: { classes, headClass }, tokenBlock: 10, headMap: 'bytes' });
    assert.equal(asBytes.bytes.length, cardBytes(shape, N, { classes, headClass }, { model: TEST_MODEL, tokenBlock: 10, headMap: 'bytes' }));
    const got1 = decodeCard(asBytes.bytes);
    assert.equal(got1.info.versionMinor, 1, 'a byte-map per-head card is version 1.1');
    // 2 classes + DROPPED: 2 bits per entry instead of 8
    assert.equal(asBytes.bytes.length - card.bytes.length, padded(8 * N + 3 * 2 * N) - padded(8 * N + Math.ceil((3 * 2 * N * 2) / 8)));
    assertSameCache(got1.cache, got.cache);
    assert.deepEqual(got1.absent, got.absent);
    assert.equal(decodeCard(encodeCard(cache, { model: TEST_MODEL, precision: { classes } }).bytes).info.versionMinor, 0);
    assert.deepEqual(got.absent, headClass.map((m) => m.map((c) => (c === DROPPED ? 1 : 0))));
    for (let l = 0; l < 3; l++) {
      for (let h = 0; h < 2; h++) {
        for (let start = 0; start < N; start += 10) {
          for (const c of [0, 1]) {
            const rows = Array.from({ length: Math.min(10, N - start) }, (_, k) => start + k).filter((t) => headClass[l][h * N + t] === c);
            if (!rows.length) continue;
            const src = new Float32Array(rows.length * D);
            rows.forEach((t, k) => src.set(cache.keys[l].subarray((h * N + t) * D, (h * N + t + 1) * D), k * D));
            const want = decode(encode(classes[c].keys, src, rows.length, D));
            rows.forEach((t, k) => assert.ok(bits(got.cache.keys[l].subarray((h * N + t) * D, (h * N + t + 1) * D)).equals(bits(want.subarray(k * D, (k + 1) * D))), `layer ${l} head ${h} token ${t}`));
          }
        }
        for (let t = 0; t < N; t++) {
          if (headClass[l][h * N + t] !== DROPPED) continue;
          assert.ok(got.cache.values[l].subarray((h * N + t) * D, (h * N + t + 1) * D).every((x) => x === 0), `dropped layer ${l} head ${h} token ${t}`);
        }
      }
    }
    // a class byte that is neither a class nor DROPPED, even with valid hashes, is CARD_CORRUPT;
    // a headClass that says so is refused at encode time
    const bad = headClass.map((m) => m.slice());
    bad[1][5] = 7;
    expectCode(() => encodeCard(cache, { model: TEST_MODEL, precision: { classes, headClass: bad } }), ['BAD_ARGUMENT'], 'class 7 of 2');
    // a preset name where a plan belongs (JavaScript callers) is a typed error that names the fix
    assert.throws(() => encodeCard(cache, { model: TEST_MODEL, precision: 'int4' as never }),
      (e: unknown) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT' && e.message.includes('presetPrecision("int4", tokens)'));
  });

  it('KIVI with an fp16 recent window equals quantizeCache with the same window', () => {
    const card = encodeCard(cache, { model: TEST_MODEL, precision: presetPrecision('int4', 23, 5) });
    const kivi4 = { keys: { format: 'int4', scheme: 'asym', axis: 'channel', group: 64 }, values: { format: 'int4', scheme: 'asym', axis: 'token' } } as const;
    assertSameCache(decodeCard(card.bytes).cache, dequantizeCache(quantizeCache(cache, { ...kivi4, recentWindow: 5 })));
  });

  it('carries META and SCORES, skips unknown optional sections, and handles an empty cache', () => {
    const scores = Float32Array.from({ length: 23 }, (_, t) => t / 10);
    const card = encodeCard(cache, {
      model: TEST_MODEL, precision: presetPrecision('int8', 23), meta: { hops: 2, method: 'q2c' }, scores, nextPosition: 500,
      extraSections: [{ kind: 0x4242, required: false, body: Uint8Array.from([1, 2, 3]) }],
    });
    const got = decodeCard(card.bytes);
    assert.deepEqual(got.meta, { hops: 2, method: 'q2c' });
    assert.deepEqual(got.scores, scores);
    assert.deepEqual(got.skipped, [0x4242]);
    assert.equal(got.nextPosition, 500);
    const empty = cache.slice(0, 0);
    const e = decodeCard(encodeCard(empty, { model: TEST_MODEL, precision: presetPrecision('int4', 0), nextPosition: 9 }).bytes);
    assert.equal(e.cache.length, 0);
    assert.equal(e.nextPosition, 9);
  });
});

describe('CardDecoder streaming', () => {
  const cache = testCache(shape, 40, 3);
  const card = encodeCard(cache, { model: TEST_MODEL, precision: presetPrecision('int4', 40, 4), meta: { a: 1 } });

  it('gives the same card fed one byte at a time, with layers completing before the last byte', () => {
    const dec = new CardDecoder();
    const seen: Array<[number, number]> = [];
    for (let i = 0; i < card.bytes.length; i++) {
      for (const ev of dec.push(card.bytes.subarray(i, i + 1))) seen.push([ev.from, i]);
    }
    assert.deepEqual(seen.map(([l]) => l), [0, 1, 2]);
    assert.ok(seen[0][1] < card.bytes.length / 2, 'layer 0 was ready before half the card arrived');
    assertSameCache(dec.finish().cache, decodeCard(card.bytes).cache);
  });

  it('resumes from the last verified section after a broken transfer', () => {
    for (const cut of [10, 100, card.sectionOffsets[5] + 60, card.bytes.length - 3]) {
      const dec = new CardDecoder();
      dec.push(card.bytes.subarray(0, cut));
      const from = dec.discardPartial();
      assert.ok(from <= cut);
      dec.push(card.bytes.subarray(from));
      const got = dec.finish();
      assert.equal(got.digest, card.digest);
      assertSameCache(got.cache, decodeCard(card.bytes).cache);
    }
  });
});

describe('CardDecoder refuses bad cards with a typed error', () => {
  const cache = testCache({ layers: 2, kvHeads: 1, headDim: 8 }, 5, 4);
  const card = encodeCard(cache, { model: TEST_MODEL, precision: presetPrecision('int4', 5), meta: { x: 1 } });

  it('any flipped bit', () => {
    for (let i = 0; i < card.bytes.length; i++) {
      const bad = card.bytes.slice();
      bad[i] ^= 1 << (i % 8);
      expectCode(() => decodeCard(bad), ['CARD_CORRUPT', 'CARD_UNSUPPORTED', 'CARD_LIMIT'], `bit ${i % 8} of byte ${i}`);
    }
  });

  it('any truncation', () => {
    for (let n = 0; n < card.bytes.length; n++) {
      expectCode(() => decodeCard(card.bytes.subarray(0, n)), ['CARD_CORRUPT'], `first ${n} bytes`);
    }
  });

  it('a card from another model', () => {
    const other = encodeCard(cache, { model: OTHER_MODEL, precision: presetPrecision('int4', 5) });
    expectCode(() => decodeCard(other.bytes, { expectModel: TEST_MODEL }), ['CARD_MODEL'], 'other model');
  });

  it('a wrong or missing signature', () => {
    const signed = encodeCard(cache, { model: TEST_MODEL, precision: presetPrecision('int4', 5), key: TEST_KEY });
    assert.equal(decodeCard(signed.bytes, { key: TEST_KEY }).signature, 'verified');
    assert.equal(decodeCard(signed.bytes).signature, 'unverified');
    expectCode(() => decodeCard(signed.bytes, { key: 'another key' }), ['CARD_SIGNATURE'], 'wrong key');
    expectCode(() => decodeCard(card.bytes, { key: TEST_KEY }), ['CARD_SIGNATURE'], 'unsigned card');
  });

  it('an unknown required section', () => {
    const bad = encodeCard(cache, { model: TEST_MODEL, precision: presetPrecision('int4', 5), extraSections: [{ kind: 0x4243, required: true, body: new Uint8Array(9) }] });
    expectCode(() => decodeCard(bad.bytes), ['CARD_UNSUPPORTED'], 'unknown required');
  });

  it('cards over the receiver\'s limits, before allocating', () => {
    expectCode(() => decodeCard(card.bytes, { limits: { maxCardBytes: 100 } }), ['CARD_LIMIT'], 'card size');
    expectCode(() => decodeCard(card.bytes, { limits: { maxDecodedBytes: 100 } }), ['CARD_LIMIT'], 'decoded size');
    expectCode(() => decodeCard(card.bytes, { limits: { maxTokens: 4 } }), ['CARD_LIMIT'], 'tokens');
  });

  it('stays failed after an error', () => {
    const dec = new CardDecoder({ expectModel: OTHER_MODEL });
    assert.throws(() => dec.push(card.bytes), (e: KvwireError) => e.code === 'CARD_MODEL');
    assert.throws(() => dec.finish(), (e: KvwireError) => e.code === 'CARD_MODEL');
  });
});
