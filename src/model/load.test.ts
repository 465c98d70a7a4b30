// Bad checkpoints must fail with a typed error naming the file and the field, before any graph is built.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { KvwireError, type KvwireErrorCode } from '../errors.js';
import { writeTinyHfFolder } from '../test-support/tiny-model.js';
import { encodeSafetensors, readSafetensorsHeader } from './safetensors.js';
import { fingerprint, loadModel } from './load.js';
import { repoRoot } from '../util/data.js';

function expectError(fn: () => unknown, code: KvwireErrorCode, ...mentions: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof KvwireError, `expected a KvwireError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const m of mentions) assert.ok(e.message.includes(m), `message "${e.message}" should mention ${m}`);
    return true;
  });
}

const editConfig = (dir: string, edit: (c: Record<string, unknown>) => void) => {
  const file = join(dir, 'config.json');
  const c = JSON.parse(readFileSync(file, 'utf8'));
  edit(c);
  writeFileSync(file, JSON.stringify(c));
};

test('a tiny HF folder loads, and its fingerprint is stable and weight-sensitive', () => {
  const a = writeTinyHfFolder({ seed: 1 });
  const b = writeTinyHfFolder({ seed: 1 });
  const c = writeTinyHfFolder({ seed: 2 });
  const fa = fingerprint(loadModel(a));
  assert.equal(fa.family, 'llama');
  assert.match(fa.id, /^[0-9a-f]{16}$/);
  assert.equal(fingerprint(loadModel(b)).id, fa.id);
  assert.notEqual(fingerprint(loadModel(c)).id, fa.id);
  assert.equal(fingerprint(loadModel(c)).tokenizerDigest, fa.tokenizerDigest);
});

test('missing model folder, config and weights file', () => {
  expectError(() => loadModel('/nonexistent/model'), 'FILE_NOT_FOUND', '/nonexistent/model');
  const dir = writeTinyHfFolder();
  rmSync(join(dir, 'model.safetensors'));
  expectError(() => loadModel(dir), 'FILE_NOT_FOUND', 'model.safetensors');
  const dir2 = writeTinyHfFolder();
  rmSync(join(dir2, 'config.json'));
  expectError(() => loadModel(dir2), 'FILE_NOT_FOUND', 'config.json');
});

test('a truncated weights file', () => {
  const dir = writeTinyHfFolder();
  const file = join(dir, 'model.safetensors');
  const size = readFileSync(file).length;
  truncateSync(file, size - 100);
  expectError(() => loadModel(dir), 'FILE_TRUNCATED', 'model.safetensors', 'tensor');
  truncateSync(file, 5);
  expectError(() => loadModel(dir), 'FILE_TRUNCATED', 'model.safetensors');
});

test('a truncated llama2.c checkpoint', () => {
  const dir = writeTinyHfFolder();
  const file = join(dir, 'model.bin');
  const header = new Int32Array([64, 172, 5, 8, 4, 512, 512]);
  writeFileSync(file, Buffer.concat([Buffer.from(header.buffer), Buffer.alloc(1000)]));
  expectError(() => loadModel(file), 'FILE_TRUNCATED', 'model.bin', 'header implies');
});

test('an unknown architecture', () => {
  const dir = writeTinyHfFolder();
  editConfig(dir, (c) => { c.model_type = 'mamba'; });
  expectError(() => loadModel(dir), 'UNKNOWN_ARCHITECTURE', 'config.json', 'mamba');
});

test('a config field of the wrong kind', () => {
  const dir = writeTinyHfFolder();
  editConfig(dir, (c) => { c.num_hidden_layers = 'two'; });
  expectError(() => loadModel(dir), 'BAD_CONFIG', 'num_hidden_layers');
  const dir2 = writeTinyHfFolder();
  editConfig(dir2, (c) => { c.rope_scaling = { rope_type: 'yarn', factor: 4 }; });
  expectError(() => loadModel(dir2), 'BAD_CONFIG', 'yarn');
});

test('a tensor of the wrong shape, a missing tensor, and a wrong dtype', () => {
  const dir = writeTinyHfFolder();
  editConfig(dir, (c) => { c.intermediate_size = 50; });
  expectError(() => loadModel(dir), 'TENSOR_SHAPE', 'model.safetensors', 'model.layers.0.mlp.gate_proj.weight', '[50,32]');

  const dir2 = writeTinyHfFolder();
  editConfig(dir2, (c) => { c.num_hidden_layers = 3; });
  expectError(() => loadModel(dir2), 'TENSOR_MISSING', 'model.layers.2.input_layernorm.weight');

  const dir3 = writeTinyHfFolder();
  const file = join(dir3, 'model.safetensors');
  const infos = readSafetensorsHeader(file);
  const tensors: Parameters<typeof encodeSafetensors>[0] = {};
  for (const [name, info] of infos) {
    const raw = readFileSync(file).subarray(info.offset, info.offset + info.byteLength);
    tensors[name] = name === 'model.norm.weight'
      ? { dtype: 'I32', shape: info.shape, data: new Uint8Array(raw) }
      : { dtype: info.dtype, shape: info.shape, data: new Uint8Array(raw) };
  }
  writeFileSync(file, encodeSafetensors(tensors));
  expectError(() => loadModel(dir3), 'TENSOR_DTYPE', 'model.safetensors', 'model.norm.weight', 'I32');
});

test('a corrupt safetensors header', () => {
  const dir = writeTinyHfFolder();
  const file = join(dir, 'model.safetensors');
  const bytes = readFileSync(file);
  bytes[8] = 0x78; // the header's opening '{' becomes 'x': not JSON
  writeFileSync(file, bytes);
  expectError(() => loadModel(dir), 'BAD_FORMAT', 'model.safetensors');
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(2n ** 40n, 0);
  writeFileSync(file, huge);
  expectError(() => loadModel(dir), 'BAD_FORMAT', 'cap');
});

test('a tokenizer that does not fit the vocabulary', () => {
  const dir = writeTinyHfFolder({ vocabSize: 64, tokenizerSize: 80 });
  expectError(() => loadModel(dir), 'TOKENIZER_MISMATCH', 'tokenizer.json', '79', '64');
});

test('a llama2.c tokenizer with fewer or more tokens than the model', async () => {
  const { loadLlama2cTokenizer } = await import('./llama2c.js');
  const dir = writeTinyHfFolder();
  const file = join(dir, 'tok4.bin');
  const piece = (s: string) => {
    const b = Buffer.alloc(8 + s.length);
    b.writeFloatLE(0, 0);
    b.writeInt32LE(s.length, 4);
    b.write(s, 8, 'latin1');
    return b;
  };
  writeFileSync(file, Buffer.concat([Buffer.from(new Int32Array([4]).buffer), piece('a'), piece('b'), piece('c')]));
  expectError(() => loadLlama2cTokenizer(file, 4), 'TOKENIZER_MISMATCH', 'tok4.bin', '3 tokens');
  expectError(() => loadLlama2cTokenizer(file, 2), 'TOKENIZER_MISMATCH', 'more tokens');
});

test('decoding no tokens gives the empty string (a generation that stops at once)', () => {
  const { tokenizer } = loadModel(join(repoRoot, 'fixtures', 'qwen3'));
  assert.equal(tokenizer.decode([]), '');
  assert.equal(tokenizer.decode(tokenizer.encode('hello world')), 'hello world');
});
