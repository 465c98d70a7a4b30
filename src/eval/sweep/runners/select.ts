/**
 * 'select': token selection (src/select) at a kept fraction p, the kept rows coded at a precision,
 * packed as a src/plan plan and unpacked for the receiver (seed 001 Tables 2-4, seed 002's Q2C).
 *
 * budget     the kept fraction p in (0, 1]: k = max(1, floor(p·T)) context tokens
 * precision  a preset of the quant runner (fp16, int8, int4, int8-head, ...; default fp16) or
 *            { keys, values } QuantSpecs, applied to the kept rows
 * params:
 *   selector     one of SELECTOR_NAMES (front, back, random, knorm, vnorm, h2o, snapkv, q2c, ...)
 *   sinks        always keep the first s tokens (default 0: seed 001 truncates plainly)
 *   recent       always keep the last r tokens (default 0)
 *   granularity  'shared' (default: one token set, what a CacheCard carries) | 'layer' | 'head'
 *                (per-head sets inject through the engine's per-head mask)
 *   lastFp16     the last k layers in fp16 (on top of the precision)
 *
 * Attention for h2o / snapkv comes from the sharer's own prefill of the context (all rows when
 * it fits, else recomputed in chunks); q2c's from one forward of the receiver's question over the
 * full context cache (Q2C assumes the sharer knows the question). That forward is timed in the
 * 'select' stage. Bytes: the packed plan's codes, fp16 scales/zeros, index set and descriptors.
 */
import { KvwireError } from '../../../errors.js';
import { planSelection, type ClassCoding } from '../../../plan/index.js';
import {
  SELECTOR_NAMES, getSelector, precomputedAttention, select, sessionAttention, type AttentionSource, type Granularity,
} from '../../../select/index.js';
import type { CellSettings } from '../config.js';
import type { CellRunner } from '../runner.js';
import { runHandoff, since } from './handoff-path.js';
import { packAndUnpack } from './packed.js';
import { quantOptions } from './quant.js';

const PARAMS = ['selector', 'sinks', 'recent', 'granularity', 'lastFp16'];
const fail = (path: string, message: string): never => { throw new KvwireError('BAD_CONFIG', `method select: ${message}`, { path }); };

/** Context attention of all rows is computed in the prefill up to this many floats (layers·heads·T²). */
const PREFILL_ATTENTION_FLOATS = 24 * 1024 * 1024;

/** A budget "a/b" or a number as a kept fraction in (0, 1]. */
export function keptFraction(b: unknown, path = 'budgets'): number {
  const v = typeof b === 'string' && /^\s*\d+(\.\d+)?\s*\/\s*\d+(\.\d+)?\s*$/.test(b) ? b.split('/').map(Number).reduce((x, y) => x / y) : b;
  if (typeof v !== 'number' || !Number.isFinite(v) || !(v > 0 && v <= 1)) fail(path, `budget must be the kept fraction p in (0, 1] (a number or "a/b"), got ${JSON.stringify(b)}`);
  return v as number;
}

/** The coding of kept rows: a quant preset or {keys, values}; null is fp16. */
export function rowCoding(cell: Pick<CellSettings, 'precision'>): ClassCoding {
  if (cell.precision === null) return { keys: { format: 'fp16' }, values: { format: 'fp16' } };
  const o = quantOptions({ precision: cell.precision, params: {} });
  if (o.recentWindow) fail('precisions', 'a recentWindow inside the precision is not supported here (use params.recent)');
  return { keys: o.keys, values: o.values };
}

function nonNegInt(v: unknown, path: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || (v as number) < 0) fail(path, `${path} must be an integer >= 0, got ${JSON.stringify(v)}`);
  return v as number;
}

/** A stable per-example seed for the random selector: the cell's seed and the example id. */
function exampleSeed(cellSeed: number, id: string): number {
  let h = 2166136261 ^ cellSeed;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return h >>> 0;
}

export const selectRunner: CellRunner = {
  method: 'select',
  description: 'token selection (src/select) at kept fraction p, kept rows at a precision, packed as a plan; params selector, sinks, recent, granularity, lastFp16',
  validate(cell) {
    for (const k of Object.keys(cell.params)) if (!PARAMS.includes(k)) fail(`params.${k}`, `unknown param "${k}" (${PARAMS.join(', ')})`);
    const s = cell.params.selector;
    if (typeof s !== 'string' || !(SELECTOR_NAMES as readonly string[]).includes(s)) fail('params.selector', `params.selector must be one of ${SELECTOR_NAMES.join(', ')}, got ${JSON.stringify(s)}`);
    if (getSelector(s as string).needs === 'receiver') fail('params.selector', `selector ${s} scores in a receiver's value space: use method c2c`);
    if (cell.budget === null) fail('budgets', 'method select needs a budget: the kept fraction p');
    keptFraction(cell.budget);
    rowCoding(cell);
    nonNegInt(cell.params.sinks, 'params.sinks');
    nonNegInt(cell.params.recent, 'params.recent');
    nonNegInt(cell.params.lastFp16, 'params.lastFp16');
    const g = cell.params.granularity;
    if (g !== undefined && !['shared', 'layer', 'head'].includes(g as string)) fail('params.granularity', `params.granularity must be shared, layer or head, got ${JSON.stringify(g)}`);
    if (cell.dataset.name === 'wikitext2' && getSelector(s as string).needs === 'question-attention') fail('datasets', 'q2c needs a question; wikitext2 windows have none');
  },
  runItem(ctx, item) {
    const p = ctx.cell.params;
    const selector = getSelector(p.selector as string);
    const ratio = keptFraction(ctx.cell.budget);
    const coding = rowCoding(ctx.cell);
    const granularity = (p.granularity ?? 'shared') as Granularity;
    const { layers, heads } = ctx.session.config;
    const T = item.split;
    const wantsContext = selector.needs === 'context-attention' && layers * heads * T * T <= PREFILL_ATTENTION_FLOATS;
    const rows = wantsContext ? { attentionRows: Array.from({ length: T }, (_, i) => i) } : {};
    return runHandoff(ctx, item, async (prefilled) => {
      const t0 = performance.now();
      const cache = prefilled.cache;
      let attention: AttentionSource | undefined;
      if (selector.needs === 'context-attention') {
        attention = wantsContext ? precomputedAttention(cache.positions, heads, { context: prefilled.attention }) : sessionAttention(ctx.session, cache);
      } else if (selector.needs === 'question-attention') {
        attention = sessionAttention(ctx.session, cache, item.ids.slice(item.split));
      }
      const set = await select(selector, { cache, attention, seed: exampleSeed(ctx.cell.seed, item.id) }, {
        budget: { ratio }, sinks: p.sinks as number | undefined, recent: p.recent as number | undefined, granularity,
      });
      const selectMs = since(t0);
      const t1 = performance.now();
      const plan = planSelection(cache, set, { base: coding, lastFp16: p.lastFp16 as number | undefined });
      const planMs = since(t1);
      const got = packAndUnpack(cache, plan);
      return { cache: got.cache, absent: got.absent, bytes: got.bytes, ms: { select: selectMs, plan: planMs, quantize: got.ms.pack, dequantize: got.ms.unpack } };
    }, rows);
  },
};
