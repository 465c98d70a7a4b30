/**
 * npm run bench:engine — prefill and decode speed of the CPU engine on a random-weight model with
 * Qwen2.5-0.5B's shapes (24 layers, hidden 896, 14 heads, 2 KV heads, head dim 64, intermediate
 * 4864, vocab 151936, qkv bias, tied embeddings), built in-process, at 512 and 2048 tokens of
 * context, plain and in attention mode (probabilities of the last 32 prompt rows returned from the
 * same pass). Targets at 512: prefill >= 120 tok/s, decode >= 30 tok/s, attention mode within 25%
 * of plain prefill. Prints a table and writes bench/results/engine.json.
 *
 * Options: --threads N (default 2), --contexts 512,2048, --decode N (tokens, default 32),
 * --weights fp32,int8 (weight precisions to compare; fp32 is exact, int8 runs MatMulNBits).
 */
import { parseArgs } from 'node:util';
import { Session, type WeightPrecision } from '../engine/index.js';
import { type ModelConfig, type ModelSpec, expectedWeights, type WeightMap } from '../model/index.js';
import { byteTokenizer } from '../test-support/tiny-model.js';
import { printTable, writeResults, type Row } from './report.js';

export const QWEN25_05B: ModelConfig = {
  family: 'qwen2', hiddenSize: 896, layers: 24, heads: 14, kvHeads: 2, headDim: 64, intermediateSize: 4864,
  vocabSize: 151936, rmsEps: 1e-6, ropeTheta: 1000000, ropeScaling: { type: 'none' }, tieEmbeddings: true,
  qkvBias: true, outputBias: false, qkNorm: false, embedScale: 1, normOffset: 0, activation: 'silu',
  slidingWindow: null, maxPositions: 32768, bosTokenId: null, eosTokenIds: [151643],
};

/** Random weights, uniform in ±0.04 (norm weights 1), filled fast: 0.5B values in a few seconds. */
export function randomSpec(config: ModelConfig, seed = 7): ModelSpec {
  let s = seed >>> 0 || 1;
  const weights: WeightMap = new Map();
  for (const { name, dims } of expectedWeights(config)) {
    const w = new Float32Array(dims.reduce((a, b) => a * b, 1));
    if (name.endsWith('norm.weight')) w.fill(1);
    else {
      for (let i = 0; i < w.length; i++) {
        s ^= s << 13; s ^= s >>> 17; s ^= s << 5; // xorshift32
        w[i] = ((s >>> 0) / 4294967296 - 0.5) * 0.08;
      }
    }
    weights.set(name, w);
  }
  return { config, weights, tokenizer: byteTokenizer(config.vocabSize), source: '<random>', format: 'memory' };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    threads: { type: 'string', default: '2' }, contexts: { type: 'string', default: '512,2048' }, decode: { type: 'string', default: '32' },
    weights: { type: 'string', default: 'fp32,int8' },
  } });
  const threads = Number(values.threads);
  const contexts = values.contexts!.split(',').map(Number);
  const decodeTokens = Number(values.decode);
  const window = 32;

  let t0 = performance.now();
  const spec = randomSpec(QWEN25_05B);
  const fillMs = performance.now() - t0;
  const rows: Row[] = [];
  const buildMs: Record<string, number> = {};
  for (const weights of values.weights!.split(',') as WeightPrecision[]) {
  t0 = performance.now();
  const session = await Session.create(spec, { threads, weights });
  buildMs[weights] = performance.now() - t0;
  console.log(`random Qwen2.5-0.5B-shaped model, ${weights} weights: fill ${fillMs.toFixed(0)} ms, graph + session ${buildMs[weights].toFixed(0)} ms, ${threads} threads`);
  for (const T of contexts) {
    const tokens = Array.from({ length: T }, (_, i) => (i * 7919) % 151000 + 100);
    const time = async (fn: () => Promise<unknown>, reps: number) => {
      const samples: number[] = [];
      for (let r = 0; r < reps; r++) {
        const a = performance.now();
        await fn();
        samples.push(performance.now() - a);
      }
      return Math.min(...samples);
    };
    await session.prefill(tokens.slice(0, 64)); // warm-up: onnxruntime plans its kernels on the first runs
    const reps = T <= 512 ? 3 : 2;
    const plainMs = await time(() => session.prefill(tokens), reps);
    const rowsAsked = Array.from({ length: window }, (_, i) => T - window + i);
    const attnMs = await time(() => session.prefill(tokens, { attentionRows: rowsAsked }), reps);
    const seq = session.sequence();
    await seq.append(tokens);
    const gen = await seq.generate({ maxTokens: decodeTokens + 1, stop: [] });
    const decodeTps = (decodeTokens / gen.decodeMs) * 1000;
    const prefillTps = (T / plainMs) * 1000;
    const attnTps = (T / attnMs) * 1000;
    rows.push({
      weights,
      context: T,
      'prefill tok/s': prefillTps,
      'attn-mode prefill tok/s': attnTps,
      'attn-mode / plain': attnTps / prefillTps,
      'decode tok/s': decodeTps,
      'decode ms/token': gen.decodeMs / decodeTokens,
    });
  }
  await session.dispose();
  }
  printTable(rows);
  const at512 = rows.find((r) => r.context === 512 && r.weights === 'fp32');
  const targets = at512 ? {
    'prefill >= 120 tok/s at 512': (at512['prefill tok/s'] as number) >= 120,
    'decode >= 30 tok/s at 512': (at512['decode tok/s'] as number) >= 30,
    'attention mode within 25% of plain at 512': (at512['attn-mode / plain'] as number) >= 0.75,
  } : {};
  for (const [k, v] of Object.entries(targets)) console.log(`${v ? 'PASS' : 'MISS'}  ${k} (fp32 weights)`);
  const path = writeResults('engine', { model: 'random weights, Qwen2.5-0.5B shapes', threads, attentionWindow: window, decodeTokens, fillMs, buildMs, rows, targets });
  console.log(`wrote ${path}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
