import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arith } from './arith.js';

/** Evaluates "a + b * c - d" with the usual precedence (no eval). */
function evaluate(expr: string): number {
  const tokens = expr.split(' ');
  const terms: number[] = [];
  let sign = 1;
  let i = 0;
  while (i < tokens.length) {
    let v = Number(tokens[i++]);
    while (tokens[i] === '*') { v *= Number(tokens[i + 1]); i += 2; }
    terms.push(sign * v);
    if (i < tokens.length) { sign = tokens[i] === '-' ? -1 : 1; i++; }
  }
  return terms.reduce((a, b) => a + b, 0);
}

test('arith: the hidden expression evaluates to the answer, and its numbers sit in the context', () => {
  for (const split of ['train', 'test'] as const) {
    for (const e of arith.generate({ split, n: 200, seed: 3 })) {
      const m = e.meta as { expression: string; person: string; item: string };
      assert.equal(String(evaluate(m.expression)), e.answer, `${e.id}: ${m.expression}`);
      assert.ok(Number(e.answer) >= 0);
      const contextNumbers = e.context.match(/\d+/g)!.map(Number);
      for (const n of m.expression.match(/\d+/g)!.map(Number)) assert.ok(contextNumbers.includes(n), `${e.id}: ${n} in context`);
      assert.equal(e.question, `How many ${m.item} does ${m.person} have now?`);
      assert.ok(e.context.startsWith(`${m.person} has `));
    }
  }
});

test('arith: worked solutions are correct step by step and end in "#### answer"', () => {
  for (const e of arith.generate({ split: 'test', n: 100, seed: 8, worked: true, steps: 4, distractors: 2 })) {
    assert.ok(e.solution!.endsWith(`#### ${e.answer}`));
    for (const step of e.solution!.split('####')[0].trim().split(/(?<=\.) /)) {
      const [lhs, rhs] = step.replace(/\.$/, '').split(' = ');
      assert.equal(evaluate(lhs), Number(rhs), `${e.id}: ${step}`);
    }
    assert.equal((e.context.match(/\./g) ?? []).length, 1 + 4 + 2, 'start, 4 steps, 2 distractors');
  }
});

test('arith: bad option values are refused', () => {
  assert.throws(() => arith.generate({ split: 'train', n: 1, seed: 1, steps: 0 }), /steps/);
  assert.throws(() => arith.generate({ split: 'train', n: 1, seed: 1, distractors: 99 }), /distractors/);
});
