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
