/**
 * Multi-hop handoff chains, A -> B -> C -> ...: each agent receives a card, injects it, adds its
 * own part of the context, and re-encodes everything it holds (the received, already lossy cache
 * plus what it added) for the next agent; the last agent answers. The context is split into
 * `hops` contiguous token ranges, agent i reading range i, so after any number of hops the
 * tokens seen are exactly the no-handoff prompt's and only the repeated compression differs
 * (seed 003's repeated-handoff test).
 */
import { ensure } from '../errors.js';
import type { Session } from '../engine/index.js';
import type { KvCache } from '../kv/index.js';
import type { CardModel } from '../card/index.js';
import { Receiver, type Answer } from './receiver.js';
import { Sharer, questionAttention } from './sharer.js';
import { lookaheadFor } from './compression.js';

export interface ChainOptions {
  model: CardModel;
  /** Card transfers (agents = hops + 1). */
  hops: number;
  /** Compression name of every card (compression.ts); Q2C recomputes the question's attention at each hop. */
  compression: string;
  key?: Uint8Array | string;
  maxTokens?: number;
}

export interface ChainResult {
  answer: Answer;
  /** Card bytes of each hop. */
  cardBytes: number[];
  /** Tokens each card carried. */
  cardTokens: number[];
}

/** Splits [0, n) into `parts` contiguous ranges of nearly equal length (earlier ones longer). */
export function splitRanges(n: number, parts: number): Array<[number, number]> {
  ensure(Number.isInteger(parts) && parts >= 1 && parts <= n, 'BAD_ARGUMENT', `cannot split ${n} context tokens into ${parts} parts`);
  const out: Array<[number, number]> = [];
  for (let i = 0, at = 0; i < parts; i++) {
    const len = Math.floor(n / parts) + (i < n % parts ? 1 : 0);
    out.push([at, at + len]);
    at += len;
  }
  return out;
}

export async function runChain(session: Session, context: ArrayLike<number>, question: ArrayLike<number>, options: ChainOptions): Promise<ChainResult> {
  const parts = splitRanges(context.length, options.hops);
  const tokens = Array.from(context);
  const receiver = new Receiver(session, { model: options.model, key: options.key });
  const needsQuestion = /q2c/.test(options.compression);
  const cardBytes: number[] = [];
  const cardTokens: number[] = [];
  let cache: KvCache = (await session.prefill(tokens.slice(parts[0][0], parts[0][1]))).cache;
  for (let hop = 1; ; hop++) {
    const sharer = new Sharer(session, { model: options.model, key: options.key, hops: hop });
    let attention;
    if (needsQuestion) attention = await questionAttention(session, cache, question, lookaheadFor([options.compression]));
    const ctx = sharer.adopt(cache, { attention });
    const { card } = await sharer.card(ctx.id, options.compression);
    cardBytes.push(card.bytes.length);
    if (hop === options.hops) {
      const answer = await receiver.fromCard({ bytes: card.bytes }, question, { maxTokens: options.maxTokens });
      cardTokens.push(answer.card!.tokens);
      return { answer, cardBytes, cardTokens };
    }
    const { card: got } = await receiver.receive({ bytes: card.bytes });
    cardTokens.push(got.cache.length);
    const seq = session.inject(got.cache, { nextPosition: got.nextPosition, absent: got.absent });
    await seq.append(tokens.slice(parts[hop][0], parts[hop][1]));
    cache = seq.cache();
    seq.close();
  }
}
