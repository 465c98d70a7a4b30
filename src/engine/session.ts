/**
 * Session: one model, one onnxruntime session, and the operations kvwire needs on a KV cache.
 *
 *   const session = await Session.create(loadModel(dir));
 *   const { cache, logits } = await session.prefill(tokens);             // full KvCache out
 *   const seq = session.inject(cache.gather(kept), { nextPosition: T }); // a sparse cache in
 *   await seq.append(question); const { tokens } = await seq.generate({ maxTokens: 32 });
 *   session.dispose();
 *
 * Every call takes explicit positions (default: continuing after the cache), so a cache whose
 * positions are any increasing subset of 0..T-1 decodes exactly as if the dropped tokens were
 * hidden by the attention mask. `attentionRows` returns softmax probabilities of chosen query
 * rows over every cached key, per layer and head, from the same forward pass.
 * session.run blocks the thread it runs on; use WorkerSession (worker.ts) to keep a server responsive.
 */
import { KvwireError, ensure } from '../errors.js';
import { FloatPool, KvCache } from '../kv/index.js';
import { type ModelConfig, type ModelSpec, ropeInverseFrequencies } from '../model/index.js';
import { buildDecoderGraph, type GraphOptions } from './graph.js';
import { attentionBias, ropeTables } from './inputs.js';
import { KvBuffer } from './kv-buffer.js';
import { createOrtSession, ort, type OrtOptions } from './ort.js';
import { createSampler, type SamplingOptions } from './sampling.js';

export interface SessionOptions extends OrtOptions, GraphOptions {
  /** Query rows per graph run during prefill (default 512); bounds attention memory at long contexts. */
  prefillChunk?: number;
}

/** Softmax attention of chosen query rows over all keys, per layer: probs[l] is (heads, A, T). */
export interface AttentionProbs {
  /** Positions of the query rows (A). */
  queryPositions: number[];
  /** Positions of the keys (T): the past cache followed by the new tokens. */
  keyPositions: Int32Array;
  probs: Float32Array[];
}

export interface ForwardOptions {
  /** Positions of the new tokens; default: consecutive, after the past's next position. */
  positions?: ArrayLike<number>;
  /** Rows (indices into the new tokens) to return logits for; default: the last. */
  logitRows?: number[];
  /** Rows (indices into the new tokens) to return attention probabilities for; default: none. */
  attentionRows?: number[];
  /**
   * Indices into the past cache that the new tokens must not attend to. Evaluating a selection
   * this way equals injecting the gathered cache (a cache law the tests check).
   */
  hiddenKeys?: ArrayLike<number>;
  /**
   * Per-head sparsity: absent[l] is (kvHeads, n) over the first n past tokens, 1 where that KV
   * head of layer l has no entry for the token (a per-head selection; see plan/materialize).
   */
  absent?: Uint8Array[];
}

export interface PrefillOptions extends Omit<ForwardOptions, 'logitRows'> {
  /** Cache of earlier tokens to continue from (it is not modified). */
  past?: KvCache;
  /** 'last' (default) or 'all' rows of logits. */
  logits?: 'last' | 'all';
}

export interface PrefillResult {
  /** (R, vocab) logits for the last row, or for every row with `logits: 'all'`. */
  logits: Float32Array;
  /** The full cache: past followed by the new tokens. */
  cache: KvCache;
  attention?: AttentionProbs;
}

export interface GenerateOptions {
  maxTokens: number;
  sampling?: SamplingOptions;
  /** Token ids that end generation (not included in the output); default: the model's EOS ids. */
  stop?: readonly number[];
  /** Called with each new token as it is chosen. */
  onToken?: (token: number) => void;
  /** Ends generation after a token when it returns true (e.g. the decoded text has a newline). */
  until?: (tokens: readonly number[]) => boolean;
}

export interface GenerateResult {
  tokens: number[];
  stopReason: 'stop' | 'length';
  /** Milliseconds spent in forward passes for the generated tokens (after the first). */
  decodeMs: number;
}

export class Session {
  readonly spec: ModelSpec;
  readonly config: ModelConfig;
  private readonly ortSession: ort.InferenceSession;
  private readonly invFreq: Float32Array;
  private readonly chunk: number;
  /**
   * Token-major layer arrays of closed sequences: the next `inject` of the same length reuses them
   * instead of a fresh 50-100 MB allocation whose first writes page-fault (at 4K tokens of the
   * Qwen2.5-0.5B shape: 21-29 ms pooled against 32-50 ms fresh, docs/results/handoff.md).
   */
  private readonly kvPool = new FloatPool();

  private constructor(spec: ModelSpec, ortSession: ort.InferenceSession, chunk: number) {
    this.spec = spec;
    this.config = spec.config;
    this.ortSession = ortSession;
    this.chunk = chunk;
    this.invFreq = ropeInverseFrequencies(spec.config);
  }

  static async create(spec: ModelSpec, options: SessionOptions = {}): Promise<Session> {
    const chunk = options.prefillChunk ?? 512;
    ensure(Number.isInteger(chunk) && chunk > 0, 'BAD_ARGUMENT', `prefillChunk must be a positive integer, got ${chunk}`);
    return new Session(spec, await createOrtSession(buildDecoderGraph(spec, options), options), chunk);
  }

  get kvShape() {
    return { layers: this.config.layers, kvHeads: this.config.kvHeads, headDim: this.config.headDim };
  }

  /** Runs the model on new tokens after `past` (appending their K/V to it) and returns logits and attention. */
  async forward(tokens: ArrayLike<number>, past: KvBuffer, options: ForwardOptions = {}): Promise<{ logits: Float32Array; attention?: AttentionProbs }> {
    const c = this.config;
    const S = tokens.length;
    ensure(S > 0, 'BAD_ARGUMENT', 'forward needs at least one token');
    for (let i = 0; i < S; i++) {
      ensure(Number.isInteger(tokens[i]) && tokens[i] >= 0 && tokens[i] < c.vocabSize, 'BAD_ARGUMENT',
        `token ${i} has id ${tokens[i]}, outside the model's vocabulary 0..${c.vocabSize - 1}`);
    }
    const next = past.length ? past.positions[past.length - 1] + 1 : 0;
    const positions = options.positions ? Array.from(options.positions) : Array.from({ length: S }, (_, i) => next + i);
    ensure(positions.length === S, 'BAD_ARGUMENT', `${positions.length} positions given for ${S} tokens`);
    for (let i = 0; i < S; i++) {
      const prev = i === 0 ? next - 1 : positions[i - 1];
      ensure(Number.isInteger(positions[i]) && positions[i] > prev, 'BAD_ARGUMENT',
        `positions must increase and follow the cache (which ends at ${next - 1}); position ${i} is ${positions[i]}`);
    }
    const logitRows = options.logitRows ?? [S - 1];
    const attentionRows = options.attentionRows ?? [];
    for (const r of [...logitRows, ...attentionRows]) {
      ensure(Number.isInteger(r) && r >= 0 && r < S, 'BAD_ARGUMENT', `row ${r} is outside the ${S} new tokens`);
    }
    const P = past.length;
    const hidden = Array.from(options.hiddenKeys ?? []);
    for (const j of hidden) ensure(Number.isInteger(j) && j >= 0 && j < P, 'BAD_ARGUMENT', `hidden key ${j} is outside the past cache of ${P} tokens`);

    // Long inputs run in chunks of query rows: attention scores are (heads, S, T) floats per
    // layer, 1.6 GB for 6 heads at S = T = 8K, while a chunk of 512 rows needs 100 MB. Chunking
    // changes no result (it is the prefill(a+b) = prefill(a) then prefill(b) law).
    const V = c.vocabSize;
    const logits = new Float32Array(logitRows.length * V);
    const T = P + S;
    const probs = attentionRows.length ? Array.from({ length: c.layers }, () => new Float32Array(c.heads * attentionRows.length * T)) : [];
    for (let start = 0; start < S; start += this.chunk) {
      const end = Math.min(S, start + this.chunk);
      const inChunk = (rows: number[]) => rows.map((r, i) => [r - start, i]).filter(([r]) => r >= 0 && r < end - start);
      const lr = inChunk(logitRows);
      const ar = inChunk(attentionRows);
      const out = await this.run(Array.from(tokens).slice(start, end), positions.slice(start, end), past, hidden,
        lr.map(([r]) => r), ar.map(([r]) => r), options.absent);
      lr.forEach(([, i], k) => logits.set(out.logits.subarray(k * V, (k + 1) * V), i * V));
      // Chunk probabilities are (heads, a, Tc) with Tc = keys so far; later keys are masked (0).
      const Tc = past.length;
      const A = attentionRows.length;
      for (let l = 0; l < probs.length; l++) {
        for (let h = 0; h < c.heads; h++) {
          ar.forEach(([, i], k) => probs[l].set(out.attn[l].subarray((h * ar.length + k) * Tc, (h * ar.length + k + 1) * Tc), (h * A + i) * T));
        }
      }
    }
    const keyPositions = past.positions.slice();
    const attention = attentionRows.length ? { queryPositions: attentionRows.map((r) => positions[r]), keyPositions, probs } : undefined;
    return { logits, attention };
  }

  /** One graph run: S new tokens after `past` (their K/V are appended to it). */
  private async run(tokens: number[], positions: number[], past: KvBuffer, hiddenKeys: number[], logitRows: number[], attentionRows: number[], absent?: Uint8Array[]) {
    const c = this.config;
    const S = tokens.length;
    const P = past.length;
    const keyPositions = new Int32Array(P + S);
    keyPositions.set(past.positions);
    keyPositions.set(positions, P);
    const bias = attentionBias(positions, keyPositions, c.slidingWindow);
    for (const j of hiddenKeys) for (let i = 0; i < S; i++) bias[i * (P + S) + j] = -Infinity;
    const { cos, sin } = ropeTables(c, positions, this.invFreq);
    const D = c.headDim;
    const KV = c.kvHeads;
    const i64 = (xs: ArrayLike<number>) => new ort.Tensor('int64', BigInt64Array.from(Array.from(xs), BigInt), [xs.length]);
    const feeds: Record<string, ort.Tensor> = {
      input_ids: i64(tokens),
      rope_cos: new ort.Tensor('float32', cos, [S, D]),
      rope_sin: new ort.Tensor('float32', sin, [S, D]),
      attn_bias: new ort.Tensor('float32', bias, [S, P + S]),
      logit_rows: i64(logitRows),
      attn_rows: i64(attentionRows),
    };
    const fetches = ['logits'];
    const noHeadBias = new ort.Tensor('float32', new Float32Array(1), [1, 1, 1, 1]);
    for (let l = 0; l < c.layers; l++) {
      feeds[`head_bias.${l}`] = absent ? headBias(absent[l], KV, S, P) : noHeadBias;
      feeds[`past_key.${l}`] = new ort.Tensor('float32', past.keyView(l), [P, KV, D]);
      feeds[`past_value.${l}`] = new ort.Tensor('float32', past.valueView(l), [P, KV, D]);
      fetches.push(`key.${l}`, `value.${l}`);
      if (attentionRows.length) fetches.push(`attn.${l}`);
    }
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await this.ortSession.run(feeds, fetches);
    } catch (cause) {
      throw new KvwireError('ENGINE', `onnxruntime failed on a forward of ${S} tokens after ${P}: ${(cause as Error).message}`, { cause });
    }
    const data = (name: string) => out[name].data as Float32Array;
    past.append(Array.from({ length: c.layers }, (_, l) => data(`key.${l}`)),
      Array.from({ length: c.layers }, (_, l) => data(`value.${l}`)), positions, tokens);
    return { logits: data('logits'), attn: attentionRows.length ? Array.from({ length: c.layers }, (_, l) => data(`attn.${l}`)) : [] };
  }

  /** Encodes `tokens` (after `past`, if given) and returns logits and the full cache. */
  async prefill(tokens: ArrayLike<number>, options: PrefillOptions = {}): Promise<PrefillResult> {
    const past = options.past;
    if (past) this.checkCache(past);
    const buffer = past ? KvBuffer.fromCache(past, tokens.length) : new KvBuffer(this.kvShape, tokens.length);
    const logitRows = options.logits === 'all' ? Array.from({ length: tokens.length }, (_, i) => i) : undefined;
    const { logits, attention } = await this.forward(tokens, buffer, { ...options, logitRows });
    return { logits, cache: buffer.toCache(), attention };
  }

  /**
   * Starts a sequence from an existing cache (a copy is taken), continuing at `nextPosition`
   * (default: one past the cache's last position). A sparse cache passes the original length T
   * so the continuation keeps its original positions.
   */
  inject(cache: KvCache, options: { nextPosition?: number; absent?: Uint8Array[] | null } = {}): Sequence {
    this.checkCache(cache);
    const absent = options.absent ?? undefined;
    ensure(!absent || (absent.length === cache.layers && absent.every((a) => a.length === cache.kvHeads * cache.length)), 'CACHE_MISMATCH',
      `per-head mask must hold layers x kvHeads x T = ${cache.layers} x ${cache.kvHeads} x ${cache.length} entries`);
    const next = options.nextPosition ?? cache.nextPosition;
    ensure(Number.isInteger(next) && next >= cache.nextPosition, 'BAD_ARGUMENT',
      `nextPosition ${next} must be an integer >= ${cache.nextPosition}, one past the cache's last position`);
    return new Sequence(this, KvBuffer.fromCache(cache, 64, this.kvPool), next, absent, this.kvPool);
  }

  /** A fresh, empty sequence. */
  sequence(): Sequence {
    return new Sequence(this, new KvBuffer(this.kvShape), 0);
  }

  /** Prefills `prompt` (after `past`, if given) and generates from it. */
  async generate(prompt: ArrayLike<number>, options: GenerateOptions & { past?: KvCache; nextPosition?: number }): Promise<GenerateResult & { cache: KvCache }> {
    const seq = options.past ? this.inject(options.past, options) : this.sequence();
    await seq.append(prompt);
    const result = await seq.generate(options);
    const cache = seq.cache();
    seq.close();
    return { ...result, cache };
  }

  /** Throws CACHE_MISMATCH unless `cache` has this model's layout. */
  checkCache(cache: KvCache): void {
    const s = this.kvShape;
    if (cache.layers !== s.layers || cache.kvHeads !== s.kvHeads || cache.headDim !== s.headDim) {
      throw new KvwireError('CACHE_MISMATCH',
        `cache has layers/kvHeads/headDim ${cache.layers}/${cache.kvHeads}/${cache.headDim}, but the model needs ${s.layers}/${s.kvHeads}/${s.headDim}`);
    }
  }

  async dispose(): Promise<void> {
    await this.ortSession.release();
  }
}

/** (kvHeads, 1, S, P+S) bias: -Infinity where a KV head has no entry for one of the first n past tokens. */
function headBias(absent: Uint8Array, KV: number, S: number, P: number): ort.Tensor {
  const n = absent.length / KV;
  ensure(Number.isInteger(n) && n <= P, 'CACHE_MISMATCH', `per-head mask covers ${absent.length / KV} tokens, but the cache holds ${P}`);
  const T = P + S;
  const bias = new Float32Array(KV * S * T);
  for (let h = 0; h < KV; h++) {
    for (let j = 0; j < n; j++) {
      if (!absent[h * n + j]) continue;
      for (let i = 0; i < S; i++) bias[(h * S + i) * T + j] = -Infinity;
    }
  }
  return new ort.Tensor('float32', bias, [KV, 1, S, T]);
}

/** A decoding sequence over a growing cache: append tokens, generate, read the cache. */
export class Sequence {
  private lastLogits: Float32Array | null = null;

  private closed = false;
  /** Forwards in flight (an append not yet awaited). */
  private running = 0;

  constructor(private readonly session: Session, private readonly buffer: KvBuffer, private nextPosition: number,
    private readonly absent?: Uint8Array[], private readonly pool?: FloatPool) {}

  get length(): number {
    return this.buffer.length;
  }

  /**
   * Done with this sequence: an injected one's cache memory goes back to its session for the next
   * inject of the same length. Any later call on it throws BAD_ARGUMENT. Closing twice is a no-op.
   */
  close(): void {
    if (this.closed) return;
    if (this.running) throw new KvwireError('BAD_ARGUMENT', 'Sequence.close() while an append or generate is running: await it first');
    this.closed = true;
    if (this.pool) this.buffer.release(this.pool);
  }

  private open(what: string): void {
    if (this.closed) throw new KvwireError('BAD_ARGUMENT', `Sequence.${what} after close()`);
  }

  /** Appends tokens at the next positions; returns the last row's logits (and attention, if asked). */
  async append(tokens: ArrayLike<number>, options: { attentionRows?: number[]; logits?: 'last' | 'all' } = {}): Promise<{ logits: Float32Array; attention?: AttentionProbs }> {
    this.open('append');
    const positions = Array.from({ length: tokens.length }, (_, i) => this.nextPosition + i);
    const logitRows = options.logits === 'all' ? positions.map((_, i) => i) : undefined;
    // onnxruntime reads the buffer's arrays until the run ends: close() must not pool them before.
    this.running++;
    let result: Awaited<ReturnType<Session['forward']>>;
    try {
      result = await this.session.forward(tokens, this.buffer, { positions, logitRows, attentionRows: options.attentionRows, absent: this.absent });
    } finally {
      this.running--;
    }
    this.nextPosition += tokens.length;
    const V = this.session.config.vocabSize;
    this.lastLogits = result.logits.subarray(result.logits.length - V);
    return result;
  }

  async generate(options: GenerateOptions): Promise<GenerateResult> {
    this.open('generate');
    ensure(Number.isInteger(options.maxTokens) && options.maxTokens >= 0, 'BAD_ARGUMENT', `maxTokens must be an integer >= 0, got ${options.maxTokens}`);
    if (!this.lastLogits) throw new KvwireError('BAD_ARGUMENT', 'generate needs logits: append at least one token to the sequence first');
    const sample = createSampler(options.sampling);
    const stop = new Set(options.stop ?? this.session.config.eosTokenIds);
    const tokens: number[] = [];
    let decodeMs = 0;
    while (tokens.length < options.maxTokens) {
      const next = sample(this.lastLogits);
      if (stop.has(next)) return { tokens, stopReason: 'stop', decodeMs };
      tokens.push(next);
      options.onToken?.(next);
      if (options.until?.(tokens)) return { tokens, stopReason: 'stop', decodeMs };
      if (tokens.length === options.maxTokens) break;
      const t0 = performance.now();
      await this.append([next]);
      decodeMs += performance.now() - t0;
    }
    return { tokens, stopReason: 'length', decodeMs };
  }

  /** The sequence's cache so far, head-major (a copy). */
  cache(): KvCache {
    this.open('cache');
    return this.buffer.toCache();
  }
}
