/**
 * llama2.c checkpoints (`.bin`: 7 int32 header, then fp32 weights) and tokenizers (`tok*.bin`).
 *
 * Header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative
 * vocab_size means the classifier is stored separately (not shared with the embedding).
 * Weights follow in this order, each (out, in) row-major like torch.nn.Linear:
 *   token_embedding (vocab, dim), rms_att (layer, dim), wq (layer, dim, dim),
 *   wk (layer, kv_dim, dim), wv (layer, kv_dim, dim), wo (layer, dim, dim), rms_ffn (layer, dim),
 *   w1 (layer, hidden, dim), w2 (layer, dim, hidden), w3 (layer, hidden, dim), rms_final (dim),
 *   freq_cis_real (seq_len, head/2), freq_cis_imag (seq_len, head/2), [wcls (vocab, dim)].
 * llama2.c rotates interleaved pairs (2i, 2i+1); the engine uses Hugging Face's rotate-half
 * layout, so wq and wk rows are permuted per head on load, exactly as HF's conversion script
 * does. The cached keys are then in HF layout; attention scores are unchanged.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { KvwireError } from '../errors.js';
import type { ModelConfig } from './config.js';
import type { TextTokenizer } from './tokenizer.js';
import type { WeightMap } from './weights.js';

export function loadLlama2cCheckpoint(file: string): { config: ModelConfig; weights: WeightMap } {
  if (!existsSync(file)) throw new KvwireError('FILE_NOT_FOUND', `checkpoint not found: ${file}`, { path: file });
  const buf = readFileSync(file);
  if (buf.length < 28) throw new KvwireError('FILE_TRUNCATED', `${file}: ${buf.length} bytes, shorter than the 28-byte llama2.c header`, { path: file });
  const h = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 28));
  const [dim, hidden, layers, heads, kvHeads, vocabSigned, seqLen] = h;
  const vocab = Math.abs(vocabSigned);
  const names = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'];
  [dim, hidden, layers, heads, kvHeads, vocab, seqLen].forEach((v, i) => {
    if (!(v > 0 && v < 1 << 24)) throw new KvwireError('BAD_FORMAT', `${file}: header field ${names[i]} = ${v} is not a plausible size`, { path: file });
  });
  if (dim % heads !== 0 || heads % kvHeads !== 0) {
    throw new KvwireError('BAD_FORMAT', `${file}: dim ${dim}, n_heads ${heads}, n_kv_heads ${kvHeads} do not divide evenly`, { path: file });
  }
  const headDim = dim / heads;
  const kvDim = kvHeads * headDim;
  const shared = vocabSigned > 0;
  const sizes: Array<[string, number]> = [
    ['token_embedding', vocab * dim], ['rms_att', layers * dim], ['wq', layers * dim * dim], ['wk', layers * kvDim * dim],
    ['wv', layers * kvDim * dim], ['wo', layers * dim * dim], ['rms_ffn', layers * dim], ['w1', layers * hidden * dim],
    ['w2', layers * dim * hidden], ['w3', layers * hidden * dim], ['rms_final', dim],
    ['freq_cis_real', seqLen * headDim / 2], ['freq_cis_imag', seqLen * headDim / 2],
  ];
  if (!shared) sizes.push(['wcls', vocab * dim]);
  const total = 28 + 4 * sizes.reduce((a, [, n]) => a + n, 0);
  if (buf.length < total) {
    throw new KvwireError('FILE_TRUNCATED', `${file}: ${buf.length} bytes, but its header implies ${total}`, { path: file });
  }
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset + 28, buf.byteOffset + total));
  const parts = new Map<string, Float32Array>();
  let o = 0;
  for (const [name, n] of sizes) {
    parts.set(name, all.subarray(o, o + n));
    o += n;
  }
  const part = (name: string, l: number, n: number) => parts.get(name)!.slice(l * n, (l + 1) * n);
  const weights: WeightMap = new Map();
  weights.set('model.embed_tokens.weight', parts.get('token_embedding')!.slice());
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    weights.set(`${p}input_layernorm.weight`, part('rms_att', l, dim));
    weights.set(`${p}self_attn.q_proj.weight`, permuteRotary(part('wq', l, dim * dim), heads, headDim, dim));
    weights.set(`${p}self_attn.k_proj.weight`, permuteRotary(part('wk', l, kvDim * dim), kvHeads, headDim, dim));
    weights.set(`${p}self_attn.v_proj.weight`, part('wv', l, kvDim * dim));
    weights.set(`${p}self_attn.o_proj.weight`, part('wo', l, dim * dim));
    weights.set(`${p}post_attention_layernorm.weight`, part('rms_ffn', l, dim));
    weights.set(`${p}mlp.gate_proj.weight`, part('w1', l, hidden * dim));
    weights.set(`${p}mlp.down_proj.weight`, part('w2', l, dim * hidden));
    weights.set(`${p}mlp.up_proj.weight`, part('w3', l, hidden * dim));
  }
  weights.set('model.norm.weight', parts.get('rms_final')!.slice());
  if (!shared) weights.set('lm_head.weight', parts.get('wcls')!.slice());
  const config: ModelConfig = {
    family: 'llama', hiddenSize: dim, layers, heads, kvHeads, headDim, intermediateSize: hidden, vocabSize: vocab,
    rmsEps: 1e-5, ropeTheta: 10000, ropeScaling: { type: 'none' }, tieEmbeddings: shared, qkvBias: false,
    outputBias: false, qkNorm: false, embedScale: 1, normOffset: 0, activation: 'silu', slidingWindow: null,
    maxPositions: seqLen, bosTokenId: 1, eosTokenIds: [2, 1], // llama2.c stops when BOS comes back
  };
  return { config, weights };
}

/** Rows of one projection, per head, from interleaved pairs (2i, 2i+1) to halves (i, i + d/2). */
function permuteRotary(w: Float32Array, heads: number, headDim: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * headDim + 2 * i + j) * cols;
        const dst = (h * headDim + j * half + i) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

/**
 * llama2.c's tokenizer: `int32 max_token_length`, then per token `float32 score, int32 len,
 * bytes`. Encoding is SentencePiece-style: a dummy-prefix space, one piece per UTF-8 character
 * (bytes as <0xXX> pieces, ids 3..258, when a character is not in the vocabulary), then greedy
 * merges of the adjacent pair whose merged piece has the highest score. BOS = 1, EOS = 2.
 */
export function loadLlama2cTokenizer(file: string, vocabSize: number): TextTokenizer {
  if (!existsSync(file)) throw new KvwireError('FILE_NOT_FOUND', `tokenizer not found: ${file}`, { path: file });
  const buf = readFileSync(file);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const pieces: Uint8Array[] = [];
  const scores = new Float32Array(vocabSize);
  let o = 4;
  for (let i = 0; i < vocabSize; i++) {
    if (o + 8 > buf.length) {
      throw new KvwireError('TOKENIZER_MISMATCH', `${file}: holds ${i} tokens but the model's vocabulary has ${vocabSize}`, { path: file });
    }
    scores[i] = dv.getFloat32(o, true);
    const len = dv.getInt32(o + 4, true);
    if (len < 0 || o + 8 + len > buf.length) throw new KvwireError('FILE_TRUNCATED', `${file}: token ${i} runs past the end of the file`, { path: file });
    pieces.push(buf.subarray(o + 8, o + 8 + len));
    o += 8 + len;
  }
  if (o !== buf.length) {
    throw new KvwireError('TOKENIZER_MISMATCH', `${file}: ${buf.length - o} bytes left after ${vocabSize} tokens; the tokenizer has more tokens than the model's vocabulary`, { path: file });
  }
  const latin1 = pieces.map((p) => Buffer.from(p).toString('latin1'));
  const lookup = new Map<string, number>();
  latin1.forEach((s, i) => { if (!lookup.has(s)) lookup.set(s, i); });
  const BOS = 1;
  const EOS = 2;

  const encode = (text: string, options: { addBos?: boolean } = {}): number[] => {
    const tokens: number[] = [];
    if (options.addBos) tokens.push(BOS);
    if (text.length === 0) return tokens;
    const body: number[] = [];
    const space = lookup.get(' ');
    if (space !== undefined) body.push(space);
    for (const ch of text) {
      const bytes = Buffer.from(ch, 'utf8').toString('latin1');
      const id = lookup.get(bytes);
      if (id !== undefined) body.push(id);
      else for (let b = 0; b < bytes.length; b++) body.push(bytes.charCodeAt(b) + 3);
    }
    for (;;) {
      let best = -1e10;
      let bestId = -1;
      let bestAt = -1;
      for (let i = 0; i + 1 < body.length; i++) {
        const id = lookup.get(latin1[body[i]] + latin1[body[i + 1]]);
        if (id !== undefined && scores[id] > best) {
          best = scores[id];
          bestId = id;
          bestAt = i;
        }
      }
      if (bestAt < 0) break;
      body.splice(bestAt, 2, bestId);
    }
    return tokens.concat(body);
  };

  const decode = (ids: readonly number[]): string => {
    const bytes: number[] = [];
    let prev = -1;
    for (const id of ids) {
      if (id === BOS || id === EOS) { prev = id; continue; }
      let piece = pieces[id];
      if (piece === undefined) throw new KvwireError('BAD_ARGUMENT', `token id ${id} is outside the vocabulary of ${vocabSize}`);
      if ((prev === BOS || prev === -1) && piece[0] === 0x20 && bytes.length === 0) piece = piece.subarray(1);
      const m = /^<0x([0-9A-F]{2})>$/.exec(latin1[id]);
      if (m) bytes.push(parseInt(m[1], 16));
      else for (const b of piece) bytes.push(b);
      prev = id;
    }
    return Buffer.from(bytes).toString('utf8');
  };

  return {
    encode, decode, bosId: BOS, eosIds: [EOS, BOS], size: vocabSize,
    digest: createHash('sha256').update(buf).digest('hex'),
  };
}

/** True when `file` looks like a llama2.c checkpoint (by extension and a plausible header). */
export function isLlama2cCheckpoint(file: string): boolean {
  return file.endsWith('.bin') && existsSync(file) && statSync(file).isFile();
}
