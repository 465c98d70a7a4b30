// Per-method tests: each checks what its method is for, on constructed inputs where the right
// answer is known, so a wrong score (or a wrong aggregation) fails.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AttentionProbs } from '../engine/index.js';
import { Session } from '../engine/index.js';
import { KvCache } from '../kv/index.js';
import { tinySpec } from '../test-support/tiny-model.js';
import { maxPool1d, precomputedAttention, q2cSelector, sessionAttention, windowMax } from './attention.js';
import { getSelector, select } from './registry.js';
import { identitySpace } from './scorers.js';
import { applySelection, topKIndices } from './topk.js';

/** A cache of T tokens, 2 layers, 2 KV heads, headDim 4, with every value `fill`. */
function flatCache(T: number, fill = 0.1): KvCache {
  const shape = { layers: 2, kvHeads: 2, headDim: 4 };
  const make = () => Array.from({ length: 2 }, () => new Float32Array(2 * T * 4).fill(fill));
  return new KvCache(shape, make(), make(), Int32Array.from({ length: T }, (_, i) => i), new Int32Array(T));
}

/** Context attention (heads 4, A = T rows) where every row puts `p` on `hot` and spreads the rest causally. */
function probsWithHotKey(T: number, hot: number, p: number, heads = 4): AttentionProbs {
  const probs = Array.from({ length: 2 }, () => {
    const a = new Float32Array(heads * T * T);
    for (let h = 0; h < heads; h++) {
      for (let r = 0; r < T; r++) {
        const row = a.subarray((h * T + r) * T, (h * T + r + 1) * T);
        const onHot = r >= hot ? p : 0;
        for (let t = 0; t <= r; t++) row[t] = (1 - onHot) / (r + 1);
        if (r >= hot) row[hot] += onHot;
      }
    }
    return a;
  });
  return { queryPositions: Array.from({ length: T }, (_, i) => i), keyPositions: Int32Array.from({ length: T }, (_, i) => i), probs };
}

describe('positional selectors', () => {
  test('front keeps the first k, back the last k', async () => {
    const cache = flatCache(10);
    const f = await select(getSelector('front'), { cache }, { budget: { ratio: 0.3 } });
    const b = await select(getSelector('back'), { cache }, { budget: { ratio: 0.3 } });
    assert.deepEqual(f.kind === 'shared' && Array.from(f.indices), [0, 1, 2]);
    assert.deepEqual(b.kind === 'shared' && Array.from(b.indices), [7, 8, 9]);
    const bs = await select(getSelector('back'), { cache }, { budget: { count: 3 }, sinks: 1 });
    assert.deepEqual(bs.kind === 'shared' && Array.from(bs.indices), [0, 8, 9]);
  });

  test('random depends on the seed only', async () => {
    const cache = flatCache(40);
    const pick = async (seed: number) => {
      const s = await select(getSelector('random'), { cache, seed }, { budget: { count: 10 } });
      return s.kind === 'shared' ? Array.from(s.indices) : [];
    };
    assert.deepEqual(await pick(3), await pick(3));
    assert.notDeepEqual(await pick(3), await pick(4));
  });
});

describe('norm selectors', () => {
  test('knorm / vnorm pick the token with the large key / value; knorm-low avoids it', async () => {
    const cache = flatCache(12);
    for (let l = 0; l < 2; l++) for (let h = 0; h < 2; h++) {
      cache.keys[l].fill(5, (h * 12 + 4) * 4, (h * 12 + 5) * 4);
      cache.values[l].fill(5, (h * 12 + 9) * 4, (h * 12 + 10) * 4);
    }
    const one = async (name: string) => {
      const s = await select(getSelector(name), { cache }, { budget: { count: 1 }, granularity: 'shared' });
      return s.kind === 'shared' ? s.indices[0] : -1;
    };
    assert.equal(await one('knorm'), 4);
    assert.equal(await one('vnorm'), 9);
    assert.notEqual(await one('knorm-low'), 4);
  });

  test('per-head sets follow each head', async () => {
    const cache = flatCache(8);
    cache.values[0].fill(3, (0 * 8 + 2) * 4, (0 * 8 + 3) * 4); // layer 0 head 0: token 2
    cache.values[0].fill(3, (1 * 8 + 6) * 4, (1 * 8 + 7) * 4); // layer 0 head 1: token 6
    const s = await select(getSelector('vnorm'), { cache }, { budget: { count: 1 }, granularity: 'head' });
    assert.equal(s.kind, 'head');
    if (s.kind === 'head') {
      assert.equal(s.indices[0][0][0], 2);
      assert.equal(s.indices[0][1][0], 6);
    }
  });
});

describe('receiver-space hooks', () => {
  test('delta_proj_vnorm picks the token whose projection differs most from the receiver', async () => {
    const cache = flatCache(6);
    const space = identitySpace(cache);
    const receiverValues = cache.values.map((v) => v.slice());
    // Token 3 is large in the projection (proj_vnorm picks it) but the receiver already has it;
    // token 1 is where projection and receiver disagree.
    for (let l = 0; l < 2; l++) for (let h = 0; h < 2; h++) {
      space.projectedValues[l].fill(4, (h * 6 + 3) * 4, (h * 6 + 4) * 4);
      receiverValues[l].fill(4, (h * 6 + 3) * 4, (h * 6 + 4) * 4);
      receiverValues[l].fill(-1, (h * 6 + 1) * 4, (h * 6 + 2) * 4);
    }
    const pick = async (name: string) => {
      const s = await select(getSelector(name), { cache, receiver: { ...space, receiverValues } }, { budget: { count: 1 }, granularity: 'shared' });
      return s.kind === 'shared' ? s.indices[0] : -1;
    };
    assert.equal(await pick('proj_vnorm'), 3);
    assert.equal(await pick('delta_proj_vnorm'), 1);
  });

  test('without a receiver space the hook says what to pass', async () => {
    await assert.rejects(getSelector('proj_vnorm').score({ cache: flatCache(3) }), /ScoreInput.receiver/);
  });
});

describe('attention selectors on constructed attention', () => {
  test('H2O keeps the token every query attends to', async () => {
    const T = 16;
    const cache = flatCache(T);
    const attention = precomputedAttention(cache.positions, 4, { context: probsWithHotKey(T, 9, 0.6) });
    const s = await select(getSelector('h2o'), { cache, attention }, { budget: { count: 1 }, granularity: 'shared' });
    // Token 0 collects causal spill-over from every row (H2O's known bias, ~3.0 per head here);
    // token 9 draws 0.6 from each of the 7 rows after it (~4.4).
    assert.deepEqual(s.kind === 'shared' && Array.from(s.indices), [9]);
  });

  test('maxPool1d spreads a spike over kernel 5', () => {
    const s = new Float64Array(9);
    s[4] = 1;
    s[8] = 0.5;
    assert.deepEqual(Array.from(maxPool1d(s, 5)), [0, 0, 1, 1, 1, 1, 1, 0.5, 0.5]);
  });

  test('SnapKV: the window\'s spike brings its neighbours; the window ranks first', async () => {
    const T = 20;
    const cache = flatCache(T);
    const attention = precomputedAttention(cache.positions, 4, { context: probsWithHotKey(T, 7, 0.9) });
    const noWindow = (await import('./attention.js')).snapkv({ window: 4, keepWindow: false });
    const s = await select(noWindow, { cache, attention }, { budget: { count: 5 }, granularity: 'shared' });
    assert.deepEqual(s.kind === 'shared' && Array.from(s.indices), [5, 6, 7, 8, 9]);
    const withWindow = await select(getSelector('snapkv'), { cache, attention }, { budget: { count: 8 }, granularity: 'shared' });
    assert.deepEqual(withWindow.kind === 'shared' && Array.from(withWindow.indices), [12, 13, 14, 15, 16, 17, 18, 19]);
  });

  test('Q2C reads the question rows only', async () => {
    const T = 6;
    const cache = flatCache(T);
    const Q = 2;
    const heads = 4;
    const K = T + Q;
    const p = new Float32Array(heads * Q * K);
    for (let h = 0; h < heads; h++) for (let r = 0; r < Q; r++) p[(h * Q + r) * K + 2] = 0.7; // context token 2
    const question: AttentionProbs = { queryPositions: [6, 7], keyPositions: Int32Array.from({ length: K }, (_, i) => i), probs: [p, p] };
    const attention = precomputedAttention(cache.positions, heads, { context: probsWithHotKey(T, 4, 0.9), question });
    const s = await select(q2cSelector({ before: 0, after: 0 }), { cache, attention }, { budget: { count: 1 }, granularity: 'shared' });
    assert.deepEqual(s.kind === 'shared' && Array.from(s.indices), [2]);
    // Pooled (the default, per head): the hot key lends its score to 8 tokens after it and 4 before.
    const pooled = await getSelector('q2c').score({ cache, attention });
    assert.equal(pooled.granularity, 'head');
    if (pooled.granularity === 'head') assert.deepEqual(Array.from(pooled.scores[0].subarray(0, T), (x) => x > 1), [true, true, true, true, true, true]);
  });

  test('windowMax looks `before` tokens back and `after` ahead', () => {
    const s = Float64Array.from([0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(Array.from(windowMax(s, 3, 1)), [0, 0, 0, 5, 5, 5, 5, 5, 0, 0, 0, 0]);
    assert.deepEqual(Array.from(windowMax(s, 0, 0)), Array.from(s));
  });
});

describe('session attention', () => {
  test('chunked context mass equals one prefill with every row', async () => {
    const session = await Session.create(tinySpec({ layers: 2, heads: 4, kvHeads: 2 }));
    const tokens = Array.from({ length: 17 }, (_, i) => 3 + ((i * 13) % 50));
    const rows = Array.from({ length: 17 }, (_, i) => i);
    const { cache, attention } = await session.prefill(tokens, { attentionRows: rows });
    const whole = await precomputedAttention(cache.positions, 4, { context: attention }).contextMass(rows);
    const chunked = await sessionAttention(session, cache, undefined, { chunkRows: 5 }).contextMass(rows);
    for (let l = 0; l < 2; l++) {
      for (let i = 0; i < whole[l].length; i++) assert.ok(Math.abs(whole[l][i] - chunked[l][i]) < 1e-5, `layer ${l} entry ${i}`);
    }
    // Every row's probabilities sum to 1, so the mass over keys sums to heads·rows.
    const total = chunked[0].reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(total - 4 * 17) < 1e-3, `total mass ${total}`);
    await session.dispose();
  });
});

describe('applySelection', () => {
  test('a shared set is a gather; a per-head set is the union with absent entries zeroed', () => {
    const cache = flatCache(5, 1);
    const shared = applySelection(cache, { kind: 'shared', length: 5, indices: Int32Array.from([1, 3]) });
    assert.deepEqual(Array.from(shared.cache.positions), [1, 3]);
    assert.equal(shared.absent, null);
    const perHead = applySelection(cache, {
      kind: 'head', length: 5, kvHeads: 2,
      indices: [[Int32Array.from([0, 2]), Int32Array.from([2, 4])], [Int32Array.from([0, 2]), Int32Array.from([0, 2])]],
    });
    assert.deepEqual(Array.from(perHead.cache.positions), [0, 2, 4]);
    assert.deepEqual(Array.from(perHead.absent![0]), [0, 0, 1, 1, 0, 0]);
    assert.deepEqual(Array.from(perHead.absent![1]), [0, 0, 1, 0, 0, 1]);
    assert.equal(perHead.cache.values[0][(0 * 3 + 2) * 4], 0, 'layer 0 head 0 token 4 zeroed');
    assert.equal(perHead.cache.values[0][(1 * 3 + 2) * 4], 1, 'layer 0 head 1 token 4 kept');
  });

  test('top-k rejects non-finite scores', () => {
    assert.throws(() => topKIndices(Float64Array.from([1, NaN]), 1), { code: 'NON_FINITE' });
  });
});
