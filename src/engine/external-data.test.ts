// Models past protobuf's 2 GB limit keep their weights as ONNX external data. The same path is
// exercised here on a small model by lowering the threshold: results must be identical.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { tinySpec } from '../test-support/tiny-model.js';
import { Session } from './session.js';

test('weights as external data give the same results, and the temporary files are removed', async () => {
  const spec = tinySpec({ hiddenSize: 64, intermediateSize: 96, vocabSize: 128 });
  const before = readdirSync(tmpdir()).filter((f) => f.startsWith('kvwire-onnx-')).length;
  const inline = await Session.create(spec);
  const external = await Session.create(spec, { externalDataThreshold: 0 });
  const tokens = [1, 5, 9, 40, 77, 3];
  const a = await inline.prefill(tokens, { logits: 'all' });
  const b = await external.prefill(tokens, { logits: 'all' });
  assert.deepEqual(b.logits, a.logits);
  assert.deepEqual(b.cache, a.cache);
  assert.equal(readdirSync(tmpdir()).filter((f) => f.startsWith('kvwire-onnx-')).length, before);
  await inline.dispose();
  await external.dispose();
});
