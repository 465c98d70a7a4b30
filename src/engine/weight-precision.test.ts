// int8/int4 weights (MatMulNBits) trade exactness for decode speed; they must stay close to fp32
// and keep every cache law (they change the numbers, not the cache mechanics).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tinySpec } from '../test-support/tiny-model.js';
import { quantizeRows } from './graph.js';
import { Session } from './session.js';

test('quantizeRows codes and scales reconstruct each block within half a step', () => {
  const K = 40; // not a multiple of the block: the last block is zero-padded
  const rows = 3;
  const data = Float32Array.from({ length: rows * K }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 5)));
  for (const bits of [8, 4] as const) {
    const { codes, scales, blocks } = quantizeRows(data, rows, K, bits);
    assert.equal(blocks, 2);
    const zero = 1 << (bits - 1);
    const blob = (32 * bits) / 8;
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < K; k++) {
        const b = Math.floor(k / 32);
        const i = k % 32;
        const byte = codes[(r * blocks + b) * blob + (bits === 8 ? i : i >> 1)];
        const q = bits === 8 ? byte : i & 1 ? byte >> 4 : byte & 15;
        const s = scales[r * blocks + b];
        assert.ok(Math.abs((q - zero) * s - data[r * K + k]) <= s / 2 + 1e-6, `bits ${bits} row ${r} k ${k}`);
      }
    }
  }
});

test('int8 and int4 weights stay close to fp32 and decode the same way after injection', async () => {
  const spec = tinySpec({ family: 'qwen2', qkvBias: true, hiddenSize: 64, intermediateSize: 128, vocabSize: 96, tieEmbeddings: true }, 5);
  const tokens = [1, 7, 19, 33, 41, 58, 60, 77, 12, 3];
  const exact = await Session.create(spec);
  const ref = await exact.prefill(tokens, { logits: 'all' });
  for (const [weights, tolerance] of [['int8', 0.03], ['int4', 0.5]] as const) {
    const session = await Session.create(spec, { weights });
    const got = await session.prefill(tokens, { logits: 'all' });
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < ref.logits.length; i++) {
      diff = Math.max(diff, Math.abs(got.logits[i] - ref.logits[i]));
      scale = Math.max(scale, Math.abs(ref.logits[i]));
    }
    assert.ok(diff / scale < tolerance, `${weights}: relative logit error ${diff / scale}`);
    assert.ok(diff > 0, `${weights}: identical to fp32 means the quantized path did not run`);
    const direct = await session.generate(tokens, { maxTokens: 5, stop: [] });
    const seq = session.inject(got.cache.slice(0, tokens.length - 1));
    await seq.append(tokens.slice(-1));
    assert.deepEqual((await seq.generate({ maxTokens: 5, stop: [] })).tokens, direct.tokens);
    await session.dispose();
  }
  await exact.dispose();
});
