/**
 * Where a model's two-hop *friend* chains fail ("What is the favorite color of Gwen's best
 * friend?"): the diagnosis behind training/README.md's twohop shortfall of the qwen models.
 *
 *   node dist/eval/probe-twohop.js --model DIR [-n 500] [--seed 0] [--threads 1] [--out F.json]
 *
 * On n twohop test examples restricted to friend chains (`chain: 'friend'`), the model answers,
 * greedily and over the same context, the test question and its second hop alone:
 *   chain  the test question: "What is the favorite color of Gwen's best friend?"  -> indigo
 *   hop2   "What is Dean's favorite color?" with four options, the gold value and the other
 *          favorite colors stated in the context (the facts task's trained form)  -> indigo
 * (The first hop alone, "Who is Gwen's best friend?", cannot be asked: no task asks for a person,
 * and these models answer it with a color or food.) The chain's accuracy is split by line order:
 * a causal model that read "Gwen's best friend is Dean." *before* "Dean's favorite color is
 * indigo." can attach Gwen to the second line while reading it; in the other order both lookups
 * must happen at question time.
 *
 * Attention, from the chain prompt's own forward pass: per layer, the head that puts the largest
 * share of its attention on the right line among the lines of that relation, from the question's
 * "friend" token over the "X's best friend is Y." lines (hop 1) and from the last prompt token over
 * the "X's favorite color is v." lines (hop 2); means over examples, answered right and wrong.
 * Chance is one over the number of such lines.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Session } from '../engine/index.js';
import { loadModel, type TextTokenizer } from '../model/index.js';
import { formatPrompt, LETTERS, scoreChoice, scoreShort, twohop, type Example } from './tasks/index.js';
import { wilsonInterval } from './stats.js';
import { KvwireError } from '../errors.js';

export type ProbeName = 'chain' | 'hop2';

/** The chain question and its second hop as a 4-option question over the same context. */
export function friendProbes(ex: Example): Record<ProbeName, Example> {
  const m = /^What is the favorite (\w+) of (\w+)'s best friend\?$/.exec(ex.question);
  const bridge = ex.meta.bridge;
  if (!m || typeof bridge !== 'string' || ex.choices) {
    throw new KvwireError('BAD_ARGUMENT', `probe: ${ex.id} is not a short-answer friend chain`);
  }
  const prop = m[1];
  const stated = new RegExp(`^\\w+'s favorite ${prop} is (\\w+)\\.$`);
  const others = ex.context.split('\n').map((l) => stated.exec(l)?.[1]).filter((v): v is string => v !== undefined && v !== ex.answer);
  // Gold first among at most four, rotated by a hash of the id so the gold letter varies.
  const options = [ex.answer, ...others.slice(0, 3)];
  const shift = [...ex.id].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % options.length;
  const choices = [...options.slice(shift), ...options.slice(0, shift)];
  return {
    chain: ex,
    hop2: { ...ex, question: `What is ${bridge}'s favorite ${prop}?`, choices, answer: LETTERS[choices.indexOf(ex.answer)] },
  };
}

/**
 * Token spans [start, end) of each context line in the prompt's tokens (BOS first), found by
 * encoding each prefix of the prompt that ends a line; null where a prefix's tokens are not a
 * prefix of the prompt's (a token across the line break), which the caller skips.
 */
export function lineSpans(tok: TextTokenizer, prompt: string, lines: string[], ids: number[]): Array<[number, number]> | null {
  const spans: Array<[number, number]> = [];
  let start = 1;
  let chars = 0;
  for (const line of lines) {
    chars += line.length;
    const end = prefixLength(tok, prompt.slice(0, chars), ids);
    if (end === null) return null;
    spans.push([start, end]);
    start = end;
    chars += 1; // the line break
  }
  return spans;
}

/** Token count of `prefix` if its tokens begin the prompt's `ids`, else null. */
export function prefixLength(tok: TextTokenizer, prefix: string, ids: number[]): number | null {
  const p = tok.encode(prefix, { addBos: true });
  for (let i = 0; i < p.length; i++) if (p[i] !== ids[i]) return null;
  return p.length;
}

/** Per layer, the best head's share of attention on span `gold` among `spans`, from query row `a`. */
function bestHeadShare(probs: Float32Array[], heads: number, A: number, a: number, T: number, spans: Array<[number, number]>, gold: number): number[] {
  return probs.map((p) => {
    let best = 0;
    for (let h = 0; h < heads; h++) {
      const row = p.subarray((h * A + a) * T, (h * A + a + 1) * T);
      let all = 0;
      let mine = 0;
      spans.forEach(([s, e], i) => {
        let m = 0;
        for (let t = s; t < e; t++) m += row[t];
        all += m;
        if (i === gold) mine = m;
      });
      if (all > 0) best = Math.max(best, mine / all);
    }
    return best;
  });
}

interface Tally { n: number; correct: number; accuracy: number; ci95: { low: number; high: number } }
const tally = (xs: boolean[]): Tally => {
  const k = xs.filter(Boolean).length;
  return { n: xs.length, correct: k, accuracy: xs.length ? k / xs.length : 0, ci95: wilsonInterval(k, xs.length) };
};

export interface ProbeResult {
  n: number;
  accuracy: Record<ProbeName | 'chainHop1LineFirst' | 'chainHop2LineFirst' | 'chainGivenHop2', Tally>;
  /** Per layer, mean over examples (chain right / wrong) of the best head's share on the right line. */
  /** What the model said to each probe, per example. */
  outputs: Array<Record<ProbeName, string> & { id: string; answer: string; bridge: string }>;
  attention: { hop1AtQuestion: { right: number[]; wrong: number[]; chance: number }; hop2AtAnswer: { right: number[]; wrong: number[]; chance: number }; skipped: number };
}

export async function probeTwohop(session: Session, n: number, seed = 0): Promise<ProbeResult> {
  const tok = session.spec.tokenizer;
  const examples = twohop.generate({ split: 'test', n, seed, chain: 'friend' });
  const heads = session.config.heads;
  const answers = { chain: [] as boolean[], hop2: [] as boolean[] };
  const outputs: Array<Record<ProbeName, string> & { id: string; answer: string; bridge: string }> = [];
  const hop1First: boolean[] = [];
  const shares = { hop1: { right: [] as number[][], wrong: [] as number[][], chance: [] as number[] }, hop2: { right: [] as number[][], wrong: [] as number[][], chance: [] as number[] } };
  let skipped = 0;
  const until = (t: readonly number[]) => tok.decode(t).includes('\n');
  for (const ex of examples) {
    const probes = friendProbes(ex);
    const said = { id: ex.id, answer: ex.answer, bridge: String(ex.meta.bridge) } as (typeof outputs)[number];
    const { tokens: t2 } = await session.generate(tok.encode(formatPrompt(probes.hop2), { addBos: true }), { maxTokens: 12, until });
    said.hop2 = tok.decode(t2);
    answers.hop2.push(scoreChoice(probes.hop2, said.hop2));
    outputs.push(said);
    // The chain question, with attention rows at the question's "friend" token and the last token.
    const prompt = formatPrompt(ex);
    const ids = tok.encode(prompt, { addBos: true });
    const lines = ex.context.split('\n');
    const spans = lineSpans(tok, prompt, lines, ids);
    const friendEnd = prefixLength(tok, prompt.slice(0, prompt.lastIndexOf(' friend?') + ' friend'.length), ids);
    const rows = spans && friendEnd !== null ? [friendEnd - 1, ids.length - 1] : [];
    const seq = session.sequence();
    const { attention } = await seq.append(ids, { attentionRows: rows });
    const { tokens } = await seq.generate({ maxTokens: 12, until });
    said.chain = tok.decode(tokens);
    const right = scoreShort(ex, said.chain);
    answers.chain.push(right);
    const [hop1, hop2] = ex.meta.hops as [string, string];
    hop1First.push(ex.context.indexOf(hop1) < ex.context.indexOf(hop2));
    if (!attention || !spans) {
      skipped++;
      continue;
    }
    const prop = /favorite (\w+) of/.exec(ex.question)![1];
    const T = ids.length;
    for (const [key, a, test, gold] of [['hop1', 0, (l: string) => l.includes(' best friend is '), hop1], ['hop2', 1, (l: string) => l.includes(`'s favorite ${prop} is `), hop2]] as const) {
      const idx = lines.map((l, i) => (test(l) ? i : -1)).filter((i) => i >= 0);
      const s = bestHeadShare(attention.probs, heads, 2, a, T, idx.map((i) => spans[i]), idx.indexOf(lines.indexOf(gold)));
      shares[key][right ? 'right' : 'wrong'].push(s);
      shares[key].chance.push(1 / idx.length);
    }
  }
  const mean = (rows: number[][]) => rows.length ? rows[0].map((_, l) => rows.reduce((a, r) => a + r[l], 0) / rows.length) : [];
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return {
    n: examples.length,
    accuracy: {
      chain: tally(answers.chain), hop2: tally(answers.hop2),
      chainHop1LineFirst: tally(answers.chain.filter((_, i) => hop1First[i])),
      chainHop2LineFirst: tally(answers.chain.filter((_, i) => !hop1First[i])),
      chainGivenHop2: tally(answers.chain.filter((_, i) => answers.hop2[i])),
    },
    attention: {
      hop1AtQuestion: { right: mean(shares.hop1.right), wrong: mean(shares.hop1.wrong), chance: avg(shares.hop1.chance) },
      hop2AtAnswer: { right: mean(shares.hop2.right), wrong: mean(shares.hop2.wrong), chance: avg(shares.hop2.chance) },
      skipped,
    },
    outputs,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    model: { type: 'string' }, n: { type: 'string', short: 'n', default: '500' }, seed: { type: 'string', default: '0' },
    threads: { type: 'string', default: '1' }, out: { type: 'string' },
  } });
  if (!values.model) throw new KvwireError('BAD_ARGUMENT', 'usage: node dist/eval/probe-twohop.js --model DIR [-n 500] [--seed 0] [--threads 1] [--out F.json]');
  const session = await Session.create(loadModel(values.model), { threads: Number(values.threads) });
  const t0 = performance.now();
  const r = await probeTwohop(session, Number(values.n), Number(values.seed));
  await session.dispose();
  const pct = (t: Tally) => `${(100 * t.accuracy).toFixed(1)}% (${t.correct}/${t.n})`;
  console.log(`${values.model}: friend chains, n = ${r.n}, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  for (const [k, t] of Object.entries(r.accuracy)) console.log(`  ${k.padEnd(20)} ${pct(t)}`);
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
  for (const o of r.outputs.slice(0, 8)) console.log(`  ${o.id}: ${JSON.stringify(o)}`);
  for (const [k, v] of Object.entries(r.attention)) {
    if (typeof v === 'number') console.log(`  attention skipped: ${v}`);
    else console.log(`  ${k} (chance ${v.chance.toFixed(2)}), by layer:\n    right ${fmt(v.right)}\n    wrong ${fmt(v.wrong)}`);
  }
  if (values.out) writeFileSync(values.out, JSON.stringify({ model: values.model, ...r }, null, 1));
}

if (process.argv[1]?.endsWith('probe-twohop.js')) await main();
