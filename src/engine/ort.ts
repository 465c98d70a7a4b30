/**
 * The only module that talks to onnxruntime-node: turns a GraphDef into an InferenceSession.
 * Models whose weights pass protobuf's 2 GB limit are written with their weights as ONNX external
 * data in a temporary folder, loaded from there, and the folder is removed once the session holds
 * the weights.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { KvwireError } from '../errors.js';
import { encodeModel, type ExternalPlacement, type GraphDef } from './onnx/model-proto.js';

export { ort };

export interface OrtOptions {
  /** Intra-op threads (default: 2, the size of the machines kvwire targets). */
  threads?: number;
  /** Initializer bytes above which weights go to external data (default 1.5 GiB). */
  externalDataThreshold?: number;
}

const ALIGN = 4096; // page-aligned tensors let onnxruntime map the data file instead of copying it

export async function createOrtSession(graph: GraphDef, options: OrtOptions = {}): Promise<ort.InferenceSession> {
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: options.threads ?? 2,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  const weightBytes = graph.initializers.reduce((a, t) => a + t.data.length, 0);
  const threshold = options.externalDataThreshold ?? 1.5 * 2 ** 30;
  try {
    if (weightBytes <= threshold) {
      return await ort.InferenceSession.create(encodeModel(graph).finish(), sessionOptions);
    }
    const dir = mkdtempSync(join(tmpdir(), 'kvwire-onnx-'));
    try {
      const placement: ExternalPlacement = new Map();
      const fd = openSync(join(dir, 'model.onnx.data'), 'w');
      try {
        let offset = 0;
        for (const t of graph.initializers) {
          if (t.data.length < 1024) continue; // small constants stay inline
          offset = Math.ceil(offset / ALIGN) * ALIGN;
          writeAll(fd, t.data, offset);
          placement.set(t.name, { location: 'model.onnx.data', offset, length: t.data.length });
          offset += t.data.length;
        }
      } finally {
        closeSync(fd);
      }
      const modelFd = openSync(join(dir, 'model.onnx'), 'w');
      try {
        let offset = 0;
        for (const chunk of encodeModel(graph, placement).chunks) offset += writeAll(modelFd, chunk, offset);
      } finally {
        closeSync(modelFd);
      }
      return await ort.InferenceSession.create(join(dir, 'model.onnx'), sessionOptions);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } catch (cause) {
    if (cause instanceof KvwireError) throw cause;
    throw new KvwireError('ENGINE', `onnxruntime could not build a session for ${graph.name}: ${(cause as Error).message}`, { cause });
  }
}

function writeAll(fd: number, data: Uint8Array, position: number): number {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, Math.min(data.length - done, 1 << 30), position + done);
  return done;
}
