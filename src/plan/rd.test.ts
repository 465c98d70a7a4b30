// The rate–distortion allocator and the budget front door: absurd budgets are refused, plans
// fit, more bytes never buy more distortion, and the allocator spends bytes where the value
// space says they matter.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KvCache } from '../kv/index.js';
import { applyPlan, materialize } from './apply.js';
import { randomCache } from './testing.js';
import { actionCoding, fp16Bytes, metadataFloor, planSelection } from './codings.js';
import { planBudget } from './planner.js';
import { DROPPED, type Plan } from './types.js';

/** Σ over layers, heads and tokens of ‖V − V_received‖² (dropped tokens count in full). */
function valueDistortion(cache: KvCache, plan: Plan): number {
  const { cache: got } = materialize(applyPlan(cache, plan), cache.shape);
  const D = cache.headDim;
  const T = cache.length;
  const n = got.length;
  const where = new Map(Array.from(plan.kept, (t, i) => [t, i]));
  let sum = 0;
  for (let l = 0; l < cache.layers; l++) {
    for (let h = 0; h < cache.kvHeads; h++) {
      for (let t = 0; t < T; t++) {
        const i = where.get(t);
        for (let d = 0; d < D; d++) {
          const x = cache.values[l][(h * T + t) * D + d] - (i === undefined ? 0 : got.values[l][(h * n + i) * D + d]);
          sum += x * x;
        }
      }
    }
  }
  return sum;
}

const classesOf = (plan: Plan, l: number) => plan.layers[l].classes.map((c) => c.values.format);

describe('budgets', () => {
  const cache = randomCache(1, { layers: 2, kvHeads: 2, headDim: 8 }, 20);
  for (const [label, budget] of [
    ['NaN bytes', { bytes: NaN }], ['negative bytes', { bytes: -5 }], ['infinite bytes', { bytes: Infinity }],
    ['zero fraction', { fraction: 0 }], ['NaN fraction', { fraction: NaN }], ['below the metadata floor', { bytes: metadataFloor(2) - 1 }],
  ] as const) {
    test(`${label} -> BUDGET`, () => {
      assert.throws(() => planBudget(cache, { budget }), (e: Error & { code?: string }) => e.code === 'BUDGET' && /budget/.test(e.message));
    });
  }

  test('the floor message names the floor', () => {
    assert.throws(() => planBudget(cache, { budget: { bytes: 3 } }), new RegExp(`${metadataFloor(2)}-byte floor`));
  });
});

describe('rate–distortion allocation', () => {
  const cache = randomCache(7, { layers: 3, kvHeads: 2, headDim: 16 }, 48);

  test('more bytes never give more distortion', () => {
    let prev = Infinity;
    for (const fraction of [0.04, 0.08, 0.15, 0.25, 0.4, 0.6, 0.8, 1.05]) {
      const plan = planBudget(cache, { budget: { fraction } });
      const d = valueDistortion(cache, plan);
      assert.ok(d <= prev * (1 + 1e-9), `fraction ${fraction}: distortion ${d} after ${prev}`);
      prev = d;
    }
  });

  test('a generous budget sends everything in FP16; a tight one drops tokens', () => {
    const rich = planBudget(cache, { budget: { fraction: 1.1 } });
    assert.equal(rich.kept.length, 48);
    for (let l = 0; l < 3; l++) assert.deepEqual(classesOf(rich, l), ['fp16']);
    const poor = planBudget(cache, { budget: { fraction: 0.05 } });
    assert.ok(poor.kept.length < 48 && poor.kept.length > 0, `kept ${poor.kept.length}`);
  });

  test('drop+int8 uses int8 only; forced tokens and FP16 layers are honoured', () => {
    const plan = planBudget(cache, { budget: { fraction: 0.2 }, actions: ['int8'], forceKeep: [0, 47], lastFp16: 1 });
    assert.deepEqual(classesOf(plan, 0), ['int8']);
    assert.deepEqual(classesOf(plan, 2), ['fp16']);
    assert.ok(plan.kept.includes(0) && plan.kept.includes(47));
  });

  test('the largest values are kept first at a tight budget', () => {
    const c = randomCache(8, { layers: 1, kvHeads: 1, headDim: 8 }, 30);
    for (const t of [4, 21]) for (let d = 0; d < 8; d++) c.values[0][t * 8 + d] *= 40;
    const perToken = planSelection(c, { kind: 'shared', length: 30, indices: Int32Array.from([0]) }, { base: actionCoding('int8', 8) });
    const budget = perToken.bytes.total + 2 * 8 * 2 + 8; // room for about two more int8 tokens
    const plan = planBudget(c, { budget: { bytes: budget }, actions: ['int8'] });
    assert.deepEqual(Array.from(plan.kept), [4, 21]);
  });

  test('a token the receiver already holds is dropped first (receiver-space hook)', () => {
    const c = randomCache(9, { layers: 1, kvHeads: 1, headDim: 8 }, 10);
    const receiver = new Float32Array(c.values[0].length);
    for (let d = 0; d < 8; d++) receiver[6 * 8 + d] = c.values[0][6 * 8 + d];
    for (let t = 0; t < 10; t++) if (t !== 6) for (let d = 0; d < 8; d++) receiver[t * 8 + d] = c.values[0][t * 8 + d] + 5;
    const budget = planSelection(c, null, { base: actionCoding('int8', 8) }).bytes.total;
    const plan = planBudget(c, {
      budget: { bytes: budget - 20 }, actions: ['int8'],
      valueSpace: { project: (_l, v) => ({ data: v, heads: 1, dim: 8 }), receiverValues: [receiver] },
    });
    assert.equal(plan.kept.length, 9);
    assert.ok(!plan.kept.includes(6));
  });

  test('mixed precision inside a layer travels as a token-scope class map', () => {
    const plan = planBudget(cache, { budget: { fraction: 0.3 }, allowDrop: false });
    assert.equal(plan.kept.length, 48);
    const mixed = plan.layers.filter((l) => l.map !== null);
    assert.ok(mixed.length > 0, 'some layer mixes precisions');
    for (const l of mixed) {
      assert.equal(l.map!.scope, 'token');
      assert.ok(!l.map!.classOf.includes(DROPPED));
    }
    assert.ok(plan.bytes.total <= 0.3 * fp16Bytes(cache));
  });
});
