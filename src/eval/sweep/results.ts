/**
 * Results files: one JSON object per finished cell per line (JSONL), appended as each cell ends,
 * so a stopped sweep keeps every finished cell and a rerun skips them by key. Everything that
 * varies between identical runs (timings, dates, the machine) sits in `timings`, `examples[].ms`
 * and `run`; the rest of a line is a pure function of the cell's settings and the model.
 */
import { appendFileSync, existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { KvwireError } from '../../errors.js';
import { bootstrapMeanCI, bootstrapRatioCI, wilsonInterval, type Interval } from '../stats.js';
import type { CellSettings } from './config.js';
import type { ByteAccount, ItemOutcome } from './runner.js';

export const RESULT_VERSION = 1;

export interface AccuracySummary {
  n: number;
  correct: number;
  accuracy: number;
  wilson95: Interval;
  /** Percentile bootstrap, B = 2000, seed 0. */
  bootstrap95: Interval;
}

export interface PerplexitySummary {
  windows: number;
  tokens: number;
  bytes: number;
  nll: number;
  /** exp(Σnll / Σtokens). */
  ppl: number;
  /** Σnll / (ln 2 · Σbytes). */
  bitsPerByte: number;
  /** Bootstrap over windows (B = 2000, seed 0). */
  ppl95: Interval;
  bitsPerByte95: Interval;
}

export interface ExampleRecord {
  id: string;
  correct?: boolean;
  output?: string;
  nll?: number;
  tokens?: number;
  textBytes?: number;
  /** Total transmitted bytes for this example. */
  bytes: number;
  contextTokens: number;
  keptTokens: number;
  /** The runner's work counters for this example (e.g. fuser FLOPs), when it reports any. */
  counters?: Record<string, number>;
  ms: Record<string, number>;
}

export interface CellResult extends CellSettings {
  kvwire: 'sweep-result';
  version: number;
  key: string;
  label: string;
  config: string;
  modelInfo: { family: string; layers: number; kvHeads: number; headDim: number; vocab: number };
  prompt: { style: string; template: string | null };
  metric: 'accuracy' | 'perplexity';
  summary: AccuracySummary | PerplexitySummary;
  bytes: {
    /** Per-example means of each part; `mean.total` is the x axis of accuracy-vs-bytes. */
    mean: ByteAccount;
    /** Sums over the examples. */
    sum: ByteAccount;
    /** Mean FP16 size of the full context cache, and mean.total / fp16. */
    fp16: number;
    ratio: number;
    contextTokens: number;
    keptTokens: number;
  };
  /** Mean milliseconds per example, per stage. */
  timings: Record<string, number>;
  /** Mean per example of each work counter the runner reported (e.g. fuser FLOPs); absent when none. */
  counters?: Record<string, number>;
  examples: ExampleRecord[];
  run: { startedAt: string; wallMs: number; threads: number; workers: number; node: string; cpu: string };
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** Builds a cell's result line from its items' outcomes. */
export function buildResult(args: {
  settings: CellSettings; key: string; label: string; config: string; outcomes: Array<{ id: string; outcome: ItemOutcome }>;
  modelInfo: CellResult['modelInfo']; prompt: CellResult['prompt']; startedAt: string; wallMs: number; threads: number; workers: number;
}): CellResult {
  const { outcomes, modelInfo: mi } = args;
  if (outcomes.length === 0) throw new KvwireError('BAD_ARGUMENT', `cell ${args.label} has no examples`);
  const isNll = outcomes[0].outcome.nll !== undefined;
  const examples: ExampleRecord[] = outcomes.map(({ id, outcome: o }) => ({
    id, ...(isNll ? { nll: o.nll, tokens: o.tokens, textBytes: o.textBytes } : { correct: o.correct, output: o.output }),
    bytes: o.bytes.total, contextTokens: o.contextTokens, keptTokens: o.keptTokens, ms: o.ms,
    ...(o.counters ? { counters: o.counters } : {}),
  }));
  let summary: AccuracySummary | PerplexitySummary;
  if (isNll) {
    const nll = outcomes.map((x) => x.outcome.nll!);
    const tokens = outcomes.map((x) => x.outcome.tokens!);
    const bytes = outcomes.map((x) => x.outcome.textBytes ?? 0);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const perToken = bootstrapRatioCI(nll, tokens);
    const perByte = bootstrapRatioCI(nll, bytes);
    summary = {
      windows: outcomes.length, tokens: sum(tokens), bytes: sum(bytes), nll: sum(nll),
      ppl: Math.exp(sum(nll) / sum(tokens)), bitsPerByte: sum(nll) / (Math.LN2 * sum(bytes)),
      ppl95: { low: Math.exp(perToken.low), high: Math.exp(perToken.high) },
      bitsPerByte95: { low: perByte.low / Math.LN2, high: perByte.high / Math.LN2 },
    };
  } else {
    const ok = outcomes.map((x) => x.outcome.correct === true);
    const correct = ok.filter(Boolean).length;
    const b = bootstrapMeanCI(ok);
    summary = { n: ok.length, correct, accuracy: correct / ok.length, wilson95: wilsonInterval(correct, ok.length), bootstrap95: { low: b.low, high: b.high } };
  }
  const parts = ['total', 'payload', 'scales', 'indices', 'metadata'] as const;
  const sumBytes = Object.fromEntries(parts.map((p) => [p, outcomes.reduce((a, x) => a + x.outcome.bytes[p], 0)])) as unknown as ByteAccount;
  const meanBytes = Object.fromEntries(parts.map((p) => [p, sumBytes[p] / outcomes.length])) as unknown as ByteAccount;
  const fp16 = mean(outcomes.map((x) => 2 * mi.layers * mi.kvHeads * x.outcome.contextTokens * mi.headDim * 2));
  const stages = [...new Set(outcomes.flatMap((x) => Object.keys(x.outcome.ms)))];
  const timings = Object.fromEntries(stages.map((s) => [s, mean(outcomes.map((x) => x.outcome.ms[s] ?? 0))]));
  const counterNames = [...new Set(outcomes.flatMap((x) => Object.keys(x.outcome.counters ?? {})))];
  const counters = Object.fromEntries(counterNames.map((c) => [c, mean(outcomes.map((x) => x.outcome.counters?.[c] ?? 0))]));
  return {
    kvwire: 'sweep-result', version: RESULT_VERSION, key: args.key, label: args.label, config: args.config, ...args.settings,
    modelInfo: mi, prompt: args.prompt, metric: isNll ? 'perplexity' : 'accuracy', summary,
    bytes: {
      mean: meanBytes, sum: sumBytes, fp16, ratio: fp16 ? meanBytes.total / fp16 : 0,
      contextTokens: mean(outcomes.map((x) => x.outcome.contextTokens)), keptTokens: mean(outcomes.map((x) => x.outcome.keptTokens)),
    },
    timings, ...(counterNames.length ? { counters } : {}), examples,
    run: { startedAt: args.startedAt, wallMs: args.wallMs, threads: args.threads, workers: args.workers, node: process.version, cpu: os.cpus()[0]?.model ?? 'unknown' },
  };
}

/**
 * Reads a results file. A last line without its newline (a sweep killed mid-write) is ignored
 * and reported in `partialTail`; any other line that does not parse is an error.
 */
export function readResults(path: string): { results: CellResult[]; partialTail: boolean; validBytes: number } {
  if (!existsSync(path)) return { results: [], partialTail: false, validBytes: 0 };
  const text = readFileSync(path, 'utf8');
  const end = text.lastIndexOf('\n') + 1;
  const results: CellResult[] = [];
  text.slice(0, end).split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let r: CellResult;
    try {
      r = JSON.parse(line);
    } catch (cause) {
      throw new KvwireError('BAD_FORMAT', `${path}:${i + 1}: not valid JSON (fix or delete the line)`, { path, cause });
    }
    if (r?.kvwire !== 'sweep-result' || typeof r.key !== 'string') throw new KvwireError('BAD_FORMAT', `${path}:${i + 1}: not a kvwire sweep result`, { path });
    if (r.version !== RESULT_VERSION) throw new KvwireError('BAD_FORMAT', `${path}:${i + 1}: result version ${r.version}, this kvwire reads ${RESULT_VERSION}`, { path });
    results.push(r);
  });
  return { results, partialTail: end < text.length, validBytes: Buffer.byteLength(text.slice(0, end), 'utf8') };
}

/** Drops a partial last line so appends start on a fresh line. */
export function repairTail(path: string, validBytes: number): void {
  truncateSync(path, validBytes);
}

/** Appends one result as one line (a single write, so a crash leaves at most a partial last line). */
export function appendResult(path: string, result: CellResult): void {
  appendFileSync(path, JSON.stringify(result) + '\n');
}

const CSV_STAGES = ['prefill', 'quantize', 'dequantize', 'select', 'plan', 'encode', 'transfer', 'decodeCard', 'inject', 'append', 'decode', 'sample', 'score'];

/** One CSV row per cell: settings, metric, CI, bytes, mean stage timings, mean work counters. */
export function resultsCsv(results: readonly CellResult[]): string {
  const stages = [...new Set([...CSV_STAGES.filter((s) => results.some((r) => s in r.timings)), ...results.flatMap((r) => Object.keys(r.timings))])];
  const counters = [...new Set(results.flatMap((r) => Object.keys(r.counters ?? {})))];
  const head = ['key', 'label', 'model', 'dataset', 'n', 'seed', 'method', 'budget', 'precision', 'params', 'metric', 'value', 'ci_low', 'ci_high',
    'bytes_total', 'bytes_payload', 'bytes_scales', 'bytes_indices', 'bytes_metadata', 'fp16_bytes', 'ratio', 'context_tokens', 'kept_tokens',
    ...stages.map((s) => `ms_${s}`), ...counters.map((c) => `mean_${c}`)];
  const esc = (v: unknown) => {
    const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const rows = results.map((r) => {
    const s = r.summary as AccuracySummary & PerplexitySummary;
    const [value, ci] = r.metric === 'accuracy' ? [s.accuracy, s.wilson95] : [s.bitsPerByte, s.bitsPerByte95];
    return [r.key, r.label, r.model.name, r.dataset.name, r.metric === 'accuracy' ? s.n : s.windows, r.seed, r.method, r.budget, r.precision, r.params,
      r.metric === 'accuracy' ? 'accuracy' : 'bits_per_byte', value, ci.low, ci.high, r.bytes.mean.total, r.bytes.mean.payload, r.bytes.mean.scales,
      r.bytes.mean.indices, r.bytes.mean.metadata, r.bytes.fp16, r.bytes.ratio, r.bytes.contextTokens, r.bytes.keptTokens,
      ...stages.map((st) => r.timings[st]), ...counters.map((c) => r.counters?.[c])].map(esc).join(',');
  });
  return [head.join(','), ...rows].join('\n') + '\n';
}

export function writeCsv(path: string, results: readonly CellResult[]): void {
  writeFileSync(path, resultsCsv(results));
}
