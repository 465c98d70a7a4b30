// stories260K (llama2.c's real 260K-parameter Llama): greedy decoding from the empty prompt for
// 200 steps must reproduce the text llama2.c's own test expects, byte for byte.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadModel } from '../model/index.js';
import { dataPath } from '../util/data.js';
import { Session } from './session.js';

test('stories260K greedy 200 steps reproduces llama2.c reference text', async () => {
  const spec = loadModel(dataPath('models/stories260K/stories260K.bin'));
  const expected = readFileSync(dataPath('models/stories260K/greedy_200_steps_numpy_ref.txt'), 'utf8');
  const session = await Session.create(spec);
  try {
    // llama2.c's `run` starts from BOS, makes 200 forward steps (one token each) and ends the
    // output with a newline of its own.
    const { tokens, stopReason } = await session.generate([spec.tokenizer.bosId!], { maxTokens: 200 });
    assert.equal(stopReason, 'length');
    assert.equal(tokens.length, 200);
    assert.equal(spec.tokenizer.decode(tokens) + '\n', expected);
  } finally {
    await session.dispose();
  }
});

test('stories260K tokenizer round-trips text and matches llama2.c encoding', () => {
  const spec = loadModel(dataPath('models/stories260K/stories260K.bin'));
  const tok = spec.tokenizer;
  const text = 'Once upon a time, Lily saw a big red ball.';
  const ids = tok.encode(text, { addBos: true });
  assert.equal(ids[0], 1);
  assert.equal(tok.decode(ids), text);
  // Characters missing from the 512-piece vocabulary fall back to bytes <0xXX> (ids 3..258).
  assert.equal(tok.decode(tok.encode('café ☃')), 'café ☃');
});
