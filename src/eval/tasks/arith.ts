/**
 * `arith`: arithmetic word problems whose numbers sit in the context. A person starts with some
 * items and then gains, loses or buys bags of them; other people's counts of other items are
 * stated too (distractors). The question asks the person's final count.
 *
 *   Tom has 7 apples. Sue has 4 pears. Tom buys 5 more apples. Tom gives 3 apples to Sue.
 *   Question: How many apples does Tom have now?        Answer: 9
 *
 * The hidden expression (meta.expression, e.g. "7 + 5 - 3", "7 + 3 * 4 - 2", usual precedence)
 * evaluates to the answer. With `worked`, the target is the steps: "7 + 5 = 12. 12 - 3 = 9. #### 9".
 */
import { ITEMS } from './pools.js';
import { rngFor, type Rng } from './rng.js';
import { scoreNumber } from './score.js';
import { checkInt, exampleId, generateEach, type GenerateOptions, type Task } from './types.js';
import { NameDrawer } from './world.js';

export interface ArithOptions {
  /** Operations after the start (1-6); default: drawn per example from [2, 3]. */
  steps?: number;
  /** Distractor sentences about other people (0-10); default 1. */
  distractors?: number;
  /** Target is a worked solution ending in "#### N". Default false. */
  worked?: boolean;
}

interface Step {
  sentence: string;
  /** The term added to the expression: "+ 5", "- 3", "+ 3 * 4". */
  term: string;
  /** Worked text for this step given the running total before it, and the total after. */
  work(before: number): { text: string; after: number };
}

function addStep(rng: Rng, who: string, item: string, other: string, b: number): Step {
  const sentence = rng.pick([
    `${who} buys ${b} more ${item}.`,
    `${who} finds ${b} more ${item}.`,
    `${other} gives ${who} ${b} ${item}.`,
  ]);
  return { sentence, term: `+ ${b}`, work: (x) => ({ text: `${x} + ${b} = ${x + b}.`, after: x + b }) };
}

function subStep(rng: Rng, who: string, item: string, other: string, c: number): Step {
  const sentence = rng.pick([
    `${who} gives ${c} ${item} to ${other}.`,
    `${who} loses ${c} ${item}.`,
    `${who} sells ${c} ${item}.`,
  ]);
  return { sentence, term: `- ${c}`, work: (x) => ({ text: `${x} - ${c} = ${x - c}.`, after: x - c }) };
}

function bagStep(who: string, item: string, k: number, m: number): Step {
  return {
    sentence: `${who} buys ${k} bags with ${m} ${item} in each bag.`,
    term: `+ ${k} * ${m}`,
    work: (x) => ({ text: `${k} * ${m} = ${k * m}. ${x} + ${k * m} = ${x + k * m}.`, after: x + k * m }),
  };
}

export const arith: Task<ArithOptions> = {
  name: 'arith',
  description: 'arithmetic word problem with its numbers in the context; numeric answer (optionally worked steps, "#### N")',
  generate(o: GenerateOptions & ArithOptions) {
    if (o.steps !== undefined) checkInt('arith', 'steps', o.steps, 1, 6);
    if (o.distractors !== undefined) checkInt('arith', 'distractors', o.distractors, 0, 10);
    return generateEach('arith', o, (i) => {
      const rng = rngFor('arith', o.split, o.seed, i);
      const names = new NameDrawer(rng, o.split);
      const who = names.draw('person');
      const other = names.draw('person');
      const [item, ...otherItems] = rng.sample(ITEMS, 4);
      const start = rng.int(2, 20);
      let total = start;
      const steps: Step[] = [];
      const nSteps = o.steps ?? rng.int(2, 3);
      for (let s = 0; s < nSteps; s++) {
        const r = rng.float();
        let step: Step;
        if (r < 0.2) step = bagStep(who, item, rng.int(2, 5), rng.int(2, 6));
        else if (r < 0.6 || total < 2) step = addStep(rng, who, item, other, rng.int(1, 15));
        else step = subStep(rng, who, item, other, rng.int(1, Math.min(total, 15)));
        total = step.work(total).after;
        steps.push(step);
      }
      // The story in order, with distractor counts (other people, other items) slipped in.
      const sentences = [`${who} has ${start} ${item}.`, ...steps.map((s) => s.sentence)];
      const nDistract = o.distractors ?? 1;
      for (let d = 0; d < nDistract; d++) {
        const person = d === 0 ? other : names.draw('person');
        const at = rng.int(1, sentences.length);
        sentences.splice(at, 0, `${person} has ${rng.int(2, 20)} ${otherItems[d % otherItems.length]}.`);
      }
      const work: string[] = [];
      let x = start;
      for (const s of steps) {
        const w = s.work(x);
        work.push(w.text);
        x = w.after;
      }
      const answer = String(total);
      return {
        id: exampleId('arith', o, i),
        task: 'arith',
        context: sentences.join(' '),
        question: `How many ${item} does ${who} have now?`,
        answer,
        ...(o.worked ? { solution: `${work.join(' ')} #### ${answer}` } : {}),
        meta: { expression: [String(start), ...steps.map((s) => s.term)].join(' '), person: who, item, steps: nSteps, distractors: nDistract },
      };
    });
  },
  score: scoreNumber,
};
