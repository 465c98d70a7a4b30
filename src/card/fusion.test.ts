/**
 * The FUSION section (cross-model cards, version 1.3): body codec, the container's rules (place,
 * LAYOUT.layers, receiver binding, the fusion hook before any payload), and that cards without it
 * are unchanged.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvwireError } from '../errors.js';
import { CardDecoder, decodeCard } from './decode.js';
import { cardBytes, encodeCard } from './encode.js';
import { OTHER_MODEL, TEST_MODEL, testCache } from './fixtures.js';
import { encodeFusion, fusionLength, readFusion, type FusionSection } from './fusion.js';
import { KIND } from './layout.js';
import { presetPrecision } from './precision.js';

const code = (c: string) => (err: unknown) => err instanceof KvwireError && err.code === c;
const RECEIVER = { ...OTHER_MODEL, id: '1111222233334444', weightsDigest: 'c'.repeat(64), tokenizerDigest: 'bpe-4096' };
const shape = { layers: 3, kvHeads: 2, headDim: 16 };
const section = (o: Partial<FusionSection> = {}): FusionSection => ({
  receiver: { id: RECEIVER.id, weightsDigest: RECEIVER.weightsDigest, tokenizerDigest: RECEIVER.tokenizerDigest },
  fuserDigest: 'ab'.repeat(32), sharerLayers: 7, layerIndex: [1, 4, 6], protocol: 'question-only', bosDropped: true, ...o,
});

describe('FUSION section', () => {
  it('body: round trip, exact size, every field read back; bad bodies refused with the card codes', () => {
    const s = section();
    const body = encodeFusion(s);
    assert.equal(body.length, fusionLength(s));
    assert.equal(body.length, (2 + 16) + (2 + 64) + (2 + 8) + 32 + 2 + 2 + 2 * 3 + 1 + 1);
    assert.deepEqual(readFusion(body), s);
    assert.deepEqual(readFusion(encodeFusion(section({ fuserDigest: null, protocol: 'receiver-side', bosDropped: false }))),
      section({ fuserDigest: null, protocol: 'receiver-side', bosDropped: false }));
    // Byte by byte as docs/cachecard.md lays it out: the tail is u16 Ls, u16 n, u16 layers[n], u8 protocol, u8 flags.
    assert.deepEqual([...body.subarray(body.length - 12)], [7, 0, 3, 0, 1, 0, 4, 0, 6, 0, 0, 1]);
    assert.throws(() => readFusion(body.subarray(0, body.length - 1)), code('CARD_CORRUPT'));
    assert.throws(() => readFusion(new Uint8Array([...body, 0])), code('CARD_CORRUPT'));
    const bent = (at: number, v: number) => { const b = body.slice(); b[at] = v; return b; };
    assert.throws(() => readFusion(bent(body.length - 2, 2)), code('CARD_UNSUPPORTED')); // protocol 2
    assert.throws(() => readFusion(bent(body.length - 1, 3)), code('CARD_UNSUPPORTED')); // flag bit 1
    assert.throws(() => readFusion(bent(body.length - 4, 3)), code('CARD_CORRUPT')); // layers 1, 4, 3: not increasing
    assert.throws(() => readFusion(bent(body.length - 4, 7)), code('CARD_CORRUPT')); // layer 7 of 7
    assert.throws(() => encodeFusion(section({ layerIndex: [3, 2] })), code('BAD_ARGUMENT'));
    assert.throws(() => encodeFusion(section({ fuserDigest: 'xyz' })), code('BAD_ARGUMENT'));
  });

  it('card: written after MODEL, version 1.3, read back with the payload; exact size; other cards stay 1.0', () => {
    const cache = testCache(shape, 9);
    const s = section();
    const card = encodeCard(cache, { model: TEST_MODEL, precision: presetPrecision('fp32', 9), fusion: s, nextPosition: 40 });
    assert.equal(card.bytes.length, cardBytes(shape, 9, presetPrecision('fp32', 9), { model: TEST_MODEL, fusion: s }));
    const kinds = card.sectionOffsets.map((o) => card.bytes[o] | (card.bytes[o + 1] << 8));
    assert.deepEqual(kinds.slice(0, 3), [KIND.MODEL, KIND.FUSION, KIND.LAYOUT]);
    const got = decodeCard(card.bytes);
    assert.equal(got.info.versionMinor, 3);
    assert.deepEqual(got.info.fusion, s);
    assert.deepEqual(got.info.model, TEST_MODEL);
    assert.deepEqual(got.cache.positions, cache.positions);
    for (let l = 0; l < 3; l++) assert.deepEqual(got.cache.values[l], cache.values[l]);
    const plain = decodeCard(encodeCard(cache, { model: TEST_MODEL, precision: presetPrecision('fp32', 9) }).bytes);
    assert.equal(plain.info.versionMinor, 0);
    assert.equal(plain.info.fusion, null);
    // The section must list one sharer layer per cache layer.
    assert.throws(() => encodeCard(cache, { model: TEST_MODEL, precision: presetPrecision('fp32', 9), fusion: section({ layerIndex: [1, 6] }) }), code('BAD_ARGUMENT'));
  });

  it('reader: receiver binding (CARD_MODEL), the fusion hook (NO_FUSER) before any CHUNK byte, and no hook = NO_FUSER', () => {
    const cache = testCache(shape, 9);
    const card = encodeCard(cache, { model: TEST_MODEL, precision: presetPrecision('int8', 9), fusion: section() });
    const firstChunk = card.sectionOffsets[card.sectionOffsets.findIndex((o) => card.bytes[o] === KIND.CHUNK)];
    // Streamed byte by byte: where did the decoder stop?
    const stopsAt = (opts: ConstructorParameters<typeof CardDecoder>[0]) => {
      const dec = new CardDecoder(opts);
      let at = 0;
      try {
        for (; at < card.bytes.length; at++) dec.push(card.bytes.subarray(at, at + 1));
        dec.finish();
      } catch (e) {
        return { at, e };
      }
      return { at, e: null };
    };
    let seen: [string, FusionSection] | null = null;
    const ok = stopsAt({ expectModel: RECEIVER, acceptFusion: (sharer, f) => { seen = [sharer.id, f]; } });
    assert.equal(ok.e, null);
    assert.deepEqual(seen, [TEST_MODEL.id, section()]);
    const noFuser = stopsAt({ expectModel: RECEIVER, acceptFusion: (sharer) => { throw new KvwireError('NO_FUSER', `no fuser for sharer ${sharer.id}`); } });
    assert.ok(code('NO_FUSER')(noFuser.e) && noFuser.at < firstChunk, `refused at byte ${noFuser.at}, first chunk at ${firstChunk}`);
    const wrong = stopsAt({ expectModel: OTHER_MODEL, acceptFusion: () => assert.fail('the hook runs only for this receiver') });
    assert.ok(code('CARD_MODEL')(wrong.e) && wrong.at < firstChunk);
    const noHook = stopsAt({ expectModel: RECEIVER });
    assert.ok(code('NO_FUSER')(noHook.e) && noHook.at < firstChunk);
    assert.match((noHook.e as Error).message, new RegExp(TEST_MODEL.id));
    // Inspection (no expectations) reads it.
    assert.deepEqual(decodeCard(card.bytes).info.fusion, section());
    // A same-model card is still bound to its model when the reader takes cross-model cards too.
    const same = encodeCard(cache, { model: TEST_MODEL, precision: presetPrecision('int8', 9) });
    assert.throws(() => decodeCard(same.bytes, { expectModel: RECEIVER, acceptFusion: () => {} }), code('CARD_MODEL'));
    assert.equal(decodeCard(same.bytes, { expectModel: TEST_MODEL, acceptFusion: () => assert.fail('no FUSION') }).info.fusion, null);
  });

  it('reader: FUSION only once, between MODEL and LAYOUT', () => {
    const cache = testCache(shape, 5);
    const body = encodeFusion(section());
    // After TOKENS (extra sections go before the chunks): out of place.
    const late = encodeCard(cache, { model: TEST_MODEL, precision: presetPrecision('fp16', 5), extraSections: [{ kind: KIND.FUSION, required: true, body }] });
    assert.throws(() => decodeCard(late.bytes), code('CARD_CORRUPT'));
    // A second one.
    const twice = encodeCard(cache, { model: TEST_MODEL, precision: presetPrecision('fp16', 5), fusion: section(), extraSections: [{ kind: KIND.FUSION, required: true, body }] });
    assert.throws(() => decodeCard(twice.bytes), code('CARD_CORRUPT'));
    // Flagged optional: corruption (the flag of a known kind is fixed).
    const optional = encodeCard(cache, { model: TEST_MODEL, precision: presetPrecision('fp16', 5), extraSections: [{ kind: KIND.FUSION, required: false, body }] });
    assert.throws(() => decodeCard(optional.bytes), code('CARD_CORRUPT'));
  });
});
