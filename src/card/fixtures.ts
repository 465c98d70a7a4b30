/**
 * Deterministic caches and model bindings for the card's tests, golden file and attack files.
 */
import { join } from 'node:path';
import { KvCache, type KvShape } from '../kv/index.js';
import { createRng, fillNormal } from '../quant/index.js';
import { repoRoot } from '../util/data.js';
import type { CardModel } from './types.js';

export const TEST_MODEL: CardModel = {
  id: '0123456789abcdef', family: 'llama', shape: '2x4/2x8 h32 i48 v64',
  weightsDigest: 'a'.repeat(64), tokenizerDigest: 'byte-tokenizer-64',
};

export const OTHER_MODEL: CardModel = { ...TEST_MODEL, id: 'fedcba9876543210', weightsDigest: 'b'.repeat(64) };

/** The HMAC key of the golden and attack files. */
export const TEST_KEY = 'kvwire-test-key';

/** Where the committed golden card and attack cards live (read from the source tree). */
export const GOLDEN_CARD = join(repoRoot, 'src', 'card', 'testdata', 'golden-v1.card');
export const ATTACKS_DIR = join(repoRoot, 'src', 'card', 'attacks');

/** A cache of T tokens with normal(0, 2) K/V, sparse positions (3t + 5) and ids 100 + t. */
export function testCache(shape: KvShape, T: number, seed = 1): KvCache {
  const rng = createRng(seed);
  const per = shape.kvHeads * T * shape.headDim;
  const layer = () => fillNormal(new Float32Array(per), rng, 0, 2);
  const keys = Array.from({ length: shape.layers }, layer);
  const values = Array.from({ length: shape.layers }, layer);
  return new KvCache(shape, keys, values, Int32Array.from({ length: T }, (_, t) => 3 * t + 5), Int32Array.from({ length: T }, (_, t) => 100 + t));
}

/** The golden card's cache: 2 layers, 2 KV heads, head dim 8, 6 tokens. */
export const goldenCache = (): KvCache => testCache({ layers: 2, kvHeads: 2, headDim: 8 }, 6, 42);
