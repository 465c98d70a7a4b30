/**
 * The small invented world the synthetic tasks talk about: people with attributes (favorite color,
 * pet, job, ...) and invented countries with attributes (capital, flag, ...), one sentence and one
 * question template per attribute. Shared by facts, twohop and instr.
 */
import { KvwireError } from '../../errors.js';
import { ANIMALS, COLORS, FOODS, GOODS, JOBS, SPORTS, namesFor, withArticle } from './pools.js';
import type { Rng } from './rng.js';
import type { Split } from './types.js';

export type SubjectKind = 'person' | 'place';

export interface Attribute {
  name: string;
  subject: SubjectKind;
  /** The value pool; 'invented' draws fresh invented names (capitals). */
  values: readonly string[] | 'invented';
  sentence(subject: string, value: string): string;
  question(subject: string): string;
}

export const ATTRIBUTES: readonly Attribute[] = [
  { name: 'color', subject: 'person', values: COLORS,
    sentence: (s, v) => `${s}'s favorite color is ${v}.`, question: (s) => `What is ${s}'s favorite color?` },
  { name: 'pet', subject: 'person', values: ANIMALS,
    sentence: (s, v) => `${s} has a pet ${v}.`, question: (s) => `What pet does ${s} have?` },
  { name: 'job', subject: 'person', values: JOBS,
    sentence: (s, v) => `${s} works as ${withArticle(v)}.`, question: (s) => `What is ${s}'s job?` },
  { name: 'food', subject: 'person', values: FOODS,
    sentence: (s, v) => `${s}'s favorite food is ${v}.`, question: (s) => `What is ${s}'s favorite food?` },
  { name: 'sport', subject: 'person', values: SPORTS,
    sentence: (s, v) => `${s} plays ${v}.`, question: (s) => `Which sport does ${s} play?` },
  { name: 'capital', subject: 'place', values: 'invented',
    sentence: (s, v) => `The capital of ${s} is ${v}.`, question: (s) => `What is the capital of ${s}?` },
  { name: 'animal', subject: 'place', values: ANIMALS,
    sentence: (s, v) => `The national animal of ${s} is the ${v}.`, question: (s) => `What is the national animal of ${s}?` },
  { name: 'export', subject: 'place', values: GOODS,
    sentence: (s, v) => `The main export of ${s} is ${v}.`, question: (s) => `What is the main export of ${s}?` },
  { name: 'flag', subject: 'place', values: COLORS,
    sentence: (s, v) => `The flag of ${s} is ${v}.`, question: (s) => `What color is the flag of ${s}?` },
];

export function attribute(name: string): Attribute {
  const a = ATTRIBUTES.find((x) => x.name === name);
  if (!a) throw new Error(`unknown attribute ${name}`);
  return a;
}

/** One stated fact. */
export interface Fact {
  subject: string;
  attribute: string;
  value: string;
  text: string;
}

/**
 * Draws names for one example from the split's pools, never the same name twice, so a person,
 * a country and a capital in one context are always different strings.
 */
export class NameDrawer {
  private readonly used = new Set<string>();
  private readonly count: Record<SubjectKind, number> = { person: 0, place: 0 };
  constructor(private readonly rng: Rng, private readonly split: Split) {}

  /** A name not drawn before in this example, or undefined when the pool is used up. */
  tryDraw(kind: SubjectKind): string | undefined {
    const pool = namesFor(kind, this.split);
    if (this.count[kind] >= pool.length) return undefined;
    for (;;) {
      const name = this.rng.pick(pool);
      if (!this.used.has(name)) {
        this.used.add(name);
        this.count[kind]++;
        return name;
      }
    }
  }

  /** A fresh name; throws BAD_ARGUMENT when the example needs more names than the split has. */
  draw(kind: SubjectKind): string {
    const name = this.tryDraw(kind);
    if (name === undefined) {
      throw new KvwireError('BAD_ARGUMENT', `too many ${kind} names in one example: the ${this.split} pool has ${namesFor(kind, this.split).length}`);
    }
    return name;
  }

  /** A fresh name if any is left, else one already used (for filler, where repeats are harmless). */
  drawOrReuse(kind: SubjectKind): string {
    return this.tryDraw(kind) ?? this.rng.pick(namesFor(kind, this.split));
  }
}

/** `k` distinct values of an attribute, none in `exclude`. */
export function drawValues(rng: Rng, names: NameDrawer, attr: Attribute, k: number, exclude: readonly string[] = []): string[] {
  if (attr.values === 'invented') return Array.from({ length: k }, () => names.draw('place'));
  const pool = attr.values.filter((v) => !exclude.includes(v));
  return rng.sample(pool, k);
}

export function makeFact(attr: Attribute, subject: string, value: string): Fact {
  return { subject, attribute: attr.name, value, text: attr.sentence(subject, value) };
}

/**
 * A question fact plus its context facts: the gold fact, `sameAttr` facts of the same attribute
 * about other subjects with other values (the in-context distractors), and filler facts of other
 * attributes until `total` facts. Facts are returned unshuffled, gold first.
 */
export function factSet(rng: Rng, names: NameDrawer, attr: Attribute, total: number, sameAttr: number): { gold: Fact; same: Fact[]; filler: Fact[] } {
  const subjects = Array.from({ length: sameAttr + 1 }, () => names.draw(attr.subject));
  const values = drawValues(rng, names, attr, sameAttr + 1);
  const gold = makeFact(attr, subjects[0], values[0]);
  const same = subjects.slice(1).map((s, i) => makeFact(attr, s, values[i + 1]));
  const filler = fillerFacts(rng, names, total - sameAttr - 1, {
    avoid: [attr.name],
    known: { person: attr.subject === 'person' ? subjects : [], place: attr.subject === 'place' ? subjects : [] },
    taken: [gold, ...same],
  });
  return { gold, same, filler };
}

/**
 * `count` facts of attributes not in `avoid`, about a mix of known subjects and new ones, each
 * (subject, attribute) pair at most once (also against `taken`).
 */
export function fillerFacts(rng: Rng, names: NameDrawer, count: number,
  opts: { avoid?: readonly string[]; known?: { person: string[]; place: string[] }; taken?: readonly Fact[] } = {}): Fact[] {
  const attrs = ATTRIBUTES.filter((a) => !(opts.avoid ?? []).includes(a.name));
  const known = { person: [...(opts.known?.person ?? [])], place: [...(opts.known?.place ?? [])] };
  const seen = new Set((opts.taken ?? []).map((f) => `${f.subject}|${f.attribute}`));
  const out: Fact[] = [];
  while (out.length < count) {
    const attr = rng.pick(attrs);
    const pool = known[attr.subject];
    let subject = pool.length > 0 && rng.chance(0.6) ? rng.pick(pool) : undefined;
    if (subject === undefined || seen.has(`${subject}|${attr.name}`)) {
      subject = names.tryDraw(attr.subject) ?? pool.find((s) => !seen.has(`${s}|${attr.name}`));
      if (subject === undefined) continue; // every person has this attribute already: pick another
      if (!pool.includes(subject)) pool.push(subject);
    }
    seen.add(`${subject}|${attr.name}`);
    out.push(makeFact(attr, subject, drawValues(rng, names, attr, 1)[0]));
  }
  return out;
}
