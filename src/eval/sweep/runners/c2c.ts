/**
 * 'c2c': cross-model cache fusion (src/fuse). The cell's model is the sharer (`model.path`), its
 * `model.receiver` the receiver; items are tokenized for the sharer, and the receiver tokenizes
 * its part (the question) from the decoded text.
 *
 * params:
 *   mode       'fused' (default) | 'receiver-alone' | 'receiver-full' | 'sharer-alone' | 'text-relay' |
 *              'handoff' (same model on both sides: the cache as is, at `precision`)
 *   protocol   'question-only' (default: the receiver never sees the context) | 'receiver-side'
 *   fuser      a fuser file (kvwire fuse-fit); default: fitted once per worker on the task suite's
 *              train split (`calib` examples, default 128; `fit`: {pairing, alignment, mode,
 *              inputs, gate} as fitLinearFuser takes them)
 *   selector   a token selector over the sent tokens (budget = kept fraction p): front, back,
 *              random, knorm, vnorm, proj_vnorm, delta_proj_vnorm, ...
 *   planner    'rd': rate–distortion in the receiver's value space (budget = fraction of the sent
 *              FP16 size, e.g. "1/8"); `actions` (default ["int4", "int8"]), `keyWeight`
 *   lastFp16, sinks, recent, relayKeep (text-relay, default 0.25)
 * precision: a preset of the quant runner (int8, int4, int8-head, ...; default fp16).
 * Bytes are the packed plan's, exactly (no container); text modes count the text's UTF-8 bytes.
 * The random selector is seeded per example (the cell's seed and the example id, as in 'select').
 * Fused items time the sender's selection/planning (`select`, receiver-space scoring included),
 * `pack`, `unpack` and the receiver's projection and fusion (`fuse`), and count the fuser's FLOPs
 * (`counters.fuserFlopsSender` / `fuserFlopsReceiver`, src/fuse `fuserWork`): returned on the
 * item outcome; the results keep them per example and as a per-cell mean (`counters`).
 */
import { KvwireError } from '../../../errors.js';
import type { Session } from '../../../engine/index.js';
import { fingerprint } from '../../../model/index.js';
import {
  checkFuser, CROSS_MODES, fitLinearFuser, loadFuser, PROTOCOLS, runCross, taskCalibration, DEFAULT_CALIB_TASKS,
  type CrossMode, type FitOptions, type LinearFuser, type Protocol, type TransmitOptions,
} from '../../../fuse/index.js';
import type { KeepAction } from '../../../plan/index.js';
import type { CellSettings } from '../config.js';
import type { CellRunner } from '../runner.js';
import type { ItemOutcome } from '../runner.js';
import { quantOptions } from './quant.js';

/** A stable per-example seed for the random selector: the cell's seed and the example id (as the 'select' runner). */
function exampleSeed(cellSeed: number, id: string): number {
  let h = 2166136261 ^ cellSeed;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return h >>> 0;
}

const PARAMS = ['mode', 'protocol', 'fuser', 'calib', 'fit', 'selector', 'planner', 'actions', 'keyWeight', 'lastFp16', 'sinks', 'recent', 'relayKeep'];
const fail = (path: string, message: string): never => { throw new KvwireError('BAD_CONFIG', `method c2c: ${message}`, { path }); };

/** A budget "a/b" or a number, as a positive finite number. */
function fraction(b: unknown, path: string): number {
  const v = typeof b === 'string' && /^\s*\d+(\.\d+)?\s*\/\s*\d+(\.\d+)?\s*$/.test(b) ? b.split('/').map(Number).reduce((x, y) => x / y) : b;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(path, `budget must be a positive number or "a/b", got ${JSON.stringify(b)}`);
  return v as number;
}

function transmitOptions(cell: Pick<CellSettings, 'budget' | 'precision' | 'params'>): TransmitOptions {
  const p = cell.params;
  const o: TransmitOptions = {};
  if (cell.precision !== null) o.precision = quantOptions({ precision: cell.precision, params: {} });
  for (const k of ['lastFp16', 'sinks', 'recent'] as const) {
    if (p[k] !== undefined) {
      if (!Number.isInteger(p[k]) || (p[k] as number) < 0) fail(`params.${k}`, `params.${k} must be an integer >= 0`);
      o[k] = p[k] as number;
    }
  }
  if (p.selector !== undefined && p.planner !== undefined) fail('params', 'give params.selector or params.planner, not both');
  if (p.selector !== undefined) {
    if (typeof p.selector !== 'string') fail('params.selector', 'params.selector must be a selector name');
    const ratio = cell.budget === null ? 1 : fraction(cell.budget, 'budgets');
    if (ratio > 1) fail('budgets', `a selector's budget is the kept fraction p in (0, 1], got ${cell.budget}`);
    o.selector = p.selector as string;
    o.keep = { ratio };
  } else if (p.planner !== undefined) {
    if (p.planner !== 'rd') fail('params.planner', `params.planner must be "rd", got ${JSON.stringify(p.planner)}`);
    if (cell.budget === null) fail('budgets', 'planner rd needs a budget (fraction of the FP16 size, e.g. "1/8")');
    const actions = (p.actions ?? ['int4', 'int8']) as KeepAction[];
    if (!Array.isArray(actions) || actions.some((a) => !['int2', 'int4', 'int8', 'fp16'].includes(a))) fail('params.actions', 'params.actions must list int2/int4/int8/fp16');
    o.rd = { budget: { fraction: fraction(cell.budget, 'budgets') }, actions, keyWeight: p.keyWeight as number | undefined };
  } else if (cell.budget !== null) {
    fail('budgets', 'a budget needs params.selector (kept fraction) or params.planner "rd" (byte fraction)');
  }
  return o;
}

const fitted = new Map<string, Promise<LinearFuser>>();

/** The cell's fuser: a file, checked against both models (NO_FUSER otherwise), or fitted once per worker. */
async function fuserFor(sharer: Session, receiver: Session, params: Record<string, unknown>): Promise<LinearFuser> {
  if (typeof params.fuser === 'string') {
    const f = loadFuser(params.fuser);
    checkFuser(f, { ...fingerprint(sharer.spec) }, { ...fingerprint(receiver.spec) });
    return f;
  }
  const n = (params.calib as number | undefined) ?? 128;
  // Gates are chosen for the protocol the cell runs.
  const fit = { ...(params.fit ?? {}) as FitOptions, protocol: (params.protocol ?? 'question-only') as Protocol };
  const key = JSON.stringify([sharer.spec.source, receiver.spec.source, n, fit]);
  if (!fitted.has(key)) {
    fitted.set(key, fitLinearFuser(sharer, receiver, taskCalibration(DEFAULT_CALIB_TASKS, n), { ...fit, onProgress: undefined }).then((r) => r.fuser));
  }
  return fitted.get(key)!;
}

export const c2cRunner: CellRunner = {
  method: 'c2c',
  description: 'cross-model fusion (src/fuse): sharer cache -> select/quantize/RD -> fuser (params.fuser: a trained c2c-mlp or ridge file; else ridge fitted) -> receiver; params.mode gives the baselines',
  validate(cell) {
    if (!cell.model.receiver) fail('models', 'method c2c needs a receiver: models[].receiver');
    for (const k of Object.keys(cell.params)) if (!PARAMS.includes(k)) fail(`params.${k}`, `unknown param "${k}" (${PARAMS.join(', ')})`);
    const mode = (cell.params.mode ?? 'fused') as CrossMode;
    if (!CROSS_MODES.includes(mode)) fail('params.mode', `params.mode must be one of ${CROSS_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
    const protocol = (cell.params.protocol ?? 'question-only') as Protocol;
    if (!PROTOCOLS.includes(protocol)) fail('params.protocol', `params.protocol must be one of ${PROTOCOLS.join(', ')}`);
    if (cell.params.fuser !== undefined && typeof cell.params.fuser !== 'string') fail('params.fuser', 'params.fuser must be a file path');
    const n = cell.params.calib;
    if (n !== undefined && (!Number.isInteger(n) || (n as number) < 2)) fail('params.calib', 'params.calib must be an integer >= 2');
    if (cell.dataset.name === 'wikitext2') fail('datasets', 'method c2c scores generation tasks, not perplexity windows');
    const k = cell.params.relayKeep;
    if (k !== undefined && (typeof k !== 'number' || !(k > 0 && k <= 1))) fail('params.relayKeep', 'params.relayKeep must be in (0, 1]');
    if (mode === 'fused') transmitOptions(cell);
    else if (mode === 'handoff') { if (cell.budget !== null) fail('budgets', 'mode handoff sends the whole cache: no budget (a precision is allowed)'); transmitOptions(cell); }
    else if (cell.budget !== null || cell.precision !== null) fail('budgets', `mode ${mode} transmits no cache: no budget or precision`);
  },
  async prepare(ctx) {
    const receiver = await ctx.loadModel(ctx.cell.model.receiver!);
    ctx.state.receiver = receiver.session;
    if ((ctx.cell.params.mode ?? 'fused') === 'fused') ctx.state.fuser = await fuserFor(ctx.session, receiver.session, ctx.cell.params);
    ctx.state.transmit = ['fused', 'handoff'].includes((ctx.cell.params.mode ?? 'fused') as string) ? transmitOptions(ctx.cell) : undefined;
  },
  async runItem(ctx, item) {
    if (item.kind !== 'generate') throw new KvwireError('BAD_CONFIG', 'method c2c runs generation items only', { path: 'datasets' });
    const tok = ctx.spec.tokenizer;
    const base = ctx.state.transmit as TransmitOptions | undefined;
    const transmit = base?.selector === 'random' ? { ...base, seed: exampleSeed(ctx.cell.seed, item.id) } : base;
    const out = await runCross(ctx.session, ctx.state.receiver as Session, {
      sharerContext: item.ids.slice(0, item.split), sharerQuestion: item.ids.slice(item.split),
      contextText: tok.decode(item.ids.slice(0, item.split)), questionText: tok.decode(item.ids.slice(item.split)),
      maxTokens: item.maxTokens, stopAtNewline: item.stopAtNewline, score: item.score,
    }, {
      mode: (ctx.cell.params.mode ?? 'fused') as CrossMode, protocol: ctx.cell.params.protocol as Protocol | undefined,
      fuser: ctx.state.fuser as LinearFuser | undefined, transmit,
      relayKeep: ctx.cell.params.relayKeep as number | undefined,
    });
    const outcome: ItemOutcome = {
      output: out.output, correct: out.correct, bytes: out.bytes, contextTokens: out.contextTokens, keptTokens: out.keptTokens, ms: out.ms,
    };
    if (out.fuserFlops) outcome.counters = { fuserFlopsSender: out.fuserFlops.sender, fuserFlopsReceiver: out.fuserFlops.receiver };
    return outcome;
  },
};
