// Receiver-space selectors (proj_vnorm, delta_proj_vnorm) when the receiver's depth and width
// differ from the sharer cache's (cross-model fusion): select() aggregates the scores in the
// receiver's shape. Before the fix it aggregated over the sharer cache's layer count and threw
// CACHE_MISMATCH whenever the depths differed (src/fuse/space.ts worked around it).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KvwireError } from '../errors.js';
import { KvCache } from '../kv/index.js';
import { createRng, fillNormal } from '../quant/index.js';
import { getSelector, select } from './registry.js';
import { topKIndices } from './topk.js';
import type { ReceiverValueSpace } from './types.js';

const T = 12;
const rng = createRng(7);
const normal = (n: number) => fillNormal(new Float32Array(n), rng, 0, 1);

/** A sharer cache of `layers` × 2 heads × 8, and a receiver space of `rLayers` × 4 heads × 4 over the same T tokens. */
function pair(layers: number, rLayers: number): { cache: KvCache; space: ReceiverValueSpace } {
  const cache = new KvCache({ layers, kvHeads: 2, headDim: 8 }, Array.from({ length: layers }, () => normal(2 * T * 8)),
    Array.from({ length: layers }, () => normal(2 * T * 8)), Int32Array.from({ length: T }, (_, t) => t + 1), new Int32Array(T));
  const space: ReceiverValueSpace = {
    kvHeads: 4, headDim: 4, projectedValues: Array.from({ length: rLayers }, () => normal(4 * T * 4)),
    receiverValues: Array.from({ length: rLayers }, () => normal(4 * T * 4)),
  };
  return { cache, space };
}

/** u(t) by hand: per receiver layer the mean over heads of ‖a − b‖, each layer scaled to mean 1, averaged; top k. */
function byHand(space: ReceiverValueSpace, delta: boolean, k: number): Int32Array {
  const L = space.projectedValues.length;
  const total = new Float64Array(T);
  for (let l = 0; l < L; l++) {
    const s = new Float64Array(T);
    for (let h = 0; h < 4; h++) {
      for (let t = 0; t < T; t++) {
        let q = 0;
        for (let d = 0; d < 4; d++) {
          const i = (h * T + t) * 4 + d;
          const x = space.projectedValues[l][i] - (delta ? space.receiverValues![l][i] : 0);
          q += x * x;
        }
        s[t] += Math.sqrt(q) / 4;
      }
    }
    const mean = s.reduce((a, b) => a + b, 0) / T;
    for (let t = 0; t < T; t++) total[t] += s[t] / mean / L;
  }
  return topKIndices(total, k);
}

describe('receiver-space selectors across depths', () => {
  for (const [sharerLayers, receiverLayers] of [[7, 6], [3, 6], [6, 6]]) {
    test(`sharer ${sharerLayers} layers, receiver ${receiverLayers}: a shared set from the receiver's layers`, async () => {
      const { cache, space } = pair(sharerLayers, receiverLayers);
      for (const name of ['proj_vnorm', 'delta_proj_vnorm']) {
        for (const withLayers of [false, true]) {
          const set = await select(getSelector(name), { cache, receiver: withLayers ? { ...space, layers: receiverLayers } : space },
            { budget: { ratio: 0.5 }, granularity: 'shared' });
          assert.equal(set.kind, 'shared');
          assert.deepEqual(set.kind === 'shared' ? [...set.indices] : null, [...byHand(space, name === 'delta_proj_vnorm', 6)], name);
        }
      }
    });
  }

  test('a per-layer set across depths is refused with CACHE_MISMATCH, and a wrong `layers` too', async () => {
    const { cache, space } = pair(7, 6);
    await assert.rejects(select(getSelector('proj_vnorm'), { cache, receiver: space }, { budget: { ratio: 0.5 } }),
      (e: unknown) => e instanceof KvwireError && e.code === 'CACHE_MISMATCH' && /shared/.test(e.message));
    await assert.rejects(select(getSelector('proj_vnorm'), { cache, receiver: { ...space, layers: 7 } }, { budget: { ratio: 0.5 }, granularity: 'shared' }),
      (e: unknown) => e instanceof KvwireError && e.code === 'CACHE_MISMATCH');
  });
});
