// The kvwire command as a person runs it: real processes, real exit codes, no stack traces for user errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { dataPath, repoRoot } from '../util/data.js';

const main = join(repoRoot, 'dist', 'cli', 'main.js');
const kvwire = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 120_000 });

test('generate works on stories260K', () => {
  const r = kvwire('generate', '--model', dataPath('models/stories260K/stories260K.bin'), '--prompt', 'Once upon a time', '--max-tokens', '20');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Once upon a time, there was a little girl/);
  assert.match(r.stderr, /20 generated/);
});

test('generate works on every family fixture, greedy and sampled', () => {
  for (const name of readdirSync(join(repoRoot, 'fixtures'))) {
    const model = join(repoRoot, 'fixtures', name);
    const r = kvwire('generate', '--model', model, '--prompt', 'The quick brown fox', '--max-tokens', '6', '--temperature', '0.8', '--top-p', '0.9', '--seed', '3');
    assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    assert.ok(r.stdout.startsWith('The quick brown fox'), name);
    const again = kvwire('generate', '--model', model, '--prompt', 'The quick brown fox', '--max-tokens', '6', '--temperature', '0.8', '--top-p', '0.9', '--seed', '3');
    assert.equal(again.stdout, r.stdout, `${name}: a seeded sample must repeat`);
  }
});

test('user errors exit non-zero with a one-line typed message, not a stack trace', () => {
  const missing = kvwire('generate', '--model', '/no/such/model', '--prompt', 'x');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /error \[FILE_NOT_FOUND\]: model not found: \/no\/such\/model/);
  assert.doesNotMatch(missing.stderr, /at .*\.js:\d+/);
  const usage = kvwire('generate');
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /generate needs --model/);
  const unknown = kvwire('frobnicate');
  assert.equal(unknown.status, 2);
});

test('demo hands a cache over between two worker sessions and agrees with re-prefill', () => {
  const r = kvwire('demo');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /answers identical\s+true/);
});
