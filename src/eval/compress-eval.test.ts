// compress-eval end to end on a tiny random model: every method runs on every item, bytes are
// the packed bytes, FP16 stays next to the full cache, and the report has a row per method.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Session } from '../engine/index.js';
import { tinySpec } from '../test-support/tiny-model.js';
import { compressEval } from './compress-eval.js';
import { taskItems } from './compress-eval-items.js';
import { claimComparisons, markdownTable, summarize } from './compress-eval-report.js';

test('compress-eval runs every method on every item and reports them', async () => {
  const session = await Session.create(tinySpec({ maxPositions: 2048 }));
  const tok = session.spec.tokenizer;
  const items = taskItems('facts', 3, tok, 0, { numFacts: 4 });
  assert.ok(items.every((it) => it.context[0] === tok.bosId && it.question.length > 0));
  const result = await compressEval(session, items, {
    ratios: [0.5, 0.25], selectors: ['front', 'back', 'h2o', 'snapkv', 'q2c'], rdFractions: [1 / 4], sinks: 1,
    diagnosisItems: taskItems('facts', 2, tok, 1, { numFacts: 4 }, 'train'), maxTokens: 3, untilNewline: true,
  });
  const names = result.methods.map((m) => m.name);
  for (const name of ['full', 'fp16', 'int8', 'int4g', 'int2-kivi', 'nf4', 'int4g+bn1', 'int2-kivi+bn1', 'back@0.25', 'q2c@0.5', 'rd(all,K,q2c-w)@1/4']) {
    assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
  }
  for (const m of result.methods) for (const k of ['bytes', 'kl', 'top1', 'match', 'correct'] as const) assert.equal(m[k].length, 3, `${m.name}.${k}`);
  const get = (name: string) => result.methods.find((m) => m.name === name)!;
  assert.ok(get('fp16').kl.every((x) => x < 1e-3), 'fp16 is close to the full cache');
  assert.ok(get('int2-kivi').bytes[0] < get('int8').bytes[0] && get('int8').bytes[0] < get('fp16').bytes[0]);
  for (const b of get('rd(all)@1/4').bytes.map((x, i) => [x, result.methods[0].bytes[i] / 2] as const)) assert.ok(b[0] <= b[1] / 4 + 1, 'RD fits a quarter of FP16');
  const rows = summarize(result);
  assert.equal(rows.length, result.methods.length);
  assert.equal(markdownTable(result, rows).split('\n').length, rows.length + 2);
  assert.ok(claimComparisons(result).every((c) => c.comparisons.length > 0));
  await session.dispose();
});

test('text items are deterministic passages of context + probe tokens', async () => {
  const { loadModel } = await import('../model/index.js');
  const { dataPath } = await import('../util/data.js');
  const { textItems } = await import('./compress-eval-items.js');
  const tok = loadModel(dataPath('models/stories260K/stories260K.bin')).tokenizer;
  const a = textItems(3, tok, { seed: 4, contextTokens: 40, probeTokens: 8 });
  const b = textItems(3, tok, { seed: 4, contextTokens: 40, probeTokens: 8 });
  assert.deepEqual(a.map((x) => x.context), b.map((x) => x.context));
  for (const it of a) {
    assert.equal(it.context.length, 41);
    assert.equal(it.context[0], tok.bosId);
    assert.equal(it.question.length, 8);
    assert.equal(it.score, undefined);
  }
  assert.notDeepEqual(a[0].context, textItems(1, tok, { seed: 5, contextTokens: 40, probeTokens: 8 })[0].context);
});

test('the command refuses bad arguments with a usage error', async () => {
  const { compressEvalCommand } = await import('../cli/commands/compress-eval.js');
  const { UsageError } = await import('../cli/errors.js');
  for (const argv of [[], ['--model', 'x'], ['--model', 'x', '--tasks', 'nope'], ['--model', 'x', '--text', '--ratios', '0,2'],
    ['--model', 'x', '--text', '-n', '0'], ['--model', 'x', '--text', '--selectors', 'magic'], ['--model', 'x', '--text', '--rd', '0']]) {
    await assert.rejects(compressEvalCommand(argv), (e: unknown) => e instanceof UsageError, argv.join(' '));
  }
});
