// Q2C on a real model (stories260K): the question's attention must move toward the context
// tokens it is about. The model is tiny (260K parameters) and has no strong copy heads, so the
// test is differential: the tokens of a subject score higher when the question names that
// subject than when it names another one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Session } from '../engine/index.js';
import { loadModel } from '../model/index.js';
import { dataPath } from '../util/data.js';
import { sessionAttention } from './attention.js';
import { q2cSelector } from './attention.js';
import { aggregateScores } from './topk.js';

test('Q2C: a subject\'s tokens score higher when the question is about that subject', async () => {
  const spec = loadModel(dataPath('models/stories260K/stories260K.bin'));
  const tok = spec.tokenizer;
  const session = await Session.create(spec);
  try {
    const context = 'Tom had a red ball. Sue had a big kite. Ben had a small boat. They went to the park.';
    const ids = tok.encode(context, { addBos: true });
    const { cache } = await session.prefill(ids);
    // Token spans of each subject's sentence ("Tom had a red ball" ...), found by decoding prefixes.
    const spanOf = (phrase: string): number[] => {
      const start = context.indexOf(phrase);
      const out: number[] = [];
      for (let i = 1; i < ids.length; i++) {
        const before = tok.decode(ids.slice(1, i)).length;
        if (before >= start && before < start + phrase.length) out.push(i);
      }
      return out;
    };
    const subjects = { Tom: spanOf('Tom had a red ball'), Sue: spanOf('Sue had a big kite'), Ben: spanOf('Ben had a small boat') };
    const scoresFor = async (question: string) => {
      const attention = sessionAttention(session, cache, tok.encode(question));
      // The attention signal itself (no pooling: a window of 13 tokens would smear these 6-token sentences).
      const s = aggregateScores(await q2cSelector({ before: 0, after: 0 }).score({ cache, attention }), 'shared', cache);
      return s.granularity === 'shared' ? s.scores : new Float64Array(0);
    };
    const mean = (s: Float64Array, span: number[]) => span.reduce((a, i) => a + s[i], 0) / span.length;
    const byQuestion = {
      Tom: await scoresFor(' Tom had a red'), Sue: await scoresFor(' Sue had a big'), Ben: await scoresFor(' Ben had a small'),
    };
    for (const [name, span] of Object.entries(subjects)) {
      assert.ok(span.length >= 4, `${name}'s sentence spans ${span.length} tokens`);
      const own = mean(byQuestion[name as keyof typeof byQuestion], span);
      for (const [other, scores] of Object.entries(byQuestion)) {
        if (other === name) continue;
        assert.ok(own > mean(scores, span), `${name}'s tokens: ${own.toFixed(3)} under its own question, ${mean(scores, span).toFixed(3)} under ${other}'s`);
      }
    }
  } finally {
    await session.dispose();
  }
});
