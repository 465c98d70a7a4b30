// Lookahead Q2C on a real model (the llama fixture): the sharer's draft is its greedy answer, and
// the draft rows' attention is what one forward of question + draft gives for those rows.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Session } from '../engine/index.js';
import { loadModel } from '../model/index.js';
import { rowMass } from '../select/index.js';
import { repoRoot } from '../util/data.js';
import { maxRelError } from '../test-support/compare.js';
import { questionAttention } from './sharer.js';

test('questionAttention drafts the greedy answer and serves its rows apart from the question\'s', async () => {
  const spec = loadModel(join(repoRoot, 'fixtures', 'llama'));
  const session = await Session.create(spec);
  try {
    const tok = spec.tokenizer;
    const context = tok.encode('The red key is in the blue box. The green key is in the boot.', { addBos: true });
    const question = tok.encode(' Where is the green key? It is in the');
    const { cache } = await session.prefill(context);
    const greedy = await session.generate([...context, ...question], { maxTokens: 3, stop: [] });
    const asked = await questionAttention(session, cache, question, 3);
    assert.deepEqual(asked.draft, greedy.tokens.slice(0, 3));
    assert.equal(asked.draftLength, 3);

    // The same rows by hand: one forward of question + draft, every row's attention.
    const rows = [...question, ...asked.draft];
    const { attention } = await session.prefill(rows, { past: cache, attentionRows: rows.map((_, i) => i) });
    const T = cache.length;
    const A = rows.length;
    const K = attention!.keyPositions.length;
    const heads = session.config.heads;
    const Q = question.length;
    const byHand = (from: number, to: number) => attention!.probs.map((p) => rowMass(p, heads, A, K, T, Array.from({ length: to - from }, (_, i) => from + i)));
    // (appended token by token over one copy of the cache: equal to rounding, not bit for bit)
    const close = (got: Float32Array[], want: Float32Array[]) => got.forEach((m, l) => assert.ok(maxRelError(m, want[l]) < 1e-5, `layer ${l}`));
    close(await asked.questionMass(), byHand(0, Q));
    close(await asked.draftMass!(2), byHand(Q, Q + 2));
    close(await asked.draftMass!(3), byHand(Q, Q + 3));
    await assert.rejects(asked.draftMass!(4), { code: 'BAD_ARGUMENT' });

    await assert.rejects(questionAttention(session, cache, question, 65), { code: 'BAD_ARGUMENT' });
    await assert.rejects(questionAttention(session, cache, question, 1.5), { code: 'BAD_ARGUMENT' });

    // Without lookahead: the question's rows alone.
    const none = await questionAttention(session, cache, question);
    assert.equal(none.draftLength, 0);
    assert.equal(none.draftMass, undefined); // no draft asked for: +aheadN is refused, not silently plain
    close(await none.questionMass(), byHand(0, Q));
  } finally {
    await session.dispose();
  }
});
