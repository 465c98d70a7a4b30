import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Session } from '../engine/index.js';
import { fingerprint, loadModel } from '../model/index.js';
import { repoRoot } from '../util/data.js';
import { handoffAccuracy } from './accuracy.js';

describe('handoffAccuracy (the path behind bench:handoff accuracy rows)', () => {
  it('scores no handoff, cards, text relay and chains on the same examples, with per-example outcomes', async () => {
    const spec = loadModel(join(repoRoot, 'models', 'kvw-llama-6m'));
    const session = await Session.create(spec, { threads: 1 });
    const n = 4;
    const rows = await handoffAccuracy(session, fingerprint(spec), {
      tasks: ['instr'], n, seed: 3, compressions: ['fp16', 'int4-q2c25'], hops: [1, 2], chainCompressions: ['int8'], relayKeep: 0.25,
    });
    await session.dispose();
    assert.deepEqual(rows.map((r) => [r.method, r.hops]),
      [['no handoff', 0], ['card fp16', 1], ['card int4-q2c25', 1], ['text relay 25%', 1], ['chain int8 x2', 2]]);
    const base = rows[0];
    assert.equal(base.deltaPoints, 0);
    for (const r of rows) {
      assert.equal(r.n, n);
      assert.match(r.outcomes, /^[01]{4}$/);
      assert.equal(r.correct, [...r.outcomes].filter((c) => c === '1').length, `${r.method}: correct matches its outcomes`);
      // the delta is the paired difference of the outcome strings
      const diff = [...r.outcomes].reduce((a, c, k) => a + Number(c) - Number(base.outcomes[k]), 0);
      assert.equal(r.deltaPoints, (100 * diff) / n, r.method);
      if (r.method !== 'no handoff') assert.ok(r.meanBytes > 0, `${r.method} sent bytes`);
    }
    // the selected card is smaller than the full one, the chain sends two cards
    assert.ok(rows[2].meanBytes < rows[1].meanBytes / 3);
    assert.ok(rows[4].meanBytes > rows[1].meanBytes / 2);
  });
});
