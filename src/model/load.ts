/**
 * Checkpoints -> ModelSpec. A ModelSpec is what the engine builds graphs from: the config, every
 * weight as float32 (shapes checked against the config), the tokenizer, and a fingerprint.
 *
 *   loadModel('path/to/hf-folder')         config.json + model.safetensors | model.safetensors.index.json + tokenizer.json
 *   loadModel('path/to/stories260K.bin')   llama2.c checkpoint; tokenizer tok<vocab>.bin beside it (or `tokenizer`)
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { KvwireError } from '../errors.js';
import { type ModelConfig, parseHfConfig } from './config.js';
import { loadLlama2cCheckpoint, loadLlama2cTokenizer } from './llama2c.js';
import { readSafetensorsHeader, readTensorAsFloat32, type TensorInfo } from './safetensors.js';
import { loadHfTokenizer, type TextTokenizer } from './tokenizer.js';
import { checkWeightShapes, expectedWeights, type WeightMap } from './weights.js';

export interface ModelSpec {
  config: ModelConfig;
  weights: WeightMap;
  tokenizer: TextTokenizer;
  /** The folder or file it was loaded from ("<memory>" for models built in-process). */
  source: string;
  format: 'hf' | 'llama2c' | 'memory';
}

export interface ModelFingerprint {
  family: string;
  /** layers x heads/kvHeads x headDim, hidden, intermediate, vocab. */
  shape: string;
  /** sha256 over every weight (name, dims, float32 bytes) in canonical order. */
  weightsDigest: string;
  tokenizerDigest: string;
  /** A short id: the first 16 hex digits of sha256(family, shape, both digests). */
  id: string;
}

export interface LoadOptions {
  /** llama2.c only: the tokenizer file (default: tok<vocab>.bin beside the checkpoint). */
  tokenizer?: string;
}

export function loadModel(path: string, options: LoadOptions = {}): ModelSpec {
  const p = resolve(path);
  if (!existsSync(p)) throw new KvwireError('FILE_NOT_FOUND', `model not found: ${p}`, { path: p });
  if (statSync(p).isDirectory()) return loadHfFolder(p);
  if (p.endsWith('.bin')) {
    const { config, weights } = loadLlama2cCheckpoint(p);
    const tokFile = options.tokenizer ?? join(dirname(p), `tok${config.vocabSize}.bin`);
    const tokenizer = loadLlama2cTokenizer(tokFile, config.vocabSize);
    return { config, weights, tokenizer, source: p, format: 'llama2c' };
  }
  throw new KvwireError('BAD_FORMAT', `${p}: expected a Hugging Face model folder or a llama2.c .bin checkpoint`, { path: p });
}

function loadHfFolder(dir: string): ModelSpec {
  const configFile = join(dir, 'config.json');
  if (!existsSync(configFile)) throw new KvwireError('FILE_NOT_FOUND', `${dir}: no config.json in the model folder`, { path: configFile });
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(configFile, 'utf8'));
  } catch (cause) {
    throw new KvwireError('BAD_CONFIG', `${configFile}: not valid JSON`, { path: configFile, cause });
  }
  const config = parseHfConfig(raw, configFile);
  const tensors = indexTensors(dir);
  const where = (name: string) => tensors.get(name)?.file ?? dir;
  checkWeightShapes(config, (name) => tensors.get(name)?.shape, tensors.size ? where('model.embed_tokens.weight') : dir);
  const weights: WeightMap = new Map();
  for (const { name } of expectedWeights(config)) weights.set(name, readTensorAsFloat32(tensors.get(name)!));
  const tokenizer = loadHfTokenizer(join(dir, 'tokenizer.json'), join(dir, 'tokenizer_config.json'),
    { bos: config.bosTokenId, eos: config.eosTokenIds });
  checkTokenizerFits(tokenizer, config, join(dir, 'tokenizer.json'));
  if (!config.eosTokenIds.length) config.eosTokenIds = [...tokenizer.eosIds];
  return { config, weights, tokenizer, source: dir, format: 'hf' };
}

/** All tensors of the folder, from model.safetensors or the shards listed in its index. */
function indexTensors(dir: string): Map<string, TensorInfo> {
  const single = join(dir, 'model.safetensors');
  const indexFile = join(dir, 'model.safetensors.index.json');
  if (existsSync(single)) return readSafetensorsHeader(single);
  if (!existsSync(indexFile)) {
    throw new KvwireError('FILE_NOT_FOUND', `${dir}: no model.safetensors or model.safetensors.index.json`, { path: single });
  }
  let index: { weight_map?: Record<string, string> };
  try {
    index = JSON.parse(readFileSync(indexFile, 'utf8'));
  } catch (cause) {
    throw new KvwireError('BAD_FORMAT', `${indexFile}: not valid JSON`, { path: indexFile, cause });
  }
  if (!index.weight_map || typeof index.weight_map !== 'object') {
    throw new KvwireError('BAD_FORMAT', `${indexFile}: field "weight_map" is missing`, { path: indexFile });
  }
  const all = new Map<string, TensorInfo>();
  for (const shard of new Set(Object.values(index.weight_map))) {
    for (const [name, info] of readSafetensorsHeader(join(dir, shard))) all.set(name, info);
  }
  for (const [name, shard] of Object.entries(index.weight_map)) {
    if (!all.has(name)) {
      throw new KvwireError('TENSOR_MISSING', `${join(dir, shard)}: weight ${name} is listed in the index but not in the shard`, { path: join(dir, shard) });
    }
  }
  return all;
}

function checkTokenizerFits(tok: TextTokenizer, config: ModelConfig, file: string): void {
  if (tok.size > config.vocabSize) {
    throw new KvwireError('TOKENIZER_MISMATCH',
      `${file}: the tokenizer produces ids up to ${tok.size - 1}, but the model's vocab_size is ${config.vocabSize}`, { path: file });
  }
}

const fingerprints = new WeakMap<ModelSpec, ModelFingerprint>();

/** The model's fingerprint (computed once per spec: hashing reads every weight). */
export function fingerprint(spec: ModelSpec): ModelFingerprint {
  const cached = fingerprints.get(spec);
  if (cached) return cached;
  const c = spec.config;
  const shape = `${c.layers}x${c.heads}/${c.kvHeads}x${c.headDim} h${c.hiddenSize} i${c.intermediateSize} v${c.vocabSize}`;
  const h = createHash('sha256');
  for (const { name, dims } of expectedWeights(c)) {
    const w = spec.weights.get(name)!;
    h.update(`${name}:${dims.join(',')};`);
    h.update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
  }
  const weightsDigest = h.digest('hex');
  const tokenizerDigest = spec.tokenizer.digest;
  const id = createHash('sha256').update(`${c.family}|${shape}|${weightsDigest}|${tokenizerDigest}`).digest('hex').slice(0, 16);
  const fp = { family: c.family, shape, weightsDigest, tokenizerDigest, id };
  fingerprints.set(spec, fp);
  return fp;
}
