/**
 * 'plan': src/plan's schedules. With a budget, the rate–distortion allocator (planBudget, seed 001
 * §4.4.2 / Table 5): which tokens to send and at which precision, per (layer, token), within a
 * byte budget. Without one, a fixed precision with FP16 layers (mixed precision: the last k
 * layers, Table 7, or the diagnosed bottleneck layers, seed 002).
 *
 * budget     a fraction of the context's FP16 bytes ("1/16", "1/8", 0.1): the plan's total bytes,
 *            metadata included, stay within it; null: no allocation, every token at `precision`
 * precision  without a budget: a quant preset or {keys, values} for every non-FP16 layer (default fp16)
 * params:
 *   actions    allowed keep actions of the allocator (default all: int2, int4, int8, fp16)
 *   keyWeight  weight of key error in the allocator's distortion (default 0: seed 001's objective)
 *   weights    'uniform' (default) | 'q2c': token weights from Q2C's question attention
 *   lastFp16   the last k layers in FP16
 *   protect    a number (that many bottleneck layers, found once per cell by diagnoseLayers on
 *              8 train-split probes of the cell's task) or a list of layer indices, kept in FP16
 *   sinks, recent  tokens always sent (first s, last r)
 */
import { KvwireError } from '../../../errors.js';
import type { Session } from '../../../engine/index.js';
import {
  KEEP_ACTIONS, actionCoding, diagnoseLayers, planBudget, planSelection, type ClassCoding, type KeepAction, type Plan, type Probe,
} from '../../../plan/index.js';
import { aggregateScores, getSelector, sessionAttention } from '../../../select/index.js';
import { splitTokens } from '../../datasets/index.js';
import { formatPrompt, getTask, TASK_NAMES } from '../../tasks/index.js';
import type { CellSettings } from '../config.js';
import type { CellRunner } from '../runner.js';
import { runHandoff, since } from './handoff-path.js';
import { packAndUnpack } from './packed.js';
import { rowCoding } from './select.js';

const PARAMS = ['actions', 'keyWeight', 'weights', 'lastFp16', 'protect', 'sinks', 'recent'];
const fail = (path: string, message: string): never => { throw new KvwireError('BAD_CONFIG', `method plan: ${message}`, { path }); };

/** A budget "a/b" or a number as a fraction of the FP16 bytes, > 0. */
export function byteFraction(b: unknown, path = 'budgets'): number {
  const v = typeof b === 'string' && /^\s*\d+(\.\d+)?\s*\/\s*\d+(\.\d+)?\s*$/.test(b) ? b.split('/').map(Number).reduce((x, y) => x / y) : b;
  if (typeof v !== 'number' || !Number.isFinite(v) || !(v > 0)) fail(path, `budget must be a fraction of the FP16 bytes (a positive number or "a/b"), got ${JSON.stringify(b)}`);
  return v as number;
}

function nonNegInt(v: unknown, path: string): void {
  if (v !== undefined && (!Number.isInteger(v) || (v as number) < 0)) fail(path, `${path} must be an integer >= 0, got ${JSON.stringify(v)}`);
}

/** Probes for the bottleneck diagnosis: train-split prompts of the cell's task (instr for other datasets), never the test items. */
function probes(session: Session, cell: CellSettings, n = 8): Probe[] {
  const name = (TASK_NAMES as readonly string[]).includes(cell.dataset.name) && cell.dataset.name !== 'needle' ? cell.dataset.name : 'instr';
  const tok = session.spec.tokenizer;
  return getTask(name).generate({ split: 'train', n, seed: 1 } as never).map((ex) => {
    const { ids, split } = splitTokens(tok, formatPrompt(ex), ex.context.length, true);
    return { context: ids.slice(0, split), continuation: ids.slice(split) };
  });
}

/** The coding the diagnosis measures layers with: the precision, or the allocator's cheapest action. */
function diagnosisCoding(cell: CellSettings, headDim: number): ClassCoding {
  if (cell.budget === null) return rowCoding(cell);
  const actions = (cell.params.actions ?? KEEP_ACTIONS) as KeepAction[];
  return actionCoding(KEEP_ACTIONS.find((a) => actions.includes(a)) ?? 'int8', headDim);
}

const diagnosed = new Map<string, Promise<number[]>>();

export const planRunner: CellRunner = {
  method: 'plan',
  description: 'src/plan: rate–distortion plan at a fraction of the FP16 bytes (params actions, keyWeight, weights), or a precision with FP16 layers (lastFp16, protect)',
  validate(cell) {
    const p = cell.params;
    for (const k of Object.keys(p)) if (!PARAMS.includes(k)) fail(`params.${k}`, `unknown param "${k}" (${PARAMS.join(', ')})`);
    if (cell.budget !== null) {
      byteFraction(cell.budget);
      if (cell.precision !== null) fail('precisions', 'with a budget the allocator chooses the precisions: give params.actions, not a precision');
      if (p.actions !== undefined && (!Array.isArray(p.actions) || p.actions.length === 0 || p.actions.some((a) => !(KEEP_ACTIONS as readonly string[]).includes(a)))) {
        fail('params.actions', `params.actions must list some of ${KEEP_ACTIONS.join(', ')}, got ${JSON.stringify(p.actions)}`);
      }
      if (p.keyWeight !== undefined && (typeof p.keyWeight !== 'number' || !(p.keyWeight >= 0))) fail('params.keyWeight', 'params.keyWeight must be a number >= 0');
      if (p.weights !== undefined && !['uniform', 'q2c'].includes(p.weights as string)) fail('params.weights', 'params.weights must be uniform or q2c');
      if (p.weights === 'q2c' && cell.dataset.name === 'wikitext2') fail('datasets', 'q2c weights need a question; wikitext2 windows have none');
    } else {
      rowCoding(cell);
      for (const k of ['actions', 'keyWeight', 'weights', 'sinks', 'recent']) if (p[k] !== undefined) fail(`params.${k}`, `params.${k} needs a budget (the allocator)`);
    }
    for (const k of ['lastFp16', 'sinks', 'recent']) nonNegInt(p[k], `params.${k}`);
    const pr = p.protect;
    if (pr !== undefined && !(Number.isInteger(pr) && (pr as number) >= 0) && !(Array.isArray(pr) && pr.every((l) => Number.isInteger(l) && l >= 0))) {
      fail('params.protect', `params.protect must be a count of bottleneck layers or a list of layer indices, got ${JSON.stringify(pr)}`);
    }
  },
  async prepare(ctx) {
    const pr = ctx.cell.params.protect;
    if (Array.isArray(pr)) {
      const L = ctx.session.config.layers;
      if (pr.some((l) => l >= L)) fail('params.protect', `layer index out of range 0..${L - 1}: ${JSON.stringify(pr)}`);
      ctx.state.protect = pr;
    } else if (typeof pr === 'number' && pr > 0) {
      const coding = diagnosisCoding(ctx.cell, ctx.session.config.headDim);
      const key = JSON.stringify([ctx.spec.source, ctx.cell.model.weights ?? 'fp32', ctx.cell.dataset.name, coding, Math.min(pr, ctx.session.config.layers)]);
      // Diagnosis costs (layers + 1) continuations per probe: once per worker, model, task and coding.
      if (!diagnosed.has(key)) {
        diagnosed.set(key, diagnoseLayers(ctx.session, probes(ctx.session, ctx.cell), coding, { protect: Math.min(pr, ctx.session.config.layers), rows: 'all' })
          .then((d) => d.bottlenecks));
      }
      ctx.state.protect = await diagnosed.get(key)!;
    }
  },
  runItem(ctx, item) {
    const p = ctx.cell.params;
    const protect = ctx.state.protect as number[] | undefined;
    const lastFp16 = p.lastFp16 as number | undefined;
    return runHandoff(ctx, item, async (prefilled) => {
      const cache = prefilled.cache;
      const t0 = performance.now();
      let plan: Plan;
      if (ctx.cell.budget === null) {
        plan = planSelection(cache, null, { base: rowCoding(ctx.cell), lastFp16, protect });
      } else {
        const T = cache.length;
        const forceKeep = [
          ...Array.from({ length: Math.min((p.sinks as number | undefined) ?? 0, T) }, (_, i) => i),
          ...Array.from({ length: Math.min((p.recent as number | undefined) ?? 0, T) }, (_, i) => T - 1 - i),
        ];
        let weights: Float64Array | undefined;
        if (p.weights === 'q2c') {
          const attention = sessionAttention(ctx.session, cache, item.ids.slice(item.split));
          const s = aggregateScores(await getSelector('q2c').score({ cache, attention }), 'shared', cache);
          const w = s.granularity === 'shared' ? s.scores.map((x) => Math.max(0, x)) : new Float64Array(T).fill(1);
          const m = w.reduce((a, b) => a + b, 0) / Math.max(1, T);
          // Mean 1, and a floor so that no token is free to distort.
          weights = w.map((x) => (m > 0 ? x / m : 1) + 1e-3);
        }
        plan = planBudget(cache, {
          budget: { fraction: byteFraction(ctx.cell.budget) }, actions: p.actions as KeepAction[] | undefined, keyWeight: p.keyWeight as number | undefined,
          lastFp16, protect, forceKeep: [...new Set(forceKeep)].sort((a, b) => a - b), weights,
        });
      }
      const planMs = since(t0);
      const got = packAndUnpack(cache, plan);
      return { cache: got.cache, absent: got.absent, bytes: got.bytes, ms: { plan: planMs, quantize: got.ms.pack, dequantize: got.ms.unpack } };
    });
  },
};
