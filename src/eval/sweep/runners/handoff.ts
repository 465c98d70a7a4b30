/**
 * 'handoff': a same-model handoff through the real card path (src/agent, src/card,
 * src/transport). The sharer agent prefills the context, compresses its cache and encodes a
 * CacheCard; an HTTP server in the same worker serves it through an emulated link (LinkShaper);
 * the receiver agent fetches it (decoding and verifying while it streams), injects it, appends
 * its question and answers. What the other runners only count, this one sends.
 *
 * precision  a compression name of src/agent (fp16, int8, int4, int2, nf4, fp32; default fp16), or
 *            'rd' with a budget (rate–distortion plan at that fraction of the FP16 bytes)
 * budget     with params.selector: the kept fraction p (the name becomes e.g. int4-q2c25)
 * params:
 *   link      a LINKS name of src/transport (loopback, 1000mbit, 100mbit, 10mbit; default loopback)
 *   selector  a selector of src/select
 *
 * Bytes are the card's, exactly: `payload` = the CHUNK sections (codes, their fp16 scales and
 * chunk headers: the card does not separate them), `indices` = the TOKENS section (ids and
 * positions), `metadata` = card header, head sections, optional sections (META) and END.
 * Stages: prefill, select (Q2C's question forward), plan (selection + precision), encode (sharer); transfer (request ->
 * card verified, minus decoder time), decodeCard, inject, append (question), decode (answer).
 * Timings include the loopback HTTP stack; run with one worker when they will be reported.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KvwireError } from '../../../errors.js';
import { fingerprint } from '../../../model/index.js';
import { Receiver, Sharer, parseCompression } from '../../../agent/index.js';
import { CardStore, LINKS, LinkShaper, createService, serveCard, type Service } from '../../../transport/index.js';
import { SELECTOR_NAMES } from '../../../select/index.js';
import type { CellSettings } from '../config.js';
import type { CellRunner } from '../runner.js';
import { keptFraction } from './select.js';
import { byteFraction } from './plan.js';

const PARAMS = ['link', 'selector'];
const fail = (path: string, message: string): never => { throw new KvwireError('BAD_CONFIG', `method handoff: ${message}`, { path }); };

/** The src/agent compression name of a cell. */
export function compressionName(cell: Pick<CellSettings, 'budget' | 'precision' | 'params'>): string {
  const precision = cell.precision ?? 'fp16';
  if (typeof precision !== 'string') fail('precisions', `method handoff takes a compression name (fp16, int8, int4, int2, nf4, fp32, rd), got ${JSON.stringify(precision)}`);
  const pct = (f: number) => String(Math.round(f * 10000) / 100);
  let name: string;
  if (precision === 'rd') {
    if (cell.budget === null) fail('budgets', 'precision rd needs a budget (fraction of the FP16 bytes, e.g. "1/8")');
    if (cell.params.selector !== undefined) fail('params.selector', 'precision rd chooses its own tokens: no selector');
    name = `rd${pct(byteFraction(cell.budget))}`;
  } else if (cell.params.selector !== undefined) {
    const s = cell.params.selector;
    if (typeof s !== 'string' || !(SELECTOR_NAMES as readonly string[]).includes(s)) fail('params.selector', `params.selector must be one of ${SELECTOR_NAMES.join(', ')}`);
    if (cell.budget === null) fail('budgets', 'a selector needs a budget: the kept fraction p');
    name = `${precision}-${s}${pct(keptFraction(cell.budget))}`;
  } else {
    if (cell.budget !== null) fail('budgets', 'a budget needs params.selector (kept fraction) or precision "rd" (byte fraction)');
    name = precision as string;
  }
  try {
    parseCompression(name);
  } catch (cause) {
    throw new KvwireError('BAD_CONFIG', `method handoff: ${(cause as Error).message}`, { path: 'precisions', cause });
  }
  return name;
}

interface Link {
  service: Service;
  store: CardStore;
}

/** One card server per worker and link, kept for the worker's lifetime (cells reuse it). */
const links = new Map<string, Promise<Link>>();

function linkServer(name: string): Promise<Link> {
  let l = links.get(name);
  if (!l) {
    const store = new CardStore(2 ** 28);
    const spec = LINKS[name];
    l = createService(async (req: IncomingMessage, res: ServerResponse, url: URL) => {
      const card = store.get(url.pathname.slice(1));
      if (!card) throw new KvwireError('FILE_NOT_FOUND', `no card ${url.pathname}`);
      // A fresh shaper per transfer: each card crosses an idle link.
      await serveCard(req, res, card, { shaper: name === 'loopback' ? undefined : new LinkShaper(spec) });
    }).then((service) => {
      // Do not keep a worker alive for an idle server.
      service.server.unref();
      return { service, store };
    });
    links.set(name, l);
  }
  return l;
}

export const handoffRunner: CellRunner = {
  method: 'handoff',
  description: 'same-model handoff through a real CacheCard over HTTP and an emulated link (src/agent, src/card, src/transport); params link, selector',
  validate(cell) {
    for (const k of Object.keys(cell.params)) if (!PARAMS.includes(k)) fail(`params.${k}`, `unknown param "${k}" (${PARAMS.join(', ')})`);
    const link = cell.params.link ?? 'loopback';
    if (typeof link !== 'string' || !Object.hasOwn(LINKS, link)) fail('params.link', `params.link must be one of ${Object.keys(LINKS).join(', ')}, got ${JSON.stringify(link)}`);
    if (cell.dataset.name === 'wikitext2') fail('datasets', 'method handoff answers questions; wikitext2 windows have none');
    compressionName(cell);
  },
  async prepare(ctx) {
    const model = fingerprint(ctx.spec);
    ctx.state.sharer = new Sharer(ctx.session, { model });
    ctx.state.receiver = new Receiver(ctx.session, { model });
    ctx.state.link = await linkServer((ctx.cell.params.link ?? 'loopback') as string);
    ctx.state.compression = compressionName(ctx.cell);
  },
  async runItem(ctx, item) {
    if (item.kind !== 'generate') throw new KvwireError('BAD_CONFIG', 'method handoff runs generation items only', { path: 'datasets' });
    const sharer = ctx.state.sharer as Sharer;
    const receiver = ctx.state.receiver as Receiver;
    const { service, store } = ctx.state.link as Link;
    const compression = ctx.state.compression as string;
    const context = item.ids.slice(0, item.split);
    const question = item.ids.slice(item.split);
    // Only Q2C reads the question's attention: other methods must not pay for its forward.
    const parsed = parseCompression(compression);
    const shared = await sharer.read(context, parsed.selector === 'q2c' ? { question, lookahead: parsed.ahead } : {});
    try {
      const made = await sharer.card(shared.id, compression);
      store.put({ bytes: made.card.bytes, digest: made.card.digest });
      const answer = await receiver.fromCard({ url: `${service.url}/${made.card.digest}` }, question, { maxTokens: item.maxTokens, firstLine: item.stopAtNewline });
      store.delete(made.card.digest);
      const b = made.card.breakdown;
      const t = answer.timings;
      return {
        output: answer.text, correct: item.score(answer.text),
        // metadata as the remainder, so the parts add up to the card's length whatever the breakdown's other parts hold.
        bytes: { total: made.card.bytes.length, payload: b.payload, scales: 0, indices: b.tokens, metadata: made.card.bytes.length - b.payload - b.tokens },
        contextTokens: context.length, keptTokens: made.keptTokens,
        ms: {
          prefill: shared.timings.prefillMs, select: shared.timings.scoreMs, plan: made.timings.planMs, encode: made.timings.encodeMs,
          transfer: Math.max(0, t.fetchMs - t.decodeMs), decodeCard: t.decodeMs, inject: t.injectMs, append: t.prefillMs,
          decode: Math.max(0, t.totalMs - t.fetchMs - t.injectMs - t.prefillMs),
        },
      };
    } finally {
      sharer.drop(shared.id);
    }
  },
};
