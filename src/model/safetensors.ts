/**
 * safetensors reader: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {...}}`, then the data.
 * Untrusted bytes are validated before anything is allocated: header size cap, known dtypes,
 * in-bounds and exactly-sized offsets (the checks the safetensors format itself prescribes).
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { KvwireError } from '../errors.js';
import { bf16ArrayToFloat, halfArrayToFloat } from '../util/fp16.js';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32';
const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4 };
const MAX_HEADER = 100 * 1024 * 1024;

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  byteLength: number;
  file: string;
}

/** Reads and validates a safetensors header; the data stays on disk until `readTensor`. */
export function readSafetensorsHeader(file: string): Map<string, TensorInfo> {
  if (!existsSync(file)) throw new KvwireError('FILE_NOT_FOUND', `weights file not found: ${file}`, { path: file });
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw new KvwireError('FILE_TRUNCATED', `${file}: ${size} bytes, too short for a safetensors header`, { path: file });
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > MAX_HEADER) {
      throw new KvwireError('BAD_FORMAT', `${file}: header length ${headerLen} exceeds the ${MAX_HEADER}-byte cap`, { path: file });
    }
    if (8 + headerLen > size) {
      throw new KvwireError('FILE_TRUNCATED', `${file}: header says ${headerLen} bytes but the file has ${size - 8}`, { path: file });
    }
    const headerBuf = Buffer.alloc(headerLen);
    readSync(fd, headerBuf, 0, headerLen, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(headerBuf.toString('utf8'));
    } catch (cause) {
      throw new KvwireError('BAD_FORMAT', `${file}: safetensors header is not valid JSON`, { path: file, cause });
    }
    const dataStart = 8 + headerLen;
    const tensors = new Map<string, TensorInfo>();
    for (const [name, raw] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const where = `${file}: tensor ${name}`;
      if (typeof entry.dtype !== 'string' || !(entry.dtype in BYTES)) {
        throw new KvwireError('TENSOR_DTYPE', `${where} has dtype ${String(entry.dtype)}; kvwire reads F32, F16, BF16, I64, I32`, { path: file });
      }
      const dtype = entry.dtype as SafetensorsDtype;
      const shape = entry.shape;
      const offs = entry.data_offsets;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0) ||
          !Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
        throw new KvwireError('BAD_FORMAT', `${where} has a malformed shape or data_offsets`, { path: file });
      }
      const count = shape.reduce((a: number, b: number) => a * b, 1);
      const byteLength = offs[1] - offs[0];
      if (!Number.isSafeInteger(count * BYTES[dtype]) || byteLength !== count * BYTES[dtype]) {
        throw new KvwireError('BAD_FORMAT', `${where}: shape [${shape}] of ${dtype} needs ${count * BYTES[dtype]} bytes but data_offsets span ${byteLength}`, { path: file });
      }
      if (dataStart + offs[1] > size) {
        throw new KvwireError('FILE_TRUNCATED', `${where} ends at byte ${dataStart + offs[1]} but the file has ${size} bytes`, { path: file });
      }
      tensors.set(name, { name, dtype, shape, offset: dataStart + offs[0], byteLength, file });
    }
    return tensors;
  } finally {
    closeSync(fd);
  }
}

/** Reads one floating-point tensor as float32 (fp16 and bf16 are widened exactly). */
export function readTensorAsFloat32(info: TensorInfo): Float32Array {
  if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') {
    throw new KvwireError('TENSOR_DTYPE', `${info.file}: tensor ${info.name} is ${info.dtype}, expected a float type (F32, F16, BF16)`, { path: info.file });
  }
  const raw = readBytes(info);
  const n = info.byteLength / BYTES[info.dtype];
  if (info.dtype === 'F32') return new Float32Array(raw.buffer, raw.byteOffset, n);
  const halves = new Uint16Array(raw.buffer, raw.byteOffset, n);
  return info.dtype === 'F16' ? halfArrayToFloat(halves) : bf16ArrayToFloat(halves);
}

/** Reads any tensor's raw bytes into a fresh, aligned buffer. */
export function readBytes(info: TensorInfo): Uint8Array {
  const out = new Uint8Array(info.byteLength);
  const fd = openSync(info.file, 'r');
  try {
    let done = 0;
    while (done < out.length) {
      const n = readSync(fd, out, done, Math.min(out.length - done, 1 << 30), info.offset + done);
      if (n === 0) throw new KvwireError('FILE_TRUNCATED', `${info.file}: tensor ${info.name} cut short`, { path: info.file });
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** Writes tensors as a safetensors file (used by tests and tools). Keys are sorted like the reference. */
export function encodeSafetensors(tensors: Record<string, { dtype: SafetensorsDtype; shape: number[]; data: Uint8Array }>,
  metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align data to 8 bytes
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let o = 8 + headerBytes.length;
  for (const name of names) {
    out.set(tensors[name].data, o);
    o += tensors[name].data.length;
  }
  return out;
}
