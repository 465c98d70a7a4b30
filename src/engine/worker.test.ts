// WorkerSession runs the same Session in a worker thread: same results, and the caller's thread
// stays free while the worker computes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { KvwireError } from '../errors.js';
import { loadModel } from '../model/index.js';
import { repoRoot } from '../util/data.js';
import { Session } from './session.js';
import { WorkerSession } from './worker.js';

const model = join(repoRoot, 'fixtures', 'qwen2');

test('worker results equal in-thread results, and inject/append/generate work across the boundary', async () => {
  const local = await Session.create(loadModel(model));
  const remote = await WorkerSession.create(model);
  try {
    const tokens = [5, 9, 30, 41, 77, 100, 12, 8];
    const a = await local.prefill(tokens, { attentionRows: [7] });
    const b = await remote.prefill(tokens, { attentionRows: [7] });
    assert.deepEqual(b.logits, a.logits);
    assert.deepEqual(b.cache, a.cache);
    assert.deepEqual(b.attention, a.attention);
    const direct = await local.generate([...tokens, 3], { maxTokens: 6, stop: [] });
    const seq = await remote.inject(b.cache);
    await seq.append([3]);
    const viaWorker = await seq.generate({ maxTokens: 6, stop: [] });
    assert.deepEqual(viaWorker.tokens, direct.tokens);
    assert.equal((await seq.cache()).length, tokens.length + 1 + 5);
    await seq.close();
    await assert.rejects(seq.cache(), (e: unknown) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT');
  } finally {
    await local.dispose();
    await remote.dispose();
  }
});

test('the main thread keeps running while the worker prefills', async () => {
  const remote = await WorkerSession.create(model);
  try {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const long = Array.from({ length: 120 }, (_, i) => (i * 13) % 300 + 3);
    for (let i = 0; i < 5; i++) await remote.prefill(long, { logits: 'all' });
    clearInterval(timer);
    assert.ok(ticks > 0, 'timer never fired while the worker computed');
  } finally {
    await remote.dispose();
  }
});

test('a worker reports load errors as typed errors', async () => {
  await assert.rejects(WorkerSession.create('/nonexistent/model'), (e: unknown) => e instanceof KvwireError && e.code === 'FILE_NOT_FOUND');
});
