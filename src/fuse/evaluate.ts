/**
 * One example through a cross-model path, and the baselines on the same example. Used by the
 * sweep's 'c2c' runner and by `kvwire fuse-eval`.
 *
 *   fused           the sharer reads the context; its cache is sent (selected / quantized /
 *                   planned, exact bytes) and fused; the receiver reads only the question
 *                   (protocol 'question-only'), or has prefilled the context too and fuses
 *                   into its own cache ('receiver-side', seed 001's setting)
 *   receiver-alone  the receiver answers from the question only (0 bytes)
 *   receiver-full   the receiver reads the whole context as text (re-prefill; bytes = its UTF-8)
 *   sharer-alone    the sharer answers itself with its own cache (0 bytes; the answer's few
 *                   bytes are not counted)
 *   text-relay      the sharer writes a note (src/agent Sharer.text: the context sentences its
 *                   question attention ranks highest, up to `relayKeep` of the tokens); the
 *                   receiver reads note + question (bytes = the note's UTF-8)
 *   handoff         same-model handoff, where it applies (sharer = receiver): the whole cache,
 *                   coded with `transmit.precision` (default fp16), injected as is; what a perfect
 *                   fuser could reach
 */
import { Sharer } from '../agent/sharer.js';
import type { Session } from '../engine/index.js';
import { ensure } from '../errors.js';
import type { KvCache } from '../kv/index.js';
import { fingerprint } from '../model/index.js';
import { applyPlan, materialize, packedByteLength, planSelection } from '../plan/index.js';
import { alignSpans } from './align.js';
import { fuserWork, type LinearFuser } from './fuser.js';
import { tokenSpans } from './offsets.js';
import { checkReceiver, contentStart, fuseIntoReceiver, receiverCache, receiverPrefix, transmittedCache } from './protocol.js';
import { regridToSharer } from './space.js';
import { receivePacked, transmit, type FuseBytes, type TransmitOptions } from './transmit.js';

export const CROSS_MODES = ['fused', 'receiver-alone', 'receiver-full', 'sharer-alone', 'text-relay', 'handoff'] as const;
export type CrossMode = (typeof CROSS_MODES)[number];
export const PROTOCOLS = ['question-only', 'receiver-side'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** One example: the sharer's tokens and the texts both sides need. */
export interface CrossExample {
  /** The sharer's context tokens (with its BOS) and its tokens of the receiver's part. */
  sharerContext: number[];
  sharerQuestion: number[];
  /** The same two parts as text (the receiver tokenizes its part itself). */
  contextText: string;
  questionText: string;
  maxTokens: number;
  stopAtNewline: boolean;
  score(output: string): boolean;
}

export interface CrossOptions {
  mode: CrossMode;
  fuser?: LinearFuser;
  protocol?: Protocol;
  transmit?: TransmitOptions;
  /** text-relay: the note's size as a fraction of the context's tokens (default 0.25). */
  relayKeep?: number;
}

export interface CrossOutcome {
  output: string;
  correct: boolean;
  bytes: FuseBytes;
  contextTokens: number;
  keptTokens: number;
  ms: Record<string, number>;
  /**
   * Fused modes: FLOPs (2 × multiply-adds, counted by `fuserWork`) of the fuser's projections on
   * the sender (receiver-space selectors and RD scoring) and on the receiver (the fusion itself).
   */
  fuserFlops?: { sender: number; receiver: number };
}

const since = (t0: number) => performance.now() - t0;
const noBytes = (): FuseBytes => ({ total: 0, payload: 0, scales: 0, indices: 0, metadata: 0 });
const textBytes = (s: string): FuseBytes => { const n = Buffer.byteLength(s, 'utf8'); return { total: n, payload: n, scales: 0, indices: 0, metadata: 0 }; };

/** Appends `tokens` after `cache` (at `nextPosition`) and generates the answer. */
async function answer(session: Session, cache: KvCache, nextPosition: number, tokens: number[], ex: CrossExample, ms: Record<string, number>): Promise<string> {
  let t0 = performance.now();
  const seq = session.inject(cache, { nextPosition });
  ms.inject = since(t0);
  t0 = performance.now();
  await seq.append(tokens);
  ms.append = since(t0);
  const tok = session.spec.tokenizer;
  t0 = performance.now();
  const { tokens: out, decodeMs } = await seq.generate({
    maxTokens: ex.maxTokens, until: ex.stopAtNewline ? (t) => /\S[^\n]*\n/.test(tok.decode(t)) : undefined,
  });
  ms.decode = decodeMs;
  ms.sample = Math.max(0, since(t0) - decodeMs);
  return tok.decode(out);
}

/** Prefills `ids` from scratch, then generates (the text baselines). */
async function fromText(session: Session, ids: number[], ex: CrossExample, ms: Record<string, number>): Promise<string> {
  const t0 = performance.now();
  const { cache } = await session.prefill(ids.slice(0, -1));
  ms.prefill = since(t0);
  return answer(session, cache, cache.nextPosition, ids.slice(-1), ex, ms);
}

/** Runs one example through `o.mode` (see the file comment). */
export async function runCross(sharer: Session, receiver: Session, ex: CrossExample, o: CrossOptions): Promise<CrossOutcome> {
  const ms: Record<string, number> = {};
  const rTok = receiver.spec.tokenizer;
  const question = rTok.encode(ex.questionText);
  ensure(question.length > 0, 'BAD_ARGUMENT', 'the receiver\'s part of the example is empty');
  const contextTokens = ex.sharerContext.length;
  const done = (output: string, bytes: FuseBytes, keptTokens: number): CrossOutcome => ({ output, correct: ex.score(output), bytes, contextTokens, keptTokens, ms });
  switch (o.mode) {
    case 'receiver-alone': {
      const prefix = await receiverPrefix(receiver);
      return done(await answer(receiver, prefix, prefix.length, question, ex, ms), noBytes(), 0);
    }
    case 'receiver-full':
      return done(await fromText(receiver, rTok.encode(ex.contextText + ex.questionText, { addBos: true }), ex, ms), textBytes(ex.contextText), contextTokens);
    case 'sharer-alone': {
      const t0 = performance.now();
      const { cache } = await sharer.prefill(ex.sharerContext);
      ms.prefill = since(t0);
      return done(await answer(sharer, cache, cache.nextPosition, ex.sharerQuestion, ex, ms), noBytes(), contextTokens);
    }
    case 'text-relay': {
      const t0 = performance.now();
      const agent = new Sharer(sharer, { model: fingerprint(sharer.spec) });
      const ctx = await agent.read(ex.sharerContext, { question: ex.sharerQuestion, text: ex.contextText });
      const note = await agent.text(ctx.id, 'note', o.relayKeep ?? 0.25);
      agent.drop(ctx.id);
      ms.note = since(t0);
      const ids = rTok.encode(note + ex.questionText, { addBos: true });
      return done(await fromText(receiver, ids, ex, ms), textBytes(note), rTok.encode(note).length);
    }
    case 'handoff': {
      ensure(fingerprint(sharer.spec).id === fingerprint(receiver.spec).id, 'BAD_ARGUMENT', 'mode "handoff" needs the same model on both sides; use "fused" across models');
      let t0 = performance.now();
      const { cache } = await sharer.prefill(ex.sharerContext);
      ms.prefill = since(t0);
      t0 = performance.now();
      const plan = planSelection(cache, null, { base: o.transmit?.precision ?? { keys: { format: 'fp16' }, values: { format: 'fp16' } }, lastFp16: o.transmit?.lastFp16 });
      const packed = applyPlan(cache, plan);
      const received = materialize(packed, cache.shape).cache;
      ms.pack = since(t0);
      const b = plan.bytes;
      const bytes = { total: packedByteLength(packed), payload: b.codes, scales: b.scales + b.zeros, indices: b.indices + b.classMaps, metadata: b.header + b.descriptors };
      return done(await answer(receiver, received, cache.nextPosition, question, ex, ms), bytes, cache.length);
    }
    case 'fused':
      return fused(sharer, receiver, ex, o, question, ms, done);
    default:
      throw new Error(`unreachable mode ${String(o.mode)}`);
  }
}

async function fused(sharer: Session, receiver: Session, ex: CrossExample, o: CrossOptions, question: number[], ms: Record<string, number>,
  done: (output: string, bytes: FuseBytes, kept: number) => CrossOutcome): Promise<CrossOutcome> {
  const fuser = o.fuser;
  ensure(fuser !== undefined, 'BAD_ARGUMENT', 'mode "fused" needs a fuser');
  checkReceiver(fuser, receiver);
  let t0 = performance.now();
  const { cache } = await sharer.prefill(ex.sharerContext);
  ms.prefill = since(t0);
  const sent = transmittedCache(fuser, cache);
  const sharerHasBos = contentStart(ex.sharerContext, fuser.sharer.bosId) === 1;
  const work0 = fuserWork.macs;
  if ((o.protocol ?? 'question-only') === 'question-only') {
    const tx = await transmit(fuser, sent, o.transmit);
    Object.assign(ms, tx.ms);
    const work1 = fuserWork.macs;
    t0 = performance.now();
    const received = receivePacked(fuser, tx.packed, sent.layers);
    ms.unpack = since(t0);
    t0 = performance.now();
    const { cache: fusedCache, nextPosition } = await receiverCache(receiver, fuser, received, cache.length, sharerHasBos);
    ms.fuse = since(t0);
    const fuserFlops = { sender: 2 * (work1 - work0), receiver: 2 * (fuserWork.macs - work1) };
    return { ...done(await answer(receiver, fusedCache, nextPosition, question, ex, ms), tx.bytes, tx.kept), fuserFlops };
  }
  // Receiver-side fusion: the receiver prefills the context itself; rows aligned by characters.
  const rTok = receiver.spec.tokenizer;
  const sTok = sharer.spec.tokenizer;
  const rIds = rTok.encode(ex.contextText, { addBos: true });
  t0 = performance.now();
  const { cache: own } = await receiver.prefill(rIds);
  ms.receiverPrefill = since(t0);
  t0 = performance.now();
  const align = alignSpans(tokenSpans(rTok, rIds, ex.contextText), tokenSpans(sTok, ex.sharerContext, ex.contextText), fuser.alignment);
  ms.align = since(t0);
  const tx = await transmit(fuser, sent, { ...o.transmit, baseline: regridToSharer(fuser, own, align, sent.positions) });
  Object.assign(ms, tx.ms);
  const work1 = fuserWork.macs;
  t0 = performance.now();
  const received = receivePacked(fuser, tx.packed, sent.layers);
  const fusedCache = fuseIntoReceiver(fuser, own, align, received);
  ms.fuse = since(t0);
  const fuserFlops = { sender: 2 * (work1 - work0), receiver: 2 * (fuserWork.macs - work1) };
  return { ...done(await answer(receiver, fusedCache, fusedCache.nextPosition, question, ex, ms), tx.bytes, tx.kept), fuserFlops };
}
