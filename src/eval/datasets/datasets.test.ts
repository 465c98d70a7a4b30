import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../../model/index.js';
import { repoRoot } from '../../util/data.js';
import { formatPrompt } from '../tasks/index.js';
import { taskExamples } from '../run-task.js';
import { arc, gsm8k, loadItems, niah, plainFormat, readJsonl, ruler, wikitextWindows } from './index.js';

// Needs ../shared/data (CI has it). The fixture's tokenizer is tiny (352 tokens), which is fine
// for token counting and splitting.
const spec = loadModel(join(repoRoot, 'fixtures', 'qwen3'));
const tok = spec.tokenizer;
const countTokens = (s: string) => tok.encode(s).length;

/** Runs `fn` with KVWIRE_DATA pointing at a scratch folder holding `files`. */
function withData(files: Record<string, string>, fn: () => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'kvwire-data-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  const saved = process.env.KVWIRE_DATA;
  process.env.KVWIRE_DATA = dir;
  try {
    fn();
  } finally {
    if (saved === undefined) delete process.env.KVWIRE_DATA;
    else process.env.KVWIRE_DATA = saved;
  }
}

test('GSM8K: gold numbers, context and question split, seeded shuffle', () => {
  const ex = gsm8k.load({ n: 3 });
  assert.equal(ex[0].id, 'gsm8k-0');
  assert.equal(ex[0].answer, '18');
  assert.match(ex[0].question, /^How much in dollars does she make every day/);
  assert.match(ex[0].context, /^Janet.s ducks lay 16 eggs per day\./);
  assert.ok(gsm8k.score(ex[0], ' 18\n'));
  assert.ok(!gsm8k.score(ex[0], ' 16'));
  const a = gsm8k.load({ n: 5, shuffle: true, seed: 1 }).map((e) => e.id);
  assert.deepEqual(a, gsm8k.load({ n: 5, shuffle: true, seed: 1 }).map((e) => e.id));
  assert.notDeepEqual(a, gsm8k.load({ n: 5, shuffle: true, seed: 2 }).map((e) => e.id));
  assert.equal(gsm8k.load().length, 1319);
  assert.throws(() => gsm8k.load({ n: 2000 }), { code: 'BAD_ARGUMENT' });
});

test('ARC: every record loads, letters index the options', () => {
  const all = arc.load();
  assert.equal(all.length, 1172);
  for (const ex of all) {
    assert.ok(ex.choices!.length >= 3 && ex.choices!.length <= 5);
    assert.ok('ABCDE'.slice(0, ex.choices!.length).includes(ex.answer), ex.id);
  }
  assert.equal(all[0].id, 'arc-Mercury_7175875');
  assert.equal(all[0].answer, 'C');
  const parts = arc.parts(all[0], 'plain');
  assert.match(parts.shared, /C\. Planetary days will become shorter\./);
  assert.ok(arc.score(all[0], ' C'));
  assert.ok(arc.score(all[0], 'The correct answer is (C).'));
  assert.ok(!arc.score(all[0], ' B'));
});

test('RULER: the plain prompt is the record input byte for byte', () => {
  const records = readJsonl('datasets/ruler/niah_multikey_3_4096.jsonl');
  const ex = ruler.load({ n: 3 });
  for (let i = 0; i < 3; i++) {
    const { text, sharedEnd } = plainFormat.render(ruler.parts(ex[i], 'plain'));
    assert.equal(text, records[i].input);
    assert.equal(text.slice(0, sharedEnd), ex[i].context);
    assert.deepEqual(ex[i].meta.references, records[i].outputs);
  }
  const gold = (ex[0].meta.references as string[])[0];
  assert.ok(ruler.score(ex[0], ` ${gold}.`));
  assert.ok(!ruler.score(ex[0], ' c31edbbc-f36c-462b-892e-6161be2d740a'));
});

test('NIAH: lengths x depths grid, seeded, needle at the depth, within the length', () => {
  const opts = { lengths: [256, 512], depths: [0, 0.5, 1], countTokens };
  const ex = niah.load(opts);
  assert.equal(ex.length, 6);
  assert.deepEqual(ex.map((e) => e.id), niah.load(opts).map((e) => e.id));
  assert.deepEqual(ex.map((e) => e.context), niah.load(opts).map((e) => e.context));
  assert.notDeepEqual(ex.map((e) => e.answer), niah.load({ ...opts, seed: 1 }).map((e) => e.answer));
  for (const e of ex) {
    const needle = `The special magic number for ${e.meta.key as string} is: ${e.answer}.`;
    const at = e.context.indexOf(needle);
    assert.ok(at > 0, e.id);
    const { text } = plainFormat.render(niah.parts(e, 'plain'));
    const tokens = countTokens(text);
    const length = e.meta.length as number;
    assert.ok(tokens <= length && tokens > 0.8 * length, `${e.id}: ${tokens} tokens for ${length}`);
    const depth = e.meta.depth as number;
    const hayStart = e.context.indexOf('\n') + 1; // after the one-line introduction
    const where = (at - hayStart) / (e.context.length - hayStart - needle.length);
    assert.ok(Math.abs(where - depth) < 0.25, `${e.id}: needle at ${where.toFixed(2)}`);
    if (depth === 1) assert.ok(e.context.endsWith(needle));
    assert.ok(niah.score(e, ` ${e.answer}.`));
  }
  assert.throws(() => niah.load({ depths: [1.5] }), { code: 'BAD_ARGUMENT' });
});

test('WikiText-2: windows overlap by window - stride and score stride tokens each', () => {
  const W = 48;
  const S = 16;
  const w = wikitextWindows(tok, { window: W, stride: S, n: 4 });
  assert.equal(w.length, 4);
  const bos = tok.bosId === null ? 0 : 1;
  for (let i = 0; i < w.length; i++) {
    assert.equal(w[i].ids.length, W + bos);
    assert.equal(w[i].ids.length - (w[i].split + 1), S);
    assert.ok(w[i].bytes > 0);
    if (i > 0) assert.deepEqual(w[i].ids.slice(bos, bos + W - S), w[i - 1].ids.slice(bos + S));
  }
  assert.deepEqual(wikitextWindows(tok, { window: W, stride: S, n: 2, start: 2 }).map((x) => x.ids), w.slice(2).map((x) => x.ids));
  assert.throws(() => wikitextWindows(tok, { window: 16, stride: 16 }), { code: 'BAD_ARGUMENT' });
  assert.throws(() => wikitextWindows(tok, { window: 16, stride: 8, n: 1e7 }), { code: 'BAD_ARGUMENT' });
});

test('items: the task suite tokenizes as run-task does, split at the context', async () => {
  const { items, promptStyle } = await loadItems(spec, { name: 'facts', n: 3, seed: 0 });
  assert.equal(promptStyle, 'task-suite');
  const examples = taskExamples('facts', 3, tok, 0);
  items.forEach((item, i) => {
    assert.equal(item.kind, 'generate');
    assert.deepEqual(item.ids, tok.encode(formatPrompt(examples[i]), { addBos: true }));
    assert.ok(item.split >= 1 && item.split < item.ids.length);
    assert.ok(tok.decode(item.ids.slice(item.split)).includes('Question:'));
  });
  const gsm = await loadItems(spec, { name: 'gsm8k', n: 2 });
  assert.equal(gsm.promptStyle, 'plain'); // the fixture has no chat template
  const g = gsm.items[0];
  assert.ok(g.kind === 'generate' && g.maxTokens === 64 && g.stopAtNewline);
  const wiki = await loadItems(spec, { name: 'wikitext2', n: 2, options: { window: 32, stride: 8 } });
  assert.equal(wiki.items[0].kind, 'nll');
  await assert.rejects(loadItems(spec, { name: 'nope' }), { code: 'BAD_ARGUMENT' });
});

test('bad data files give typed errors naming the file and line', () => {
  withData({ 'datasets/arc_challenge/ARC-Challenge-Test.jsonl': '{"question":"q","choices":{"text":["a","b"],"label":["A","B"]},"answerKey":"C"}\n' }, () => {
    assert.throws(() => arc.load(), (e: Error & { code?: string }) => e.code === 'BAD_FORMAT' && /:1: answerKey "C"/.test(e.message));
  });
  withData({ 'datasets/gsm8k/test.jsonl': '{"question":"q","answer":"5"}\nnot json\n' }, () => {
    assert.throws(() => gsm8k.load(), (e: Error & { code?: string }) => e.code === 'BAD_FORMAT' && /test\.jsonl:2: not valid JSON/.test(e.message));
  });
  withData({}, () => {
    assert.throws(() => ruler.load(), { code: 'DATA_MISSING' });
  });
});
