// Exact byte accounting: for plans of every kind over random shapes, the plan's byte count equals
// the length of the buffers applyPlan produces, part by part; and materialize gives back the
// kept rows, dequantized, at their original positions.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KvCache } from '../kv/index.js';
import { createRng, fakeQuantizeCache } from '../quant/index.js';
import type { IndexSet } from '../select/index.js';
import { applySelection } from '../select/index.js';
import { applyPlan, materialize, packedByteLength } from './apply.js';
import { BASELINE_NAMES, actionCoding, baselineCoding, planSelection } from './codings.js';
import { decodeDescriptor } from './layout.js';
import { planBudget } from './planner.js';
import { randomCache } from './testing.js';
import { KEEP_ACTIONS, type Plan } from './types.js';

function randomSet(rng: () => number, kind: IndexSet['kind'], T: number, layers: number, kvHeads: number): IndexSet {
  const k = Math.max(1, Math.floor(rng() * T));
  const pick = () => {
    const order = Array.from({ length: T }, (_, i) => i).sort(() => rng() - 0.5).slice(0, k);
    return Int32Array.from(order.sort((a, b) => a - b));
  };
  if (kind === 'shared') return { kind, length: T, indices: pick() };
  if (kind === 'layer') return { kind, length: T, indices: Array.from({ length: layers }, pick) };
  return { kind, length: T, kvHeads, indices: Array.from({ length: layers }, () => Array.from({ length: kvHeads }, pick)) };
}

function checkBytes(cache: KvCache, plan: Plan, label: string): void {
  const packed = applyPlan(cache, plan);
  assert.equal(packedByteLength(packed), plan.bytes.total, `${label}: total`);
  const sum = (f: (s: (typeof packed.sections)[number]['section']) => number) => packed.sections.reduce((a, p) => a + f(p.section), 0);
  assert.equal(sum((s) => s.codes.length), plan.bytes.codes, `${label}: codes`);
  assert.equal(sum((s) => 2 * s.scales.length), plan.bytes.scales, `${label}: scales`);
  assert.equal(sum((s) => 2 * (s.zeros?.length ?? 0)), plan.bytes.zeros, `${label}: zeros`);
  assert.equal(packed.indices.length, plan.bytes.indices, `${label}: indices`);
  assert.equal(packed.descriptor.length, plan.bytes.header + plan.bytes.descriptors, `${label}: descriptor`);
  assert.equal(packed.classMaps.reduce((a, m) => a + m.length, 0), plan.bytes.classMaps, `${label}: class maps`);
  const b = plan.bytes;
  assert.equal(b.total, b.header + b.descriptors + b.indices + b.classMaps + b.codes + b.scales + b.zeros);
}

describe('plan bytes equal packed buffers', () => {
  test('baseline codings x selections x schedules over random shapes', () => {
    const rng = createRng(11);
    for (let trial = 0; trial < 24; trial++) {
      const shape = { layers: 1 + Math.floor(rng() * 3), kvHeads: 1 + Math.floor(rng() * 3), headDim: [4, 8, 12, 64][trial % 4] };
      const T = 1 + Math.floor(rng() * 70);
      const cache = randomCache(100 + trial, shape, T, trial % 3);
      for (const name of BASELINE_NAMES) {
        for (const kind of [null, 'shared', 'layer', 'head'] as const) {
          const set = kind ? randomSet(rng, kind, T, shape.layers, shape.kvHeads) : null;
          const schedule = { base: baselineCoding(name, shape.headDim), lastFp16: trial % 2, protect: trial % 3 === 0 ? [0] : [], recentFp16: trial % 4 };
          checkBytes(cache, planSelection(cache, set, schedule), `trial ${trial} ${name} ${kind}`);
        }
      }
    }
  });

  test('rate–distortion plans at many budgets fit and count exactly', () => {
    const cache = randomCache(5, { layers: 3, kvHeads: 2, headDim: 16 }, 40);
    const full = planSelection(cache, null, { base: actionCoding('fp16', 16) }).bytes.total;
    for (const fraction of [0.03, 0.06, 0.1, 0.2, 0.35, 0.6, 0.9, 1.2]) {
      for (const actions of [undefined, ['int8'], ['int4', 'int8'], ['int2']] as const) {
        const budget = Math.floor(fraction * full);
        const plan = planBudget(cache, { budget: { bytes: budget }, actions: actions ? [...actions] : undefined, lastFp16: fraction > 0.5 ? 1 : 0 });
        assert.ok(plan.bytes.total <= budget, `${fraction} ${actions}: ${plan.bytes.total} > ${budget}`);
        checkBytes(cache, plan, `rd ${fraction} ${actions}`);
      }
    }
  });
});

describe('materialize', () => {
  test('gives the kept rows, dequantized, at the original positions', () => {
    const cache = randomCache(3, { layers: 2, kvHeads: 2, headDim: 8 }, 30, 5);
    const kept = Int32Array.from([0, 3, 4, 9, 17, 29]);
    for (const action of KEEP_ACTIONS) {
      const coding = actionCoding(action, 8);
      const plan = planSelection(cache, { kind: 'shared', length: 30, indices: kept }, { base: coding });
      const { cache: got, absent, length } = materialize(applyPlan(cache, plan), cache.shape);
      // Per-token codings: quantizing the kept rows equals quantizing everything, then gathering.
      const want = fakeQuantizeCache(cache, { keys: coding.keys, values: coding.values }).gather(kept);
      assert.equal(absent, null);
      assert.equal(length, 30);
      assert.deepEqual(Array.from(got.positions), Array.from(kept, (t) => t + 5));
      for (let l = 0; l < 2; l++) {
        assert.deepEqual(got.keys[l], want.keys[l], `${action} keys ${l}`);
        assert.deepEqual(got.values[l], want.values[l], `${action} values ${l}`);
      }
    }
  });

  test('per-head selections come back with the same absent mask as applySelection', () => {
    const cache = randomCache(4, { layers: 2, kvHeads: 3, headDim: 4 }, 12);
    const set = randomSet(createRng(2), 'head', 12, 2, 3);
    const plan = planSelection(cache, set, { base: actionCoding('fp16', 4), recentFp16: 0 });
    const got = materialize(applyPlan(cache, plan), cache.shape);
    const want = applySelection(cache, set);
    assert.deepEqual(got.absent, want.absent);
    assert.deepEqual(Array.from(got.cache.positions), Array.from(want.cache.positions));
  });

  test('corrupt descriptors are BAD_FORMAT', () => {
    const cache = randomCache(6, { layers: 1, kvHeads: 1, headDim: 4 }, 5);
    const packed = applyPlan(cache, planSelection(cache, null, { base: actionCoding('int8', 4) }));
    assert.throws(() => decodeDescriptor(packed.descriptor.subarray(0, 10)), { code: 'BAD_FORMAT' });
    const bad = packed.descriptor.slice();
    bad[15] = 9;
    assert.throws(() => decodeDescriptor(bad), /version 9/);
    assert.throws(() => materialize({ ...packed, sections: packed.sections.slice(1) }, cache.shape), { code: 'BAD_FORMAT' });
  });
});
