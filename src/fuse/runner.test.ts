import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig, planSweep, readResults, runSweep } from '../eval/sweep/index.js';
import { saveFuser } from './io.js';
import { fittedPair, tinyPair } from './testing.js';

// The sweep's 'c2c' runner on two fixture models with different tokenizers and shapes.
const pair = { name: 'llama->gemma', path: 'fixtures/llama', receiver: 'fixtures/gemma' };
const fit = { calib: 6, fit: { gate: 'recon' } };
const config = (methods: unknown[], models: unknown[] = [pair]) => parseConfig({ name: 'c2c-test', models, datasets: [{ name: 'instr', n: 3 }], methods });
const tmp = () => join(mkdtempSync(join(tmpdir(), 'kvwire-c2c-')), 'results.jsonl');

test('c2c cells: fused (full, selected, RD) and the baselines, with exact bytes', async () => {
  const out = tmp();
  await runSweep(config([
    { method: 'c2c', params: fit },
    { method: 'c2c', budgets: [0.5], precisions: ['int8'], params: { ...fit, selector: 'delta_proj_vnorm' } },
    { method: 'c2c', budgets: ['1/4'], params: { ...fit, planner: 'rd' } },
    { method: 'c2c', params: { ...fit, protocol: 'receiver-side' } },
    { method: 'c2c', vary: { mode: ['receiver-alone', 'receiver-full', 'sharer-alone', 'text-relay'] } },
  ]), { out, progress: false });
  const rs = readResults(out).results;
  assert.equal(rs.length, 8);
  const find = (f: (p: Record<string, unknown>) => boolean) => rs.find((r) => f(r.params))!;
  const full = find((p) => p.mode === undefined && !p.selector && !p.planner && !p.protocol);
  const sel = find((p) => p.selector === 'delta_proj_vnorm');
  const rd = find((p) => p.planner === 'rd');
  for (const r of [full, sel, rd]) {
    assert.equal(r.examples.length, 3);
    assert.ok(r.bytes.mean.total > 0);
    assert.equal(r.bytes.mean.total, r.bytes.mean.payload + r.bytes.mean.scales + r.bytes.mean.indices + r.bytes.mean.metadata);
  }
  // The full fp16 transfer sends every content token (BOS stays home): 2·L·H·(T−1)·D·2 bytes of payload.
  full.examples.forEach((e) => assert.equal(e.keptTokens, e.contextTokens - 1));
  sel.examples.forEach((e) => assert.equal(e.keptTokens, Math.max(1, Math.floor(0.5 * (e.contextTokens - 1)))));
  assert.ok(sel.bytes.mean.total < full.bytes.mean.total / 2);
  assert.ok(rd.bytes.mean.total <= full.bytes.mean.payload / 4);
  assert.equal(find((p) => p.mode === 'receiver-alone').bytes.mean.total, 0);
  assert.ok(find((p) => p.mode === 'text-relay').bytes.mean.total > 0);
  assert.ok(find((p) => p.mode === 'receiver-full').bytes.mean.total > find((p) => p.mode === 'text-relay').bytes.mean.total);
});

test('c2c refuses bad cells before running, and a fuser file for another pair with NO_FUSER', async () => {
  await assert.rejects(planSweep(config([{ method: 'c2c' }], ['fixtures/llama'])), { code: 'BAD_CONFIG' });
  await assert.rejects(planSweep(config([{ method: 'c2c', params: { colour: 1 } }])), { code: 'BAD_CONFIG' });
  await assert.rejects(planSweep(config([{ method: 'c2c', budgets: [0.5] }])), { code: 'BAD_CONFIG' });
  await assert.rejects(planSweep(config([{ method: 'c2c', budgets: [2], params: { selector: 'back' } }])), { code: 'BAD_CONFIG' });
  await assert.rejects(planSweep(config([{ method: 'c2c', params: { mode: 'telepathy' } }])), { code: 'BAD_CONFIG' });
  await assert.rejects(planSweep(config([{ method: 'c2c', precisions: ['int8'], params: { mode: 'receiver-alone' } }])), { code: 'BAD_CONFIG' });
  const { sharer, receiver } = tinyPair();
  const p = await fittedPair(sharer, receiver, 4);
  const file = join(mkdtempSync(join(tmpdir(), 'kvwire-c2c-')), 'other.safetensors');
  saveFuser(p.fuser, file);
  await p.sharer.dispose();
  await p.receiver.dispose();
  await assert.rejects(runSweep(config([{ method: 'c2c', params: { fuser: file } }]), { out: tmp(), progress: false }), { code: 'NO_FUSER' });
});
