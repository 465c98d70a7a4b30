/**
 * The select, plan and handoff runners on the tiny llama fixture (2 layers, 2 KV heads): each is
 * checked against what it must equal when done by hand (the same sparse cache injected directly,
 * the full cache's answer), against its byte budget, and against its config errors.
 */
import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import { Session } from '../../../engine/index.js';
import { loadModel } from '../../../model/index.js';
import { repoRoot } from '../../../util/data.js';
import { loadItems, type GenerateItem } from '../../datasets/index.js';
import type { CellSettings } from '../config.js';
import type { CellRunner, ItemOutcome, RunnerContext } from '../runner.js';
import { fullRunner, handoffRunner, planRunner, selectRunner } from './index.js';
import { compressionName } from './handoff.js';

const spec = loadModel(`${repoRoot}/fixtures/llama`);
const session = await Session.create(spec, { threads: 1 });
after(() => session.dispose());
const { items } = await loadItems(spec, { name: 'facts', n: 3, seed: 0, maxTokens: 6 });
const gen = items as GenerateItem[];

function cell(method: string, budget: CellSettings['budget'], precision: CellSettings['precision'], params: Record<string, unknown> = {}): CellSettings {
  return { model: { name: 'llama', path: 'fixtures/llama' }, dataset: { name: 'facts', n: 3, seed: 0 }, method, budget, precision, params, seed: 0 };
}

async function run(runner: CellRunner, c: CellSettings): Promise<ItemOutcome[]> {
  runner.validate(c);
  const ctx: RunnerContext = { cell: c, spec, session, state: {}, loadModel: async () => ({ spec, session }) };
  await runner.prepare?.(ctx);
  const out: ItemOutcome[] = [];
  for (const item of gen) out.push(await runner.runItem(ctx, item));
  return out;
}

/** Greedy answer from a cache injected by hand, as the runners should do it. */
async function byHand(item: GenerateItem, keep: (T: number) => number[]): Promise<string> {
  const { cache } = await session.prefill(item.ids.slice(0, item.split));
  const seq = session.inject(cache.gather(keep(cache.length)), { nextPosition: cache.nextPosition });
  await seq.append(item.ids.slice(item.split));
  const until = (t: readonly number[]) => /\S[^\n]*\n/.test(spec.tokenizer.decode(t));
  return spec.tokenizer.decode((await seq.generate({ maxTokens: item.maxTokens, until })).tokens);
}

const sumParts = (o: ItemOutcome) => o.bytes.payload + o.bytes.scales + o.bytes.indices + o.bytes.metadata;

test('select: front/back at p, fp16 rows, answer as the same tokens injected by hand; bytes add up and shrink with p', async () => {
  const outputs: string[][] = [];
  for (const selector of ['front', 'back'] as const) {
    const out = await run(selectRunner, cell('select', 0.5, 'fp16', { selector }));
    outputs.push(out.map((o) => o.output!));
    for (let i = 0; i < gen.length; i++) {
      const T = gen[i].split;
      const k = Math.max(1, Math.floor(0.5 * T));
      assert.equal(out[i].keptTokens, k);
      assert.equal(out[i].contextTokens, T);
      const want = await byHand(gen[i], () => Array.from({ length: k }, (_, j) => (selector === 'front' ? j : T - k + j)));
      assert.equal(out[i].output, want, `${selector} item ${i}`);
      assert.equal(out[i].bytes.total, sumParts(out[i]));
      // fp16 rows: 2 bytes per value, K and V, every layer and head; no scales.
      assert.equal(out[i].bytes.payload, 2 * spec.config.layers * spec.config.kvHeads * k * spec.config.headDim * 2);
      assert.equal(out[i].bytes.scales, 0);
      assert.ok(out[i].bytes.metadata > 0 && out[i].bytes.indices > 0);
    }
  }
  // The fixture's answers depend on which tokens it gets (else the comparison above proves nothing).
  assert.ok(outputs[0].some((o, i) => o !== outputs[1][i]), JSON.stringify(outputs));
  const int8 = await run(selectRunner, cell('select', 0.5, 'int8', { selector: 'back' }));
  const int8Quarter = await run(selectRunner, cell('select', 0.25, 'int8', { selector: 'back' }));
  for (let i = 0; i < gen.length; i++) {
    assert.ok(int8[i].bytes.scales > 0);
    assert.ok(int8Quarter[i].bytes.total < int8[i].bytes.total);
  }
});

test('select: attention selectors, per-head sets (absent mask), random is seeded per example', async () => {
  for (const selector of ['h2o', 'snapkv', 'q2c', 'vnorm', 'knorm']) {
    const out = await run(selectRunner, cell('select', 0.25, 'int8', { selector }));
    assert.equal(out.length, gen.length);
    assert.ok(out.every((o) => typeof o.output === 'string' && o.ms.select >= 0 && o.bytes.total === sumParts(o)));
  }
  // Per-head sets send the union of tokens with per-head class maps: more index bytes than one shared set.
  const head = await run(selectRunner, cell('select', 0.25, 'int8', { selector: 'h2o', granularity: 'head' }));
  const shared = await run(selectRunner, cell('select', 0.25, 'int8', { selector: 'h2o' }));
  assert.ok(head.some((o, i) => o.bytes.indices > shared[i].bytes.indices));
  const a = await run(selectRunner, cell('select', 0.5, 'fp16', { selector: 'random' }));
  const b = await run(selectRunner, cell('select', 0.5, 'fp16', { selector: 'random' }));
  assert.deepEqual(a.map((o) => o.output), b.map((o) => o.output));
});

test('select: config errors name the field', () => {
  assert.throws(() => selectRunner.validate(cell('select', 0.25, 'int8', { selector: 'nope' })), { code: 'BAD_CONFIG', path: 'params.selector' });
  assert.throws(() => selectRunner.validate(cell('select', null, 'int8', { selector: 'back' })), { code: 'BAD_CONFIG', path: 'budgets' });
  assert.throws(() => selectRunner.validate(cell('select', 1.5, 'int8', { selector: 'back' })), { code: 'BAD_CONFIG', path: 'budgets' });
  assert.throws(() => selectRunner.validate(cell('select', 0.25, 'int3', { selector: 'back' })), { code: 'BAD_CONFIG', path: 'precisions' });
  assert.throws(() => selectRunner.validate(cell('select', 0.25, 'int8', { selector: 'delta_proj_vnorm' })), { code: 'BAD_CONFIG', path: 'params.selector' });
  assert.throws(() => selectRunner.validate(cell('select', 0.25, 'int8', { selector: 'back', sink: 1 })), { code: 'BAD_CONFIG', path: 'params.sink' });
});

test('plan: RD plans stay within the budget, metadata included; more budget, more bytes', async () => {
  const L = spec.config.layers;
  const fp16 = (T: number) => 2 * L * spec.config.kvHeads * T * spec.config.headDim * 2;
  const eighth = await run(planRunner, cell('plan', '1/8', null, { actions: ['int4', 'int8'] }));
  const half = await run(planRunner, cell('plan', 0.5, null, { actions: ['int8'], sinks: 1 }));
  for (let i = 0; i < gen.length; i++) {
    const T = gen[i].split;
    assert.ok(eighth[i].bytes.total <= fp16(T) / 8, `item ${i}: ${eighth[i].bytes.total} > ${fp16(T) / 8}`);
    assert.ok(half[i].bytes.total <= fp16(T) / 2);
    assert.ok(half[i].bytes.total > eighth[i].bytes.total);
    assert.ok(half[i].keptTokens >= eighth[i].keptTokens && half[i].keptTokens >= 1);
    assert.equal(eighth[i].bytes.total, sumParts(eighth[i]));
  }
});

test('plan: a precision with every layer FP16 sends FP16 rows; protect diagnoses bottleneck layers', async () => {
  const L = spec.config.layers;
  const allFp16 = await run(planRunner, cell('plan', null, 'int4', { lastFp16: L }));
  const int4 = await run(planRunner, cell('plan', null, 'int4'));
  for (let i = 0; i < gen.length; i++) {
    const T = gen[i].split;
    assert.equal(allFp16[i].bytes.payload, 2 * L * spec.config.kvHeads * T * spec.config.headDim * 2);
    assert.equal(allFp16[i].bytes.scales, 0);
    assert.ok(int4[i].bytes.total < allFp16[i].bytes.total / 2);
  }
  const c = cell('plan', null, 'int4', { protect: 1 });
  planRunner.validate(c);
  const ctx: RunnerContext = { cell: c, spec, session, state: {}, loadModel: async () => ({ spec, session }) };
  await planRunner.prepare!(ctx);
  const protect = ctx.state.protect as number[];
  assert.equal(protect.length, 1);
  assert.ok(protect[0] >= 0 && protect[0] < L);
  // One FP16 layer of L: more bytes than INT4 everywhere.
  const o = await planRunner.runItem(ctx, gen[0]);
  assert.ok(o.bytes.total > int4[0].bytes.total && o.bytes.total < allFp16[0].bytes.total);
  assert.throws(() => planRunner.validate(cell('plan', '1/8', 'int8')), { code: 'BAD_CONFIG', path: 'precisions' });
  assert.throws(() => planRunner.validate(cell('plan', '1/8', null, { actions: ['int3'] })), { code: 'BAD_CONFIG', path: 'params.actions' });
  assert.throws(() => planRunner.validate(cell('plan', null, 'int4', { actions: ['int8'] })), { code: 'BAD_CONFIG', path: 'params.actions' });
  assert.throws(() => planRunner.validate(cell('plan', -1, null)), { code: 'BAD_CONFIG', path: 'budgets' });
});

test('handoff: an fp32 card over loopback answers as the full cache does; bytes are the card\'s; a shaped link takes its latency', async () => {
  const full = await run(fullRunner, cell('full', null, null));
  const card = await run(handoffRunner, cell('handoff', null, 'fp32'));
  for (let i = 0; i < gen.length; i++) {
    assert.equal(card[i].output, full[i].output, `item ${i}`);
    assert.equal(card[i].correct, full[i].correct);
    assert.equal(card[i].keptTokens, gen[i].split);
    assert.equal(card[i].bytes.total, sumParts(card[i]));
    // fp32 payload plus the container: more than the values alone, and header/checksums counted.
    assert.ok(card[i].bytes.payload >= 2 * spec.config.layers * spec.config.kvHeads * gen[i].split * spec.config.headDim * 4);
    assert.ok(card[i].bytes.metadata > 0);
    for (const stage of ['prefill', 'plan', 'encode', 'transfer', 'decodeCard', 'inject', 'append', 'decode']) assert.ok(card[i].ms[stage] >= 0, stage);
  }
  // 10 ms each way on the 100mbit link: a request and a response cannot take less than 20 ms.
  const slow = await run(handoffRunner, cell('handoff', null, 'int8', { link: '100mbit' }));
  assert.ok(slow.every((o) => o.ms.transfer + o.ms.decodeCard >= 19), JSON.stringify(slow.map((o) => o.ms.transfer)));
  const q2c = await run(handoffRunner, cell('handoff', 0.25, 'int4', { selector: 'q2c' }));
  for (let i = 0; i < gen.length; i++) assert.equal(q2c[i].keptTokens, Math.max(1, Math.floor(0.25 * gen[i].split)));
});

test('handoff: compression names and config errors', () => {
  assert.equal(compressionName({ budget: 0.25, precision: 'int4', params: { selector: 'q2c' } }), 'int4-q2c25');
  assert.equal(compressionName({ budget: '1/8', precision: 'rd', params: {} }), 'rd12.5');
  assert.equal(compressionName({ budget: null, precision: null, params: {} }), 'fp16');
  assert.throws(() => handoffRunner.validate(cell('handoff', null, 'int8', { link: 'dialup' })), { code: 'BAD_CONFIG', path: 'params.link' });
  assert.throws(() => handoffRunner.validate(cell('handoff', 0.25, 'int8')), { code: 'BAD_CONFIG', path: 'budgets' });
  assert.throws(() => handoffRunner.validate(cell('handoff', null, 'int3')), { code: 'BAD_CONFIG', path: 'precisions' });
});
