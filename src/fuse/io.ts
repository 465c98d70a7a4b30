/**
 * Fuser files: safetensors with every tensor in float32 and a JSON description in the header's
 * `__metadata__` under "kvwire.fuser" (format version 1).
 *
 *   layers.{l}.group.{g}.keys.weight    (p, q)   W of the key map, y = WT·x + b
 *   layers.{l}.group.{g}.keys.bias      (q)
 *   layers.{l}.group.{g}.values.weight  (p, q)
 *   layers.{l}.group.{g}.values.bias    (q)
 *   layers.{l}.prior.keys               (Hr, Dr) receiver's mean unrotated key per head
 *   layers.{l}.prior.values             (Hr, Dr)
 *   gates                               (Lr)
 *
 * The metadata names both models (fingerprint, shapes, RoPE, BOS), the pairing, alignment, mode,
 * inputs, each layer's sharer layer and head groups, and how the fuser was fitted.
 *
 * Kind "c2c-mlp" (the trained C2C fuser, c2c.ts; written by training/c2c/train_c2c.py, any float
 * dtype, fp16 as shipped): per layer no groups, the priors and gates as above, metadata `c2c.hidden`
 * (H), and the projector in PyTorch's (out, in) layout, p = 2·Hs·Ds, q = Hr·Dr:
 *
 *   layers.{l}.c2c.in_mean (p)  in_scale (p)  r_scale (2q)  A_s (H, p)  A_r (H, 2q)  a (H)
 *   layers.{l}.c2c.B (H, H)  b (H)  C (2q, H)  S (2q, p)  c (2q)  E (Hr, H)  e (Hr)
 *
 * Loading checks every tensor's shape against the metadata before using it.
 */
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { KvwireError, ensure } from '../errors.js';
import { encodeSafetensors, readSafetensorsHeader, readTensorAsFloat32, type TensorInfo } from '../model/safetensors.js';
import { c2cLayerFromTensors, c2cLayerTensors, c2cTensorShapes } from './c2c.js';
import type { FuserGroup, FuserLayer, FuserModelInfo, LinearFuser } from './fuser.js';
import { FUSER_KINDS, groupInputDim } from './fuser.js';

export const FUSER_FORMAT_VERSION = 1;
const META_KEY = 'kvwire.fuser';

interface FuserMeta {
  format: 'kvwire-fuser';
  version: number;
  kind: LinearFuser['kind'];
  sharer: FuserModelInfo;
  receiver: FuserModelInfo;
  pairing: LinearFuser['pairing'];
  alignment: LinearFuser['alignment'];
  mode: LinearFuser['mode'];
  inputs: LinearFuser['inputs'];
  layers: Array<{ sharerLayer: number; groups: Array<{ receiverHeads: number[]; sharerHeads: number[] }> }>;
  /** Kind 'c2c-mlp': the projector's hidden width (and informational fields). */
  c2c?: { hidden: number } & Record<string, unknown>;
  fit: Record<string, unknown>;
}

const f32 = (a: ArrayLike<number>) => new Uint8Array(Float32Array.from(a).buffer);

/** The fuser as safetensors bytes. */
export function encodeFuser(fuser: LinearFuser): Uint8Array {
  const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Uint8Array }> = {};
  const { receiver } = fuser;
  fuser.layers.forEach((L, l) => {
    L.groups.forEach((g, gi) => {
      for (const kind of ['keys', 'values'] as const) {
        const m = g[kind];
        tensors[`layers.${l}.group.${gi}.${kind}.weight`] = { dtype: 'F32', shape: [m.p, m.q], data: f32(m.W) };
        tensors[`layers.${l}.group.${gi}.${kind}.bias`] = { dtype: 'F32', shape: [m.q], data: f32(m.b) };
      }
    });
    tensors[`layers.${l}.prior.keys`] = { dtype: 'F32', shape: [receiver.kvHeads, receiver.headDim], data: f32(L.priorKeys) };
    tensors[`layers.${l}.prior.values`] = { dtype: 'F32', shape: [receiver.kvHeads, receiver.headDim], data: f32(L.priorValues) };
    if (L.c2c) {
      const shapes = c2cTensorShapes(L.c2c.hidden, L.c2c.input.p, L.c2c.output.q, receiver.kvHeads);
      for (const [name, t] of Object.entries(c2cLayerTensors(L.c2c))) tensors[`layers.${l}.c2c.${name}`] = { dtype: 'F32', shape: shapes[name], data: f32(t) };
    }
  });
  tensors.gates = { dtype: 'F32', shape: [fuser.layers.length], data: f32(fuser.layers.map((L) => L.gate)) };
  const meta: FuserMeta = {
    format: 'kvwire-fuser', version: FUSER_FORMAT_VERSION, kind: fuser.kind, sharer: fuser.sharer, receiver: fuser.receiver,
    pairing: fuser.pairing, alignment: fuser.alignment, mode: fuser.mode, inputs: fuser.inputs,
    layers: fuser.layers.map((L) => ({ sharerLayer: L.sharerLayer, groups: L.groups.map((g) => ({ receiverHeads: g.receiverHeads, sharerHeads: g.sharerHeads })) })),
    ...(fuser.layers[0]?.c2c ? { c2c: { hidden: fuser.layers[0].c2c.hidden } } : {}),
    fit: fuser.fit,
  };
  return encodeSafetensors(tensors, { [META_KEY]: JSON.stringify(meta) });
}

export function saveFuser(fuser: LinearFuser, file: string): void {
  writeFileSync(file, encodeFuser(fuser));
}

/** The `__metadata__` object of a safetensors file whose header readSafetensorsHeader validated. */
function readMetadata(file: string): Record<string, string> {
  const fd = openSync(file, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const header = Buffer.alloc(Number(len.readBigUInt64LE(0)));
    readSync(fd, header, 0, header.length, 8);
    const meta = (JSON.parse(header.toString('utf8')) as { __metadata__?: Record<string, string> }).__metadata__;
    return meta ?? {};
  } finally {
    closeSync(fd);
  }
}

/** Loads a fuser file, checking its metadata and every tensor's shape; BAD_FORMAT naming the field otherwise. */
export function loadFuser(file: string): LinearFuser {
  const tensors = readSafetensorsHeader(file);
  const raw = readMetadata(file)[META_KEY];
  const bad = (what: string): never => { throw new KvwireError('BAD_FORMAT', `${file}: ${what}`, { path: file }); };
  if (raw === undefined) bad(`no "${META_KEY}" entry in the safetensors __metadata__: not a kvwire fuser`);
  let meta: FuserMeta;
  try {
    meta = JSON.parse(raw) as FuserMeta;
  } catch (cause) {
    throw new KvwireError('BAD_FORMAT', `${file}: "${META_KEY}" metadata is not JSON`, { path: file, cause });
  }
  if (meta.format !== 'kvwire-fuser') bad(`metadata format is ${JSON.stringify(meta.format)}, expected "kvwire-fuser"`);
  if (meta.version !== FUSER_FORMAT_VERSION) {
    throw new KvwireError('BAD_FORMAT', `${file}: fuser format version ${meta.version}; this kvwire reads version ${FUSER_FORMAT_VERSION}`, { path: file });
  }
  if (!(FUSER_KINDS as readonly string[]).includes(meta.kind)) {
    throw new KvwireError('BAD_FORMAT', `${file}: fuser kind ${JSON.stringify(meta.kind)}; this kvwire runs ${FUSER_KINDS.map((k) => `"${k}"`).join(', ')}`, { path: file });
  }
  const isC2C = meta.kind === 'c2c-mlp';
  const hidden = meta.c2c?.hidden;
  if (isC2C && (!Number.isInteger(hidden) || (hidden as number) <= 0)) bad(`metadata c2c.hidden must be a positive integer, got ${JSON.stringify(hidden)}`);
  const { sharer, receiver } = meta;
  for (const [side, m] of [['sharer', sharer], ['receiver', receiver]] as const) {
    for (const k of ['layers', 'kvHeads', 'headDim'] as const) {
      if (!Number.isInteger(m?.[k]) || m[k] <= 0) bad(`metadata ${side}.${k} must be a positive integer, got ${JSON.stringify(m?.[k])}`);
    }
  }
  if (!Array.isArray(meta.layers) || meta.layers.length !== receiver.layers) bad(`metadata has ${meta.layers?.length} layers, the receiver ${receiver.layers}`);
  const read = (name: string, shape: number[]): Float32Array => {
    const info: TensorInfo | undefined = tensors.get(name);
    if (!info) throw new KvwireError('TENSOR_MISSING', `${file}: tensor ${name} is missing`, { path: file });
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new KvwireError('TENSOR_SHAPE', `${file}: tensor ${name} has shape [${info.shape}], expected [${shape}]`, { path: file });
    }
    return readTensorAsFloat32(info);
  };
  const gates = read('gates', [receiver.layers]);
  const layers: FuserLayer[] = meta.layers.map((Lm, l) => {
    if (!Number.isInteger(Lm.sharerLayer) || Lm.sharerLayer < 0 || Lm.sharerLayer >= sharer.layers) bad(`layer ${l}: sharerLayer ${Lm.sharerLayer} is outside 0..${sharer.layers - 1}`);
    const covered = new Set<number>();
    if (isC2C && (!Array.isArray(Lm.groups) || Lm.groups.length !== 0)) bad(`layer ${l}: a c2c-mlp fuser has no head groups`);
    const groups: FuserGroup[] = Lm.groups.map((g, gi) => {
      for (const h of g.receiverHeads) { if (!Number.isInteger(h) || h < 0 || h >= receiver.kvHeads || covered.has(h)) bad(`layer ${l} group ${gi}: receiver head ${h} is out of range or repeated`); covered.add(h); }
      for (const h of g.sharerHeads) if (!Number.isInteger(h) || h < 0 || h >= sharer.kvHeads) bad(`layer ${l} group ${gi}: sharer head ${h} is outside 0..${sharer.kvHeads - 1}`);
      const p = groupInputDim(g.sharerHeads, sharer.headDim, meta.inputs);
      const q = g.receiverHeads.length * receiver.headDim;
      const map = (kind: 'keys' | 'values') => ({
        p, q,
        W: Float64Array.from(read(`layers.${l}.group.${gi}.${kind}.weight`, [p, q])),
        b: Float64Array.from(read(`layers.${l}.group.${gi}.${kind}.bias`, [q])),
      });
      return { receiverHeads: g.receiverHeads, sharerHeads: g.sharerHeads, keys: map('keys'), values: map('values') };
    });
    if (!isC2C && covered.size !== receiver.kvHeads) bad(`layer ${l}: groups cover ${covered.size} of ${receiver.kvHeads} receiver heads`);
    let c2c: FuserLayer['c2c'];
    if (isC2C) {
      const H = hidden as number;
      const p = 2 * sharer.kvHeads * sharer.headDim;
      const q2 = 2 * receiver.kvHeads * receiver.headDim;
      const shapes = c2cTensorShapes(H, p, q2, receiver.kvHeads);
      const t = Object.fromEntries(Object.entries(shapes).map(([name, shape]) => [name, read(`layers.${l}.c2c.${name}`, shape)]));
      c2c = c2cLayerFromTensors(t, H, p, q2, receiver.kvHeads);
    }
    const gate = gates[l];
    ensure(gate >= 0 && gate <= 1, 'BAD_FORMAT', `${file}: gate of layer ${l} is ${gate}, expected [0, 1]`, file);
    return {
      sharerLayer: Lm.sharerLayer, groups, gate,
      priorKeys: read(`layers.${l}.prior.keys`, [receiver.kvHeads, receiver.headDim]),
      priorValues: read(`layers.${l}.prior.values`, [receiver.kvHeads, receiver.headDim]),
      ...(c2c ? { c2c } : {}),
    };
  });
  return { kind: meta.kind, sharer, receiver, pairing: meta.pairing, alignment: meta.alignment, mode: meta.mode, inputs: meta.inputs, layers, fit: meta.fit ?? {} };
}
