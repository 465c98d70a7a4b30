import { test } from 'node:test';
import assert from 'node:assert/strict';
import { twohop } from './twohop.js';
import { LETTERS } from './types.js';

/** Answers a twohop question from the context alone, by following the two stated hops. */
function solve(context: string, question: string): string | undefined {
  const lines = context.split('\n');
  const one = (re: RegExp) => {
    const hits = lines.map((l) => re.exec(l)).filter((m): m is RegExpExecArray => m !== null);
    assert.ok(hits.length <= 1, `ambiguous hop ${re}`);
    return hits[0]?.[1];
  };
  let m;
  if ((m = /^What is the capital of the country (\w+) lives in\?$/.exec(question))) {
    const country = one(new RegExp(`^${m[1]} lives in (\\w+)\\.$`));
    return country && one(new RegExp(`^The capital of ${country} is (\\w+)\\.$`));
  }
  if ((m = /^What is the favorite (\w+) of (\w+)'s best friend\?$/.exec(question))) {
    const friend = one(new RegExp(`^${m[2]}'s best friend is (\\w+)\\.$`));
    return friend && one(new RegExp(`^${friend}'s favorite ${m[1]} is (\\w+)\\.$`));
  }
  if ((m = /^In which city is the company (\w+) works for based\?$/.exec(question))) {
    const company = one(new RegExp(`^${m[1]} works for (\\w+)\\.$`));
    return company && one(new RegExp(`^${company} is based in (\\w+)\\.$`));
  }
  return undefined;
}

test('twohop: the answer follows from the context by two hops, and not from one', () => {
  const kinds = new Set<string>();
  for (const split of ['train', 'test'] as const) {
    for (const e of twohop.generate({ split, n: 150, seed: 4 })) {
      const m = e.meta as { chain: string; hops: string[]; numFacts: number };
      kinds.add(m.chain);
      assert.equal(solve(e.context, e.question), e.answer, e.id);
      for (const hop of m.hops) assert.ok(e.context.split('\n').includes(hop));
      assert.equal(e.context.split('\n').length, m.numFacts);
      assert.match(e.answer, /^\w+$/);
      // The answer value is stated once; other values of its type are there too.
      assert.equal(e.context.split(`${e.answer}.`).length - 1, 1, `${e.id}: answer stated once`);
    }
  }
  assert.deepEqual([...kinds].sort(), ['capital', 'employer', 'friend']);
});

test('twohop: multiple-choice variant draws options from the context', () => {
  for (const e of twohop.generate({ split: 'test', n: 60, seed: 9, multipleChoice: true, numFacts: 12 })) {
    const gold = e.choices![LETTERS.indexOf(e.answer as 'A')];
    assert.equal(solve(e.context, e.question), gold);
    for (const c of e.choices!) assert.ok(e.context.includes(` ${c}.`), `${e.id}: option ${c} in context`);
  }
});

test('twohop: minimal contexts still hold both hops; chain can be fixed', () => {
  for (const e of twohop.generate({ split: 'train', n: 20, seed: 1, numFacts: 2, chain: 'friend' })) {
    assert.equal(e.context.split('\n').length, 2);
    assert.equal((e.meta as { chain: string }).chain, 'friend');
    assert.equal(solve(e.context, e.question), e.answer);
  }
});
