/** The worker side of WorkerSession: owns the model, its Session, and the injected sequences. */
import { parentPort, workerData } from 'node:worker_threads';
import { KvwireError } from '../errors.js';
import { fingerprint, loadModel } from '../model/index.js';
import { Session, type Sequence } from './session.js';
import { cacheBuffers, fromCacheData, toCacheData, type CacheData, type SerializedError } from './worker.js';

const port = parentPort!;
const serialize = (e: unknown): SerializedError =>
  e instanceof KvwireError ? { code: e.code, message: e.message, path: e.path } : { message: (e as Error)?.message ?? String(e) };

let session: Session;
const sequences = new Map<number, Sequence>();
let nextHandle = 1;

function sequence(handle: number): Sequence {
  const seq = sequences.get(handle);
  if (!seq) throw new KvwireError('BAD_ARGUMENT', `no sequence ${handle} in this worker (closed?)`);
  return seq;
}

type Reply = { result: unknown; transfer?: ArrayBuffer[] };
const withCache = (result: Record<string, unknown>, cache: CacheData): Reply =>
  ({ result: { ...result, cache }, transfer: cacheBuffers(cache) });

const methods: Record<string, (...args: any[]) => Promise<Reply> | Reply> = {
  async prefill(tokens: number[], options: { past?: CacheData } & Record<string, unknown>) {
    const r = await session.prefill(tokens, { ...options, past: options.past ? fromCacheData(options.past) : undefined });
    return withCache({ logits: r.logits, attention: r.attention }, toCacheData(r.cache));
  },
  async generate(prompt: number[], options: { past?: CacheData; maxTokens: number } & Record<string, unknown>) {
    const r = await session.generate(prompt, { ...options, past: options.past ? fromCacheData(options.past) : undefined });
    return withCache({ tokens: r.tokens, stopReason: r.stopReason, decodeMs: r.decodeMs }, toCacheData(r.cache));
  },
  inject(cache: CacheData, options: { nextPosition?: number }) {
    const handle = nextHandle++;
    sequences.set(handle, session.inject(fromCacheData(cache), options));
    return { result: handle };
  },
  async 'seq.append'(handle: number, tokens: number[], options: Record<string, unknown>) {
    return { result: await sequence(handle).append(tokens, options) };
  },
  async 'seq.generate'(handle: number, options: { maxTokens: number }) {
    return { result: await sequence(handle).generate(options) };
  },
  'seq.cache'(handle: number) {
    const data = toCacheData(sequence(handle).cache());
    return { result: data, transfer: cacheBuffers(data) };
  },
  'seq.close'(handle: number) {
    sequences.get(handle)?.close();
    sequences.delete(handle);
    return { result: undefined };
  },
  async dispose() {
    sequences.clear();
    await session.dispose();
    return { result: undefined };
  },
};

try {
  const spec = loadModel(workerData.path, workerData.load);
  session = await Session.create(spec, workerData.session);
  port.postMessage({ ready: { config: spec.config, fingerprint: fingerprint(spec) } });
} catch (e) {
  port.postMessage({ error: serialize(e) });
}

port.on('message', async (m: { id: number; method: string; args: unknown[] }) => {
  try {
    const fn = methods[m.method];
    if (!fn) throw new KvwireError('BAD_ARGUMENT', `unknown worker method ${m.method}`);
    const { result, transfer } = await fn(...m.args);
    port.postMessage({ id: m.id, result }, transfer ?? []);
  } catch (e) {
    port.postMessage({ id: m.id, error: serialize(e) });
  }
});
