/**
 * runSweep: expand a config into cells, skip the ones the results file already holds, run the
 * rest (in this thread, or split over worker threads that each run whole cells), and append each
 * finished cell to the results file as it ends.
 *
 * Stopping: `maxCells` ends the run after that many cells; `signal` ends it as soon as the
 * running cells reach an item boundary (single worker) or at once (workers are terminated). In
 * both cases the cells in flight are not written, so a rerun runs them again from the start and
 * the results equal those of an uninterrupted run.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { KvwireError, type KvwireErrorCode } from '../../errors.js';
import { expandCells, resolveModelPath, type Cell, type SweepConfig } from './config.js';
import { AbortedError, CellExecutor } from './execute.js';
import { silentProgress, stderrProgress, type ProgressSink } from './progress.js';
import { appendResult, readResults, repairTail, writeCsv, type CellResult } from './results.js';
import { getRunner, listRunners } from './runner.js';
import './runners/index.js';

export interface SweepOptions {
  /** The results file (JSONL); created if missing, appended to otherwise. */
  out: string;
  /** Also write a CSV of every cell in the results file at the end. */
  csv?: string;
  /** Worker threads (default: the config's, else 1). */
  workers?: number;
  /** onnxruntime threads per session (default: the config's, else 2 / workers, at least 1). */
  threads?: number;
  /** Stop after running this many cells. */
  maxCells?: number;
  signal?: AbortSignal;
  /** Progress on stderr (default true), off (false), or a custom sink. */
  progress?: boolean | ProgressSink;
  /** Modules that register more runners (imported here and in every worker). */
  runnerModules?: string[];
  /** Run only the cells whose label contains this text. */
  only?: string;
  /** Skip (with a notice) cells whose method has no registered runner, instead of refusing the config. */
  skipMissingRunners?: boolean;
}

export interface SweepSummary {
  total: number;
  /** Cells found in the results file before this run. */
  skipped: number;
  /** Cells run and written by this run. */
  ran: number;
  /** Cells still missing from the results file. */
  remaining: number;
  stopped: boolean;
  results: CellResult[];
}

/** The cells of `config` after checking each against its runner and its model's folder. */
// Notices already printed (planSweep runs once to check every config, then again to run it).
const told = new Set<string>();
function notice(text: string): void {
  if (!told.has(text)) process.stderr.write(text);
  told.add(text);
}

export async function planSweep(config: SweepConfig, runnerModules: string[] = [], options: { skipMissingRunners?: boolean } = {}): Promise<Cell[]> {
  for (const m of runnerModules) await import(pathToFileURL(resolve(m)).href);
  let cells = expandCells(config);
  if (options.skipMissingRunners) {
    const known = new Set(listRunners().map((r) => r.method));
    const absent = [...new Set(cells.map((c) => c.method).filter((m) => !known.has(m)))];
    if (absent.length) notice(`sweep ${config.name}: no runner yet for ${absent.join(', ')}; skipping ${cells.filter((c) => !known.has(c.method)).length} cells\n`);
    cells = cells.filter((c) => known.has(c.method));
  }
  for (const cell of cells) {
    try {
      getRunner(cell.method).validate(cell);
    } catch (e) {
      if (e instanceof KvwireError) throw new KvwireError(e.code, `${config.name}: cell "${cell.label}": ${e.message}`, { path: e.path, cause: e });
      throw e;
    }
  }
  const missing = new Set<string>();
  for (const path of new Set(cells.flatMap((c) => [c.model.path, ...(c.model.receiver ? [c.model.receiver] : [])]))) {
    if (existsSync(resolveModelPath(path, config.baseDir))) continue;
    const optional = config.models.filter((m) => m.path === path || m.receiver === path).every((m) => m.optional);
    if (!optional) throw new KvwireError('FILE_NOT_FOUND', `${config.name}: model folder not found: ${path} (tried the working directory, the config's folder and the repository)`, { path });
    missing.add(path);
  }
  if (missing.size) notice(`sweep ${config.name}: skipping optional models not present: ${[...missing].join(', ')}\n`);
  return cells.filter((c) => !missing.has(c.model.path) && !(c.model.receiver && missing.has(c.model.receiver)));
}

export async function runSweep(config: SweepConfig, options: SweepOptions): Promise<SweepSummary> {
  const runnerModules = (options.runnerModules ?? []).map((m) => resolve(m));
  const all = await planSweep(config, runnerModules, { skipMissingRunners: options.skipMissingRunners });
  const cells = options.only ? all.filter((c) => c.label.includes(options.only!)) : all;
  const existing = readResults(options.out);
  if (existing.partialTail) {
    repairTail(options.out, existing.validBytes);
    process.stderr.write(`sweep: ${options.out} ended in a partial line (a stopped run); it was dropped\n`);
  }
  const done = new Set(existing.results.map((r) => r.key));
  const pending = cells.filter((c) => !done.has(c.key));
  const workers = Math.max(1, Math.min(options.workers ?? config.workers ?? 1, pending.length || 1));
  const threads = options.threads ?? config.threads ?? Math.max(1, Math.floor(2 / workers));
  const limit = Math.min(pending.length, options.maxCells ?? Infinity);
  const progress = options.progress === false ? silentProgress : options.progress === true || options.progress === undefined ? stderrProgress() : options.progress;
  const ran: CellResult[] = [];
  const finish = (w: number, r: CellResult) => {
    appendResult(options.out, r);
    ran.push(r);
    progress.cellDone(w, r);
  };
  progress.start(cells.length, cells.length - pending.length, workers);
  let stopped = false;
  try {
    const exec = { threads, workers, configName: config.name, baseDir: config.baseDir };
    stopped = workers === 1
      ? await runHere(pending.slice(0, limit), exec, progress, finish, options.signal)
      : await runWorkers(pending.slice(0, limit), { ...exec, runnerModules }, progress, finish, options.signal);
  } finally {
    progress.end();
  }
  if (options.csv) writeCsv(options.csv, readResults(options.out).results);
  return { total: cells.length, skipped: cells.length - pending.length, ran: ran.length, remaining: pending.length - ran.length, stopped: stopped || ran.length < pending.length, results: ran };
}

type Finish = (worker: number, r: CellResult) => void;

async function runHere(cells: Cell[], exec: ConstructorParameters<typeof CellExecutor>[0], progress: ProgressSink, finish: Finish, signal?: AbortSignal): Promise<boolean> {
  const executor = new CellExecutor(exec);
  try {
    for (const cell of cells) {
      if (signal?.aborted) return true;
      progress.cellStart(0, cell);
      try {
        finish(0, await executor.run(cell, { signal, onItem: (d, n) => progress.item(0, d, n) }));
      } catch (e) {
        if (e instanceof AbortedError) return true;
        throw e;
      }
    }
    return false;
  } finally {
    await executor.dispose();
  }
}

type WorkerMsg =
  | { type: 'ready' }
  | { type: 'item'; done: number; total: number }
  | { type: 'result'; result: CellResult }
  | { type: 'error'; code?: KvwireErrorCode; message: string; stack?: string };

/** Splits cells over worker threads: each takes the next pending cell when it finishes one. */
async function runWorkers(cells: Cell[], exec: ConstructorParameters<typeof CellExecutor>[0] & { runnerModules: string[] }, progress: ProgressSink, finish: Finish, signal?: AbortSignal): Promise<boolean> {
  const queue = [...cells];
  const pool: Worker[] = [];
  let failure: Error | null = null;
  let aborted = false;
  const script = new URL('./worker.js', import.meta.url);
  await new Promise<void>((resolveAll) => {
    let live = 0;
    const stopAll = () => {
      for (const w of pool) void w.terminate();
    };
    const onAbort = () => {
      aborted = true;
      stopAll();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    const count = Math.min(exec.workers, queue.length);
    if (count === 0 || aborted) return resolveAll();
    for (let id = 0; id < count; id++) {
      const worker = new Worker(script, { workerData: exec });
      pool.push(worker);
      live++;
      const next = () => {
        const cell = failure || aborted ? undefined : queue.shift();
        if (!cell) return void worker.postMessage({ type: 'stop' });
        progress.cellStart(id, cell);
        worker.postMessage({ type: 'cell', cell });
      };
      worker.on('message', (msg: WorkerMsg) => {
        if (msg.type === 'ready') next();
        else if (msg.type === 'item') progress.item(id, msg.done, msg.total);
        else if (msg.type === 'result') {
          if (!aborted) finish(id, msg.result);
          next();
        } else {
          failure ??= msg.code ? new KvwireError(msg.code, msg.message) : new Error(`sweep worker failed: ${msg.stack ?? msg.message}`);
          // Stop this worker and let the others finish their current cell (kept in the results):
          // terminating a worker inside an onnxruntime call aborts the whole process, hiding the error.
          next();
        }
      });
      worker.on('error', (e) => {
        failure ??= e;
        stopAll();
      });
      worker.on('exit', () => {
        if (--live === 0) {
          signal?.removeEventListener('abort', onAbort);
          resolveAll();
        }
      });
    }
  });
  if (failure) throw failure;
  return aborted;
}
