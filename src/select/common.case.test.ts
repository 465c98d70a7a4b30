// The behaviour every selector shares, run for each one in the registry on a tiny random model:
// sizes, sinks and recent tokens kept, strictly increasing unique indices, determinism, and the
// same rules at every granularity.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Session } from '../engine/index.js';
import type { KvCache } from '../kv/index.js';
import { tinySpec } from '../test-support/tiny-model.js';
import { sessionAttention } from './attention.js';
import { SELECTOR_NAMES, getSelector, select } from './registry.js';
import { identitySpace } from './scorers.js';
import { keepCount } from './topk.js';
import type { Granularity, IndexSet, ScoreInput } from './types.js';

const tokens = Array.from({ length: 23 }, (_, i) => (i === 0 ? 1 : 3 + ((i * 37) % 60)));
const question = [5, 9, 17, 33];
let session: Session;
let cache: KvCache;
let input: ScoreInput;

before(async () => {
  session = await Session.create(tinySpec({ layers: 3, heads: 4, kvHeads: 2 }));
  cache = (await session.prefill(tokens)).cache;
  const receiver = { ...identitySpace(cache), receiverValues: cache.values.map((v) => v.map((x) => 0.5 * x)) };
  input = { cache, attention: sessionAttention(session, cache, question), receiver, seed: 7 };
});
after(() => session.dispose());

function lists(set: IndexSet): Int32Array[] {
  if (set.kind === 'shared') return [set.indices];
  if (set.kind === 'layer') return set.indices;
  return set.indices.flat();
}

const cases: Array<{ budget: { ratio: number } | { count: number }; sinks: number; recent: number }> = [
  { budget: { ratio: 0.5 }, sinks: 0, recent: 0 },
  { budget: { ratio: 0.25 }, sinks: 1, recent: 2 },
  { budget: { count: 4 }, sinks: 2, recent: 3 },
  { budget: { count: 3 }, sinks: 2, recent: 3 }, // protected tokens exceed k: sinks first, then the latest
  { budget: { ratio: 1 }, sinks: 0, recent: 0 },
];

for (const name of SELECTOR_NAMES) {
  describe(`selector ${name}: shared behaviour`, () => {
    for (const granularity of ['shared', 'layer', 'head'] as Granularity[]) {
      test(`${granularity}: sizes, sinks and recent kept, increasing unique indices`, async () => {
        const T = cache.length;
        for (const c of cases) {
          const set = await select(getSelector(name), input, { ...c, granularity });
          assert.equal(set.kind, granularity);
          assert.equal(set.length, T);
          const k = keepCount(c.budget, T);
          const all = lists(set);
          assert.equal(all.length, granularity === 'shared' ? 1 : granularity === 'layer' ? cache.layers : cache.layers * cache.kvHeads);
          for (const idx of all) {
            assert.equal(idx.length, k, `${JSON.stringify(c)}: ${idx.length} kept, expected ${k}`);
            for (let i = 0; i < idx.length; i++) {
              assert.ok(idx[i] >= 0 && idx[i] < T);
              if (i > 0) assert.ok(idx[i] > idx[i - 1], 'strictly increasing');
            }
            const kept = new Set(idx);
            const protectedCount = Math.min(k, c.sinks);
            for (let t = 0; t < protectedCount; t++) assert.ok(kept.has(t), `sink ${t} kept`);
            const recentCount = Math.min(c.recent, k - protectedCount);
            for (let t = T - recentCount; t < T; t++) assert.ok(kept.has(t), `recent ${t} kept`);
          }
        }
      });
    }

    test('deterministic: the same input gives the same set', async () => {
      const opts = { budget: { ratio: 0.4 }, sinks: 1, recent: 1, granularity: 'head' as const };
      const a = await select(getSelector(name), input, opts);
      const b = await select(getSelector(name), { ...input }, opts);
      assert.deepEqual(lists(a).map((x) => Array.from(x)), lists(b).map((x) => Array.from(x)));
    });

    test('scores are finite and cover every token', async () => {
      const s = await getSelector(name).score(input);
      assert.equal(s.length, cache.length);
      const arrays = s.granularity === 'shared' ? [s.scores] : s.scores;
      for (const a of arrays) for (const x of a) assert.ok(Number.isFinite(x));
    });
  });
}
