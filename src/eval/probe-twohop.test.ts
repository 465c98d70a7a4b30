import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { friendProbes, lineSpans } from './probe-twohop.js';
import { formatPrompt, scoreChoice, twohop } from './tasks/index.js';
import { loadModel } from '../model/index.js';
import { repoRoot } from '../util/data.js';

describe('probe-twohop', () => {
  const examples = twohop.generate({ split: 'test', n: 40, seed: 0, chain: 'friend' });

  it('asks the second hop about the bridge, with the gold value and other stated values as options', () => {
    for (const ex of examples) {
      const { chain, hop2 } = friendProbes(ex);
      assert.equal(chain, ex);
      assert.match(hop2.question, new RegExp(`^What is ${ex.meta.bridge}'s favorite (color|food)\\?$`));
      const choices = hop2.choices!;
      assert.ok(choices.length >= 2 && choices.length <= 4, ex.id);
      assert.equal(new Set(choices).size, choices.length);
      for (const c of choices) assert.ok(ex.context.includes(`favorite`) && ex.context.includes(` is ${c}.`), `${c} is stated in ${ex.id}`);
      assert.ok(scoreChoice(hop2, ` ${ex.answer}`), 'the gold text scores right');
      assert.ok(!scoreChoice(hop2, ` ${choices.find((c) => c !== ex.answer)}`), 'another option scores wrong');
    }
    assert.ok(new Set(examples.map((e) => friendProbes(e).hop2.answer)).size > 1, 'the gold letter varies');
  });

  it('refuses examples that are not short-answer friend chains', () => {
    const capital = twohop.generate({ split: 'test', n: 1, seed: 0, chain: 'capital' })[0];
    assert.throws(() => friendProbes(capital), /not a short-answer friend chain/);
    const mc = twohop.generate({ split: 'test', n: 1, seed: 0, chain: 'friend', multipleChoice: true })[0];
    assert.throws(() => friendProbes(mc), /not a short-answer friend chain/);
  });

  it('finds each context line as a token span of the prompt', () => {
    const tok = loadModel(join(repoRoot, 'models', 'kvw-llama-6m')).tokenizer;
    for (const ex of examples.slice(0, 10)) {
      const prompt = formatPrompt(ex);
      const ids = tok.encode(prompt, { addBos: true });
      const lines = ex.context.split('\n');
      const spans = lineSpans(tok, prompt, lines, ids);
      assert.ok(spans, ex.id);
      assert.equal(spans.length, lines.length);
      spans.forEach(([s, e], i) => assert.equal(tok.decode(ids.slice(s, e)).trim(), lines[i], `${ex.id} line ${i}`));
    }
  });
});
