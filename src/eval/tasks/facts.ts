/**
 * `facts`: fact retrieval, multiple choice. The context states N facts about invented people and
 * countries, one per line; the question asks one attribute of one subject; the four options are
 * the gold value and three other values of the same attribute, taken from facts in the context
 * (other subjects' values) whenever N allows, so the model must bind subject to value.
 */
import { drawValues, factSet, NameDrawer, ATTRIBUTES } from './world.js';
import { rngFor } from './rng.js';
import { scoreChoice, scoreShort } from './score.js';
import { LETTERS, checkInt, exampleId, generateEach, type GenerateOptions, type Task } from './types.js';

export interface FactsOptions {
  /** Facts in the context; default: drawn per example from [8, 16]. */
  numFacts?: number;
  /**
   * Open answer instead of multiple choice: no options, the answer is the value itself. A
   * training variant (the binding without the letter lookup on top); evaluations use the default.
   */
  open?: boolean;
}

export const facts: Task<FactsOptions> = {
  name: 'facts',
  description: 'fact retrieval: 4-choice question about one of N stated facts (distractors are in-context values)',
  generate(o: GenerateOptions & FactsOptions) {
    if (o.numFacts !== undefined) checkInt('facts', 'numFacts', o.numFacts, 1, 500);
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
        answer: o.open ? gold.value : letter,
        ...(o.open ? {} : { choices: options }),
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
