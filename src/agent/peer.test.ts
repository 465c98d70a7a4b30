import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tinyConfig } from '../test-support/tiny-model.js';
import { createLlamaPeer, writeRandomQwen2Gguf } from './llamacpp-peer.js';

describe('llama.cpp peer (node-llama-cpp)', () => {
  it('loads the random qwen2 GGUF it writes, and hands a context over by state file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvwire-peer-'));
    try {
      const config = tinyConfig({ family: 'qwen2', qkvBias: true, hiddenSize: 64, heads: 4, kvHeads: 2, headDim: 16, intermediateSize: 128, vocabSize: 320, maxPositions: 256, ropeTheta: 1e6 });
      const path = writeRandomQwen2Gguf(join(dir, 'tiny.gguf'), config);
      const peer = await createLlamaPeer(path, { contextSize: 64, threads: 1 });
      try {
        const r = await peer.handoff(Array.from({ length: 20 }, (_, i) => 260 + i), [270, 271, 272], join(dir, 'state.bin'));
        assert.ok(r.stateBytes > 20 * 2 * config.layers * config.kvHeads * config.headDim * 2, `state of ${r.stateBytes} bytes holds the f16 K/V of 20 tokens`);
        assert.ok(r.firstTokenMs >= 0 && r.loadMs >= 0);
      } finally {
        await peer.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
