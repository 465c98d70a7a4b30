import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  canonicalNumber, containsAll, extractChoiceLetter, extractGsm8kAnswer, gsm8kGold, numbersEqual, numbersIn, scoreGsm8k,
} from './extract.js';

test('numbers: commas, dollars, signs, decimals, and hyphens that are not signs', () => {
  assert.deepEqual(numbersIn('He paid $1,250.50 for 3 items'), ['1250.5', '3']);
  assert.deepEqual(numbersIn('10-5 = 5 and -7 and \u22123.0'), ['10', '5', '5', '-7', '-3']);
  assert.deepEqual(numbersIn('values 3, 4, 5'), ['3', '4', '5']);
  assert.deepEqual(numbersIn('v1.2 is not a number, but 1.2 is'), ['1.2']);
  assert.equal(canonicalNumber('007'), '7');
  assert.equal(canonicalNumber('abc'), undefined);
  assert.ok(numbersEqual('18.00', '18'));
  assert.ok(!numbersEqual('18.5', '18'));
  assert.ok(!numbersEqual(undefined, '18'));
});

test('GSM8K gold answers come from "####"', () => {
  assert.equal(gsm8kGold('She makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18'), '18');
  assert.equal(gsm8kGold('... #### 1,000'), '1000');
  assert.equal(gsm8kGold('no marker 5'), undefined);
});

test('GSM8K extraction reads awkward outputs', () => {
  const cases: Array<[string, string | undefined]> = [
    [' 18', '18'],
    [' $18.', '18'],
    [' 18 dollars\nQuestion: how many', '18'],
    ['Janet sells 16 - 3 - 4 = 9 eggs. 9 * 2 = 18.\n#### 18', '18'],
    ['#### $1,250', '1250'],
    ['The answer is 42 apples. Next, 7 more.', '42'],
    ['Answer: -5 degrees', '-5'],
    ['The final answer is \\boxed{3.5}', '3.5'],
    ['She has 3 cats and 4 dogs, so 7 pets', '7'],
    ['It costs 12,000 per year; 12,000 / 12 = 1,000 per month', '1000'],
    ['18%', '18'],
    ['The answer is 5.\nQuestion: Tom has 3 apples', '5'],
    ['I do not know', undefined],
    ['', undefined],
  ];
  for (const [output, want] of cases) assert.equal(extractGsm8kAnswer(output), want, JSON.stringify(output));
  assert.ok(scoreGsm8k('1000', '#### 1,000.00'));
  assert.ok(!scoreGsm8k('100', 'The answer is 1000'));
});

test('choice letters: marks, statements, option text, articles', () => {
  const choices = ['Planetary density will decrease.', 'Planetary years will become longer.', 'Planetary days will become shorter.', 'A red fox'];
  const cases: Array<[string, string | undefined]> = [
    ['B', 'B'],
    [' B', 'B'],
    ['(B)', 'B'],
    ['(b) Planetary years', 'B'],
    ['b) years', 'B'],
    ['C.', 'C'],
    ['Answer: B', 'B'],
    ['answer: (d)', 'D'],
    ['The answer is B) Planetary years will become longer.', 'B'],
    ['the answer is B) ...', 'B'],
    ['The correct answer is: **C. Planetary days will become shorter.**', 'C'],
    ['**C**', 'C'],
    [' C\n\nQuestion: next', 'C'],
    ['Option B is correct.', 'B'],
    ['Planetary days will become shorter.', 'C'],
    ['The planetary days will become shorter', 'C'],
    ['A red fox', 'D'],                                   // option D's text, not the letter A
    ['A. Planetary density will decrease.', 'A'],
    ['A', 'A'],
    ['A planetary density decrease', undefined],           // an article, and not option A's words
    ['I think planetary days will become shorter, because rotation', 'C'],
    ['E', undefined],                                      // only four options
    ['The answer is B, not C', 'B'],
    ['a lot of things', undefined],
    ['', undefined],
  ];
  for (const [output, want] of cases) assert.equal(extractChoiceLetter(output, choices), want, JSON.stringify(output));
  assert.equal(extractChoiceLetter('E) five', ['1', '2', '3', '4', '5']), 'E');
  // Two options quoted: ambiguous.
  assert.equal(extractChoiceLetter('it is density will decrease or years will become longer', choices), undefined);
});

test('retrieval: every reference must appear', () => {
  assert.ok(containsAll('The uuid is 1EE34DC4-3b04.', ['1ee34dc4-3b04']));
  assert.ok(!containsAll('1ee34dc4', ['1ee34dc4', '999']));
  assert.ok(!containsAll('anything', []));
});
