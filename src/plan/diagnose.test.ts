// Bottleneck diagnosis on a tiny random model: one layer at a time, KL ordered, and a coarse
// coding hurts more than FP16.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Session } from '../engine/index.js';
import { tinySpec } from '../test-support/tiny-model.js';
import { actionCoding } from './codings.js';
import { diagnoseLayers, quantizeOneLayer } from './diagnose.js';
import { randomCache } from './testing.js';

test('quantizeOneLayer changes only that layer', () => {
  const cache = randomCache(1, { layers: 3, kvHeads: 2, headDim: 8 }, 9);
  const q = quantizeOneLayer(cache, 1, actionCoding('int2', 8));
  assert.equal(q.keys[0], cache.keys[0]);
  assert.equal(q.values[2], cache.values[2]);
  assert.notDeepEqual(q.values[1], cache.values[1]);
});

test('diagnoseLayers ranks layers by KL and int2 hurts more than fp16', async () => {
  const session = await Session.create(tinySpec({ layers: 3 }));
  const probes = [0, 1, 2].map((s) => ({
    context: Array.from({ length: 18 }, (_, i) => (i === 0 ? 1 : 3 + ((i * (7 + s)) % 60))), continuation: [10 + s, 20, 30],
  }));
  const coarse = await diagnoseLayers(session, probes, actionCoding('int2', 8), { protect: 2 });
  const fine = await diagnoseLayers(session, probes, actionCoding('fp16', 8));
  assert.equal(coarse.kl.length, 3);
  for (let i = 1; i < 3; i++) assert.ok(coarse.kl[coarse.order[i - 1]] >= coarse.kl[coarse.order[i]]);
  assert.deepEqual(coarse.bottlenecks, coarse.order.slice(0, 2).sort((a, b) => a - b));
  assert.equal(fine.bottlenecks.length, 1);
  for (let l = 0; l < 3; l++) assert.ok(coarse.kl[l] > fine.kl[l], `layer ${l}: int2 ${coarse.kl[l]} vs fp16 ${fine.kl[l]}`);
  await session.dispose();
});
