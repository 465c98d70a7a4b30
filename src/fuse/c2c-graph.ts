/**
 * The trained C2C projector as one onnxruntime graph (built in TypeScript like src/engine/graph.ts),
 * for the receiver's latency: the same arithmetic as c2cProjectLayer (c2c.ts), every open receiver
 * layer in one run, MLAS matrix products instead of JavaScript loops.
 *
 *   inputs   x.{l} (T, p)   the paired sharer layer's [K̃ heads; V heads] per token, for each layer l
 *   outputs  kv.{l} (T, 2q) Π = prior + w·Δ per token ([keys heads; values heads]), w.{l} (T, Hr)
 *
 * One session per fuser and set of layers, created on first use and kept (WeakMap on the fuser);
 * `releaseC2CGraphs(fuser)` frees them. c2c.test.ts checks it against the loops and PyTorch.
 */
import { ensure } from '../errors.js';
import { createOrtSession, ort } from '../engine/ort.js';
import type { GraphDef, InitializerDef, NodeDef } from '../engine/onnx/model-proto.js';
import { c2cLayerTensors } from './c2c.js';
import { fuserWork, layerMacs, type LinearFuser } from './fuser.js';

const OPSET = 17;

/** The graph of the given receiver layers of a c2c fuser. */
export function buildC2CGraph(fuser: LinearFuser, layers: readonly number[]): GraphDef {
  ensure(fuser.kind === 'c2c-mlp', 'BAD_ARGUMENT', `buildC2CGraph needs a c2c-mlp fuser, got ${fuser.kind}`);
  const { kvHeads: Hr, headDim: Dr } = fuser.receiver;
  const p = 2 * fuser.sharer.kvHeads * fuser.sharer.headDim;
  const q2 = 2 * Hr * Dr;
  const nodes: NodeDef[] = [];
  const inits: InitializerDef[] = [];
  let counter = 0;
  const op = (type: string, inputs: string[], attrs?: NodeDef['attrs'], out = `${type}_${counter++}`): string => {
    nodes.push({ op: type, inputs, outputs: [out], attrs });
    return out;
  };
  const f32 = (name: string, dims: number[], data: Float32Array): string => {
    const copy = Float32Array.from(data);
    inits.push({ name, dtype: 'float', dims, data: new Uint8Array(copy.buffer) });
    return name;
  };
  const ints = (name: string, values: number[]): string => {
    const data = new BigInt64Array(values.map(BigInt));
    inits.push({ name, dtype: 'int64', dims: [values.length], data: new Uint8Array(data.buffer) });
    return name;
  };
  const silu = (x: string) => op('Mul', [x, op('Sigmoid', [x])]);
  const shapeD = ints('shape_d', [-1, 2, Hr, Dr]);
  const shapeW = ints('shape_w', [-1, 1, Hr, 1]);
  const shapeFlat = ints('shape_flat', [-1, q2]);
  const outputs: GraphDef['outputs'] = [];
  for (const l of layers) {
    const L = fuser.layers[l];
    ensure(L?.c2c !== undefined, 'BAD_ARGUMENT', `layer ${l} has no c2c weights`);
    const t = c2cLayerTensors(L.c2c);
    const H = L.c2c.hidden;
    const n = (s: string) => `l${l}.${s}`;
    const xh = op('Mul', [op('Sub', [`x.${l}`, f32(n('in_mean'), [p], t.in_mean)]), f32(n('in_scale'), [p], t.in_scale)]);
    const h1 = silu(op('Gemm', [xh, f32(n('A_s'), [H, p], t.A_s), f32(n('a'), [H], t.a)], { transB: 1 }));
    const h2 = op('Add', [h1, silu(op('Gemm', [h1, f32(n('B'), [H, H], t.B), f32(n('b'), [H], t.b)], { transB: 1 }))]);
    const delta = op('Add', [
      op('Gemm', [h2, f32(n('C'), [q2, H], t.C), f32(n('c'), [q2], t.c)], { transB: 1 }),
      op('Gemm', [xh, f32(n('S'), [q2, p], t.S)], { transB: 1 }),
    ]);
    const w = op('Sigmoid', [op('Gemm', [h2, f32(n('E'), [Hr, H], t.E), f32(n('e'), [Hr], t.e)], { transB: 1 })], undefined, `w.${l}`);
    const prior = new Float32Array(q2);
    prior.set(L.priorKeys, 0);
    prior.set(L.priorValues, q2 / 2);
    const weighted = op('Mul', [op('Reshape', [delta, shapeD]), op('Reshape', [w, shapeW])]);
    op('Add', [op('Reshape', [weighted, shapeFlat]), f32(n('prior'), [q2], prior)], undefined, `kv.${l}`);
    outputs.push({ name: `kv.${l}`, dtype: 'float', dims: ['T', q2] }, { name: `w.${l}`, dtype: 'float', dims: ['T', Hr] });
  }
  return {
    name: 'kvwire-c2c', nodes, initializers: inits, opsets: { '': OPSET },
    inputs: layers.map((l) => ({ name: `x.${l}`, dtype: 'float' as const, dims: ['T', p] })),
    outputs,
  };
}

const sessions = new WeakMap<LinearFuser, Map<string, Promise<ort.InferenceSession>>>();

function sessionFor(fuser: LinearFuser, layers: readonly number[], threads: number): Promise<ort.InferenceSession> {
  let byKey = sessions.get(fuser);
  if (!byKey) sessions.set(fuser, (byKey = new Map()));
  const key = `${layers.join(',')}@${threads}`;
  let s = byKey.get(key);
  if (!s) {
    s = createOrtSession(buildC2CGraph(fuser, layers), { threads });
    byKey.set(key, s);
  }
  return s;
}

/** Frees the onnxruntime sessions held for a fuser. */
export async function releaseC2CGraphs(fuser: LinearFuser): Promise<void> {
  const byKey = sessions.get(fuser);
  sessions.delete(fuser);
  if (byKey) for (const s of byKey.values()) await (await s).release();
}

/** The graph input of layer l from unrotated sharer keys and values (Hs, T, Ds): (T, p) rows. */
export function c2cInputRows(keys: Float32Array, values: Float32Array, Hs: number, T: number, Ds: number): Float32Array {
  const p = 2 * Hs * Ds;
  const x = new Float32Array(T * p);
  for (let h = 0; h < Hs; h++) {
    for (let t = 0; t < T; t++) {
      x.set(keys.subarray((h * T + t) * Ds, (h * T + t + 1) * Ds), t * p + h * Ds);
      x.set(values.subarray((h * T + t) * Ds, (h * T + t + 1) * Ds), t * p + (Hs + h) * Ds);
    }
  }
  return x;
}

/**
 * Π of the given receiver layers through the graph: per layer, keys and values (Hr, T, Dr) and the
 * weights (Hr, T). `inputs(l)` gives the unrotated sharer keys and values of layer l's pair.
 */
export async function c2cProjectGraph(fuser: LinearFuser, layers: readonly number[], T: number,
  inputs: (l: number) => { keys: Float32Array; values: Float32Array }, threads = 1):
  Promise<Map<number, { keys: Float32Array; values: Float32Array; weights: Float32Array }>> {
  const out = new Map<number, { keys: Float32Array; values: Float32Array; weights: Float32Array }>();
  if (layers.length === 0 || T === 0) {
    for (const l of layers) out.set(l, { keys: new Float32Array(0), values: new Float32Array(0), weights: new Float32Array(0) });
    return out;
  }
  for (const l of layers) fuserWork.macs += layerMacs(fuser, l) * T;
  const { kvHeads: Hs, headDim: Ds } = fuser.sharer;
  const { kvHeads: Hr, headDim: Dr } = fuser.receiver;
  const p = 2 * Hs * Ds;
  const q = Hr * Dr;
  const feeds: Record<string, ort.Tensor> = {};
  for (const l of layers) {
    const { keys, values } = inputs(l);
    ensure(keys.length === Hs * T * Ds && values.length === keys.length, 'CACHE_MISMATCH', `layer ${l}: sharer inputs of ${keys.length} floats, expected ${Hs * T * Ds}`);
    feeds[`x.${l}`] = new ort.Tensor('float32', c2cInputRows(keys, values, Hs, T, Ds), [T, p]);
  }
  const session = await sessionFor(fuser, layers, threads);
  const result = await session.run(feeds);
  for (const l of layers) {
    const kv = result[`kv.${l}`].data as Float32Array;
    const w = result[`w.${l}`].data as Float32Array;
    const keys = new Float32Array(Hr * T * Dr);
    const values = new Float32Array(keys.length);
    const weights = new Float32Array(Hr * T);
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < Hr; h++) {
        keys.set(kv.subarray(t * 2 * q + h * Dr, t * 2 * q + (h + 1) * Dr), (h * T + t) * Dr);
        values.set(kv.subarray(t * 2 * q + q + h * Dr, t * 2 * q + q + (h + 1) * Dr), (h * T + t) * Dr);
        weights[h * T + t] = w[t * Hr + h];
      }
    }
    out.set(l, { keys, values, weights });
  }
  return out;
}
