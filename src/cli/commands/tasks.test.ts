import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPrompt } from '../../eval/tasks/format.js';
import { TASK_NAMES } from '../../eval/tasks/registry.js';
import type { Example } from '../../eval/tasks/types.js';
import { tasksCommand, type TasksIo } from './tasks.js';

function capture(): TasksIo & { out: string; err: string } {
  const io = { out: '', err: '', stdout: (t: string) => void (io.out += t), stderr: (t: string) => void (io.err += t) };
  return io;
}

function readJsonl(path: string): Array<Example & { prompt: string; target: string }> {
  return readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
}

const dir = mkdtempSync(join(tmpdir(), 'kvwire-tasks-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('tasks list names every task with a description', async () => {
  const io = capture();
  assert.equal(await tasksCommand(['list'], io), 0);
  for (const name of TASK_NAMES) assert.match(io.out, new RegExp(`^${name} +\\S`, 'm'));
});

test('tasks export writes one record per line with prompt and target, and no temp file', async () => {
  const out = join(dir, 'sub', 'facts.jsonl');
  const io = capture();
  assert.equal(await tasksCommand(['export', '--task', 'facts', '--split', 'test', '-n', '25', '--seed', '3', '--facts', '10', '--out', out], io), 0);
  const rows = readJsonl(out);
  assert.equal(rows.length, 25);
  for (const r of rows) {
    assert.equal(r.task, 'facts');
    assert.equal(r.prompt, formatPrompt(r));
    assert.ok(r.prompt.endsWith('Answer:'));
    assert.equal(r.target, ' ' + r.answer);
    assert.equal(r.context.split('\n').length, 10);
  }
  assert.deepEqual(readdirSync(join(dir, 'sub')), ['facts.jsonl']);
  assert.match(io.out, /wrote 25 facts/);
  // The same command gives the same bytes.
  const again = join(dir, 'again.jsonl');
  await tasksCommand(['export', '--task', 'facts', '--split', 'test', '-n', '25', '--seed', '3', '--facts', '10', '--out', again], capture());
  assert.equal(readFileSync(again, 'utf8'), readFileSync(out, 'utf8'));
});

test('tasks export --task all covers every task; options land where they fit', async () => {
  const out = join(dir, 'all.jsonl');
  assert.equal(await tasksCommand(['export', '--task', 'all', '--split', 'train', '-n', '70', '--seed', '1', '--length', '256,512', '--worked', '--out', out], capture()), 0);
  const rows = readJsonl(out);
  assert.equal(rows.length, 70 * TASK_NAMES.length);
  for (const name of TASK_NAMES) assert.equal(rows.filter((r) => r.task === name).length, 70);
  assert.equal(new Set(rows.map((r) => r.id)).size, rows.length);
  for (const r of rows.filter((r) => r.task === 'arith')) assert.match(r.target, /^ .* #### \d+$/);
  const needles = rows.filter((r) => r.task === 'needle');
  assert.deepEqual(needles.slice(0, 4).map((r) => (r.meta as { targetTokens: number }).targetTokens), [256, 512, 256, 512]);
  assert.equal(needles[69].id, 'needle-train-1-69@512', 'chunked generation keeps indices');
  assert.deepEqual(needles.slice(0, 2).map((r) => (r as { length?: number }).length), [256, 512], 'needle records carry their length');
  assert.equal(rows.filter((r) => r.task !== 'needle' && 'length' in r).length, 0);
});

test('tasks export --chain keeps one chain kind of twohop', async () => {
  const out = join(dir, 'friend.jsonl');
  assert.equal(await tasksCommand(['export', '--task', 'twohop', '--split', 'train', '-n', '30', '--chain', 'friend', '--out', out], capture()), 0);
  const rows = readJsonl(out);
  assert.equal(rows.length, 30);
  for (const r of rows) {
    assert.equal((r.meta as { chain: string }).chain, 'friend');
    assert.match(r.question, /best friend\?$/);
  }
});

test('tasks export: usage errors return 2 and write nothing', async () => {
  const out = join(dir, 'bad.jsonl');
  for (const args of [
    ['export', '--task', 'facts', '--split', 'dev', '-n', '1', '--seed', '1', '--out', out],
    ['export', '--task', 'nope', '--split', 'test', '-n', '1', '--seed', '1', '--out', out],
    ['export', '--task', 'facts', '--split', 'test', '-n', 'x', '--seed', '1', '--out', out],
    ['export', '--task', 'facts', '--split', 'test', '-n', '1', '--seed', '1'],
    ['export', '--task', 'facts', '--split', 'test', '-n', '1', '--seed', '1', '--length', '512', '--out', out],
    ['export', '--task', 'facts', '--split', 'test', '-n', '1', '--seed', '1', '--chain', 'friend', '--out', out],
    ['export', '--task', 'twohop', '--split', 'test', '-n', '1', '--seed', '1', '--chain', 'cousin', '--out', out],
    ['export', '--bogus'],
    ['frobnicate'],
  ]) {
    const io = capture();
    assert.equal(await tasksCommand(args, io), 2, args.join(' '));
    assert.match(io.err, /kvwire tasks: /);
  }
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('bad') || f.includes('.tmp')), []);
});

test('tasks export: a failure midway leaves an existing file untouched and no temp file', async () => {
  const out = join(dir, 'keep.jsonl');
  writeFileSync(out, 'old\n');
  const saved = process.env.KVWIRE_DATA;
  process.env.KVWIRE_DATA = join(dir, 'no-data-here');
  try {
    const io = capture();
    // facts succeeds first, then needle fails on the missing corpus.
    assert.equal(await tasksCommand(['export', '--task', 'all', '--split', 'test', '-n', '3', '--seed', '1', '--out', out], io), 1);
    assert.match(io.err, /DATA_MISSING/);
    assert.match(io.out, /^$/);
  } finally {
    if (saved === undefined) delete process.env.KVWIRE_DATA; else process.env.KVWIRE_DATA = saved;
  }
  assert.equal(readFileSync(out, 'utf8'), 'old\n');
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp')), []);
});

test('tasks export --tokenizer counts needle lengths with a tokenizer.json', async () => {
  const tok = join(dir, 'tokenizer.json');
  writeFileSync(tok, JSON.stringify({
    version: '1.0', added_tokens: [], normalizer: null, pre_tokenizer: { type: 'Whitespace' }, post_processor: null, decoder: null,
    model: { type: 'WordLevel', vocab: { '[UNK]': 0 }, unk_token: '[UNK]' },
  }));
  const out = join(dir, 'needle.jsonl');
  assert.equal(await tasksCommand(['export', '--task', 'needle', '--split', 'test', '-n', '2', '--seed', '1', '--length', '300', '--tokenizer', tok, '--out', out], capture()), 0);
  for (const r of readJsonl(out)) {
    // The Whitespace pre-tokenizer splits words and punctuation runs: \w+|[^\w\s]+
    const count = (r.prompt.match(/\w+|[^\w\s]+/g) ?? []).length;
    assert.ok(count <= 300 && count >= 270, `${count} tokens`);
  }
  const io = capture();
  assert.equal(await tasksCommand(['export', '--task', 'needle', '--split', 'test', '-n', '1', '--seed', '1', '--tokenizer', join(dir, 'missing.json'), '--out', out], io), 1);
  assert.match(io.err, /FILE_NOT_FOUND/);
});

test('tasks export: --seed defaults to 1 for train and 0 for test', async () => {
  const out = join(dir, 'seedless.jsonl');
  assert.equal(await tasksCommand(['export', '--task', 'arith', '--split', 'test', '-n', '2', '--out', out], capture()), 0);
  assert.deepEqual(readJsonl(out).map((r) => r.id), ['arith-test-0-0', 'arith-test-0-1']);
  assert.equal(await tasksCommand(['export', '--task', 'arith', '--split', 'train', '-n', '1', '--out', out], capture()), 0);
  assert.deepEqual(readJsonl(out).map((r) => r.id), ['arith-train-1-0']);
});
