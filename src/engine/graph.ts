/**
 * Builds the ONNX graph of a decoder-only transformer from a ModelSpec, in TypeScript.
 *
 * One graph serves prefill, decode and attention scoring (batch 1, S new tokens, P cached):
 *   inputs   input_ids (S) int64 · rope_cos, rope_sin (S, headDim) · attn_bias (S, P+S)
 *            past_key.<l>, past_value.<l> (P, kvHeads, headDim) · logit_rows (R) int64 · attn_rows (A) int64
 *            head_bias.<l> (kvHeads, 1, S, P+S) or (1, 1, 1, 1): extra per-KV-head bias (per-head sparse caches)
 *   outputs  logits (R, vocab) · key.<l>, value.<l> (S, kvHeads, headDim), keys after RoPE
 *            attn.<l> (kvHeads, G, A, P+S): softmax probabilities of the chosen query rows, G = heads/kvHeads
 * K/V cross the graph boundary token-major (T, kvHeads, headDim), unlike KvCache's head-major
 * layout: a decoding sequence then appends each step's K/V at the end of one growing buffer and
 * feeds a prefix view of it, with no copy in JavaScript; the transposes happen inside onnxruntime.
 * Only the *new* K/V leave the graph (the caller owns the cache), and logits are computed only
 * for the requested rows, since the lm_head of a large vocabulary costs more than a layer. Position
 * ids enter through rope_cos/rope_sin and attn_bias, both computed by the caller from explicit
 * positions, so a sparse or injected cache keeps its original positions.
 *
 * Decoding one token runs every op of every layer, and an op costs a few microseconds of dispatch
 * and thread synchronisation whatever its size, so per layer the graph fuses what it can without
 * changing any dot product: q, k and v come from one Gemm, gate and up from another, RoPE rotates
 * q and k together, and the 1/sqrt(headDim) attention scale is folded into q's weights.
 */
import type { ModelSpec } from '../model/index.js';
import type { GraphDef, InitializerDef, NodeDef } from './onnx/model-proto.js';

export const OPSET = 23; // RMSNormalization (23), Gelu with approximate (20), Split num_outputs (18)

/**
 * Weight precision of the linear layers. 'fp32' (default) is exact to the checkpoint; 'int8' and
 * 'int4' quantize each row of a linear layer in blocks of 32 (symmetric, fp32 scales) and run
 * onnxruntime's MatMulNBits with int8 arithmetic: decode reads a quarter or an eighth of the
 * weight bytes, at some cost in exactness and in prefill speed. Embedding lookups stay fp32.
 */
export type WeightPrecision = 'fp32' | 'int8' | 'int4';

export interface GraphOptions {
  weights?: WeightPrecision;
}

const BLOCK = 32;

export function buildDecoderGraph(spec: ModelSpec, options: GraphOptions = {}): GraphDef {
  const precision = options.weights ?? 'fp32';
  const c = spec.config;
  const { heads: H, kvHeads: KV, headDim: D, hiddenSize, intermediateSize: I } = c;
  const G = H / KV;
  const scale = Math.fround(1 / Math.sqrt(D));
  const nodes: NodeDef[] = [];
  const inits: InitializerDef[] = [];
  let counter = 0;
  const tmp = (hint: string) => `${hint}_${counter++}`;
  const op = (type: string, inputs: string[], attrs?: NodeDef['attrs'], out = tmp(type)): string => {
    nodes.push({ op: type, inputs, outputs: [out], attrs });
    return out;
  };
  const split = (x: string, axis: number, sizes: number[], outs = sizes.map(() => tmp('part'))): string[] => {
    nodes.push({ op: 'Split', inputs: [x, constInts(`split_${sizes.join('_')}`, sizes)], outputs: outs, attrs: { axis } });
    return outs;
  };
  const weight = (name: string, dims: number[], data: Float32Array): string => {
    inits.push({ name, dtype: 'float', dims, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  };
  const w = (name: string) => spec.weights.get(name)!;
  const known = new Set<string>();
  const constInts = (name: string, values: number[]) => {
    if (known.has(name)) return name;
    known.add(name);
    const data = new BigInt64Array(values.map(BigInt));
    inits.push({ name, dtype: 'int64', dims: [values.length], data: new Uint8Array(data.buffer) });
    return name;
  };
  const concat = (parts: Float32Array[]) => {
    const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  };
  const scaled = (x: Float32Array) => x.map((v) => v * scale);
  // RMSNorm weights: gemma multiplies by (1 + w); fold it once here, in float32 like the reference.
  const normValues = (name: string) => (c.normOffset ? w(name).map((x) => Math.fround(1 + x)) : w(name));
  const rms = (x: string, scaleName: string) => op('RMSNormalization', [x, scaleName], { axis: -1, epsilon: { float: c.rmsEps } });
  // x (S, in) @ W^T (+ b), with W (out, in) as torch stores it: Gemm's transB avoids a transposed
  // copy. With int8/int4 weights, MatMulNBits on blockwise-quantized rows instead.
  const linear = (x: string, name: string, out: number, data: Float32Array, bias?: Float32Array, outName?: string): string => {
    const K = data.length / out;
    const b = bias ? weight(`${name}.bias`, [out], bias) : undefined;
    if (precision === 'fp32') {
      const W = weight(`${name}.weight`, [out, K], data);
      return op('Gemm', b ? [x, W, b] : [x, W], { transB: 1 }, outName);
    }
    const bits = precision === 'int8' ? 8 : 4;
    const q = quantizeRows(data, out, K, bits);
    inits.push({ name: `${name}.qweight`, dtype: 'uint8', dims: [out, q.blocks, (BLOCK * bits) / 8], data: q.codes });
    inits.push({ name: `${name}.scales`, dtype: 'float', dims: [out * q.blocks], data: new Uint8Array(q.scales.buffer) });
    nodes.push({ op: 'MatMulNBits', domain: 'com.microsoft', inputs: [x, `${name}.qweight`, `${name}.scales`],
      outputs: [b ? tmp('matmul') : outName ?? tmp('matmul')], attrs: { K, N: out, bits, block_size: BLOCK, accuracy_level: 4 } });
    const y = nodes[nodes.length - 1].outputs[0];
    return b ? op('Add', [y, b], undefined, outName) : y;
  };

  const shapeQKV = constInts('shape_qkv', [-1, H + 2 * KV, D]);
  const shapeQGroups = constInts('shape_q_groups', [KV, G, -1, D]);
  const shapeHeads = constInts('shape_heads_first', [H, -1, D]);
  const shapeFlat = constInts('shape_flat', [-1, H * D]);
  const axis1 = constInts('axis_1', [1]);

  // RoPE tables (S, 1, D) broadcast over heads of (S, heads, D); rotate-half form
  // x * cos + concat(x2, x1) * sin, with sin's first half negated by the caller.
  const cos = op('Unsqueeze', ['rope_cos', axis1]);
  const sin = op('Unsqueeze', ['rope_sin', axis1]);
  const rope = (x: string) => {
    const [a, b] = split(x, -1, [D / 2, D / 2]);
    return op('Add', [op('Mul', [x, cos]), op('Mul', [op('Concat', [b, a], { axis: -1 }), sin])]);
  };

  // Embedding: (S, hidden).
  const embed = weight('model.embed_tokens.weight', [c.vocabSize, hiddenSize], w('model.embed_tokens.weight'));
  let h = op('Gather', [embed, 'input_ids'], { axis: 0 });
  if (c.embedScale !== 1) h = op('Mul', [h, weight('embed_scale', [], Float32Array.of(c.embedScale))]);

  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}.`;
    const a = `${p}self_attn.`;
    const xn = rms(h, weight(`${p}input_layernorm.weight`, [hiddenSize], normValues(`${p}input_layernorm.weight`)));
    // One Gemm for q, k, v: weight rows [q (H*D) | k (KV*D) | v (KV*D)], q pre-scaled unless a norm follows.
    const qW = c.qkNorm ? w(`${a}q_proj.weight`) : scaled(w(`${a}q_proj.weight`));
    const wqkv = concat([qW, w(`${a}k_proj.weight`), w(`${a}v_proj.weight`)]);
    const bqkv = c.qkvBias
      ? concat([c.qkNorm ? w(`${a}q_proj.bias`) : scaled(w(`${a}q_proj.bias`)), w(`${a}k_proj.bias`), w(`${a}v_proj.bias`)])
      : undefined;
    const qkv = op('Reshape', [linear(xn, `${a}qkv_proj`, (H + 2 * KV) * D, wqkv, bqkv), shapeQKV]); // (S, H+2KV, D)
    let [qk] = split(qkv, 1, [H + KV, KV], [tmp('qk'), `value.${l}`]);                        // (S, H+KV, D), (S, KV, D)
    if (c.qkNorm) {
      // Per-head RMSNorm of q and k (qwen3): normalise, then one (H+KV, D) weight holding
      // q_norm (times the attention scale) for the q heads and k_norm for the k heads.
      const qn = scaled(w(`${a}q_norm.weight`));
      const kn = w(`${a}k_norm.weight`);
      const table = concat([...Array.from({ length: H }, () => qn), ...Array.from({ length: KV }, () => kn)]);
      qk = op('Mul', [rms(qk, weight(`${a}qk_norm.ones`, [D], new Float32Array(D).fill(1))), weight(`${a}qk_norm.weight`, [H + KV, D], table)]);
    }
    const [q] = split(rope(qk), 1, [H, KV], [tmp('q'), `key.${l}`]);                         // (S, H, D), (S, KV, D)
    const K = op('Concat', [`past_key.${l}`, `key.${l}`], { axis: 0 });                       // (T, KV, D)
    const V = op('Concat', [`past_value.${l}`, `value.${l}`], { axis: 0 });
    const q4 = op('Reshape', [op('Transpose', [q], { perm: [1, 0, 2] }), shapeQGroups]);      // (KV, G, S, D)
    const kT = op('Unsqueeze', [op('Transpose', [K], { perm: [1, 2, 0] }), axis1]);           // (KV, 1, D, T)
    const vH = op('Unsqueeze', [op('Transpose', [V], { perm: [1, 0, 2] }), axis1]);           // (KV, 1, T, D)
    // head_bias.<l> broadcasts to (KV, G, S, T): per-KV-head masks of a per-head sparse cache,
    // or a single 0 when there is none.
    const scores = op('Add', [op('Add', [op('MatMul', [q4, kT]), 'attn_bias']), `head_bias.${l}`]);
    const probs = op('Softmax', [scores], { axis: -1 });                                      // (KV, G, S, T)
    op('Gather', [probs, 'attn_rows'], { axis: 2 }, `attn.${l}`);                             // (KV, G, A, T)
    const ctx = op('MatMul', [probs, vH]);                                                    // (KV, G, S, D)
    const merged = op('Reshape', [op('Transpose', [op('Reshape', [ctx, shapeHeads])], { perm: [1, 0, 2] }), shapeFlat]); // (S, H*D)
    const bo = c.outputBias ? w(`${a}o_proj.bias`) : undefined;
    h = op('Add', [h, linear(merged, `${a}o_proj`, hiddenSize, w(`${a}o_proj.weight`), bo)]);

    const xn2 = rms(h, weight(`${p}post_attention_layernorm.weight`, [hiddenSize], normValues(`${p}post_attention_layernorm.weight`)));
    const wgu = concat([w(`${p}mlp.gate_proj.weight`), w(`${p}mlp.up_proj.weight`)]);
    const [gate, up] = split(linear(xn2, `${p}mlp.gate_up_proj`, 2 * I, wgu), -1, [I, I]);   // (S, I) each
    const act = c.activation === 'silu' ? op('Mul', [gate, op('Sigmoid', [gate])])
      : op('Gelu', [gate], c.activation === 'gelu_tanh' ? { approximate: 'tanh' } : {});
    h = op('Add', [h, linear(op('Mul', [act, up]), `${p}mlp.down_proj`, hiddenSize, w(`${p}mlp.down_proj.weight`))]);
  }

  const hr = rms(op('Gather', [h, 'logit_rows'], { axis: 0 }), weight('model.norm.weight', [hiddenSize], normValues('model.norm.weight'))); // (R, hidden)
  if (precision === 'fp32' && c.tieEmbeddings) op('Gemm', [hr, embed], { transB: 1 }, 'logits'); // shares the embedding
  else linear(hr, 'lm_head', c.vocabSize, c.tieEmbeddings ? w('model.embed_tokens.weight') : w('lm_head.weight'), undefined, 'logits'); // (R, vocab)

  const kvDims = (name: string, len: string) => ({ name, dtype: 'float' as const, dims: [len, KV, D] });
  return {
    name: `kvwire-${c.family}`,
    nodes,
    initializers: inits,
    opsets: precision === 'fp32' ? { '': OPSET } : { '': OPSET, 'com.microsoft': 1 },
    inputs: [
      { name: 'input_ids', dtype: 'int64', dims: ['S'] },
      { name: 'rope_cos', dtype: 'float', dims: ['S', D] },
      { name: 'rope_sin', dtype: 'float', dims: ['S', D] },
      { name: 'attn_bias', dtype: 'float', dims: ['S', 'T'] },
      { name: 'logit_rows', dtype: 'int64', dims: ['R'] },
      { name: 'attn_rows', dtype: 'int64', dims: ['A'] },
      ...Array.from({ length: c.layers }, (_, l) => [kvDims(`past_key.${l}`, 'P'), kvDims(`past_value.${l}`, 'P')]).flat(),
      ...Array.from({ length: c.layers }, (_, l) => ({ name: `head_bias.${l}`, dtype: 'float' as const, dims: ['HB', 1, 'HS', 'HT'] })),
    ],
    outputs: [
      { name: 'logits', dtype: 'float', dims: ['R', c.vocabSize] },
      ...Array.from({ length: c.layers }, (_, l) => [kvDims(`key.${l}`, 'S'), kvDims(`value.${l}`, 'S')]).flat(),
      ...Array.from({ length: c.layers }, (_, l) => ({ name: `attn.${l}`, dtype: 'float' as const, dims: [KV, G, 'A', 'T'] })),
    ],
  };
}

/**
 * Symmetric blockwise quantization of a (rows, K) matrix for MatMulNBits: per row, blocks of 32
 * along K (zero-padded), scale = absmax / (2^(bits-1) - 1), code = round(w / scale) + 2^(bits-1)
 * (MatMulNBits' default zero point), 4-bit codes packed low nibble first.
 */
export function quantizeRows(data: Float32Array, rows: number, K: number, bits: 8 | 4) {
  const blocks = Math.ceil(K / BLOCK);
  const blob = (BLOCK * bits) / 8;
  const codes = new Uint8Array(rows * blocks * blob);
  const scales = new Float32Array(rows * blocks);
  const qmax = (1 << (bits - 1)) - 1;
  const zero = 1 << (bits - 1);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const k0 = b * BLOCK;
      const k1 = Math.min(K, k0 + BLOCK);
      let absmax = 0;
      for (let k = k0; k < k1; k++) absmax = Math.max(absmax, Math.abs(data[r * K + k]));
      const scale = absmax / qmax;
      scales[r * blocks + b] = scale;
      const inv = scale > 0 ? 1 / scale : 0;
      const base = (r * blocks + b) * blob;
      for (let i = 0; i < BLOCK; i++) {
        const k = k0 + i;
        const q = k < k1 ? Math.max(-qmax - 1, Math.min(qmax, Math.round(data[r * K + k] * inv))) + zero : zero;
        if (bits === 8) codes[base + i] = q;
        else codes[base + (i >> 1)] |= (i & 1 ? q << 4 : q);
      }
    }
  }
  return { codes, scales, blocks };
}
