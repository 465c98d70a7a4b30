import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerSpan, extractChoice, extractNumber, scoreChoice, scoreNumber, scoreShort } from './score.js';
import type { Example } from './types.js';

const mc: Example = {
  id: 'x', task: 'facts', context: '', question: '', answer: 'B', choices: ['red', 'teal', 'red fox', 'gold'], meta: {},
};
const short = (answer: string): Example => ({ id: 'x', task: 'twohop', context: '', question: '', answer, meta: {} });
const num = (answer: string, solution?: string): Example => ({ id: 'x', task: 'arith', context: '', question: '', answer, ...(solution ? { solution } : {}), meta: {} });

test('multiple choice accepts letters in every usual dress', () => {
  for (const out of ['B', ' B', 'b', 'B)', '(B)', '(b) teal', '  b) teal', 'B.', 'B: teal', '[B]', 'B teal',
    'The answer is B.', 'Answer: (b)', 'B\n\nQuestion: what?', ' teal', 'Teal.', 'the teal', 'teal\nC) red']) {
    assert.equal(scoreChoice(mc, out), true, JSON.stringify(out));
  }
});

test('multiple choice rejects wrong or empty answers', () => {
  for (const out of ['A', 'C) red fox', 'red', 'red fox', '', '   ', 'E', 'gold', 'I do not know', '\n\nB']) {
    const expected = out === '\n\nB'; // blank lines before the answer are skipped
    assert.equal(scoreChoice(mc, out), expected, JSON.stringify(out));
  }
  assert.equal(extractChoice('red fox', mc.choices!), 'C', 'longest option text wins');
  assert.equal(extractChoice('a fox', ['owl', 'fox', 'cat', 'dog']), 'B', 'a leading article is not the letter A');
  assert.equal(extractChoice('a) fox', ['owl', 'fox', 'cat', 'dog']), 'A', 'a marked letter is a letter');
});

test('short answers: trim, case-fold, first answer-like token', () => {
  const e = short('Kelt');
  for (const out of ['Kelt', ' kelt', 'KELT.', '  Kelt\n\nQuestion: next', 'The answer is Kelt.', 'Answer: kelt', 'the Kelt', '"Kelt"', 'Kelt, the capital']) {
    assert.equal(scoreShort(e, out), true, JSON.stringify(out));
  }
  for (const out of ['Varno', '', 'Keltis', 'The capital is Kelt', 'Varno\nKelt']) {
    assert.equal(scoreShort(e, out), false, JSON.stringify(out));
  }
  assert.equal(answerSpan('  Answer: the answer is 12.\nmore'), '12.');
});

test('short numeric answers compare as numbers', () => {
  const e = short('48213');
  for (const out of ['48213', ' 48213.', 'The answer is 48213', '48,213', '48213\n\nQuestion: 11111']) {
    assert.equal(scoreShort(e, out), true, JSON.stringify(out));
  }
  for (const out of ['4821', '482130', 'none', '11111 48213']) assert.equal(scoreShort(e, out), false, JSON.stringify(out));
});

test('arithmetic: "####", then the last number of steps, else the first number', () => {
  const e = num('12');
  for (const out of ['12', ' 12', 'The answer is 12.', '12\n\nQuestion: Tom has 3 apples.', '12 apples', '#### 12', '7 + 5 = 12.', '7 + 5 = 12. #### 12\n3']) {
    assert.equal(scoreNumber(e, out), true, JSON.stringify(out));
  }
  for (const out of ['13', '', 'twelve', '7 + 5 = 13. #### 13', '#### 3 12']) assert.equal(scoreNumber(e, out), false, JSON.stringify(out));
  const w = num('9', '7 + 5 = 12. 12 - 3 = 9. #### 9');
  assert.equal(scoreNumber(w, ' 7 + 5 = 12. 12 - 3 = 9. #### 9'), true);
  assert.equal(scoreNumber(w, ' 7 + 5 = 12. 12 - 3 = 9.'), true, 'cut before ####: last number');
  assert.equal(scoreNumber(w, ' 7 + 5 = 12. 12 - 3 = 8. #### 8'), false);
  assert.equal(extractNumber('#### -4', false), '-4');
  assert.equal(extractNumber('1,234 coins', false), '1234');
});
