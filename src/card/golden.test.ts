import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { dequantizeCache, quantizeCache } from '../quant/index.js';
import { decodeCard } from './decode.js';
import { GOLDEN_CARD, TEST_KEY, TEST_MODEL, goldenCache } from './fixtures.js';
import { goldenCard } from './make-fixtures.js';

// Changing these is a format change: bump the version and say so in docs/cachecard.md's history.
const GOLDEN_FILE_SHA256 = '63df67b0c93dc1fd10b11728c08175fe8c9724524caf74c93f4d468e750fe576';
const GOLDEN_DIGEST = '95e1bfd3c4e83c6d46df5c8ef50b6d7bdfbca82e2fe3f9cef0d055d0f7b2f28e';

describe('golden card (src/card/testdata/golden-v1.card)', () => {
  const file = new Uint8Array(readFileSync(GOLDEN_CARD));

  it('the committed bytes are the ones pinned here', () => {
    assert.equal(createHash('sha256').update(file).digest('hex'), GOLDEN_FILE_SHA256);
  });

  it('today\'s encoder writes exactly the committed bytes', () => {
    const now = goldenCard().bytes;
    assert.equal(now.length, file.length);
    const first = now.findIndex((b, i) => b !== file[i]);
    assert.equal(first, -1, `first differing byte at offset ${first}`);
  });

  it('decodes to the quantizer\'s values, with its metadata, signature and digest', () => {
    const card = decodeCard(file, { expectModel: TEST_MODEL, key: TEST_KEY });
    assert.equal(card.digest, GOLDEN_DIGEST);
    assert.equal(card.signature, 'verified');
    assert.deepEqual(card.meta, { hops: 1, note: 'golden' });
    assert.deepEqual(Array.from(card.scores!), [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    assert.deepEqual(Array.from(card.cache.positions), [5, 8, 11, 14, 17, 20]);
    assert.equal(card.info.chunkCount, 4);
    const cache = goldenCache();
    // Token blocks of 4: block 0 = tokens 0..3 (class 0), block 1 = tokens 4..5 (class 1, fp16).
    const kivi4 = { keys: { format: 'int4', scheme: 'asym', axis: 'channel', group: 64 }, values: { format: 'int4', scheme: 'asym', axis: 'token' } } as const;
    const want = dequantizeCache(quantizeCache(cache.slice(0, 4), kivi4)).concat(dequantizeCache(quantizeCache(cache.slice(4), { keys: { format: 'fp16' }, values: { format: 'fp16' } })));
    assert.deepEqual(card.cache.keys, want.keys);
    assert.deepEqual(card.cache.values, want.values);
  });
});
