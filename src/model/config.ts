/**
 * ModelConfig: everything the engine needs to know about an architecture, in one flat record.
 * Families differ only in a few switches (table below), so they are table entries here rather
 * than copied model classes:
 *
 *   family   qkv bias  q/k norm  embed scale   norm weight  MLP act     sliding window
 *   llama    config    -         1             w            SiLU        -
 *   mistral  -         -         1             w            SiLU        config
 *   qwen2    yes       -         1             w            SiLU        config (if enabled)
 *   qwen3    config    yes       1             w            SiLU        config (if enabled)
 *   gemma    config    -         sqrt(hidden)  1 + w        GELU(tanh)  -
 */
import { KvwireError } from '../errors.js';

export const FAMILIES = ['llama', 'mistral', 'qwen2', 'qwen3', 'gemma'] as const;
export type Family = (typeof FAMILIES)[number];

export type RopeScaling =
  | { type: 'none' }
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

export interface ModelConfig {
  family: Family;
  hiddenSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  rmsEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  /** lm_head shares the token embedding matrix. */
  tieEmbeddings: boolean;
  /** q/k/v projections carry a bias; `outputBias`: o_proj does too. */
  qkvBias: boolean;
  outputBias: boolean;
  /** Per-head RMSNorm on q and k before RoPE (qwen3). */
  qkNorm: boolean;
  /** Embeddings are multiplied by this (gemma: sqrt(hidden)). */
  embedScale: number;
  /** RMSNorm multiplies by (offset + w): 1 for gemma, 0 otherwise. */
  normOffset: 0 | 1;
  activation: 'silu' | 'gelu_tanh' | 'gelu';
  /** A key is visible to a query only if qpos - kpos < slidingWindow (mistral), else unlimited. */
  slidingWindow: number | null;
  maxPositions: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

const MODEL_TYPES: Record<string, Family> = {
  llama: 'llama', mistral: 'mistral', qwen2: 'qwen2', qwen3: 'qwen3', gemma: 'gemma',
};

/** Parses a Hugging Face config.json object; `file` names it in errors. */
export function parseHfConfig(raw: Record<string, unknown>, file: string): ModelConfig {
  const modelType = String(raw.model_type ?? '');
  const family = MODEL_TYPES[modelType];
  if (!family) {
    throw new KvwireError('UNKNOWN_ARCHITECTURE',
      `${file}: model_type "${modelType}" (architectures ${JSON.stringify(raw.architectures ?? null)}) is not supported; ` +
      `kvwire runs ${FAMILIES.join(', ')}`, { path: file });
  }
  const int = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new KvwireError('BAD_CONFIG', `${file}: field "${key}" must be a positive integer, got ${JSON.stringify(v)}`, { path: file });
    }
    return v;
  };
  const num = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new KvwireError('BAD_CONFIG', `${file}: field "${key}" must be a positive number, got ${JSON.stringify(v)}`, { path: file });
    }
    return v;
  };
  const hiddenSize = int('hidden_size');
  const heads = int('num_attention_heads');
  const kvHeads = int('num_key_value_heads', heads);
  if (heads % kvHeads !== 0) {
    throw new KvwireError('BAD_CONFIG', `${file}: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`, { path: file });
  }
  const headDim = raw.head_dim == null ? hiddenSize / heads : int('head_dim');
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new KvwireError('BAD_CONFIG', `${file}: head_dim ${headDim} must be an even integer`, { path: file });
  }
  const { theta, scaling } = parseRope(raw, file);
  if (raw.mlp_bias === true) throw new KvwireError('BAD_CONFIG', `${file}: mlp_bias=true is not supported`, { path: file });
  const attentionBias = raw.attention_bias === true;
  const usesWindow = family === 'mistral' || raw.use_sliding_window === true;
  const window = usesWindow && typeof raw.sliding_window === 'number' ? raw.sliding_window : null;
  const act = String(raw.hidden_activation ?? raw.hidden_act ?? (family === 'gemma' ? 'gelu_pytorch_tanh' : 'silu'));
  const activation = act === 'silu' || act === 'swish' ? 'silu'
    : act === 'gelu_pytorch_tanh' || act === 'gelu_new' ? 'gelu_tanh'
      : act === 'gelu' ? (family === 'gemma' ? 'gelu_tanh' : 'gelu') // HF gemma maps legacy "gelu" to the tanh form
        : null;
  if (!activation) throw new KvwireError('BAD_CONFIG', `${file}: activation "${act}" is not supported (silu, gelu, gelu_pytorch_tanh)`, { path: file });
  const eos = raw.eos_token_id;
  return {
    family,
    hiddenSize,
    layers: int('num_hidden_layers'),
    heads,
    kvHeads,
    headDim,
    intermediateSize: int('intermediate_size'),
    vocabSize: int('vocab_size'),
    rmsEps: num('rms_norm_eps', 1e-6),
    ropeTheta: theta,
    ropeScaling: scaling,
    tieEmbeddings: typeof raw.tie_word_embeddings === 'boolean' ? raw.tie_word_embeddings : family === 'gemma',
    qkvBias: family === 'qwen2' ? true : attentionBias,
    outputBias: family === 'qwen2' ? false : attentionBias,
    qkNorm: family === 'qwen3',
    embedScale: family === 'gemma' ? Math.fround(Math.sqrt(hiddenSize)) : 1,
    normOffset: family === 'gemma' ? 1 : 0,
    activation,
    slidingWindow: window,
    maxPositions: int('max_position_embeddings', 2048),
    bosTokenId: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : null,
    eosTokenIds: typeof eos === 'number' ? [eos] : Array.isArray(eos) ? eos.filter((e): e is number => typeof e === 'number') : [],
  };
}

/** Reads RoPE settings from either transformers-5 `rope_parameters` or the older `rope_theta` + `rope_scaling`. */
function parseRope(raw: Record<string, unknown>, file: string): { theta: number; scaling: RopeScaling } {
  const params = (raw.rope_parameters ?? raw.rope_scaling ?? {}) as Record<string, unknown>;
  const theta = Number(params.rope_theta ?? raw.rope_theta ?? 10000);
  if (!Number.isFinite(theta) || theta <= 0) {
    throw new KvwireError('BAD_CONFIG', `${file}: rope theta must be a positive number, got ${theta}`, { path: file });
  }
  const type = String(params.rope_type ?? params.type ?? 'default');
  const f = (key: string): number => {
    const v = params[key];
    if (typeof v !== 'number' || !(v > 0)) {
      throw new KvwireError('BAD_CONFIG', `${file}: rope scaling "${type}" needs a positive "${key}", got ${JSON.stringify(v)}`, { path: file });
    }
    return v;
  };
  switch (type) {
    case 'default': return { theta, scaling: { type: 'none' } };
    case 'linear': return { theta, scaling: { type: 'linear', factor: f('factor') } };
    case 'llama3': return {
      theta,
      scaling: {
        type: 'llama3', factor: f('factor'), lowFreqFactor: f('low_freq_factor'),
        highFreqFactor: f('high_freq_factor'), originalMaxPositions: f('original_max_position_embeddings'),
      },
    };
    default:
      throw new KvwireError('BAD_CONFIG', `${file}: rope type "${type}" is not supported (default, linear, llama3)`, { path: file });
  }
}

/**
 * RoPE inverse frequencies, float32 like the reference (PyTorch computes them in float32), with
 * the configured scaling applied. Length headDim / 2.
 */
export function ropeInverseFrequencies(config: ModelConfig): Float32Array {
  const half = config.headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    inv[i] = 1 / Math.fround(Math.pow(config.ropeTheta, Math.fround((2 * i) / config.headDim)));
  }
  const s = config.ropeScaling;
  if (s.type === 'linear') for (let i = 0; i < half; i++) inv[i] = inv[i] / s.factor;
  if (s.type === 'llama3') {
    const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositions / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowWavelen) inv[i] = inv[i] / s.factor;
      else if (wavelen >= highWavelen) {
        const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = (1 - smooth) * (inv[i] / s.factor) + smooth * inv[i];
      }
    }
  }
  return inv;
}
