/**
 * `twohop`: two-hop questions over stated facts, short single-word answer by default (a 4-choice
 * variant is available with `multipleChoice`). Three chain kinds:
 *
 *   capital:  "Ana lives in Varno." + "The capital of Varno is Kelt."
 *             Q: What is the capital of the country Ana lives in?            A: Kelt
 *   friend:   "Ana's best friend is Tom." + "Tom's favorite color is teal."
 *             Q: What is the favorite color of Ana's best friend?            A: teal
 *   employer: "Ana works for Dorvex." + "Dorvex is based in Kelt."
 *             Q: In which city is the company Ana works for based?           A: Kelt
 *
 * Each context also holds a one-hop trap (a fact about the asked person that gives a wrong value
 * of the answer type: "Ana was born in Brisa." + its capital; "Ana's favorite color is red."; "Ana
 * lives in Pesk."), full distractor chains for other people, an orphan second hop, and filler facts,
 * all shuffled. Short answer is the default because a single copied word is what small models can
 * be held to; the multiple-choice variant draws its options from the context's values.
 */
import { COLORS, FOODS } from './pools.js';
import { rngFor, type Rng } from './rng.js';
import { scoreChoice, scoreShort } from './score.js';
import { LETTERS, checkInt, checkOneOf, exampleId, generateEach, type Example, type GenerateOptions, type Task } from './types.js';
import { fillerFacts, NameDrawer, type Fact } from './world.js';

export type ChainKind = 'capital' | 'friend' | 'employer';
export const CHAIN_KINDS: readonly ChainKind[] = ['capital', 'friend', 'employer'];

export interface TwohopOptions {
  /** Facts in the context (≥ 2); default: drawn per example from [8, 14]. */
  numFacts?: number;
  /** Ask as 4-choice (answer is a letter) instead of short answer. Default false. */
  multipleChoice?: boolean;
  /** Only this chain kind; default: drawn per example. */
  chain?: ChainKind;
}

interface Chain {
  kind: ChainKind;
  /** Subject of hop 1, bridge entity, answer. */
  person: string;
  bridge: string;
  value: string;
  hop1: Fact;
  hop2: Fact;
}

/** Builds the sentences of one chain kind. `prop` is 'color' or 'food' for friend chains. */
function chainFacts(kind: ChainKind, prop: string, person: string, bridge: string, value: string): { hop1: Fact; hop2: Fact } {
  switch (kind) {
    case 'capital':
      return { hop1: fact(person, 'lives', bridge, `${person} lives in ${bridge}.`), hop2: fact(bridge, 'capital', value, `The capital of ${bridge} is ${value}.`) };
    case 'friend':
      return { hop1: fact(person, 'friend', bridge, `${person}'s best friend is ${bridge}.`), hop2: fact(bridge, prop, value, `${bridge}'s favorite ${prop} is ${value}.`) };
    case 'employer':
      return { hop1: fact(person, 'employer', bridge, `${person} works for ${bridge}.`), hop2: fact(bridge, 'city', value, `${bridge} is based in ${value}.`) };
  }
}

function fact(subject: string, attribute: string, value: string, text: string): Fact {
  return { subject, attribute, value, text };
}

function question(kind: ChainKind, prop: string, person: string): string {
  switch (kind) {
    case 'capital': return `What is the capital of the country ${person} lives in?`;
    case 'friend': return `What is the favorite ${prop} of ${person}'s best friend?`;
    case 'employer': return `In which city is the company ${person} works for based?`;
  }
}

/** Draws a fresh answer value (invented city, or a color/food not yet used). */
function drawValue(rng: Rng, names: NameDrawer, kind: ChainKind, prop: string, used: Set<string>): string {
  if (kind !== 'friend') return names.draw('place');
  const pool = (prop === 'color' ? COLORS : FOODS).filter((v) => !used.has(v));
  const v = rng.pick(pool);
  used.add(v);
  return v;
}

function makeChain(rng: Rng, names: NameDrawer, kind: ChainKind, prop: string, used: Set<string>, person?: string): Chain {
  const p = person ?? names.draw('person');
  const bridge = names.draw(kind === 'friend' ? 'person' : 'place');
  const value = drawValue(rng, names, kind, prop, used);
  return { kind, person: p, bridge, value, ...chainFacts(kind, prop, p, bridge, value) };
}

export const twohop: Task<TwohopOptions> = {
  name: 'twohop',
  description: 'two-hop question over stated facts (lives-in→capital, friend→attribute, employer→city); short answer',
  generate(o: GenerateOptions & TwohopOptions) {
    if (o.numFacts !== undefined) checkInt('twohop', 'numFacts', o.numFacts, 2, 500);
    checkOneOf('twohop', 'chain', o.chain, CHAIN_KINDS);
    return generateEach('twohop', o, (i): Example => {
      const rng = rngFor('twohop', o.split, o.seed, i);
      const names = new NameDrawer(rng, o.split);
      const n = o.numFacts ?? rng.int(8, 14);
      const kind = o.chain ?? rng.pick(CHAIN_KINDS);
      const prop = rng.pick(['color', 'food']);
      const used = new Set<string>();
      const main = makeChain(rng, names, kind, prop, used);
      const facts: Fact[] = [main.hop1, main.hop2];
      const wrongValues: string[] = [];
      // The one-hop trap: the asked person's own link to a wrong value of the answer type.
      if (n - facts.length >= 2) {
        if (kind === 'capital') {
          const trap = makeChain(rng, names, kind, prop, used, main.person);
          facts.push(fact(main.person, 'born', trap.bridge, `${main.person} was born in ${trap.bridge}.`), trap.hop2);
          wrongValues.push(trap.value);
        } else {
          const v = drawValue(rng, names, kind, prop, used);
          facts.push(kind === 'friend'
            ? fact(main.person, prop, v, `${main.person}'s favorite ${prop} is ${v}.`)
            : fact(main.person, 'lives', v, `${main.person} lives in ${v}.`));
          wrongValues.push(v);
        }
      }
      // Up to two full distractor chains, then an orphan second hop.
      for (let c = 0; c < 2 && n - facts.length >= 2; c++) {
        const other = makeChain(rng, names, kind, prop, used);
        facts.push(other.hop1, other.hop2);
        wrongValues.push(other.value);
      }
      if (n - facts.length >= 1) {
        const orphan = makeChain(rng, names, kind, prop, used);
        facts.push(orphan.hop2);
        wrongValues.push(orphan.value);
      }
      // Filler about the people already present, never using the answer's attribute or value pool
      // (so the answer value is stated exactly once).
      const people = [...new Set(facts.filter((f) => ['lives', 'friend', 'employer', 'born', 'color', 'food'].includes(f.attribute)).map((f) => f.subject))];
      const avoid = kind !== 'friend' ? ['capital'] : prop === 'color' ? ['color', 'flag'] : ['food'];
      facts.push(...fillerFacts(rng, names, n - facts.length, { avoid, known: { person: people, place: [] }, taken: facts }));
      const lines = rng.shuffle(facts);
      const meta = { chain: kind, person: main.person, bridge: main.bridge, hops: [main.hop1.text, main.hop2.text], numFacts: n };
      const base = { id: exampleId('twohop', o, i), task: 'twohop' as const, context: lines.map((f) => f.text).join('\n'), question: question(kind, prop, main.person) };
      if (!o.multipleChoice) return { ...base, answer: main.value, meta };
      const distractors = wrongValues.slice(0, 3);
      while (distractors.length < 3) distractors.push(drawValue(rng, names, kind, prop, used));
      const options = rng.shuffle([main.value, ...distractors]);
      return { ...base, answer: LETTERS[options.indexOf(main.value)], choices: options, meta: { ...meta, answerText: main.value } };
    });
  },
  score(example, output) {
    return example.choices ? scoreChoice(example, output) : scoreShort(example, output);
  },
};
