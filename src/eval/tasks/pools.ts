/**
 * Word pools for the synthetic tasks, and the split rule for the pools that name things.
 *
 * Split policy: every *name* (people, invented places/cities/companies, needle keys and passkey
 * values) belongs to exactly one split, by hash: a name is a test name iff
 * hash32(`${kind}:${name}`) % 4 === 0 (about a quarter of each pool). Train and test examples
 * are built only from their split's names, so no test context can occur in train. Attribute
 * values (colors, animals, foods, ...) and item nouns are shared: they are the answer vocabulary
 * the model must learn, while the entities that carry them are always new at test time.
 */
import { hash32 } from './rng.js';
import type { Split } from './types.js';

/** Which split a named thing belongs to. */
export function splitOf(kind: string, name: string): Split {
  return hash32(`${kind}:${name}`) % 4 === 0 ? 'test' : 'train';
}

/** The members of `items` that belong to `split` under `kind`. */
export function splitPool(kind: string, items: readonly string[], split: Split): string[] {
  return items.filter((x) => splitOf(kind, x) === split);
}

/** Short first names. Words that are also colors, foods or virtues (Amber, Olive, Hope) are left out. */
export const PERSON_NAMES: readonly string[] = (
  'Ada Alan Alba Aldo Alma Ana Anders Anton Arlo Asha Axel Bea Ben Bram Brent Brock Bruno Cal Cara Carl ' +
  'Cass Cleo Colm Cora Dag Dale Dana Dara Dean Dev Dina Dirk Dora Drew Ed Edda Eli Elin Ella Elsa Emil ' +
  'Emma Enzo Erik Esme Eva Ezra Finn Flo Frey Gail Gene Gia Gil Greta Gus Hal Hana Hank Hans Hedda Hugo ' +
  'Ian Ida Igor Ilse Ines Ira Isla Ivan Jade Jago Jan Jana Jens Joel Jon Juno Kai Kara Karl Kato Kim ' +
  'Kira Knut Lana Lars Lea Leif Lena Leo Lev Lia Lina Linus Liv Lola Lou Luca Luis Luz Lyle Mae Mako ' +
  'Mara Marco Mats Max Mei Mia Mila Milo Mira Nadia Nell Nico Nils Nina Noa Noel Nora Odin Olaf Omar ' +
  'Orla Oscar Otto Pablo Paz Per Pia Quinn Ravi Rhea Rico Rita Rolf Rosa Rue Rui Sam Sana Sara Seb ' +
  'Sol Sven Tara Ted Tess Theo Tia Tilde Timo Tom Tove Ugo Una Ulla Vera Vic Vida Viggo Wes Wren Yara ' +
  'Yuri Zack Zara Zeno Zoe Abe Bo Cy Di Fay Gwen Jed Lux Ned Ros Sue Tab Val Wim'
).split(' ');

export const COLORS: readonly string[] =
  'red blue green teal amber violet gold silver black white pink brown gray orange purple yellow cyan maroon indigo ivory'.split(' ');
export const ANIMALS: readonly string[] =
  'fox owl wolf bear deer hawk otter tiger lion horse rabbit eagle goat crane swan lynx badger heron falcon moose'.split(' ');
export const FOODS: readonly string[] =
  'rice bread soup pasta cheese plums pears noodles beans curry salad tacos honey figs dates melons grapes lentils dumplings waffles'.split(' ');
export const JOBS: readonly string[] =
  'baker farmer doctor teacher pilot sailor painter tailor miner nurse judge potter weaver singer writer lawyer chef builder driver clerk'.split(' ');
export const SPORTS: readonly string[] =
  'tennis chess golf rugby hockey soccer cricket polo squash baseball darts billiards volleyball basketball badminton handball lacrosse softball croquet netball'.split(' ');
export const GOODS: readonly string[] =
  'tea coffee wool copper salt cotton silk timber iron sugar wheat tin marble glass paper rubber coal spices leather cocoa'.split(' ');
/** Countable plural nouns for arithmetic stories. */
export const ITEMS: readonly string[] =
  'apples pears marbles stickers coins books pencils shells cards stamps cookies buttons beads candles plums eggs balloons acorns ribbons tickets'.split(' ');
export const ADJECTIVES: readonly string[] =
  'quiet silver hollow bright ancient crimson gentle frozen golden hidden lonely rapid rusty salty shiny sleepy stormy sunny wild wooden'.split(' ');
export const NOUNS: readonly string[] =
  'river lantern harbor meadow tower garden bridge forest island mountain canyon valley castle orchard village window mirror anchor compass feather'.split(' ');

/** Every word above, lower-cased, that an invented name must not collide with. */
function reservedWords(): Set<string> {
  const all = [PERSON_NAMES, COLORS, ANIMALS, FOODS, JOBS, SPORTS, GOODS, ITEMS, ADJECTIVES, NOUNS].flat();
  return new Set(all.map((w) => w.toLowerCase()));
}

const ONSETS = ['b', 'd', 'f', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z', 'br', 'dr', 'kr', 'tr', 'st', 'th'];
const MIDDLES = ['b', 'd', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z'];
const VOWELS = ['a', 'e', 'i', 'o', 'u'];
const CODAS = ['', 'n', 'r', 'l', 's', 'k'];
const ENDS = ['a', 'o', 'en', 'ar', 'is', 'on', 'ek', 'ia', 'ur', 'et'];

let inventedCache: string[] | undefined;

/**
 * Invented place-like names ("Varno", "Keltis"): onset+vowel+coda, then consonant+ending,
 * capitalized. Tens of thousands, none equal to a pooled English word or person name. Same list on every run.
 */
export function inventedNames(): string[] {
  if (inventedCache) return inventedCache;
  const reserved = reservedWords();
  const out: string[] = [];
  for (const o1 of ONSETS) for (const v of VOWELS) for (const c of CODAS) for (const m of MIDDLES) for (const e of ENDS) {
    if (c === m || o1 === m) continue; // no "Babba" or "Baba"
    const word = o1 + v + c + m + e;
    if (word.length > 7 || reserved.has(word)) continue;
    out.push(word[0].toUpperCase() + word.slice(1));
  }
  inventedCache = out;
  return out;
}

const splitCache = new Map<string, string[]>();

/** A split's share of a pool, cached. `kind` picks both the pool and the hash salt. */
export function namesFor(kind: 'person' | 'place', split: Split): string[] {
  const key = `${kind}/${split}`;
  let names = splitCache.get(key);
  if (!names) {
    names = splitPool(kind, kind === 'person' ? PERSON_NAMES : inventedNames(), split);
    splitCache.set(key, names);
  }
  return names;
}

/** "a baker" / "an otter". */
export function withArticle(word: string): string {
  return /^[aeiou]/i.test(word) ? `an ${word}` : `a ${word}`;
}
