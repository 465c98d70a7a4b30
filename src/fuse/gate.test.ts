import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fittedPair, fixture } from './testing.js';

test('loss gates are chosen on the grid for either protocol, and the report says which', async () => {
  for (const protocol of ['question-only', 'receiver-side'] as const) {
    const p = await fittedPair(fixture('llama'), fixture('qwen2'), 8, { gate: 'loss', protocol, gateGrid: [0, 1], gateItems: 2 });
    const g = p.report.gates;
    assert.equal(g.objective, 'loss');
    assert.equal(g.protocol, protocol);
    assert.equal(p.fuser.fit.protocol, protocol);
    assert.ok(g.gates.every((x) => x === 0 || x === 1));
    assert.deepEqual(p.fuser.layers.map((L) => L.gate), g.gates);
    const nll = g.nll!;
    for (const v of [nll.alone, nll.oracle, nll.projected, nll.chosen]) assert.ok(Number.isFinite(v) && v > 0);
    // Receiver-side, the search also starts from every gate closed (the receiver reading the
    // context), so it never ends worse than that.
    if (protocol === 'receiver-side') assert.ok(nll.chosen <= nll.oracle + 1e-9, `${nll.chosen} <= ${nll.oracle}`);
    assert.ok(g.recon.every((x) => x >= 0 && x <= 1));
    await p.sharer.dispose();
    await p.receiver.dispose();
  }
});
