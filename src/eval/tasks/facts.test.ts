import { test } from 'node:test';
import assert from 'node:assert/strict';
import { facts } from './facts.js';
import { namesFor } from './pools.js';
import { formatTarget } from './format.js';
import { LETTERS } from './types.js';
import { attribute } from './world.js';

test('facts: the gold option is stated about the asked subject; distractors are other in-context values', () => {
  for (const e of facts.generate({ split: 'train', n: 200, seed: 11 })) {
    const lines = e.context.split('\n');
    const m = e.meta as { attribute: string; subject: string; answerText: string; goldLine: number; numFacts: number };
    const attr = attribute(m.attribute);
    const gold = e.choices![LETTERS.indexOf(e.answer as 'A')];
    assert.equal(gold, m.answerText);
    assert.equal(lines[m.goldLine], attr.sentence(m.subject, gold));
    assert.equal(lines.length, m.numFacts);
    assert.ok(m.numFacts >= 8 && m.numFacts <= 16);
    assert.equal(e.question, attr.question(m.subject));
    // The subject has exactly one fact of the asked attribute.
    const prefix = attr.sentence(m.subject, '\u0000').split('\u0000')[0];
    assert.equal(lines.filter((l) => l.startsWith(prefix)).length, 1);
    // Each wrong option is the value of the same attribute for another subject in the context.
    for (const c of e.choices!.filter((c) => c !== gold)) {
      const other = new RegExp(`\\b${m.subject}\\b`);
      assert.ok(lines.some((l) => l.endsWith(` ${c}.`) && !other.test(l)), `${e.id}: distractor ${c} in context`);
    }
  }
});

test('facts: numFacts is honoured, small contexts pad options from the pool', () => {
  for (const n of [1, 2, 30]) {
    for (const e of facts.generate({ split: 'test', n: 20, seed: 2, numFacts: n })) {
      assert.equal(e.context.split('\n').length, n);
      assert.equal(new Set(e.choices).size, 4);
    }
  }
});

test('facts: train and test subjects come from disjoint name pools', () => {
  const people = { train: new Set(namesFor('person', 'train')), test: new Set(namesFor('person', 'test')) };
  const places = { train: new Set(namesFor('place', 'train')), test: new Set(namesFor('place', 'test')) };
  assert.equal([...people.test].filter((x) => people.train.has(x)).length, 0);
  assert.equal([...places.test].filter((x) => places.train.has(x)).length, 0);
  for (const split of ['train', 'test'] as const) {
    for (const e of facts.generate({ split, n: 100, seed: 5 })) {
      const s = (e.meta as { subject: string }).subject;
      assert.ok(people[split].has(s) || places[split].has(s), `${e.id}: ${s} from the ${split} pool`);
    }
  }
});

test('facts: open and value forms answer with the value stated about the subject', () => {
  const mc = facts.generate({ split: 'train', n: 50, seed: 4 });
  const open = facts.generate({ split: 'train', n: 50, seed: 4, form: 'open' });
  const value = facts.generate({ split: 'train', n: 50, seed: 4, form: 'value' });
  for (let i = 0; i < open.length; i++) {
    const e = open[i];
    const m = e.meta as { answerText: string; goldLine: number };
    assert.equal(e.choices, undefined);
    assert.equal(e.answer, m.answerText);
    assert.equal(e.context, mc[i].context, 'the same draw as the multiple-choice example');
    assert.ok(e.context.split('\n')[m.goldLine].endsWith(` ${e.answer}.`));
    assert.ok(facts.score(e, ` ${e.answer}.`));
    assert.ok(!facts.score(e, ' ' + mc[i].choices!.find((c) => c !== e.answer)));
    // 'value': the multiple-choice example, written with the option's text instead of its letter.
    const v = value[i];
    assert.deepEqual(v.choices, mc[i].choices);
    assert.equal(v.answer, mc[i].answer);
    assert.equal(formatTarget(v), ` ${e.answer}`);
    assert.ok(facts.score(mc[i], formatTarget(v)), 'the value target scores as the gold letter');
  }
  assert.throws(() => facts.generate({ split: 'train', n: 1, seed: 4, form: 'word' as 'open' }), /form must be/);
});
