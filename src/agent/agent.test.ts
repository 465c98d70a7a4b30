import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KvwireError } from '../errors.js';
import { Session } from '../engine/index.js';
import { fingerprint } from '../model/index.js';
import { decodeCard, encodeCard } from '../card/index.js';
import { reassemble, splitCard } from '../card/raw.js';
import { applyPlan, materialize, planBudget } from '../plan/index.js';
import { precomputedAttention } from '../select/index.js';
import { tinySpec } from '../test-support/tiny-model.js';
import { repoRoot } from '../util/data.js';
import { AgentHost, Receiver, Sharer, compress, createAgentProcess, createAgentService, parseCompression, precisionFromPlan, runChain } from './index.js';

const spec = tinySpec({ layers: 3, vocabSize: 64 }, 5);
const model = fingerprint(spec);
const context = Array.from({ length: 40 }, (_, i) => 3 + ((i * 7) % 50));
const question = [9, 10, 11, 12];
let session: Session;
before(async () => { session = await Session.create(spec); });
after(() => session.dispose());

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

async function baseline(maxTokens: number): Promise<number[]> {
  return (await session.generate([...context, ...question], { maxTokens, stop: [] })).tokens;
}

describe('handoff between in-process agents', () => {
  it('an fp32 card answers exactly like the no-handoff run; compressed cards answer', async () => {
    const sharer = new Sharer(session, { model });
    const receiver = new Receiver(session, { model });
    const ctx = await sharer.read(context, { question });
    const want = await baseline(5);
    const { card } = await sharer.card(ctx.id, 'fp32');
    const got = await receiver.fromCard({ bytes: card.bytes }, question, { maxTokens: 5, firstLine: false });
    assert.deepEqual(got.tokens, want);
    assert.equal(got.card!.nextPosition, 40);
    for (const c of ['fp16', 'int8', 'int4', 'int2', 'nf4', 'int4-q2c25', 'int8-snapkv50', 'rd20']) {
      const r = await sharer.card(ctx.id, c);
      const a = await receiver.fromCard({ bytes: r.card.bytes }, question, { maxTokens: 3, firstLine: false });
      assert.equal(a.tokens.length, 3, c);
      assert.ok(a.timings.ttftMs <= a.timings.totalMs);
    }
    assert.equal((await sharer.card(ctx.id, 'int4-q2c25')).keptTokens, 10);
  });

  it('refused cards inject nothing', async () => {
    let injected = 0;
    const spy = Object.create(session) as Session;
    spy.inject = (...args: Parameters<Session['inject']>) => { injected++; return session.inject(...args); };
    const receiver = new Receiver(spy, { model, key: 'k1' });
    const cache = (await session.prefill(context)).cache;
    const good = encodeCard(cache, { model, precision: { classes: [{ keys: { format: 'fp16' }, values: { format: 'fp16' } }] }, key: 'k1' });
    const flipped = good.bytes.slice();
    flipped[flipped.length - 300] ^= 1;
    const { sections } = splitCard(good.bytes);
    const unknownRequired = reassemble([...sections.slice(0, 4), { kind: 0x5555, flags: 1, body: new Uint8Array(4), offset: 0 }, ...sections.slice(4)], { key: 'k1' }).bytes;
    const cases: Array<[string, Uint8Array, string]> = [
      ['flipped bit', flipped, 'CARD_CORRUPT'],
      ['truncated', good.bytes.subarray(0, good.bytes.length - 10), 'CARD_CORRUPT'],
      ['another model', encodeCard(cache, { model: { ...model, id: 'ffffffffffffffff' }, precision: { classes: [{ keys: { format: 'fp16' }, values: { format: 'fp16' } }] }, key: 'k1' }).bytes, 'CARD_MODEL'],
      ['wrong signature', encodeCard(cache, { model, precision: { classes: [{ keys: { format: 'fp16' }, values: { format: 'fp16' } }] }, key: 'k2' }).bytes, 'CARD_SIGNATURE'],
      ['unknown required section', unknownRequired, 'CARD_UNSUPPORTED'],
    ];
    for (const [what, bytes, code] of cases) {
      await assert.rejects(receiver.fromCard({ bytes }, question), (e: unknown) => e instanceof KvwireError && e.code === code, what);
    }
    assert.equal(injected, 0);
    await receiver.fromCard({ bytes: good.bytes }, question, { maxTokens: 1 });
    assert.equal(injected, 1);
  });
});

describe('compression', () => {
  it('parses names and refuses unknown ones', () => {
    assert.deepEqual(parseCompression('int4-q2c25'), { name: 'int4-q2c25', precision: 'int4g', selector: 'q2c', keep: 0.25 });
    assert.deepEqual(parseCompression('int8-snapkv50'), { name: 'int8-snapkv50', precision: 'int8', selector: 'snapkv', keep: 0.5 });
    assert.deepEqual(parseCompression('fp16'), { name: 'fp16', precision: 'fp16' });
    assert.equal(parseCompression('rd10').rdFraction, 0.1);
    for (const bad of ['int3', 'int4-q2c0', 'int4-nope25', 'rd0', 'int4-q2c']) {
      assert.throws(() => parseCompression(bad), (e: unknown) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT', bad);
    }
  });

  it('Q2C keeps the sink and a quarter of the tokens, at their positions', async () => {
    const cache = (await session.prefill(context)).cache;
    const { attention } = await session.prefill(question, { past: cache, attentionRows: [0, 1, 2, 3] });
    const kept = await compress(cache, parseCompression('int4-q2c25'), { attention: precomputedAttention(cache.positions, spec.config.heads, { question: attention }) });
    // Per KV head: each head keeps 10 tokens (the sink among them); the card carries their union.
    assert.equal(kept.keptTokens, 10);
    assert.ok(kept.cache.length >= 10 && kept.cache.length <= 40, `union of ${kept.cache.length}`);
    assert.equal(kept.cache.positions[0], 0);
    assert.equal(kept.scores!.length, kept.cache.length);
    const n = kept.cache.length;
    for (const [l, mask] of (kept.absent ?? []).entries()) {
      for (let h = 0; h < cache.kvHeads; h++) {
        assert.equal(n - mask.subarray(h * n, (h + 1) * n).reduce((a, b) => a + b, 0), 10, `layer ${l} head ${h}`);
        assert.equal(mask[h * n], 0, 'the sink is kept by every head');
      }
    }
  });

  it('a per-head selection travels as a card (mapScope 2) and injects like the selection itself', async () => {
    const cache = (await session.prefill(context)).cache;
    const { attention } = await session.prefill(question, { past: cache, attentionRows: [0, 1, 2, 3] });
    const kept = await compress(cache, parseCompression('fp32-q2c25'), { attention: precomputedAttention(cache.positions, spec.config.heads, { question: attention }) });
    assert.ok(kept.absent, 'q2c selects per head');
    const card = decodeCard(encodeCard(kept.cache, { model, precision: kept.precision, nextPosition: cache.length }).bytes);
    assert.deepEqual(card.absent, kept.absent);
    const direct = await session.inject(kept.cache, { nextPosition: cache.length, absent: kept.absent }).append(question, { logits: 'all' });
    const viaCard = await session.inject(card.cache, { nextPosition: card.nextPosition, absent: card.absent }).append(question, { logits: 'all' });
    assert.deepEqual(viaCard.logits, direct.logits);
    const unmasked = await session.inject(card.cache, { nextPosition: card.nextPosition }).append(question, { logits: 'all' });
    assert.notDeepEqual(unmasked.logits, direct.logits, 'without the mask the zeroed entries draw attention');
  });

  it('a rate–distortion plan with per-layer precision travels as a card and decodes like the planner\'s own materialize', async () => {
    const cache = (await session.prefill(context)).cache;
    const plan = planBudget(cache, { budget: { fraction: 0.3 } });
    const card = encodeCard(cache.gather(plan.kept), { model, precision: precisionFromPlan(plan, cache.kvHeads) });
    const got = decodeCard(card.bytes).cache;
    const want = materialize(applyPlan(cache, plan), cache.shape).cache;
    for (let l = 0; l < cache.layers; l++) {
      assert.ok(bits(got.keys[l]).equals(bits(want.keys[l])), `keys ${l}`);
      assert.ok(bits(got.values[l]).equals(bits(want.values[l])), `values ${l}`);
    }
  });
});

describe('multi-hop chains', () => {
  it('lossless chains of any length answer like the no-handoff run; lossy ones re-encode at every hop', async () => {
    const want = await baseline(4);
    for (const hops of [1, 3]) {
      const r = await runChain(session, context, question, { model, hops, compression: 'fp32', maxTokens: 4 });
      assert.deepEqual(r.answer.tokens, want, `${hops} hops`);
      assert.equal(r.cardBytes.length, hops);
      assert.deepEqual(r.cardTokens, hops === 1 ? [40] : [14, 27, 40]); // agent i adds its share of the context
    }
    const lossy = await runChain(session, context, question, { model, hops: 5, compression: 'int4', maxTokens: 2 });
    assert.equal(lossy.answer.card!.meta!.hops, 5);
  });
});

describe('agents as services', () => {
  it('a receiver agent answers from a sharer agent over loopback HTTP, by card and by text', async () => {
    const modelPath = join(repoRoot, 'fixtures', 'llama');
    const [a, b] = await Promise.all([AgentHost.create({ model: modelPath }), AgentHost.create({ model: modelPath })]);
    const [sa, sb] = await Promise.all([createAgentService(a), createAgentService(b)]);
    try {
      const read = await sa.ops.read({ text: 'The red key is in the blue box.\nThe green key is in the boot.', question: '\nQuestion: Where is the green key?\nAnswer:', id: 'c1' }) as { id: string };
      assert.equal(read.id, 'c1');
      const q = { from: sa.url, context: 'c1', question: '\nQuestion: Where is the green key?\nAnswer:', maxTokens: 3 };
      const byCard = await sb.ops.answer({ ...q, via: 'card', compression: 'fp16' }) as { bytes: number; sharer: { encodeMs: number }; card: { signature: string } };
      assert.ok(byCard.bytes > 0 && byCard.sharer.encodeMs >= 0 && byCard.card.signature === 'none');
      const byText = await sb.ops.answer({ ...q, via: 'text' }) as { bytes: number };
      const byNote = await sb.ops.answer({ ...q, via: 'note', keep: 0.5 }) as { bytes: number };
      assert.ok(byNote.bytes < byText.bytes);
      await assert.rejects(sb.ops.answer({ ...q, via: 'card', compression: 'int3' }), (e: unknown) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT');
      // A proxy that breaks the first connection mid-card: the receiver resumes from the card's
      // Content-Location with a Range request and gets the same answer.
      let connections = 0;
      const proxy = net.createServer((client) => {
        const first = connections++ === 0;
        const upstream = net.connect(Number(new URL(sa.url).port), '127.0.0.1');
        let n = 0;
        upstream.on('data', (d: Buffer) => {
          if (first && n + d.length > 900) {
            client.end(d.subarray(0, 900 - n));
            client.destroy();
            upstream.destroy();
            return;
          }
          n += d.length;
          client.write(d);
        });
        client.on('data', (d: Buffer) => upstream.write(d));
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
      try {
        const via = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
        const direct = await sb.ops.answer({ ...q, via: 'card', compression: 'fp16' }) as { text: string; card: { digest: string } };
        const resumed = await sb.ops.answer({ ...q, from: via, via: 'card', compression: 'fp16' }) as { text: string; card: { digest: string; attempts: number } };
        assert.equal(resumed.card.attempts, 2);
        assert.equal(resumed.card.digest, direct.card.digest);
        assert.equal(resumed.text, direct.text);
      } finally {
        proxy.close();
      }
    } finally {
      await Promise.all([sa.close(), sb.close()]);
      await Promise.all([a.dispose(), b.dispose()]);
    }
  });

  it('runs as a child process controlled over stdin', async () => {
    const p = await createAgentProcess({ model: join(repoRoot, 'fixtures', 'llama') });
    try {
      assert.equal((await p.call('health')).layers, 2);
      await assert.rejects(p.call('nope'), (e: unknown) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT');
    } finally {
      await p.close();
    }
  });
});
