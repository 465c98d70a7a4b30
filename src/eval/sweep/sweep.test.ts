import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  expandCells, parseConfig, planSweep, readResults, registerRunner, runHandoff, runSweep, settingsKey,
  type CellResult, type ProgressSink, type SweepConfig,
} from './index.js';
import { silentProgress } from './progress.js';
import { Session } from '../../engine/index.js';
import { loadModel } from '../../model/index.js';
import { repoRoot } from '../../util/data.js';
import { runTask } from '../run-task.js';

// Engine-backed, on the tiny llama fixture (2 layers, 2 KV heads, head dim 16); facts needs no
// data, wikitext2 reads ../shared/data.
const base = {
  name: 'test',
  models: ['fixtures/llama'],
  datasets: [{ name: 'facts', n: 3 }, { name: 'wikitext2', n: 2, options: { window: 40, stride: 16 } }],
  methods: [{ method: 'full' }, { method: 'quant', precisions: ['int8', 'int4'] }],
};
const config = (extra: Record<string, unknown> = {}): SweepConfig => parseConfig({ ...base, ...extra });
const tmp = () => join(mkdtempSync(join(tmpdir(), 'kvwire-sweep-')), 'results.jsonl');

/** A result without what varies between identical runs (timings, dates, machine). */
function stable(r: CellResult): unknown {
  const { timings: _t, run: _r, examples, ...rest } = r;
  return { ...rest, examples: examples.map(({ ms: _ms, ...e }) => e) };
}
const byKey = (rs: CellResult[]) => [...rs].sort((a, b) => (a.key < b.key ? -1 : 1)).map(stable);

test('config errors name the field', () => {
  assert.throws(() => parseConfig({ ...base, models: [] }), (e: Error & { code?: string }) => e.code === 'BAD_CONFIG' && /config\.models/.test(e.message));
  assert.throws(() => parseConfig({ ...base, datasets: [{ name: 'arc', count: 3 }] }), /config\.datasets\[0\]\.count: unknown field/);
  assert.throws(() => parseConfig({ ...base, seeds: [-1] }), /config\.seeds\[0\]/);
  assert.throws(() => parseConfig({ ...base, methods: [{ method: 'quant', precisions: [3] }] }), /methods\[0\]\.precisions\[0\]/);
});

test('cells: the grid, stable keys, vary axes, duplicates once', async () => {
  const cells = expandCells(config({ seeds: [0, 1] }));
  assert.equal(cells.length, 1 * 2 * 2 * 3);
  assert.equal(new Set(cells.map((c) => c.key)).size, cells.length);
  // The key depends on the settings, not on how the config spelled them.
  const reordered = parseConfig({ methods: base.methods, datasets: base.datasets, models: base.models, name: 'other name', seeds: [1, 0] });
  assert.deepEqual(new Set(expandCells(reordered).map((c) => c.key)), new Set(cells.map((c) => c.key)));
  assert.equal(cells[0].key, settingsKey({ model: cells[0].model, dataset: cells[0].dataset, method: 'full', budget: null, precision: null, params: {}, seed: 0 }));
  const varied = expandCells(parseConfig({ ...base, datasets: ['facts'], methods: [{ method: 'quant', precisions: ['int8'], vary: { lastFp16: [0, 1], recentWindow: [0, 4] } }, { method: 'full' }, { method: 'full' }] }));
  assert.equal(varied.length, 4 + 1);
  assert.deepEqual(varied[3].params, { lastFp16: 1, recentWindow: 4 });
  await assert.rejects(planSweep(config({ methods: [{ method: 'nope' }] })), { code: 'BAD_CONFIG' });
  await assert.rejects(planSweep(config({ methods: [{ method: 'quant', precisions: ['int3'] }] })), { code: 'BAD_CONFIG' });
  await assert.rejects(planSweep(config({ methods: [{ method: 'full', budgets: [0.5] }] })), { code: 'BAD_CONFIG' });
  await assert.rejects(planSweep(config({ models: ['no/such/model'] })), { code: 'FILE_NOT_FOUND' });
  // Optional models that are absent are skipped; `optional` is not part of the keys.
  const saved = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    const some = await planSweep(config({ models: ['fixtures/llama', { path: 'no/such/model', optional: true }] }));
    assert.deepEqual(some.map((c) => c.key), expandCells(config()).map((c) => c.key));
    const marked = expandCells(config({ models: [{ path: 'fixtures/llama', optional: true }] }));
    assert.deepEqual(marked.map((c) => c.key), expandCells(config()).map((c) => c.key));
  } finally {
    process.stderr.write = saved;
  }
});

test('a stopped sweep resumes to the results of an uninterrupted one', async () => {
  const whole = tmp();
  const ref = await runSweep(config(), { out: whole, progress: false });
  assert.equal(ref.ran, 6);
  assert.equal(readResults(whole).results.length, 6);

  // Stop by cell count, then by an abort in the middle of a cell, then cut the file mid-line.
  const out = tmp();
  const first = await runSweep(config(), { out, progress: false, maxCells: 2 });
  assert.deepEqual([first.ran, first.remaining, first.stopped], [2, 4, true]);
  const controller = new AbortController();
  let items = 0;
  const abortMidCell: ProgressSink = { ...silentProgress, item: () => { if (++items === 2) controller.abort(); } };
  const second = await runSweep(config(), { out, progress: abortMidCell, signal: controller.signal });
  assert.equal(second.ran, 0); // the cell in flight is not written
  assert.equal(second.skipped, 2);
  appendFileSync(out, '{"kvwire":"sweep-result","key":"trunc'); // a partial line, as a kill mid-write leaves
  const third = await runSweep(config(), { out, progress: false, maxCells: 1 });
  assert.equal(third.ran, 1);
  const last = await runSweep(config(), { out, progress: false, csv: out.replace('.jsonl', '.csv') });
  assert.deepEqual([last.skipped, last.ran, last.remaining, last.stopped], [3, 3, 0, false]);
  assert.deepEqual(byKey(readResults(out).results), byKey(readResults(whole).results));
  // Nothing left: a rerun runs nothing.
  assert.equal((await runSweep(config(), { out, progress: false })).ran, 0);
  const csv = readFileSync(out.replace('.jsonl', '.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 7);
  assert.match(csv[0], /^key,label,model,dataset/);
});

test('two workers give the same results as one', async () => {
  const one = tmp();
  const two = tmp();
  await runSweep(config(), { out: one, progress: false, workers: 1 });
  const s = await runSweep(config(), { out: two, progress: false, workers: 2 });
  assert.equal(s.ran, 6);
  assert.ok(readResults(two).results.every((r) => r.run.workers === 2 && r.run.threads === 1));
  assert.deepEqual(byKey(readResults(two).results), byKey(readResults(one).results));
});

test('quant: exact bytes, and an fp32 "quantizer" equals the full cache', async () => {
  const out = tmp();
  const fp32 = { keys: { format: 'fp32' }, values: { format: 'fp32' } };
  await runSweep(config({ methods: [{ method: 'full' }, { method: 'quant', precisions: [fp32, 'int8', 'fp16'] }, { method: 'quant', precisions: ['int8'], params: { lastFp16: 2 } }] }), { out, progress: false });
  const rs = readResults(out).results;
  const find = (ds: string, m: string, p: unknown, params = {}) => rs.find((r) => r.dataset.name === ds && r.method === m && JSON.stringify(r.precision) === JSON.stringify(p) && JSON.stringify(r.params) === JSON.stringify(params))!;
  for (const ds of ['facts', 'wikitext2']) {
    const full = find(ds, 'full', null);
    const exact = find(ds, 'quant', fp32);
    assert.deepEqual(exact.examples.map((e) => [e.output, e.nll]), full.examples.map((e) => [e.output, e.nll]));
    assert.equal(exact.bytes.mean.total, 2 * full.bytes.mean.total); // fp32 is twice the fp16 baseline
    assert.equal(find(ds, 'quant', 'fp16').bytes.mean.total, full.bytes.mean.total);
    // KIVI int8: 1 byte per value; per layer and head, keys have D scales + D zeros, values T + T (fp16).
    const int8 = find(ds, 'quant', 'int8');
    const { layers: L, kvHeads: H, headDim: D } = int8.modelInfo;
    int8.examples.forEach((e) => {
      const T = e.contextTokens;
      assert.equal(e.bytes, 2 * L * H * T * D + L * H * (2 * 2 * D + 2 * 2 * T));
    });
    assert.equal(int8.bytes.mean.scales + int8.bytes.mean.payload, int8.bytes.mean.total);
    // Every layer in fp16 = the fp16 preset.
    assert.deepEqual(stable({ ...find(ds, 'quant', 'int8', { lastFp16: 2 }), key: '', label: '', precision: null, params: {} }),
      stable({ ...find(ds, 'quant', 'fp16'), key: '', label: '', precision: null, params: {} }));
  }
  const ppl = find('wikitext2', 'full', null).summary as { ppl: number; tokens: number; bitsPerByte: number };
  assert.ok(ppl.tokens === 32 && ppl.ppl > 1 && ppl.bitsPerByte > 0);
});

test('runners plug in by name', async () => {
  registerRunner({
    method: 'test-back-half',
    description: 'keeps the last half of the context (test only)',
    validate() {},
    runItem: (ctx, item) => runHandoff(ctx, item, (p) => {
      const T = p.cache.length;
      const kept = p.cache.slice(Math.floor(T / 2));
      const payload = kept.payloadBytes(16);
      return { cache: kept, bytes: { total: payload + 4 * kept.length, payload, scales: 0, indices: 4 * kept.length, metadata: 0 }, ms: { select: 0 } };
    }),
  }, { replace: true });
  const out = tmp();
  await runSweep(config({ methods: [{ method: 'test-back-half' }], datasets: [{ name: 'facts', n: 2 }] }), { out, progress: false });
  const [r] = readResults(out).results;
  assert.equal(r.method, 'test-back-half');
  for (const e of r.examples) assert.equal(e.keptTokens, e.contextTokens - Math.floor(e.contextTokens / 2));
  assert.ok(r.bytes.mean.indices > 0 && 'select' in r.timings);
});

test('work counters a runner reports are kept per example, as a cell mean and in the CSV', async () => {
  registerRunner({
    method: 'test-counters',
    description: 'full cache, counting its context tokens twice (test only)',
    validate() {},
    runItem: async (ctx, item) => {
      const out = await runHandoff(ctx, item, (p) => ({ cache: p.cache, bytes: { total: 0, payload: 0, scales: 0, indices: 0, metadata: 0 }, ms: {} }));
      return { ...out, counters: { work: 2 * out.contextTokens } };
    },
  }, { replace: true });
  const out = tmp();
  await runSweep(config({ methods: [{ method: 'test-counters' }], datasets: [{ name: 'facts', n: 3 }] }), { out, progress: false, csv: out + '.csv' });
  const [r] = readResults(out).results;
  assert.deepEqual(r.examples.map((e) => e.counters?.work), r.examples.map((e) => 2 * e.contextTokens));
  const meanWork = r.examples.reduce((a, e) => a + 2 * e.contextTokens, 0) / r.examples.length;
  assert.equal(r.counters?.work, meanWork);
  const [head, row] = readFileSync(out + '.csv', 'utf8').trim().split('\n');
  assert.equal(Number(row.split(',')[head.split(',').indexOf('mean_work')]), meanWork);
});

test("the full runner answers as kvwire eval does", async () => {
  const out = tmp();
  await runSweep(config({ methods: [{ method: 'full' }], datasets: [{ name: 'arith', n: 4 }, { name: 'facts', n: 4 }] }), { out, progress: false });
  const session = await Session.create(loadModel(join(repoRoot, 'fixtures', 'llama')));
  try {
    for (const task of ['arith', 'facts'] as const) {
      const ref = await runTask(session, { task, n: 4 });
      const cell = readResults(out).results.find((r) => r.dataset.name === task)!;
      // Prefill of the context, then the question appended = one prefill of the prompt (a cache law),
      // so the sweep's baseline is the same evaluation as `kvwire eval`.
      assert.deepEqual(cell.examples.map((e) => [e.id, e.correct]), ref.examples.map((e) => [e.id, e.correct]));
      assert.deepEqual(cell.examples.map((e) => e.output!.split('\n')[0].trim()), ref.examples.map((e) => e.output.split('\n')[0].trim()));
    }
  } finally {
    await session.dispose();
  }
});
