/**
 * Runs cells one at a time in one thread: loads the cell's model (keeping it while consecutive
 * cells use it), builds its items (cached per model and dataset), and drives the method's runner
 * over them. Used directly by a single-worker sweep and inside each worker thread otherwise.
 */
import { Session } from '../../engine/index.js';
import { KvwireError } from '../../errors.js';
import { loadModel, type ModelSpec } from '../../model/index.js';
import { loadItems, type LoadedItems } from '../datasets/index.js';
import { canonicalJson } from './key.js';
import { resolveModelPath, type Cell } from './config.js';
import { buildResult, type CellResult } from './results.js';
import { getRunner, type ItemOutcome, type RunnerContext } from './runner.js';

export interface ExecutorOptions {
  /** onnxruntime threads per session. */
  threads: number;
  /** Workers of the whole sweep (recorded in results). */
  workers: number;
  configName: string;
  baseDir?: string;
}

interface Loaded {
  spec: ModelSpec;
  session: Session;
}

export class AbortedError extends Error {
  constructor() {
    super('sweep stopped');
    this.name = 'AbortedError';
  }
}

export class CellExecutor {
  private current: { id: string; model: Loaded } | null = null;
  private readonly extra = new Map<string, Loaded>();
  private readonly items = new Map<string, LoadedItems>();

  constructor(private readonly options: ExecutorOptions) {}

  private async load(path: string, weights: 'fp32' | 'int8' | 'int4' = 'fp32'): Promise<Loaded> {
    const spec = loadModel(resolveModelPath(path, this.options.baseDir));
    return { spec, session: await Session.create(spec, { threads: this.options.threads, weights }) };
  }

  /** The cell's model, loading it (and releasing the previous one) when it changes. */
  private async model(cell: Cell): Promise<Loaded> {
    const id = canonicalJson([cell.model.path, cell.model.weights ?? 'fp32']);
    if (this.current?.id !== id) {
      if (this.current) await this.current.model.session.dispose();
      this.current = null;
      this.items.clear();
      this.current = { id, model: await this.load(cell.model.path, cell.model.weights) };
    }
    return this.current.model;
  }

  /** Runs one cell; `onItem(done, total)` after each item; throws AbortedError when `signal` fires between items. */
  async run(cell: Cell, hooks: { onItem?: (done: number, total: number) => void; signal?: AbortSignal } = {}): Promise<CellResult> {
    const runner = getRunner(cell.method);
    runner.validate(cell);
    const startedAt = new Date().toISOString();
    const t0 = performance.now();
    const { spec, session } = await this.model(cell);
    const itemsKey = canonicalJson(cell.dataset);
    let loaded = this.items.get(itemsKey);
    if (!loaded) {
      loaded = await loadItems(spec, { ...cell.dataset, options: cell.dataset.options });
      if (this.items.size >= 8) this.items.delete(this.items.keys().next().value!);
      this.items.set(itemsKey, loaded);
    }
    if (loaded.items.length === 0) throw new KvwireError('BAD_CONFIG', `${cell.label}: the dataset gave no examples`, { path: 'datasets' });
    const ctx: RunnerContext = {
      cell, spec, session, state: {},
      loadModel: async (path) => {
        let m = this.extra.get(path);
        if (!m) this.extra.set(path, (m = await this.load(path)));
        return m;
      },
    };
    await runner.prepare?.(ctx);
    const outcomes: Array<{ id: string; outcome: ItemOutcome }> = [];
    for (const item of loaded.items) {
      if (hooks.signal?.aborted) throw new AbortedError();
      outcomes.push({ id: item.id, outcome: await runner.runItem(ctx, item) });
      hooks.onItem?.(outcomes.length, loaded.items.length);
    }
    const c = spec.config;
    return buildResult({
      settings: {
        model: cell.model, dataset: cell.dataset, method: cell.method, budget: cell.budget, precision: cell.precision, params: cell.params, seed: cell.seed,
      },
      key: cell.key, label: cell.label, config: this.options.configName, outcomes,
      modelInfo: { family: c.family, layers: c.layers, kvHeads: c.kvHeads, headDim: c.headDim, vocab: c.vocabSize },
      prompt: { style: loaded.promptStyle, template: loaded.templateSource }, startedAt, wallMs: performance.now() - t0,
      threads: this.options.threads, workers: this.options.workers,
    });
  }

  async dispose(): Promise<void> {
    if (this.current) await this.current.model.session.dispose();
    for (const m of this.extra.values()) await m.session.dispose();
    this.current = null;
    this.extra.clear();
  }
}
