/**
 * The weights every family needs, by Hugging Face name, with their shapes. One table drives both
 * loaders (HF folders and llama2.c files) and the shape checks, so a checkpoint that does not
 * match its config is refused by name before any graph is built.
 */
import { KvwireError } from '../errors.js';
import type { ModelConfig } from './config.js';

export interface WeightSpec {
  name: string;
  /** Expected shape; linear weights are (out, in) as in torch.nn.Linear. */
  dims: number[];
}

/** Weights by name, float32, shapes as in `expectedWeights`. */
export type WeightMap = Map<string, Float32Array>;

export function expectedWeights(c: ModelConfig): WeightSpec[] {
  const H = c.hiddenSize;
  const q = c.heads * c.headDim;
  const kv = c.kvHeads * c.headDim;
  const out: WeightSpec[] = [{ name: 'model.embed_tokens.weight', dims: [c.vocabSize, H] }];
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}.`;
    out.push(
      { name: `${p}input_layernorm.weight`, dims: [H] },                       // (hidden)
      { name: `${p}self_attn.q_proj.weight`, dims: [q, H] },                   // (heads*headDim, hidden)
      { name: `${p}self_attn.k_proj.weight`, dims: [kv, H] },                  // (kvHeads*headDim, hidden)
      { name: `${p}self_attn.v_proj.weight`, dims: [kv, H] },
      { name: `${p}self_attn.o_proj.weight`, dims: [H, q] },                   // (hidden, heads*headDim)
      { name: `${p}post_attention_layernorm.weight`, dims: [H] },
      { name: `${p}mlp.gate_proj.weight`, dims: [c.intermediateSize, H] },    // (inter, hidden)
      { name: `${p}mlp.up_proj.weight`, dims: [c.intermediateSize, H] },
      { name: `${p}mlp.down_proj.weight`, dims: [H, c.intermediateSize] },    // (hidden, inter)
    );
    if (c.qkvBias) {
      out.push({ name: `${p}self_attn.q_proj.bias`, dims: [q] }, { name: `${p}self_attn.k_proj.bias`, dims: [kv] },
        { name: `${p}self_attn.v_proj.bias`, dims: [kv] });
    }
    if (c.outputBias) out.push({ name: `${p}self_attn.o_proj.bias`, dims: [H] });
    if (c.qkNorm) {
      out.push({ name: `${p}self_attn.q_norm.weight`, dims: [c.headDim] }, { name: `${p}self_attn.k_norm.weight`, dims: [c.headDim] });
    }
  }
  out.push({ name: 'model.norm.weight', dims: [H] });
  if (!c.tieEmbeddings) out.push({ name: 'lm_head.weight', dims: [c.vocabSize, H] });
  return out;
}

/**
 * Checks that `dimsOf(name)` matches every expected weight, naming the first missing or
 * misshapen one and the file it should come from.
 */
export function checkWeightShapes(c: ModelConfig, dimsOf: (name: string) => number[] | undefined, file: string): void {
  for (const spec of expectedWeights(c)) {
    const dims = dimsOf(spec.name);
    if (!dims) {
      const hint = spec.name === 'lm_head.weight' ? ' (config says tie_word_embeddings=false)' : '';
      throw new KvwireError('TENSOR_MISSING', `${file}: weight ${spec.name} is missing${hint}`, { path: file });
    }
    if (dims.length !== spec.dims.length || dims.some((d, i) => d !== spec.dims[i])) {
      throw new KvwireError('TENSOR_SHAPE',
        `${file}: weight ${spec.name} has shape [${dims}], expected [${spec.dims}] from the config`, { path: file });
    }
  }
}
