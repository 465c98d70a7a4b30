/**
 * compress-eval: for one model and a set of items (task questions or text passages), every
 * compression method's exact bytes against its fidelity to the full cache (KL, top-1, greedy
 * match) and, for tasks, its accuracy. Each method is a Plan built from the context's full cache,
 * packed (applyPlan), unpacked (materialize) and run by the receiver with the question appended
 * at the original positions; the bytes reported are the packed bytes, checked against the plan.
 */
import { KvwireError } from '../errors.js';
import type { Session } from '../engine/index.js';
import { applyPlan, baselineCoding, actionCoding, diagnoseLayers, fp16Bytes, materialize, packedByteLength, planBudget, planSelection,
  type BaselineName, type KeepAction, type LayerDiagnosis, type Plan } from '../plan/index.js';
import { aggregateScores, getSelector, precomputedAttention, select, sessionAttention, type ScoreInput, type SelectorName } from '../select/index.js';
import type { KvCache } from '../kv/index.js';
import { compareRuns, forcedLogits, matchLength, reproducesAnswer, runContinuation } from './fidelity.js';
import type { EvalItem } from './compress-eval-items.js';

export const DEFAULT_RATIOS = [0.75, 0.5, 0.25, 0.1];
export const DEFAULT_SELECTORS: SelectorName[] = ['front', 'back', 'random', 'knorm', 'vnorm', 'h2o', 'snapkv', 'q2c'];
export const DEFAULT_BASELINES: BaselineName[] = ['fp16', 'int8', 'int4g', 'int2-kivi', 'nf4'];
export const DEFAULT_MIXED: BaselineName[] = ['int4g', 'nf4', 'int2-kivi'];
/** RD budgets as fractions of the FP16 size. */
export const DEFAULT_RD_FRACTIONS = [1 / 4, 1 / 8, 1 / 16];

export interface CompressEvalOptions {
  ratios?: number[];
  selectors?: SelectorName[];
  baselines?: BaselineName[];
  /** Precision of the tokens a selector keeps (default fp16: the selection alone). */
  selectorPrecision?: KeepAction;
  /** Always-kept first tokens (BOS: 1) and last tokens, for every selector and RD plan. */
  sinks?: number;
  recent?: number;
  /**
   * Mixed-precision rows: diagnose bottlenecks on these probes (KL over every appended row: the
   * last row alone is too noisy on a handful of probes) and protect `protect` layers.
   */
  diagnosisItems?: EvalItem[];
  protect?: number;
  /** Codings diagnosed and run with their bottlenecks in FP16 (default int4g, nf4, int2-kivi). */
  mixedBaselines?: BaselineName[];
  rdFractions?: number[];
  rdVariants?: RdVariant[];
  /** Greedy continuation length (tasks: until a newline). */
  maxTokens?: number;
  /**
   * Text items: KL and top-1 over every appended (probe) row. Otherwise (tasks) over the rows
   * that predict the full cache's greedy answer, teacher-forced.
   */
  allRows?: boolean;
  /** Stop the continuation at a newline (tasks). */
  untilNewline?: boolean;
  onItem?: (done: number, total: number) => void;
}

export interface Method {
  name: string;
  family: 'quant' | 'select' | 'mixed' | 'rd';
  /** Keep ratio p (selectors) or budget fraction of FP16 (RD). */
  ratio?: number;
  plan(cache: KvCache, input: ScoreInput): Promise<Plan>;
}

/** Per-item outcomes of one method, in item order (paired across methods). */
export interface MethodOutcomes {
  name: string;
  family: Method['family'] | 'full';
  ratio?: number;
  bytes: number[];
  kl: number[];
  top1: number[];
  match: number[];
  correct: boolean[];
}

export interface CompressEvalResult {
  items: number;
  scored: boolean;
  meanContextTokens: number;
  /** Mean FP16 bytes of the context caches (K and V, no metadata). */
  meanFp16Bytes: number;
  /** Items whose context + question tokens differ from the whole prompt's tokenization. */
  tokenSplitMismatches: number;
  diagnosis: Record<string, LayerDiagnosis>;
  methods: MethodOutcomes[];
}

/** The methods of a run: baselines, mixed precision with diagnosed bottlenecks, selectors at each p, RD. */
export function buildMethods(headDim: number, options: CompressEvalOptions, diagnosis: Record<string, LayerDiagnosis>): Method[] {
  const methods: Method[] = [];
  for (const b of options.baselines ?? DEFAULT_BASELINES) {
    methods.push({ name: b, family: 'quant', plan: async (cache) => planSelection(cache, null, { base: baselineCoding(b, headDim) }) });
  }
  // Keys of `diagnosis`: 'int4g' (seed 002's one-layer-at-a-time) or 'int4g/loo' (leave-one-out).
  for (const [key, d] of Object.entries(diagnosis)) {
    const [b, mode] = key.split('/');
    methods.push({ name: `${b}+bn${d.bottlenecks.length}${mode ? `(${mode})` : ''}`, family: 'mixed',
      plan: async (cache) => planSelection(cache, null, { base: baselineCoding(b as BaselineName, headDim), protect: d.bottlenecks }) });
  }
  const precision = options.selectorPrecision ?? 'fp16';
  for (const name of options.selectors ?? DEFAULT_SELECTORS) {
    const selector = getSelector(name);
    for (const p of options.ratios ?? DEFAULT_RATIOS) {
      methods.push({
        name: `${name}@${p}`, family: 'select', ratio: p,
        plan: async (cache, input) => planSelection(cache,
          await select(selector, input, { budget: { ratio: p }, sinks: options.sinks, recent: options.recent, granularity: 'shared' }),
          { base: actionCoding(precision, headDim) }),
      });
    }
  }
  const forced = (T: number) => [...Array.from({ length: Math.min(options.sinks ?? 0, T) }, (_, i) => i),
    ...Array.from({ length: Math.min(options.recent ?? 0, T) }, (_, i) => T - 1 - i)];
  for (const f of options.rdFractions ?? DEFAULT_RD_FRACTIONS) {
    for (const v of options.rdVariants ?? DEFAULT_RD_VARIANTS) {
      methods.push({
        name: `rd(${v.label})@1/${Math.round(1 / f)}`, family: 'rd', ratio: f,
        plan: async (cache, input) => planBudget(cache, {
          budget: { fraction: f }, actions: v.actions, keyWeight: v.keyWeight, forceKeep: forced(cache.length),
          weights: v.weights === 'q2c' ? await q2cWeights(input) : undefined,
        }),
      });
    }
  }
  return methods;
}

/** RD configurations: seed 001's M10 pairs, all five actions, and two extensions of the objective. */
export interface RdVariant {
  label: string;
  actions?: KeepAction[];
  /** Weight of key error in a kept token's distortion (0: seed 001's value-space objective). */
  keyWeight?: number;
  /** Token importance: uniform (seed 001) or Q2C's attention mass, normalised to mean 1. */
  weights?: 'uniform' | 'q2c';
}

export const DEFAULT_RD_VARIANTS: RdVariant[] = [
  { label: 'drop+int8', actions: ['int8'] },
  { label: 'drop+int4+int8', actions: ['int4', 'int8'] },
  { label: 'all', keyWeight: 0 },
  { label: 'all,K', keyWeight: 1 },
  { label: 'all,K,q2c-w', keyWeight: 1, weights: 'q2c' },
];

/** Q2C's shared scores as RD weights, normalised to mean 1 (a floor keeps every weight > 0). */
async function q2cWeights(input: ScoreInput): Promise<Float64Array> {
  const s = aggregateScores(await getSelector('q2c').score(input), 'shared', input.cache);
  const w = s.granularity === 'shared' ? s.scores.map((x) => Math.max(0, x)) : new Float64Array(input.cache.length).fill(1);
  const m = w.reduce((a, b) => a + b, 0) / Math.max(1, w.length);
  return w.map((x) => (m > 0 ? x / m : 1) + 1e-3);
}

/** Floats of all-rows context attention above which attention is recomputed in chunks. */
const PRECOMPUTED_ATTENTION_FLOATS = 24 * 1024 * 1024;

/** Runs every method on every item. */
export async function compressEval(session: Session, items: EvalItem[], options: CompressEvalOptions = {}): Promise<CompressEvalResult> {
  if (items.length === 0) throw new KvwireError('BAD_ARGUMENT', 'compress-eval needs at least one item');
  const c = session.config;
  const tok = session.spec.tokenizer;
  const scored = items.every((it) => it.score !== undefined);
  const diagnosis: Record<string, LayerDiagnosis> = {};
  if (options.diagnosisItems?.length) {
    const probes = options.diagnosisItems.map((it) => ({ context: it.context, continuation: it.question }));
    for (const b of options.mixedBaselines ?? DEFAULT_MIXED) {
      for (const mode of ['one-at-a-time', 'leave-one-out'] as const) {
        diagnosis[mode === 'leave-one-out' ? `${b}/loo` : b] = await diagnoseLayers(session, probes, baselineCoding(b, c.headDim),
          { protect: options.protect ?? 1, mode, rows: 'all' });
      }
    }
  }
  const methods = buildMethods(c.headDim, options, diagnosis);
  const full: MethodOutcomes = { name: 'full', family: 'full', bytes: [], kl: [], top1: [], match: [], correct: [] };
  const outcomes: MethodOutcomes[] = methods.map((m) => ({ name: m.name, family: m.family, ratio: m.ratio, bytes: [], kl: [], top1: [], match: [], correct: [] }));
  const maxTokens = options.maxTokens ?? 12;
  const until = options.untilNewline ? (t: readonly number[]) => tok.decode(t as number[]).includes('\n') : undefined;
  let contextTokens = 0;
  let fp16 = 0;
  let done = 0;
  for (const item of items) {
    const T = item.context.length;
    const allRows = Array.from({ length: T }, (_, i) => i);
    const small = c.layers * c.heads * T * T <= PRECOMPUTED_ATTENTION_FLOATS;
    const { cache, attention } = await session.prefill(item.context, small ? { attentionRows: allRows } : {});
    const reference = await runContinuation(session, cache, item.question, {
      nextPosition: T, maxTokens, until, attentionRows: item.question.map((_, i) => i),
    });
    const input: ScoreInput = {
      cache, seed: done,
      attention: small
        ? precomputedAttention(cache.positions, c.heads, { context: attention, question: reference.attention })
        : sessionAttention(session, cache, item.question),
    };
    // Every method is scored teacher-forced on question + the full cache's answer, in one pass:
    // KL on the rows that predict the answer (text: the probe's rows), and greedy agreement. Only
    // a method whose argmaxes leave the reference answer is decoded on its own for accuracy.
    const Q = item.question.length;
    const ref = reference.tokens;
    const forced = [...item.question, ...ref];
    const [from, to] = options.allRows ? [0, Q] : [Q - 1, Q - 1 + Math.max(1, ref.length)];
    const stopIds = reference.stopReason === 'stop' && !(until?.(ref) ?? false) ? c.eosTokenIds : null;
    const refRows = await forcedLogits(session, cache, forced, { nextPosition: T });
    const view = (rows: Float32Array) => ({ logits: rows.subarray(from * c.vocabSize, to * c.vocabSize), tokens: [], stopReason: 'length' as const });
    // decode([]) throws in @huggingface/tokenizers: an empty answer is the empty string.
    const answer = (tokens: number[]) => (item.score ? item.score(tok.decode(tokens)) : false);
    full.correct.push(answer(ref));
    full.bytes.push(cache.floatBytes);
    full.kl.push(0);
    full.top1.push(1);
    full.match.push(ref.length);
    contextTokens += T;
    fp16 += fp16Bytes(cache);
    for (let m = 0; m < methods.length; m++) {
      const plan = await methods[m].plan(cache, input);
      const packed = applyPlan(cache, plan);
      const bytes = packedByteLength(packed);
      if (bytes !== plan.bytes.total) throw new KvwireError('ENGINE', `${methods[m].name}: plan says ${plan.bytes.total} bytes, packed ${bytes}`);
      const received = materialize(packed, cache.shape).cache;
      const rows = await forcedLogits(session, received, forced, { nextPosition: T });
      const f = compareRuns(view(refRows), view(rows), c.vocabSize);
      const tokens = reproducesAnswer(rows, c.vocabSize, Q - 1, ref, stopIds) ? ref
        : (await runContinuation(session, received, item.question, { nextPosition: T, maxTokens, until })).tokens;
      const o = outcomes[m];
      o.bytes.push(bytes);
      o.kl.push(f.kl);
      o.top1.push(f.top1);
      o.match.push(matchLength(ref, tokens));
      o.correct.push(answer(tokens));
    }
    options.onItem?.(++done, items.length);
  }
  return {
    items: items.length, scored, meanContextTokens: contextTokens / items.length, meanFp16Bytes: fp16 / items.length,
    tokenSplitMismatches: items.filter((it) => !it.sameTokens).length, diagnosis, methods: [full, ...outcomes],
  };
}
