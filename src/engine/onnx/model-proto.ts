/**
 * ONNX graph description -> ModelProto bytes. Field numbers follow onnx/onnx.proto3:
 *   ModelProto   { ir_version=1, producer_name=2, graph=7, opset_import=8 }
 *   OperatorSetIdProto { domain=1, version=2 }
 *   GraphProto   { node=1, name=2, initializer=5, input=11, output=12 }
 *   NodeProto    { input=1, output=2, name=3, op_type=4, attribute=5, domain=7 }
 *   AttributeProto { name=1, f=2, i=3, s=4, t=5, floats=7, ints=8, type=20 }
 *   TensorProto  { dims=1, data_type=2, name=8, raw_data=9, external_data=13, data_location=14 }
 *   ValueInfoProto { name=1, type=2 } ; TypeProto { tensor_type=1 } ;
 *   TypeProto.Tensor { elem_type=1, shape=2 } ; TensorShapeProto { dim=1 } ; Dimension { dim_value=1, dim_param=2 }
 */
import { ProtoWriter } from './proto.js';

/** ONNX TensorProto.DataType values used by kvwire. */
export const DType = { float: 1, uint8: 2, int8: 3, int32: 6, int64: 7, float16: 10 } as const;
export type DTypeName = keyof typeof DType;

export type AttrValue = number | string | number[] | { floats: number[] } | { float: number };

export interface NodeDef {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
  domain?: string;
  name?: string;
}

/** A dimension is a fixed size or a symbolic name (dynamic). */
export type Dim = number | string;

export interface ValueDef {
  name: string;
  dtype: DTypeName;
  dims: Dim[];
}

export interface InitializerDef {
  name: string;
  dtype: DTypeName;
  dims: number[];
  /** Raw little-endian bytes of the tensor. */
  data: Uint8Array;
}

export interface GraphDef {
  name: string;
  nodes: NodeDef[];
  inputs: ValueDef[];
  outputs: ValueDef[];
  initializers: InitializerDef[];
  opsets: Record<string, number>;
}

/** Where initializer bytes go: inside the protobuf, or in a side file at the given offsets. */
export type ExternalPlacement = Map<string, { location: string; offset: number; length: number }>;

export function encodeModel(graph: GraphDef, external?: ExternalPlacement): ProtoWriter {
  const g = new ProtoWriter();
  for (const n of graph.nodes) g.message(1, encodeNode(n));
  g.string(2, graph.name);
  for (const t of graph.initializers) g.message(5, encodeTensor(t, external?.get(t.name)));
  for (const v of graph.inputs) g.message(11, encodeValueInfo(v));
  for (const v of graph.outputs) g.message(12, encodeValueInfo(v));

  const m = new ProtoWriter();
  m.int(1, 10); // IR version 10 (ONNX 1.16+); enough for the opsets below.
  m.string(2, 'kvwire');
  m.message(7, g);
  for (const [domain, version] of Object.entries(graph.opsets)) {
    m.message(8, new ProtoWriter().string(1, domain).int(2, version));
  }
  return m;
}

function encodeNode(n: NodeDef): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.op);
  for (const [name, value] of Object.entries(n.attrs ?? {})) w.message(5, encodeAttr(name, value));
  if (n.domain) w.string(7, n.domain);
  return w;
}

function encodeAttr(name: string, value: AttrValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: use {float: x} for float values`);
    return w.int(3, value).int(20, 2);
  }
  if (typeof value === 'string') return w.string(4, value).int(20, 3);
  if (Array.isArray(value)) return w.packedInts(8, value).int(20, 7);
  if ('float' in value) return w.float(2, value.float).int(20, 1);
  return w.packedFloats(7, value.floats).int(20, 6);
}

function encodeTensor(t: InitializerDef, ext?: { location: string; offset: number; length: number }): ProtoWriter {
  const w = new ProtoWriter().packedInts(1, t.dims).int(2, DType[t.dtype]).string(8, t.name);
  if (!ext) return w.bytes(9, t.data);
  for (const [k, v] of [['location', ext.location], ['offset', String(ext.offset)], ['length', String(ext.length)]]) {
    w.message(13, new ProtoWriter().string(1, k).string(2, v));
  }
  return w.int(14, 1);
}

function encodeValueInfo(v: ValueDef): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) {
    shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  }
  const tensorType = new ProtoWriter().int(1, DType[v.dtype]).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}
