/**
 * `instr`: the same evidence placed at the front or at the back of the context (the front/back
 * asymmetry of seed 001: which end of a handed-over cache carries the answer). Examples come in
 * matched pairs: example 2k has the evidence at the front, 2k+1 the identical text with the
 * evidence at the back (unless `placement` fixes one). meta.placement says which.
 *
 *   kind 'instruction': filler sentences hold one word in CAPITALS, one word in "quotes" and one
 *     number in digits; an instruction line says which one to answer with.
 *       Instruction: answer with the word in quotation marks.
 *       Mira saw the OTTER from the tower. Ben wrote "copper" on the bridge. ...
 *       Question: Follow the instruction.                              Answer: copper
 *   kind 'fact': a key fact among filler facts (three of them about the same attribute of other
 *     subjects); the question asks about the key fact.                Answer: a single word
 */
import { ANIMALS, GOODS, ITEMS, NOUNS, ADJECTIVES, COLORS } from './pools.js';
import { rngFor, type Rng } from './rng.js';
import { scoreShort } from './score.js';
import { checkInt, checkOneOf, exampleId, generateEach, type Example, type GenerateOptions, type Task } from './types.js';
import { ATTRIBUTES, factSet, NameDrawer } from './world.js';

export type Placement = 'front' | 'back';
export type InstrKind = 'instruction' | 'fact';
export type InstructionType = 'caps' | 'quote' | 'digits';

export const INSTRUCTIONS: Record<InstructionType, string> = {
  caps: 'Instruction: answer with the word written in capital letters.',
  quote: 'Instruction: answer with the word in quotation marks.',
  digits: 'Instruction: answer with the number written in digits.',
};

export interface InstrOptions {
  /** Only this placement (then examples are not paired). Default: alternate front/back. */
  placement?: Placement;
  /** Default: drawn per pair. */
  kind?: InstrKind;
  /** Filler sentences/facts besides the evidence; default: drawn per pair from [8, 12]. */
  numFacts?: number;
}

/** A filler sentence: no digits, no quotes, no all-capital words. */
function plainSentence(rng: Rng, names: NameDrawer): string {
  const p = names.drawOrReuse('person');
  const [n1, n2] = rng.sample(NOUNS, 2);
  const adj = rng.pick(ADJECTIVES);
  switch (rng.int(0, 5)) {
    case 0: return `${p} walked to the ${n1} before dawn.`;
    case 1: return `${p} saw a ${adj} ${n1} near the ${n2}.`;
    case 2: return `The ${n1} behind the ${n2} was ${adj}.`;
    case 3: return `${p} talked about the ${n1} all evening.`;
    case 4: return `${p} painted the ${n1} ${rng.pick(COLORS)}.`;
    default: return `${p} liked the ${adj} ${n1} best.`;
  }
}

/** Filler holding the three marked words; returns the lines and each type's answer. */
function markedFiller(rng: Rng, names: NameDrawer, count: number): { lines: string[]; answers: Record<InstructionType, string> } {
  const caps = rng.pick(ANIMALS).toUpperCase();
  const quote = rng.pick(GOODS);
  const number = String(rng.int(2, 99));
  const lines = Array.from({ length: Math.max(0, count - 3) }, () => plainSentence(rng, names));
  const marked = [
    `${names.drawOrReuse('person')} saw the ${caps} from the ${rng.pick(NOUNS)}.`,
    `${names.drawOrReuse('person')} wrote "${quote}" on the ${rng.pick(NOUNS)}.`,
    `${names.drawOrReuse('person')} counted ${number} ${rng.pick(ITEMS)} by the ${rng.pick(NOUNS)}.`,
  ];
  for (const m of marked) lines.splice(rng.int(0, lines.length), 0, m);
  return { lines, answers: { caps, quote, digits: number } };
}

export const instr: Task<InstrOptions> = {
  name: 'instr',
  description: 'instruction or key fact at the front vs the back of filler (matched pairs; meta.placement)',
  generate(o: GenerateOptions & InstrOptions) {
    checkOneOf('instr', 'placement', o.placement, ['front', 'back']);
    checkOneOf('instr', 'kind', o.kind, ['instruction', 'fact']);
    if (o.numFacts !== undefined) checkInt('instr', 'numFacts', o.numFacts, 3, 500);
    return generateEach('instr', o, (i): Example => {
      const pair = o.placement ? i : Math.floor(i / 2);
      const placement: Placement = o.placement ?? (i % 2 === 0 ? 'front' : 'back');
      const rng = rngFor('instr', o.split, o.seed, pair, o.placement ? 'fixed' : 'paired');
      const names = new NameDrawer(rng, o.split);
      const kind: InstrKind = o.kind ?? (rng.chance(0.5) ? 'instruction' : 'fact');
      const count = o.numFacts ?? rng.int(8, 12);
      const base = { id: exampleId('instr', o, i), task: 'instr' as const };
      if (kind === 'instruction') {
        const type = rng.pick(['caps', 'quote', 'digits'] as const);
        const { lines, answers } = markedFiller(rng, names, count);
        const all = placement === 'front' ? [INSTRUCTIONS[type], ...lines] : [...lines, INSTRUCTIONS[type]];
        return {
          ...base, context: all.join('\n'), question: 'Follow the instruction.', answer: answers[type],
          meta: { placement, kind, instruction: type, pair, keyLine: placement === 'front' ? 0 : all.length - 1, numFacts: count },
        };
      }
      const attr = rng.pick(ATTRIBUTES);
      const { gold, same, filler } = factSet(rng, names, attr, count + 1, Math.min(3, count));
      const rest = rng.shuffle([...same, ...filler]).map((f) => f.text);
      const all = placement === 'front' ? [gold.text, ...rest] : [...rest, gold.text];
      return {
        ...base, context: all.join('\n'), question: attr.question(gold.subject), answer: gold.value,
        meta: { placement, kind, attribute: attr.name, subject: gold.subject, pair, keyLine: placement === 'front' ? 0 : all.length - 1, numFacts: count },
      };
    });
  },
  score: scoreShort,
};
