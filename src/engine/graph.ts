/**
 * Builds the ONNX graph of a decoder-only transformer from a ModelSpec, in TypeScript.
 *
 * One graph serves prefill, decode and attention scoring (batch 1, S new tokens, P cached):
 *   inputs   input_ids (S) int64 · rope_cos, rope_sin (S, headDim) · attn_bias (S, P+S)
 *            past_key.<l>, past_value.<l> (P, kvHeads, headDim) · logit_rows (R) int64 · attn_rows (A) int64
 *   outputs  logits (R, vocab) · key.<l>, value.<l> (S, kvHeads, headDim), keys after RoPE
 *            attn.<l> (kvHeads, G, A, P+S): softmax probabilities of the chosen query rows, G = heads/kvHeads
 * K/V cross the graph boundary token-major (T, kvHeads, headDim), unlike KvCache's head-major
 * layout: a decoding sequence then appends each step's K/V at the end of one growing buffer and
 * feeds a prefix view of it, with no copy in JavaScript; the transposes happen inside onnxruntime.
 * Only the *new* K/V leave the graph (the caller owns the cache), and logits are computed only
 * for the requested rows, since the lm_head of a large vocabulary costs more than a layer. Position
 * ids enter through rope_cos/rope_sin and attn_bias, both computed by the caller from explicit
 * positions, so a sparse or injected cache keeps its original positions.
 */
import type { ModelSpec } from '../model/index.js';
import type { GraphDef, InitializerDef, NodeDef } from './onnx/model-proto.js';

export const OPSET = 23; // RMSNormalization (23), Gelu with approximate (20), Split num_outputs (18)

export function buildDecoderGraph(spec: ModelSpec): GraphDef {
  const c = spec.config;
  const { heads: H, kvHeads: KV, headDim: D, hiddenSize } = c;
  const G = H / KV;
  const nodes: NodeDef[] = [];
  const inits: InitializerDef[] = [];
  let counter = 0;
  const tmp = (hint: string) => `${hint}_${counter++}`;
  const op = (type: string, inputs: string[], attrs?: NodeDef['attrs'], out = tmp(type)): string => {
    nodes.push({ op: type, inputs, outputs: [out], attrs });
    return out;
  };
  const weight = (name: string, dims: number[], data: Float32Array): string => {
    inits.push({ name, dtype: 'float', dims, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  };
  const w = (name: string) => spec.weights.get(name)!;
  const constInts = (name: string, values: number[]) => {
    const data = new BigInt64Array(values.map(BigInt));
    inits.push({ name, dtype: 'int64', dims: [values.length], data: new Uint8Array(data.buffer) });
    return name;
  };
  const constFloat = (name: string, value: number) => weight(name, [], Float32Array.of(value));
  // RMSNorm weights: gemma multiplies by (1 + w); fold it once here, in float32 like the reference.
  const normWeight = (name: string) => {
    const src = w(name);
    return weight(name, [src.length], c.normOffset ? src.map((x) => Math.fround(1 + x)) : src);
  };
  const rms = (x: string, name: string) => op('RMSNormalization', [x, normWeight(name)], { axis: -1, epsilon: { float: c.rmsEps } });
  // x (S, in) @ W^T (+ b), with W (out, in) as torch stores it: Gemm's transB avoids a transposed copy.
  const linear = (x: string, name: string, out: number, bias: boolean) => {
    const W = w(`${name}.weight`);
    const inputs = [x, weight(`${name}.weight`, [out, W.length / out], W)];
    if (bias) inputs.push(weight(`${name}.bias`, [out], w(`${name}.bias`)));
    return op('Gemm', inputs, { transB: 1 });
  };

  const shapeQ = constInts('shape_heads', [-1, H, D]);
  const shapeKV = constInts('shape_kv_heads', [-1, KV, D]);
  const shapeQGroups = constInts('shape_q_groups', [KV, G, -1, D]);
  const shapeHeads = constInts('shape_heads_first', [H, -1, D]);
  const shapeFlat = constInts('shape_flat', [-1, H * D]);
  const axis1 = constInts('axis_1', [1]);
  const scale = constFloat('attn_scale', 1 / Math.sqrt(D));

  // RoPE tables (S, 1, D) broadcast over heads of (S, heads, D).
  const cos = op('Unsqueeze', ['rope_cos', axis1]);
  const sin = op('Unsqueeze', ['rope_sin', axis1]);
  // RoPE, rotate-half form: x * cos + concat(x2, x1) * sin, with sin's first half negated by the caller.
  const rope = (x: string, out?: string) => {
    const a = tmp('half_a');
    const b = tmp('half_b');
    nodes.push({ op: 'Split', inputs: [x], outputs: [a, b], attrs: { axis: -1, num_outputs: 2 } });
    const swapped = op('Concat', [b, a], { axis: -1 });
    return op('Add', [op('Mul', [x, cos]), op('Mul', [swapped, sin])], undefined, out);
  };

  // Embedding: (S, hidden).
  const embed = weight('model.embed_tokens.weight', [c.vocabSize, hiddenSize], w('model.embed_tokens.weight'));
  let h = op('Gather', [embed, 'input_ids'], { axis: 0 });
  if (c.embedScale !== 1) h = op('Mul', [h, constFloat('embed_scale', c.embedScale)]);

  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}.`;
    const xn = rms(h, `${p}input_layernorm.weight`);
    let q = op('Reshape', [linear(xn, `${p}self_attn.q_proj`, H * D, c.qkvBias), shapeQ]);  // (S, H, D)
    let k = op('Reshape', [linear(xn, `${p}self_attn.k_proj`, KV * D, c.qkvBias), shapeKV]); // (S, KV, D)
    op('Reshape', [linear(xn, `${p}self_attn.v_proj`, KV * D, c.qkvBias), shapeKV], undefined, `value.${l}`);
    if (c.qkNorm) {
      q = rms(q, `${p}self_attn.q_norm.weight`);
      k = rms(k, `${p}self_attn.k_norm.weight`);
    }
    const qr = op('Mul', [rope(q), scale]);                                                // (S, H, D), pre-scaled
    rope(k, `key.${l}`);                                                                   // (S, KV, D)
    const K = op('Concat', [`past_key.${l}`, `key.${l}`], { axis: 0 });                    // (T, KV, D)
    const V = op('Concat', [`past_value.${l}`, `value.${l}`], { axis: 0 });
    const q4 = op('Reshape', [op('Transpose', [qr], { perm: [1, 0, 2] }), shapeQGroups]);  // (KV, G, S, D)
    const kT = op('Unsqueeze', [op('Transpose', [K], { perm: [1, 2, 0] }), axis1]);        // (KV, 1, D, T)
    const vH = op('Unsqueeze', [op('Transpose', [V], { perm: [1, 0, 2] }), axis1]);        // (KV, 1, T, D)
    const scores = op('Add', [op('MatMul', [q4, kT]), 'attn_bias']);                      // (KV, G, S, T)
    const probs = op('Softmax', [scores], { axis: -1 });
    op('Gather', [probs, 'attn_rows'], { axis: 2 }, `attn.${l}`);                          // (KV, G, A, T)
    const ctx = op('MatMul', [probs, vH]);                        // (KV, G, S, D)
    const merged = op('Reshape', [op('Transpose', [op('Reshape', [ctx, shapeHeads])], { perm: [1, 0, 2] }), shapeFlat]); // (S, H*D)
    h = op('Add', [h, linear(merged, `${p}self_attn.o_proj`, hiddenSize, c.outputBias)]);

    const xn2 = rms(h, `${p}post_attention_layernorm.weight`);
    const gate = linear(xn2, `${p}mlp.gate_proj`, c.intermediateSize, false);
    const act = c.activation === 'silu' ? op('Mul', [gate, op('Sigmoid', [gate])])
      : op('Gelu', [gate], c.activation === 'gelu_tanh' ? { approximate: 'tanh' } : {});
    const up = linear(xn2, `${p}mlp.up_proj`, c.intermediateSize, false);
    h = op('Add', [h, linear(op('Mul', [act, up]), `${p}mlp.down_proj`, hiddenSize, false)]);
  }

  const hr = rms(op('Gather', [h, 'logit_rows'], { axis: 0 }), 'model.norm.weight');      // (R, hidden)
  const lm = c.tieEmbeddings ? embed : weight('lm_head.weight', [c.vocabSize, hiddenSize], w('lm_head.weight'));
  op('Gemm', [hr, lm], { transB: 1 }, 'logits');                                          // (R, vocab)

  const kvDims = (name: string, len: string) => ({ name, dtype: 'float' as const, dims: [len, KV, D] });
  return {
    name: `kvwire-${c.family}`,
    nodes,
    initializers: inits,
    opsets: { '': OPSET },
    inputs: [
      { name: 'input_ids', dtype: 'int64', dims: ['S'] },
      { name: 'rope_cos', dtype: 'float', dims: ['S', D] },
      { name: 'rope_sin', dtype: 'float', dims: ['S', D] },
      { name: 'attn_bias', dtype: 'float', dims: ['S', 'T'] },
      { name: 'logit_rows', dtype: 'int64', dims: ['R'] },
      { name: 'attn_rows', dtype: 'int64', dims: ['A'] },
      ...Array.from({ length: c.layers }, (_, l) => [kvDims(`past_key.${l}`, 'P'), kvDims(`past_value.${l}`, 'P')]).flat(),
    ],
    outputs: [
      { name: 'logits', dtype: 'float', dims: ['R', c.vocabSize] },
      ...Array.from({ length: c.layers }, (_, l) => [kvDims(`key.${l}`, 'S'), kvDims(`value.${l}`, 'S')]).flat(),
      ...Array.from({ length: c.layers }, (_, l) => ({ name: `attn.${l}`, dtype: 'float' as const, dims: [KV, G, 'A', 'T'] })),
    ],
  };
}

