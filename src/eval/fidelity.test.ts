// Fidelity metrics: KL on known distributions, and full-vs-compressed runs on a tiny model.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Session } from '../engine/index.js';
import { tinySpec } from '../test-support/tiny-model.js';
import { compareRuns, forcedLogits, klDivergence, matchLength, reproducesAnswer, runContinuation } from './fidelity.js';

test('KL divergence of known distributions', () => {
  assert.equal(klDivergence([1, 2, 3], [1, 2, 3]), 0);
  assert.equal(klDivergence([1, 2, 3], [11, 12, 13]), 0, 'logits are shift-invariant');
  // P = (1/2, 1/2), Q = (1/4, 3/4): KL = ½ln2 + ½ln(2/3).
  const kl = klDivergence([0, 0], [0, Math.log(3)]);
  assert.ok(Math.abs(kl - (0.5 * Math.log(2) + 0.5 * Math.log(2 / 3))) < 1e-12);
  assert.notEqual(kl, klDivergence([0, Math.log(3)], [0, 0]), 'KL is not symmetric');
});

test('matchLength is the common prefix', () => {
  assert.equal(matchLength([1, 2, 3], [1, 2, 4, 5]), 2);
  assert.equal(matchLength([], [1]), 0);
  assert.equal(matchLength([7, 8], [7, 8]), 2);
});

test('a compressed cache run against the full run', async () => {
  const session = await Session.create(tinySpec());
  const context = Array.from({ length: 20 }, (_, i) => (i === 0 ? 1 : 3 + ((i * 11) % 60)));
  const question = [9, 19, 29];
  const { cache } = await session.prefill(context);
  const V = session.config.vocabSize;
  const opts = { maxTokens: 6, stop: [] as number[], logits: 'all' as const };
  const full = await runContinuation(session, cache, question, opts);
  const same = compareRuns(full, await runContinuation(session, cache.clone(), question, opts), V);
  assert.deepEqual(same, { kl: 0, top1: 1, matchLength: 6, rows: 3 });
  // Half the context, kept at its original positions: the question still starts at position 20.
  const half = cache.gather(Array.from({ length: 10 }, (_, i) => 2 * i));
  const sparse = await runContinuation(session, half, question, { ...opts, nextPosition: 20 });
  const f = compareRuns(full, sparse, V);
  assert.ok(f.kl > 0 && f.rows === 3);
  assert.ok(f.matchLength <= 6);
  await assert.rejects(runContinuation(session, half, [], opts), { code: 'BAD_ARGUMENT' });
  await session.dispose();
});

test('teacher-forced rows reproduce the greedy answer, and only it', async () => {
  const session = await Session.create(tinySpec());
  const V = session.config.vocabSize;
  const { cache } = await session.prefill(Array.from({ length: 15 }, (_, i) => (i === 0 ? 1 : 3 + ((i * 7) % 60))));
  const question = [8, 18, 28];
  const greedy = await runContinuation(session, cache, question, { maxTokens: 5, stop: [] });
  const rows = await forcedLogits(session, cache, [...question, ...greedy.tokens]);
  assert.equal(rows.length, (3 + 5) * V);
  // The forced pass's rows for the question equal the plain run's last row.
  assert.ok(klDivergence(rows, greedy.logits, 2 * V, 0, V) < 1e-9);
  assert.ok(reproducesAnswer(rows, V, 2, greedy.tokens.slice(0, 4), null));
  const wrong = greedy.tokens.slice(0, 4);
  wrong[1] = (wrong[1] + 1) % V;
  assert.ok(!reproducesAnswer(rows, V, 2, wrong, null));
  // An answer that ended on a stop token must have the stop token predicted after it.
  assert.ok(!reproducesAnswer(rows, V, 2, greedy.tokens.slice(0, 3), [(greedy.tokens[3] + 1) % V]));
  assert.ok(reproducesAnswer(rows, V, 2, greedy.tokens.slice(0, 3), [greedy.tokens[3]]));
  await session.dispose();
});
