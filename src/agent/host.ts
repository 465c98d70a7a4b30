/**
 * The agent's worker thread: it owns the model's Session and runs the sharer's and the
 * receiver's work next to it — prefill, compression and card encoding; card fetching, verifying,
 * decoding and injection. Doing the receiver's card work here (not on the main thread) means the
 * decoded cache never crosses a thread boundary (WorkerSession would copy it), and the main
 * thread stays free to serve HTTP while onnxruntime blocks this one.
 *
 * Messages: { id, op, args } -> { id, result } | { id, error }; see AgentHost (agent-host.ts).
 */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { KvwireError } from '../errors.js';
import { Session } from '../engine/index.js';
import { fingerprint } from '../model/index.js';
import { decodeCard, type CardModel } from '../card/index.js';
import type { AttentionSource } from '../select/index.js';
import { fetchBytes } from '../transport/index.js';
import { Receiver } from './receiver.js';
import { Sharer } from './sharer.js';

import { loadAgentModel, type HostConfig } from './models.js';

const port = parentPort!;
const config = workerData as HostConfig;
let session: Session; // absent in a store-only sharer
let model: CardModel;
let sharer: Sharer;
let receiver: Receiver;

/** Question as tokens: given, or tokenized text (no BOS: it follows the context). */
function questionTokens(a: { question?: string; questionTokens?: number[] }): number[] {
  if (a.questionTokens) return a.questionTokens;
  if (a.question !== undefined) return session.spec.tokenizer.encode(a.question);
  throw new KvwireError('BAD_ARGUMENT', 'a question (text) or questionTokens is required');
}

/** Per-layer attention mass stored by the benchmark: f32 (heads, T) per layer, concatenated. */
function storedAttention(file: string, heads: number, layers: number): AttentionSource {
  const raw = readFileSync(file);
  const all = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const per = all.length / layers;
  const mass = Array.from({ length: layers }, (_, l) => all.subarray(l * per, (l + 1) * per));
  return {
    heads,
    contextMass: () => Promise.reject(new KvwireError('BAD_ARGUMENT', 'stored attention holds the question\'s rows only')),
    questionMass: () => Promise.resolve(mass),
  };
}

type Reply = { result: unknown; transfer?: ArrayBuffer[] };
/** Sends an intermediate message of a streaming operation. */
type Post = (partial: unknown) => void;
const ops: Record<string, (a: any, post: Post) => Promise<Reply>> = {
  async warmup() {
    if (!session) return { result: null };
    // onnxruntime plans kernels on its first runs: keep that out of any measurement.
    const seq = session.sequence();
    await seq.append([session.config.bosTokenId ?? 1, 2, 3, 4]);
    await seq.generate({ maxTokens: 2, stop: [] });
    return { result: null };
  },
  async read(a: { text?: string; tokens?: number[]; question?: string; questionTokens?: number[]; lookahead?: number; id?: string }) {
    const tokens = a.tokens ?? session.spec.tokenizer.encode(a.text ?? '', { addBos: true });
    const q = a.question !== undefined || a.questionTokens ? questionTokens(a) : undefined;
    const ctx = await sharer.read(tokens, { question: q, lookahead: a.lookahead, text: a.text, id: a.id });
    return { result: { id: ctx.id, tokens: ctx.cache.length, timings: ctx.timings } };
  },
  async adopt(a: { cardFile: string; massFile?: string; heads?: number; id: string; text?: string }) {
    const card = decodeCard(new Uint8Array(readFileSync(a.cardFile)), { expectModel: model });
    const heads = a.heads ?? session?.config.heads;
    if (a.massFile && !heads) throw new KvwireError('BAD_ARGUMENT', 'adopt: the attention file needs "heads" (query heads per layer)');
    const attention = a.massFile ? storedAttention(a.massFile, heads!, card.cache.layers) : undefined;
    sharer.adopt(card.cache, { attention, id: a.id, text: a.text });
    return { result: { id: a.id, tokens: card.cache.length } };
  },
  async card(a: { id: string; compression: string }) {
    const r = await sharer.card(a.id, a.compression);
    const bytes = r.card.bytes;
    return {
      result: { bytes, digest: r.card.digest, keptTokens: r.keptTokens, keptFraction: r.keptFraction, timings: r.timings, breakdown: r.card.breakdown },
      transfer: [bytes.buffer as ArrayBuffer],
    };
  },
  /**
   * The card written into shared memory, announced section by section: first { buffer, total,
   * planMs, keptTokens }, then { ready } (bytes final so far) after each section; the main thread
   * sends them while the next sections are encoded.
   */
  async cardStream(a: { id: string; compression: string }, post: Post) {
    const p = await sharer.plan(a.id, a.compression, { shared: true });
    post({ buffer: p.writer.bytes.buffer, total: p.writer.totalLength, planMs: p.planMs, keptTokens: p.keptTokens, keptFraction: p.keptFraction });
    const t = performance.now();
    for (let at = p.writer.step(); at !== null; at = p.writer.step()) post({ ready: at });
    const card = p.writer.result();
    return { result: { digest: card.digest, encodeMs: performance.now() - t, breakdown: card.breakdown } };
  },
  async text(a: { id: string; mode: 'full' | 'note'; keep?: number }) {
    const t0 = performance.now();
    const text = await sharer.text(a.id, a.mode, a.keep);
    return { result: { text, timings: { writeMs: performance.now() - t0 } } };
  },
  async drop(a: { id: string }) {
    sharer.drop(a.id);
    return { result: null };
  },
  async fetchFile(a: { url: string }) {
    return { result: await fetchBytes(a.url) };
  },
  async fromCard(a: { url: string; request?: unknown; question?: string; questionTokens?: number[]; maxTokens?: number }) {
    return { result: await receiver.fromCard({ url: a.url, request: a.request }, questionTokens(a), { maxTokens: a.maxTokens }) };
  },
  async fromText(a: { url: string; request?: unknown; question?: string; questionTokens?: number[]; maxTokens?: number }) {
    return { result: await receiver.fromText({ url: a.url, request: a.request }, questionTokens(a), { maxTokens: a.maxTokens }) };
  },
  async dispose() {
    await session?.dispose();
    return { result: null };
  },
};

const serialize = (e: unknown) => (e instanceof KvwireError ? { code: e.code, message: e.message, path: e.path } : { message: (e as Error)?.message ?? String(e) });

try {
  if (config.storeOnly) {
    model = config.storeOnly;
    sharer = new Sharer(null, { model, key: config.key, layerGroup: config.layerGroup });
    port.postMessage({ ready: { fingerprint: model, config: null } });
  } else {
    const spec = loadAgentModel(config.model);
    model = fingerprint(spec);
    session = await Session.create(spec, config.session);
    // onnxruntime holds its own copy of the weights from here on; dropping ours halves the
    // agent's memory (2 GB for a 0.5B model) on machines shared with other work.
    spec.weights.clear();
    sharer = new Sharer(session, { model, key: config.key, layerGroup: config.layerGroup });
    receiver = new Receiver(session, { model, key: config.key });
    port.postMessage({ ready: { fingerprint: model, config: spec.config } });
  }
} catch (e) {
  port.postMessage({ error: serialize(e) });
}

port.on('message', async (m: { id: number; op: string; args: unknown }) => {
  try {
    const fn = ops[m.op];
    if (!fn) throw new KvwireError('BAD_ARGUMENT', `unknown agent operation "${m.op}"`);
    const { result, transfer } = await fn(m.args ?? {}, (partial) => port.postMessage({ id: m.id, partial }));
    port.postMessage({ id: m.id, result }, transfer ?? []);
  } catch (e) {
    port.postMessage({ id: m.id, error: serialize(e) });
  }
});
