/**
 * WorkerSession: the Session API on a worker thread. onnxruntime's `run` blocks the thread it is
 * called on, so a server (an agent that must keep answering HTTP while it prefills 8K tokens)
 * loads its model here instead. Calls are messages; caches cross as copies of their arrays, and
 * the worker's results are transferred, not copied.
 *
 *   const session = await WorkerSession.create('models/kvw-tiny');
 *   const { cache } = await session.prefill(tokens);
 *   const seq = await session.inject(cache, { nextPosition });  // lives in the worker
 *   await seq.append(question); const { tokens } = await seq.generate({ maxTokens: 16 });
 *   await session.dispose();
 */
import { Worker } from 'node:worker_threads';
import { KvwireError } from '../errors.js';
import { KvCache } from '../kv/index.js';
import type { LoadOptions, ModelConfig, ModelFingerprint } from '../model/index.js';
import type { AttentionProbs, GenerateOptions, GenerateResult, PrefillOptions, PrefillResult, SessionOptions } from './session.js';

/** A KvCache as plain arrays, the form that crosses thread boundaries. */
export interface CacheData {
  shape: { layers: number; kvHeads: number; headDim: number };
  keys: Float32Array[];
  values: Float32Array[];
  positions: Int32Array;
  tokens: Int32Array;
}

export const toCacheData = (c: KvCache): CacheData =>
  ({ shape: c.shape, keys: c.keys, values: c.values, positions: c.positions, tokens: c.tokens });
export const fromCacheData = (d: CacheData): KvCache => new KvCache(d.shape, d.keys, d.values, d.positions, d.tokens);
export const cacheBuffers = (d: CacheData): ArrayBuffer[] =>
  [...d.keys, ...d.values, d.positions, d.tokens].map((a) => a.buffer as ArrayBuffer);

type GenerateParams = Omit<GenerateOptions, 'onToken'>;

export class WorkerSession {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();

  private constructor(private readonly worker: Worker, readonly config: ModelConfig, readonly fingerprint: ModelFingerprint) {}

  /** Loads the model at `path` inside a new worker and builds its session there. */
  static async create(path: string, options: { load?: LoadOptions; session?: SessionOptions } = {}): Promise<WorkerSession> {
    const worker = new Worker(new URL('./worker-host.js', import.meta.url), { workerData: { path, ...options } });
    let ready: { config: ModelConfig; fingerprint: ModelFingerprint };
    try {
      ready = await new Promise((resolve, reject) => {
        worker.once('message', (m) => (m.error ? reject(revive(m.error)) : resolve(m.ready)));
        worker.once('error', reject);
      });
    } catch (e) {
      await worker.terminate(); // a worker that failed to load must not keep the process alive
      throw e;
    }
    const session = new WorkerSession(worker, ready.config, ready.fingerprint);
    worker.on('message', (m: { id: number; result?: unknown; error?: SerializedError }) => {
      const p = session.pending.get(m.id);
      if (!p) return;
      session.pending.delete(m.id);
      if (m.error) p.reject(revive(m.error));
      else p.resolve(m.result);
    });
    worker.on('error', (e) => {
      for (const p of session.pending.values()) p.reject(e);
      session.pending.clear();
    });
    return session;
  }

  private call<T>(method: string, args: unknown[], transfer: ArrayBuffer[] = []): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, method, args }, transfer);
    });
  }

  async prefill(tokens: ArrayLike<number>, options: PrefillOptions = {}): Promise<PrefillResult> {
    const { past, ...rest } = options;
    const r = await this.call<{ logits: Float32Array; cache: CacheData; attention?: AttentionProbs }>('prefill',
      [Array.from(tokens), { ...rest, past: past ? toCacheData(past) : undefined }]);
    return { logits: r.logits, cache: fromCacheData(r.cache), attention: r.attention };
  }

  async generate(prompt: ArrayLike<number>, options: GenerateParams & { past?: KvCache; nextPosition?: number }): Promise<GenerateResult & { cache: KvCache }> {
    const { past, ...rest } = options;
    const r = await this.call<GenerateResult & { cache: CacheData }>('generate',
      [Array.from(prompt), { ...rest, past: past ? toCacheData(past) : undefined }]);
    return { ...r, cache: fromCacheData(r.cache) };
  }

  /** Starts a sequence from `cache` inside the worker (see Session.inject). */
  async inject(cache: KvCache, options: { nextPosition?: number } = {}): Promise<RemoteSequence> {
    const handle = await this.call<number>('inject', [toCacheData(cache), options]);
    return new RemoteSequence(handle, (method, args) => this.call(method, args));
  }

  async dispose(): Promise<void> {
    await this.call('dispose', []);
    await this.worker.terminate();
  }
}

/** A Sequence held by the worker; see Sequence in session.ts. */
export class RemoteSequence {
  constructor(private readonly handle: number, private readonly call: <T>(method: string, args: unknown[]) => Promise<T>) {}

  append(tokens: ArrayLike<number>, options: { attentionRows?: number[]; logits?: 'last' | 'all' } = {}): Promise<{ logits: Float32Array; attention?: AttentionProbs }> {
    return this.call('seq.append', [this.handle, Array.from(tokens), options]);
  }

  generate(options: GenerateParams): Promise<GenerateResult> {
    return this.call('seq.generate', [this.handle, options]);
  }

  async cache(): Promise<KvCache> {
    return fromCacheData(await this.call<CacheData>('seq.cache', [this.handle]));
  }

  /** Frees the sequence's cache in the worker. */
  close(): Promise<void> {
    return this.call('seq.close', [this.handle]);
  }
}

export interface SerializedError { code?: string; message: string; path?: string }

function revive(e: SerializedError): Error {
  return e.code ? new KvwireError(e.code as KvwireError['code'], e.message, { path: e.path }) : new Error(e.message);
}
