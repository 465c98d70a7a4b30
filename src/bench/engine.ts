/**
 * npm run bench:engine — prefill and decode speed of the CPU engine on a random-weight model with
 * Qwen2.5-0.5B's shapes (24 layers, hidden 896, 14 heads, 2 KV heads, head dim 64, intermediate
 * 4864, vocab 151936, qkv bias, tied embeddings), built in-process, at 512 and 2048 tokens of
 * context, plain and in attention mode (probabilities of the last 32 prompt rows returned from the
 * same pass). Targets at 512: prefill >= 120 tok/s, decode >= 30 tok/s, attention mode within 25%
 * of plain prefill. Prints a table and writes bench/results/engine.json.
 *
 * Decode of a 0.5B model on a CPU is bound by memory bandwidth: each token reads every weight once
 * (2.0 GB in fp32, 544 MB of it the tied lm_head). So the same run also times the *floor*: one
 * onnxruntime graph holding only one MatMul per weight matrix of the model (M = 1, same shapes,
 * same threads), which any engine's decode step must at least cost on this machine, right before
 * and after each decode measurement; `decode / floor` says how close to the hardware the engine is.
 *
 * Options: --threads N (default 2), --contexts 512,2048, --decode N (tokens, default 32),
 * --weights fp32,int8 (weight precisions to compare; fp32 is exact, int8 runs MatMulNBits).
 */
import { Session, type WeightPrecision } from '../engine/index.js';
import { encodeModel, type GraphDef } from '../engine/onnx/model-proto.js';
import { ort } from '../engine/ort.js';
import { type ModelConfig, type ModelSpec, expectedWeights, type WeightMap } from '../model/index.js';
import { byteTokenizer } from '../test-support/tiny-model.js';
import { benchArgs, median, printTable, writeResults, type Row } from './report.js';

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

/**
 * The weight-streaming floor of fp32 decode: a graph with one MatMul (1 x in) @ (in x out) per
 * linear weight of `config` and the tied lm_head, fed from graph inputs, so onnxruntime cannot
 * fold anything. Returns a function timing one run (ms). Weights are a constant, not zeros, so
 * that every page is really written (fp32 MatMul time does not depend on the values).
 */
async function weightStreamFloor(config: ModelConfig, threads: number): Promise<{ timeMs: () => Promise<number>; bytes: number; dispose: () => Promise<void> }> {
  const { hiddenSize: Hd, intermediateSize: I, heads: H, kvHeads: KV, headDim: D, vocabSize: V } = config;
  const shapes: [number, number][] = [];
  for (let l = 0; l < config.layers; l++) shapes.push([Hd, (H + 2 * KV) * D], [H * D, Hd], [Hd, 2 * I], [I, Hd]);
  shapes.push([Hd, V]);
  const widths = [...new Set(shapes.map(([k]) => k))];
  const graph: GraphDef = {
    name: 'weight-stream-floor',
    nodes: shapes.map(([k], i) => ({ op: 'MatMul', inputs: [`x${k}`, `w${i}`], outputs: [`y${i}`] })),
    initializers: shapes.map(([k, n], i) => ({ name: `w${i}`, dtype: 'float' as const, dims: [k, n], data: new Uint8Array(new Float32Array(k * n).fill(0.01).buffer) })),
    opsets: { '': 23 },
    inputs: widths.map((k) => ({ name: `x${k}`, dtype: 'float' as const, dims: [1, k] })),
    outputs: shapes.map(([, n], i) => ({ name: `y${i}`, dtype: 'float' as const, dims: [1, n] })),
  };
  const session = await ort.InferenceSession.create(encodeModel(graph).finish(), {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const feeds = Object.fromEntries(widths.map((k) => [`x${k}`, new ort.Tensor('float32', new Float32Array(k).fill(0.5), [1, k])]));
  for (let i = 0; i < 3; i++) await session.run(feeds);
  const timeMs = async () => {
    const t0 = performance.now();
    await session.run(feeds);
    return performance.now() - t0;
  };
  return { timeMs, bytes: shapes.reduce((a, [k, n]) => a + k * n * 4, 0), dispose: () => session.release() };
}

async function main(): Promise<void> {
  const { values } = benchArgs('engine', {
    threads: { type: 'string', default: '2' }, contexts: { type: 'string', default: '512,2048' }, decode: { type: 'string', default: '32' },
    weights: { type: 'string', default: 'fp32,int8' },
  });
  const threads = Number(values.threads);
  const contexts = values.contexts!.split(',').map(Number);
  const decodeTokens = Number(values.decode);
  const window = 32;

  let t0 = performance.now();
  const spec = randomSpec(QWEN25_05B);
  const fillMs = performance.now() - t0;
  const rows: Row[] = [];
  const buildMs: Record<string, number> = {};
  const floor = await weightStreamFloor(QWEN25_05B, threads);
  const floorSamples: number[] = [];
  const sampleFloor = async (n: number) => { for (let i = 0; i < n; i++) floorSamples.push(await floor.timeMs()); };
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
    const before = floorSamples.length;
    await sampleFloor(8);
    const gen = await seq.generate({ maxTokens: decodeTokens + 1, stop: [] });
    await sampleFloor(8);
    const floorMs = median(floorSamples.slice(before));
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
      'fp32 floor ms/token': floorMs,
      'decode / floor': floorMs / (gen.decodeMs / decodeTokens),
    });
  }
  await session.dispose();
  }
  await floor.dispose();
  printTable(rows);
  const floorMs = median(floorSamples);
  console.log(`fp32 weight-streaming floor: ${(floor.bytes / 1e9).toFixed(2)} GB of weights per token, median ${floorMs.toFixed(1)} ms `
    + `(${(1000 / floorMs).toFixed(1)} tok/s, ${(floor.bytes / floorMs / 1e6).toFixed(0)} GB/s) over ${floorSamples.length} runs`);
  const at512 = rows.find((r) => r.context === 512 && r.weights === 'fp32');
  const targets = at512 ? {
    'prefill >= 120 tok/s at 512': (at512['prefill tok/s'] as number) >= 120,
    'decode >= 30 tok/s at 512': (at512['decode tok/s'] as number) >= 30,
    'attention mode within 25% of plain at 512': (at512['attn-mode / plain'] as number) >= 0.75,
  } : {};
  for (const [k, v] of Object.entries(targets)) console.log(`${v ? 'PASS' : 'MISS'}  ${k} (fp32 weights)`);
  for (const r of rows.filter((r) => r.context === 512 && r.weights !== 'fp32')) {
    console.log(`${(r['decode tok/s'] as number) >= 30 ? 'PASS' : 'MISS'}  decode >= 30 tok/s at 512 (${r.weights} weights)`);
  }
  const path = writeResults('engine', {
    model: 'random weights, Qwen2.5-0.5B shapes', threads, attentionWindow: window, decodeTokens, fillMs, buildMs, rows, targets,
    floor: { bytes: floor.bytes, medianMs: floorMs, samplesMs: floorSamples },
  });
  console.log(`wrote ${path}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
