/**
 * `facts`: fact retrieval, multiple choice. The context states N facts about invented people and
 * countries, one per line; the question asks one attribute of one subject; the four options are
 * the gold value and three other values of the same attribute, taken from facts in the context
 * (other subjects' values) whenever N allows, so the model must bind subject to value.
 */
import { drawValues, factSet, NameDrawer, ATTRIBUTES } from './world.js';
import { rngFor } from './rng.js';
import { scoreChoice, scoreShort } from './score.js';
import { KvwireError } from '../../errors.js';
import { LETTERS, checkInt, exampleId, generateEach, type GenerateOptions, type Task } from './types.js';

export interface FactsOptions {
  /** Facts in the context; default: drawn per example from [8, 16]. */
  numFacts?: number;
  /**
   * How the answer is asked for and written. 'letter' (default, what evaluations use): four
   * options, the target is the gold option's letter. Two training variants: 'value', the same
   * options but the target is the gold option's text (the scorer maps an option's text to its
   * letter, so such a model is scored on the same examples); 'open', no options, the answer is
   * the value itself (the binding without the option lookup on top).
   */
  form?: 'letter' | 'value' | 'open';
}

export const facts: Task<FactsOptions> = {
  name: 'facts',
  description: 'fact retrieval: 4-choice question about one of N stated facts (distractors are in-context values)',
  generate(o: GenerateOptions & FactsOptions) {
    if (o.numFacts !== undefined) checkInt('facts', 'numFacts', o.numFacts, 1, 500);
    const form = o.form ?? 'letter';
    if (!['letter', 'value', 'open'].includes(form)) throw new KvwireError('BAD_ARGUMENT', `facts: form must be letter, value or open, got ${JSON.stringify(form)}`, { path: 'form' });
    return generateEach('facts', o, (i) => {
      const rng = rngFor('facts', o.split, o.seed, i);
      const names = new NameDrawer(rng, o.split);
      const n = o.numFacts ?? rng.int(8, 16);
      const attr = rng.pick(ATTRIBUTES);
      const sameAttr = Math.min(3, n - 1);
      const { gold, same, filler } = factSet(rng, names, attr, n, sameAttr);
      const lines = rng.shuffle([gold, ...same, ...filler]);
      const padding = drawValues(rng, names, attr, 3 - sameAttr, [gold.value, ...same.map((f) => f.value)]);
      const options = rng.shuffle([gold.value, ...same.map((f) => f.value), ...padding]);
      const letter = LETTERS[options.indexOf(gold.value)];
      return {
        id: exampleId('facts', o, i),
        task: 'facts',
        context: lines.map((f) => f.text).join('\n'),
        question: attr.question(gold.subject),
        answer: form === 'open' ? gold.value : letter,
        ...(form === 'open' ? {} : { choices: options }),
        ...(form === 'value' ? { solution: gold.value } : {}),
        meta: {
          numFacts: n,
          attribute: attr.name,
          subject: gold.subject,
          answerText: gold.value,
          goldLine: lines.indexOf(gold),
          distractorsInContext: sameAttr,
        },
      };
    });
  },
  // Open examples carry no choices: scored as a short answer.
  score: (example, output) => (example.choices ? scoreChoice(example, output) : scoreShort(example, output)),
};
