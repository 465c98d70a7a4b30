import { test } from 'node:test';
import assert from 'node:assert/strict';
import { instr, INSTRUCTIONS } from './instr.js';

type Meta = { placement: string; kind: string; instruction?: keyof typeof INSTRUCTIONS; keyLine: number; pair: number };

test('instr: pairs hold the same lines, evidence moved from the front to the back', () => {
  const ex = instr.generate({ split: 'train', n: 100, seed: 6 });
  const kinds = new Set<string>();
  for (let i = 0; i < ex.length; i += 2) {
    const [front, back] = [ex[i], ex[i + 1]];
    const [mf, mb] = [front.meta as Meta, back.meta as Meta];
    assert.equal(mf.placement, 'front');
    assert.equal(mb.placement, 'back');
    assert.equal(front.answer, back.answer);
    assert.equal(front.question, back.question);
    const [lf, lb] = [front.context.split('\n'), back.context.split('\n')];
    assert.equal(mf.keyLine, 0);
    assert.equal(mb.keyLine, lb.length - 1);
    assert.equal(lf[0], lb[lb.length - 1]);
    assert.deepEqual(lf.slice(1), lb.slice(0, -1));
    kinds.add(mf.kind);
  }
  assert.deepEqual([...kinds].sort(), ['fact', 'instruction']);
});

test('instr: the instruction picks exactly one marked word, which is the answer', () => {
  for (const e of instr.generate({ split: 'test', n: 60, seed: 7, kind: 'instruction' })) {
    const m = e.meta as Meta;
    const lines = e.context.split('\n');
    assert.equal(lines[m.keyLine], INSTRUCTIONS[m.instruction!]);
    const filler = lines.filter((_, i) => i !== m.keyLine).join('\n');
    assert.equal(filler.match(/\b[A-Z]{2,}\b/g)!.length, 1);
    assert.equal(filler.match(/"[a-z]+"/g)!.length, 1);
    assert.equal(filler.match(/\d+/g)!.length, 1);
    const expected = m.instruction === 'caps' ? filler.match(/\b[A-Z]{2,}\b/)![0]
      : m.instruction === 'quote' ? filler.match(/"([a-z]+)"/)![1] : filler.match(/\d+/)![0];
    assert.equal(e.answer, expected);
    assert.equal(e.question, 'Follow the instruction.');
  }
});

test('instr: the key fact answers the question; fixed placement is honoured', () => {
  for (const e of instr.generate({ split: 'test', n: 30, seed: 8, kind: 'fact', placement: 'back', numFacts: 15 })) {
    const m = e.meta as Meta;
    const lines = e.context.split('\n');
    assert.equal(m.placement, 'back');
    assert.equal(lines.length, 16);
    assert.ok(lines[m.keyLine].endsWith(` ${e.answer}.`), `${e.id}: ${lines[m.keyLine]}`);
  }
});
