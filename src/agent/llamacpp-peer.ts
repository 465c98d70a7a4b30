/**
 * The peer a TypeScript user would reach for today: node-llama-cpp (llama.cpp), handing off a
 * context by saving the sequence state to a file (saveStateToFile), moving the file, and loading
 * it (loadStateFromFile) on the other side. Used by `npm run bench:handoff` as a baseline, on a
 * random-weight GGUF with the same shapes as kvwire's timing model (written here).
 *
 * node-llama-cpp is a devDependency, imported only when a peer is created.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { KvwireError } from '../errors.js';
import type { ModelConfig } from '../model/index.js';
import { floatArrayToHalf } from '../util/fp16.js';
import { writeGguf, type GgufTensor } from './gguf.js';

/**
 * Writes a qwen2-architecture GGUF with `config`'s shapes and random F16 weights (uniform ±0.04,
 * norms 1, like bench/engine.ts's randomSpec) and a placeholder SentencePiece-style vocabulary
 * (byte tokens, then "t<i>"): the benchmark feeds token ids, never text. Cached: an existing file
 * is reused.
 */
export function writeRandomQwen2Gguf(path: string, config: ModelConfig, seed = 7): string {
  if (existsSync(path)) return path;
  mkdirSync(dirname(path), { recursive: true });
  const c = config;
  if (c.family !== 'qwen2') throw new KvwireError('BAD_ARGUMENT', `the llama.cpp peer writes qwen2 GGUFs, not ${c.family}`);
  let s = seed >>> 0 || 1;
  const random = (out: Float32Array | Uint16Array) => {
    const f = new Float32Array(out.length);
    for (let i = 0; i < f.length; i++) {
      s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
      f[i] = ((s >>> 0) / 4294967296 - 0.5) * 0.08;
    }
    if (out instanceof Uint16Array) floatArrayToHalf(f, out as Uint16Array<ArrayBuffer>);
    else out.set(f);
  };
  const ones = (out: Float32Array | Uint16Array) => out.fill(1);
  const kvDim = c.kvHeads * c.headDim;
  const qDim = c.heads * c.headDim;
  const t = (name: string, dims: number[], type: 'f32' | 'f16', fill = random): GgufTensor => ({ name, dims, type, fill: (o) => fill(o) });
  const tensors: GgufTensor[] = [t('token_embd.weight', [c.hiddenSize, c.vocabSize], 'f16'), t('output_norm.weight', [c.hiddenSize], 'f32', ones)];
  for (let l = 0; l < c.layers; l++) {
    const b = `blk.${l}`;
    tensors.push(
      t(`${b}.attn_norm.weight`, [c.hiddenSize], 'f32', ones),
      t(`${b}.attn_q.weight`, [c.hiddenSize, qDim], 'f16'), t(`${b}.attn_q.bias`, [qDim], 'f32'),
      t(`${b}.attn_k.weight`, [c.hiddenSize, kvDim], 'f16'), t(`${b}.attn_k.bias`, [kvDim], 'f32'),
      t(`${b}.attn_v.weight`, [c.hiddenSize, kvDim], 'f16'), t(`${b}.attn_v.bias`, [kvDim], 'f32'),
      t(`${b}.attn_output.weight`, [qDim, c.hiddenSize], 'f16'),
      t(`${b}.ffn_norm.weight`, [c.hiddenSize], 'f32', ones),
      t(`${b}.ffn_gate.weight`, [c.hiddenSize, c.intermediateSize], 'f16'),
      t(`${b}.ffn_up.weight`, [c.hiddenSize, c.intermediateSize], 'f16'),
      t(`${b}.ffn_down.weight`, [c.intermediateSize, c.hiddenSize], 'f16'),
    );
  }
  const V = c.vocabSize;
  const tokens = Array.from({ length: V }, (_, i) =>
    i === 0 ? '<unk>' : i === 1 ? '<s>' : i === 2 ? '</s>' : i < 259 ? `<0x${(i - 3).toString(16).toUpperCase().padStart(2, '0')}>` : `t${i}`);
  const types = Int32Array.from({ length: V }, (_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1));
  const tmp = `${path}.partial`;
  writeGguf(tmp, {
    'general.architecture': { type: 'string', value: 'qwen2' },
    'general.name': { type: 'string', value: 'random Qwen2.5-0.5B-shaped (kvwire bench)' },
    'general.file_type': { type: 'u32', value: 1 },
    'qwen2.context_length': { type: 'u32', value: c.maxPositions },
    'qwen2.embedding_length': { type: 'u32', value: c.hiddenSize },
    'qwen2.feed_forward_length': { type: 'u32', value: c.intermediateSize },
    'qwen2.block_count': { type: 'u32', value: c.layers },
    'qwen2.attention.head_count': { type: 'u32', value: c.heads },
    'qwen2.attention.head_count_kv': { type: 'u32', value: c.kvHeads },
    'qwen2.attention.layer_norm_rms_epsilon': { type: 'f32', value: c.rmsEps },
    'qwen2.rope.freq_base': { type: 'f32', value: c.ropeTheta },
    'tokenizer.ggml.model': { type: 'string', value: 'llama' },
    'tokenizer.ggml.tokens': { type: 'strings', value: tokens },
    'tokenizer.ggml.scores': { type: 'f32s', value: new Float32Array(V) },
    'tokenizer.ggml.token_type': { type: 'i32s', value: types },
    'tokenizer.ggml.bos_token_id': { type: 'u32', value: 1 },
    'tokenizer.ggml.eos_token_id': { type: 'u32', value: 2 },
    'tokenizer.ggml.add_bos_token': { type: 'bool', value: false },
  }, tensors);
  renameSync(tmp, path); // a killed run never leaves a half-written model behind
  return path;
}

export interface PeerHandoff {
  /** Sharer: the context through llama.cpp (its part of a re-prefill, too). */
  contextPrefillMs: number;
  saveMs: number;
  stateBytes: number;
  /** Receiver: state file -> sequence. */
  loadMs: number;
  /** Receiver: question through the model, first token out. */
  firstTokenMs: number;
}

export interface LlamaPeer {
  /** Prefills `context` on a sharer sequence, saves its state to `stateFile`, loads it on a receiver sequence and answers `question`. */
  handoff(context: number[], question: number[], stateFile: string): Promise<PeerHandoff>;
  close(): Promise<void>;
}

export async function createLlamaPeer(modelPath: string, options: { threads?: number; contextSize: number }): Promise<LlamaPeer> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, logLevel: 'error' as never });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const make = () => model.createContext({ contextSize: options.contextSize, batchSize: 512, threads: options.threads ?? 2, sequences: 1 });
  const [sharerCtx, receiverCtx] = [await make(), await make()];
  return {
    async handoff(context, question, stateFile) {
      const a = sharerCtx.getSequence();
      const b = receiverCtx.getSequence();
      try {
        let t = performance.now();
        await a.evaluateWithoutGeneratingNewTokens(context as never);
        const contextPrefillMs = performance.now() - t;
        t = performance.now();
        const { fileSize } = await a.saveStateToFile(stateFile);
        const saveMs = performance.now() - t;
        t = performance.now();
        await b.loadStateFromFile(stateFile, { acceptRisk: true });
        const loadMs = performance.now() - t;
        t = performance.now();
        const it = b.evaluate(question as never, { temperature: 0 });
        await it.next();
        const firstTokenMs = performance.now() - t;
        await it.return();
        return { contextPrefillMs, saveMs, stateBytes: fileSize, loadMs, firstTokenMs };
      } finally {
        a.dispose();
        b.dispose();
      }
    },
    async close() {
      await sharerCtx.dispose();
      await receiverCtx.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}
