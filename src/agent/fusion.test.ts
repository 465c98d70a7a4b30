/**
 * Cross-model cards end to end with the shipped trained fuser kvw-qwen3-14m -> kvw-llama-6m: the
 * sharer (qwen3) encodes a card with a FUSION section, the receiver (llama-6m) holding the
 * shipped fusers decodes, projects, fuses and answers — the same answer as the in-process fused
 * path (src/fuse runCross) on the same examples. A receiver without a fuser for the sharer refuses
 * with NO_FUSER naming it, a card for another receiver with CARD_MODEL, and neither injects.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KvwireError } from '../errors.js';
import { Session } from '../engine/index.js';
import { loadItems, type GenerateItem } from '../eval/datasets/index.js';
import { fuserFileDigest } from '../fuse/fusion-section.js';
import { fuserFor, loadFusers } from '../fuse/registry.js';
import { runCross } from '../fuse/evaluate.js';
import { fuserMacsPerToken, type LinearFuser } from '../fuse/fuser.js';
import { fingerprint, loadModel, type ModelSpec } from '../model/index.js';
import { repoRoot } from '../util/data.js';
import { encodeFusedCard } from './fusion.js';
import { Receiver } from './receiver.js';

const fusersDir = join(repoRoot, 'models', 'fusers');
const code = (c: string) => (err: unknown) => err instanceof KvwireError && err.code === c;

describe('cross-model cards: kvw-qwen3-14m -> kvw-llama-6m through the shipped C2C fuser', () => {
  let sharerSpec: ModelSpec;
  let receiverSpec: ModelSpec;
  let sharer: Session;
  let receiver: Session;
  let fusers: LinearFuser[];
  let fuser: LinearFuser;
  let items: GenerateItem[];
  let injects = 0;

  before(async () => {
    sharerSpec = loadModel(join(repoRoot, 'models', 'kvw-qwen3-14m'));
    receiverSpec = loadModel(join(repoRoot, 'models', 'kvw-llama-6m'));
    sharer = await Session.create(sharerSpec, { threads: 1 });
    receiver = await Session.create(receiverSpec, { threads: 1 });
    const inject = receiver.inject.bind(receiver);
    receiver.inject = ((...a: Parameters<Session['inject']>) => { injects++; return inject(...a); }) as Session['inject'];
    fusers = loadFusers(fusersDir);
    fuser = fuserFor(fusers, fingerprint(sharerSpec), fingerprint(receiverSpec));
    items = (await loadItems(sharerSpec, { name: 'instr', n: 2 })).items as GenerateItem[];
  });
  after(async () => {
    await sharer?.dispose();
    await receiver?.dispose();
  });

  const parts = (item: GenerateItem) => {
    const tok = sharerSpec.tokenizer;
    const contextText = tok.decode(item.ids.slice(0, item.split));
    const questionText = tok.decode(item.ids.slice(item.split));
    return { contextText, questionText, context: item.ids.slice(0, item.split), question: item.ids.slice(item.split) };
  };
  const firstLine = (s: string) => s.split('\n')[0].trim();

  for (const [name, selection] of [['all tokens, fp16', null], ['back p = 0.5, fp16', { selector: 'back', ratio: 0.5 }]] as const) {
    it(`${name}: the card's answer = the in-process fused answer`, async () => {
      const r = new Receiver(receiver, { model: fingerprint(receiverSpec), fusers });
      const digest = fuserFileDigest(join(fusersDir, 'kvw-qwen3-14m--kvw-llama-6m', 'fuser.safetensors'));
      let right = 0;
      for (const item of items) {
        const p = parts(item);
        const { cache } = await sharer.prefill(p.context);
        const { card, kept, sent } = await encodeFusedCard(fuser, cache, {
          model: fingerprint(sharerSpec), precision: 'fp16', fuserDigest: digest,
          ...(selection ? { selector: selection.selector, keep: { ratio: selection.ratio } } : {}),
        });
        assert.equal(sent, p.context.length - 1); // BOS stays home
        assert.equal(kept, selection ? Math.floor(selection.ratio * sent) : sent);
        const before = injects;
        const got = await r.fromCard({ bytes: card.bytes }, receiverSpec.tokenizer.encode(p.questionText), { maxTokens: item.maxTokens });
        assert.equal(injects, before + 1);
        assert.equal(got.card?.tokens, kept);
        assert.ok(got.timings.fuseMs !== undefined && got.timings.fuseMs > 0);
        const ref = await runCross(sharer, receiver, {
          sharerContext: p.context, sharerQuestion: p.question, contextText: p.contextText, questionText: p.questionText,
          maxTokens: item.maxTokens, stopAtNewline: true, score: item.score,
        }, { mode: 'fused', fuser, transmit: selection ? { selector: selection.selector, keep: { ratio: selection.ratio } } : {} });
        assert.equal(ref.keptTokens, kept);
        // The fuser's FLOPs as counted: the receiver projects every kept token through every open layer; the sender scores none here.
        assert.deepEqual(ref.fuserFlops, { sender: 0, receiver: 2 * fuserMacsPerToken(fuser, true) * kept });
        assert.equal(firstLine(got.text), firstLine(ref.output), `example ${item.id}: card answered ${JSON.stringify(got.text)}, in process ${JSON.stringify(ref.output)}`);
        if (item.score(got.text)) right++;
      }
      console.log(`# ${name}: ${right} of ${items.length} answered right through the card`);
    });
  }

  it('refuses a sharer it holds no fuser for (NO_FUSER, naming it) and a card for another receiver (CARD_MODEL); injects nothing', async () => {
    const p = parts(items[0]);
    const { cache } = await sharer.prefill(p.context);
    const { card } = await encodeFusedCard(fuser, cache, { model: fingerprint(sharerSpec), precision: 'int8' });
    const question = receiverSpec.tokenizer.encode(p.questionText);
    const before = injects;
    // No fusers, and fusers for other sharers only.
    const others = fusers.filter((f) => f !== fuser);
    assert.ok(others.length >= 1);
    for (const held of [[], others]) {
      const r = new Receiver(receiver, { model: fingerprint(receiverSpec), fusers: held });
      await assert.rejects(r.fromCard({ bytes: card.bytes }, question), (e: unknown) => {
        assert.ok(code('NO_FUSER')(e), String(e));
        assert.match((e as Error).message, new RegExp(fingerprint(sharerSpec).id));
        return true;
      });
    }
    // This card is for kvw-llama-6m; a receiver of another fingerprint refuses it.
    const other = new Receiver(receiver, { model: { ...fingerprint(receiverSpec), id: 'ffffffffffffffff' }, fusers });
    await assert.rejects(other.fromCard({ bytes: card.bytes }, question), code('CARD_MODEL'));
    assert.equal(injects, before);
  });
});
