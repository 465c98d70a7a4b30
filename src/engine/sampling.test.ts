import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvwireError } from '../errors.js';
import { tinySpec } from '../test-support/tiny-model.js';
import { argmax, createSampler } from './sampling.js';
import { Session } from './session.js';

test('greedy picks the largest logit, the lowest id on ties', () => {
  assert.equal(argmax(Float32Array.of(0, 3, 1, 3)), 1);
  assert.equal(createSampler()(Float32Array.of(-1, -5, 2)), 2);
});

test('temperature sampling follows softmax(logits / T), reproducibly by seed', () => {
  const logits = Float32Array.of(Math.log(0.5), Math.log(0.3), Math.log(0.2));
  const counts = [0, 0, 0];
  const sample = createSampler({ temperature: 1, seed: 42 });
  for (let i = 0; i < 20000; i++) counts[sample(logits)]++;
  [0.5, 0.3, 0.2].forEach((p, i) => assert.ok(Math.abs(counts[i] / 20000 - p) < 0.02, `token ${i}: ${counts[i] / 20000}`));
  const a = createSampler({ temperature: 1, seed: 7 });
  const b = createSampler({ temperature: 1, seed: 7 });
  assert.deepEqual(Array.from({ length: 50 }, () => a(logits)), Array.from({ length: 50 }, () => b(logits)));
});

test('top-p keeps only the smallest set of tokens reaching the mass', () => {
  const logits = Float32Array.of(Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05));
  const sample = createSampler({ temperature: 1, topP: 0.75, seed: 1 });
  const seen = new Set(Array.from({ length: 2000 }, () => sample(logits)));
  assert.deepEqual([...seen].sort(), [0, 1]);
});

test('absurd sampling settings are refused', () => {
  assert.throws(() => createSampler({ temperature: -1 }), KvwireError);
  assert.throws(() => createSampler({ topP: 0 }), KvwireError);
  assert.throws(() => createSampler({ temperature: Infinity }), KvwireError);
});

test('generation ends at a stop token (not included) or at maxTokens', async () => {
  const session = await Session.create(tinySpec());
  const free = await session.generate([1, 5, 9], { maxTokens: 8, stop: [] });
  assert.equal(free.tokens.length, 8);
  assert.equal(free.stopReason, 'length');
  const stopAt = free.tokens[3];
  const first = free.tokens.indexOf(stopAt);
  const stopped = await session.generate([1, 5, 9], { maxTokens: 8, stop: [stopAt] });
  assert.equal(stopped.stopReason, 'stop');
  assert.deepEqual(stopped.tokens, free.tokens.slice(0, first));
  const until = await session.generate([1, 5, 9], { maxTokens: 8, stop: [], until: (t) => t.length === 2 });
  assert.deepEqual(until.tokens, free.tokens.slice(0, 2));
  await session.dispose();
});
