/**
 * Builds small random models for tests and benchmarks: a ModelSpec in memory, or a Hugging Face
 * folder on disk (config.json, model.safetensors, tokenizer.json) that the real loader reads.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '../util/random.js';
import { type ModelConfig, type ModelSpec, expectedWeights, encodeSafetensors, type WeightMap } from '../model/index.js';
import type { TextTokenizer } from '../model/tokenizer.js';

export function tinyConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return {
    family: 'llama', hiddenSize: 32, layers: 2, heads: 4, kvHeads: 2, headDim: 8, intermediateSize: 48, vocabSize: 64,
    rmsEps: 1e-6, ropeTheta: 10000, ropeScaling: { type: 'none' }, tieEmbeddings: false, qkvBias: false, outputBias: false,
    qkNorm: false, embedScale: 1, normOffset: 0, activation: 'silu', slidingWindow: null, maxPositions: 512,
    bosTokenId: 1, eosTokenIds: [2], ...overrides,
  };
}

/** Normal-ish random weights (sum of uniforms), scaled so activations stay O(1). */
export function randomWeights(config: ModelConfig, seed = 1, scale = 0.08): WeightMap {
  const random = createRng(seed);
  const weights: WeightMap = new Map();
  for (const { name, dims } of expectedWeights(config)) {
    const n = dims.reduce((a, b) => a * b, 1);
    const w = new Float32Array(n);
    const isNorm = name.endsWith('norm.weight');
    for (let i = 0; i < n; i++) {
      const g = random() + random() + random() - 1.5;
      w[i] = isNorm ? (config.normOffset ? 0 : 1) + 0.1 * g : scale * 2 * g;
    }
    weights.set(name, w);
  }
  return weights;
}

/** A tokenizer over ids 0..size-1 that maps characters to ids; enough for engine tests. */
export function byteTokenizer(size: number): TextTokenizer {
  return {
    bosId: 1, eosIds: [2], size, digest: `byte-tokenizer-${size}`,
    encode: (text, o = {}) => [...(o.addBos ? [1] : []), ...Array.from(text, (ch) => 3 + (ch.charCodeAt(0) % (size - 3)))],
    decode: (ids) => ids.filter((i) => i > 2).map((i) => String.fromCharCode(i - 3 + 32)).join(''),
  };
}

export function tinySpec(overrides: Partial<ModelConfig> = {}, seed = 1): ModelSpec {
  const config = tinyConfig(overrides);
  return { config, weights: randomWeights(config, seed), tokenizer: byteTokenizer(config.vocabSize), source: '<memory>', format: 'memory' };
}

/** Writes a tiny Hugging Face llama folder (fp32 weights, word-level tokenizer) and returns its path. */
export function writeTinyHfFolder(options: { vocabSize?: number; tokenizerSize?: number; seed?: number } = {}): string {
  const vocabSize = options.vocabSize ?? 64;
  const config = tinyConfig({ vocabSize });
  const dir = mkdtempSync(join(tmpdir(), 'kvwire-tiny-'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: config.hiddenSize,
    num_hidden_layers: config.layers, num_attention_heads: config.heads, num_key_value_heads: config.kvHeads,
    intermediate_size: config.intermediateSize, vocab_size: vocabSize, rms_norm_eps: config.rmsEps,
    rope_theta: config.ropeTheta, tie_word_embeddings: false, max_position_embeddings: 512, bos_token_id: 1, eos_token_id: 2,
  }, null, 2));
  const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Uint8Array }> = {};
  const weights = randomWeights(config, options.seed ?? 1);
  for (const { name, dims } of expectedWeights(config)) {
    const w = weights.get(name)!;
    tensors[name] = { dtype: 'F32', shape: dims, data: new Uint8Array(w.buffer, w.byteOffset, w.byteLength) };
  }
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors));
  const words = ['<unk>', '<s>', '</s>', ...Array.from({ length: (options.tokenizerSize ?? vocabSize) - 3 }, (_, i) => `w${i}`)];
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({
    version: '1.0', truncation: null, padding: null,
    added_tokens: [0, 1, 2].map((id) => ({ id, content: words[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null, pre_tokenizer: { type: 'WhitespaceSplit' }, post_processor: null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordLevel', vocab: Object.fromEntries(words.map((w, i) => [w, i])), unk_token: '<unk>' },
  }));
  return dir;
}
