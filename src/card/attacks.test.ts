import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KvwireError } from '../errors.js';
import { CardDecoder, type CardDecoderOptions } from './decode.js';
import { ATTACKS_DIR, TEST_KEY, TEST_MODEL } from './fixtures.js';
import type { Attack } from './make-fixtures.js';

const manifest: Attack[] = JSON.parse(readFileSync(join(ATTACKS_DIR, 'manifest.json'), 'utf8'));

/** Feeds the file in pieces of `piece` bytes, as a network would; returns the error code or null. */
function verdict(bytes: Uint8Array, options: CardDecoderOptions, piece: number): string | null {
  const dec = new CardDecoder(options);
  try {
    for (let i = 0; i < bytes.length; i += piece) dec.push(bytes.subarray(i, i + piece));
    dec.finish();
    return null;
  } catch (e) {
    assert.ok(e instanceof KvwireError, `not a KvwireError: ${(e as Error).stack}`);
    return e.code;
  }
}

describe('attacks/: every malicious card is refused with its typed error', () => {
  it('has the files the manifest lists', () => assert.ok(manifest.length >= 20));
  for (const a of manifest) {
    it(`${a.file}: ${a.why} -> ${a.code ?? 'accepted'}`, () => {
      const bytes = new Uint8Array(readFileSync(join(ATTACKS_DIR, a.file)));
      const options: CardDecoderOptions = {
        expectModel: a.expect.includes('model') ? TEST_MODEL : undefined,
        key: a.expect.includes('key') ? TEST_KEY : undefined,
      };
      for (const piece of [bytes.length || 1, 7]) assert.equal(verdict(bytes, options, piece), a.code, `in pieces of ${piece}`);
    });
  }
});
