/** One behaviour suite that every task runs: determinism, splits, prompt format, self-scoring. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPrompt, formatTarget, toRecord } from './format.js';
import { tasks } from './registry.js';
import type { Example, TaskName } from './types.js';
import { KvwireError } from '../../errors.js';

/** Small options so the suite stays fast (needle at 256 tokens). */
const OPTIONS: Record<TaskName, object> = { facts: {}, twohop: {}, arith: {}, needle: { length: 256 }, instr: {} };
const N = 40;

function gen(name: TaskName, split: 'train' | 'test', seed: number, n = N): Example[] {
  return (tasks[name].generate as (o: object) => Example[])({ split, n, seed, ...OPTIONS[name] });
}

for (const name of Object.keys(tasks) as TaskName[]) {
  test(`${name}: same seed gives identical examples, another seed different ones`, () => {
    const a = gen(name, 'train', 7);
    assert.deepEqual(gen(name, 'train', 7), a);
    assert.equal(a.length, N);
    const b = gen(name, 'train', 8);
    assert.ok(a.filter((x, i) => x.context === b[i].context).length < N / 4);
    assert.deepEqual(gen(name, 'train', 7, 5), a.slice(0, 5), 'example i does not depend on n');
    const g = tasks[name].generate as (o: object) => Example[];
    assert.deepEqual(g({ split: 'train', n: 6, seed: 7, start: 11, ...OPTIONS[name] }), a.slice(11, 17), 'start picks up at index start');
  });

  test(`${name}: train and test share no example`, () => {
    const key = (e: Example) => `${e.context}\n${e.question}`;
    const train = new Set([...gen(name, 'train', 1), ...gen(name, 'train', 2)].map(key));
    const test = [...gen(name, 'test', 1), ...gen(name, 'test', 2)].map(key);
    assert.equal(test.filter((k) => train.has(k)).length, 0);
  });

  test(`${name}: ids unique, prompt ends with "Answer:", target is " " + gold, gold scores right`, () => {
    const ex = gen(name, 'test', 3);
    assert.equal(new Set(ex.map((e) => e.id)).size, ex.length);
    for (const e of ex) {
      assert.equal(e.task, name);
      const prompt = formatPrompt(e);
      assert.ok(prompt.startsWith(e.context + '\nQuestion: ' + e.question + '\n'));
      assert.ok(prompt.endsWith('\nAnswer:'));
      const target = formatTarget(e);
      assert.match(target, /^ \S/);
      assert.ok(e.answer.length > 0 && !/\s/.test(e.answer), `single-token answer: ${e.answer}`);
      assert.equal(tasks[name].score(e, target), true, `${e.id} scores its own target`);
      assert.equal(tasks[name].score(e, target + '\n\nQuestion: more'), true);
      assert.equal(tasks[name].score(e, ' zzz'), false);
      assert.deepEqual(Object.keys(toRecord(e)).slice(-2), ['prompt', 'target']);
      if (e.choices) {
        assert.equal(e.choices.length, 4);
        assert.equal(new Set(e.choices).size, 4);
        assert.match(e.answer, /^[A-D]$/);
      }
    }
  });

  test(`${name}: bad options are BAD_ARGUMENT`, () => {
    const g = tasks[name].generate as (o: object) => Example[];
    for (const bad of [{ split: 'dev', n: 1, seed: 1 }, { split: 'train', n: -1, seed: 1 }, { split: 'train', n: 1.5, seed: 1 }, { split: 'train', n: 1, seed: 'x' }]) {
      assert.throws(() => g(bad), (e: unknown) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT');
    }
  });
}

test('large contexts do not run out of names', () => {
  for (const split of ['train', 'test'] as const) {
    assert.equal(tasks.facts.generate({ split, n: 3, seed: 1, numFacts: 500 })[2].context.split('\n').length, 500);
    assert.equal(tasks.twohop.generate({ split, n: 3, seed: 1, numFacts: 500 })[2].context.split('\n').length, 500);
    assert.equal(tasks.instr.generate({ split, n: 4, seed: 1, numFacts: 500 })[3].context.split('\n').length, 501);
    assert.equal(tasks.arith.generate({ split, n: 3, seed: 1, distractors: 10, steps: 6 }).length, 3);
  }
});
