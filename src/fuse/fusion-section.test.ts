import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { KvwireError } from '../errors.js';
import { repoRoot } from '../util/data.js';
import { decodeFusionSection, encodeFusionSection, fuserFileDigest, fuserForCard, fusionSectionFor } from './fusion-section.js';
import { loadFusers } from './registry.js';

const dir = join(repoRoot, 'models', 'fusers');
const code = (c: string) => (err: unknown) => err instanceof KvwireError && err.code === c;

test('FUSION section: round trip, exact size, digest of the fuser file', () => {
  const [f] = loadFusers(dir);
  const digest = fuserFileDigest(join(dir, 'kvw-llama-17m--kvw-llama-6m', 'fuser.safetensors'));
  const s = fusionSectionFor(f, { fuserDigest: digest });
  const bytes = encodeFusionSection(s);
  assert.equal(bytes.length, 3 * 2 + 16 + 64 + 64 + 32 + 4 + 2 * s.layerIndex.length + 2);
  assert.deepEqual(decodeFusionSection(bytes), s);
  assert.deepEqual(decodeFusionSection(encodeFusionSection({ ...s, fuserDigest: null, protocol: 'receiver-side', bosDropped: false })).fuserDigest, null);
  // The codec is src/card's: untrusted bodies fail with the card's codes.
  assert.throws(() => decodeFusionSection(bytes.subarray(0, bytes.length - 1)), code('CARD_CORRUPT'));
  assert.throws(() => decodeFusionSection(new Uint8Array([...bytes, 0])), code('CARD_CORRUPT'));
  const bent = bytes.slice();
  bent[bytes.length - 2] = 7;
  assert.throws(() => decodeFusionSection(bent), code('CARD_UNSUPPORTED'));
  assert.throws(() => encodeFusionSection({ ...s, layerIndex: [3, 2] }), code('BAD_ARGUMENT'));
});

test('FUSION section: the reader finds the fuser, or refuses with NO_FUSER / CARD_MODEL', () => {
  const fusers = loadFusers(dir);
  for (const f of fusers) {
    const s = fusionSectionFor(f);
    assert.equal(fuserForCard(fusers, f.sharer, f.receiver, s), f);
    // A card from a sharer this receiver has no fuser for.
    assert.throws(() => fuserForCard(fusers, { ...f.sharer, id: '0000000000000000' }, f.receiver, s), code('NO_FUSER'));
    // A card meant for another receiver.
    assert.throws(() => fuserForCard(fusers, f.sharer, f.receiver, { ...s, receiver: { ...s.receiver, id: 'ffffffffffffffff' } }), code('CARD_MODEL'));
    // Layers other than the fuser reads.
    assert.throws(() => fuserForCard(fusers, f.sharer, f.receiver, { ...s, layerIndex: s.layerIndex.slice(1) }), code('NO_FUSER'));
  }
});
