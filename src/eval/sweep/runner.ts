/**
 * The pluggable part of a sweep: one CellRunner per method name. The sweep loads the model and
 * the items, then calls `runItem` for each item of a cell; a runner decides what happens to the
 * context's cache between the sharer's prefill and the receiver's question, and reports the exact
 * bytes it would transmit and its stage timings.
 *
 * Register a runner with `registerRunner(runner)` from a module that the sweep imports: the
 * built-ins are imported by runners/index.ts (add one line there for a new built-in), and
 * `kvwire sweep --runner-module PATH` / the `runnerModules` option import more (each worker
 * imports them too, so registration must happen at module load).
 */
import { KvwireError } from '../../errors.js';
import type { Session } from '../../engine/index.js';
import type { ModelSpec } from '../../model/index.js';
import type { EvalItem } from '../datasets/index.js';
import type { CellSettings } from './config.js';

/**
 * Bytes a method transmits for one example, exactly (no estimates): `total` is the sum of the
 * parts. `metadata` is container overhead (headers, checksums) when the runner builds a real
 * card; the in-process runners report 0 there and say so.
 */
export interface ByteAccount {
  total: number;
  /** Quantized codes or raw fp16/fp32 values of K and V. */
  payload: number;
  /** Scales and zero points. */
  scales: number;
  /** Selection indices / positions. */
  indices: number;
  /** Headers, per-section metadata, checksums. */
  metadata: number;
}

/** What one item produced. */
export interface ItemOutcome {
  /** Generation: the decoded continuation and whether it scored. */
  output?: string;
  correct?: boolean;
  /** Perplexity: summed negative log-likelihood (nats) of `tokens` scored tokens. */
  nll?: number;
  tokens?: number;
  /** Perplexity: UTF-8 bytes of the scored tokens' text (for bits per byte). */
  textBytes?: number;
  bytes: ByteAccount;
  /** Tokens of the shared context, and how many of them were handed over. */
  contextTokens: number;
  keptTokens: number;
  /** Stage timings in milliseconds (prefill, quantize, inject, append, decode, ...). */
  ms: Record<string, number>;
  /** Deterministic work counts of the method, e.g. the fuser's FLOPs (`fuserFlopsReceiver`). */
  counters?: Record<string, number>;
}

/** What a runner may use while running a cell. */
export interface RunnerContext {
  cell: CellSettings;
  spec: ModelSpec;
  /** The session of the cell's model (the sharer; also the receiver for same-model methods). */
  session: Session;
  /** Loads (and caches for the worker's lifetime) another model, e.g. the cell's `model.receiver`. */
  loadModel(path: string): Promise<{ spec: ModelSpec; session: Session }>;
  /** Per-cell scratch space for prepare(). */
  state: Record<string, unknown>;
}

export interface CellRunner {
  /** The method name configs use. */
  readonly method: string;
  /** One line for `kvwire sweep --list-runners`. */
  readonly description: string;
  /** Checks the cell's budget, precision and params before anything runs; throws BAD_CONFIG naming the field. */
  validate(cell: CellSettings): void;
  /** Once per cell, before its items (load a fuser, build a plan table, ...). */
  prepare?(ctx: RunnerContext): Promise<void>;
  runItem(ctx: RunnerContext, item: EvalItem): Promise<ItemOutcome>;
}

const registry = new Map<string, CellRunner>();

/** Adds a runner; replacing one of the same name needs `{ replace: true }`. */
export function registerRunner(runner: CellRunner, options: { replace?: boolean } = {}): void {
  if (registry.has(runner.method) && !options.replace) {
    throw new KvwireError('BAD_ARGUMENT', `a runner for method "${runner.method}" is already registered`);
  }
  registry.set(runner.method, runner);
}

export function getRunner(method: string): CellRunner {
  const r = registry.get(method);
  if (!r) {
    throw new KvwireError('BAD_CONFIG', `no runner for method "${method}"; registered: ${[...registry.keys()].join(', ') || 'none'}` +
      ' (built-ins: src/eval/sweep/runners; others load with --runner-module)', { path: 'method' });
  }
  return r;
}

export function listRunners(): CellRunner[] {
  return [...registry.values()];
}

/** A zero ByteAccount with `payload` bytes of payload. */
export function payloadOnly(payload: number): ByteAccount {
  return { total: payload, payload, scales: 0, indices: 0, metadata: 0 };
}
