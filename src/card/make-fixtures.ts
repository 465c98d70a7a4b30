/**
 * Writes the card's committed test files:
 *   node dist/card/make-fixtures.js            -> src/card/attacks/*.card + manifest.json
 *   node dist/card/make-fixtures.js --golden   -> also src/card/testdata/golden-v1.card
 * The golden card must not change silently: regenerate it only with a format version bump (and
 * update the digests in golden.test.ts). Attack files are made from the golden card's content.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { KvwireErrorCode } from '../errors.js';
import { encodeCard, type EncodedCard } from './encode.js';
import { ATTACKS_DIR, GOLDEN_CARD, OTHER_MODEL, TEST_KEY, TEST_MODEL, goldenCache } from './fixtures.js';
import { CARD_HEADER, KIND, LAYOUT, PLAN_HEADER, SPEC_ENTRY, readStruct, writeStruct } from './layout.js';
import { presetPrecision } from './precision.js';
import { reassemble, splitCard, type RawSection } from './raw.js';

/** The golden card: two precision classes, two token blocks, META, SCORES, signed. */
export function goldenCard(): EncodedCard {
  const cache = goldenCache();
  return encodeCard(cache, {
    model: TEST_MODEL, precision: presetPrecision('int4', cache.length, 2), tokenBlock: 4, meta: { hops: 1, note: 'golden' },
    scores: Float32Array.from({ length: cache.length }, (_, t) => 0.5 + t), key: TEST_KEY,
  });
}

export interface Attack {
  file: string;
  /** The error a receiver must give (null: a valid card that must be accepted). */
  code: KvwireErrorCode | null;
  /** Decoder options: 'model' expects TEST_MODEL, 'key' requires TEST_KEY. */
  expect: Array<'model' | 'key'>;
  why: string;
}

const u8 = (b: Uint8Array) => b;

function base(options: { signed?: boolean } = {}): EncodedCard {
  const cache = goldenCache();
  return encodeCard(cache, { model: TEST_MODEL, precision: presetPrecision('int4', cache.length), meta: { hops: 1 }, key: options.signed ? TEST_KEY : undefined });
}

/** Edits one section of the base card and rebuilds hashes and digest around it. */
function editSection(kind: number, edit: (body: Uint8Array, s: RawSection) => Uint8Array, nth = 0): Uint8Array {
  const { sections } = splitCard(base().bytes);
  const target = sections.filter((s) => s.kind === kind)[nth];
  target.body = edit(target.body.slice(), target);
  return reassemble(sections).bytes;
}

/** Rewrites header fields and the header hash (the digest is left stale: the header check comes first). */
function editHeader(edit: (bytes: Uint8Array, view: DataView) => void): Uint8Array {
  const bytes = base().bytes.slice();
  edit(bytes, new DataView(bytes.buffer));
  bytes.set(createHash('sha256').update(bytes.subarray(0, 32)).digest(), 32);
  return bytes;
}

export function attacks(): Array<Attack & { bytes: Uint8Array }> {
  const b = base().bytes;
  const list: Array<Attack & { bytes: Uint8Array }> = [];
  const add = (file: string, code: KvwireErrorCode | null, why: string, bytes: Uint8Array, expect: Attack['expect'] = []) =>
    list.push({ file, code, why, bytes, expect });

  add('bad-magic.card', 'CARD_CORRUPT', 'a JSON file, not a card', new TextEncoder().encode('{"not": "a card"}\n'.repeat(8)));
  add('future-major-version.card', 'CARD_UNSUPPORTED', 'versionMajor 2', editHeader((_, v) => v.setUint16(8, 2, true)));
  add('unknown-header-flag.card', 'CARD_UNSUPPORTED', 'header flag bit 1 set (meaning unknown to v1)', editHeader((_, v) => v.setUint32(16, 2, true)));
  add('total-length-huge.card', 'CARD_LIMIT', 'totalLength 2^40: over the receiver cap, refused before reading on', editHeader((_, v) => v.setBigUint64(24, 2n ** 40n, true)));
  add('total-length-u64-max.card', 'CARD_CORRUPT', 'totalLength 2^64 - 1 (beyond 2^53)', editHeader((_, v) => v.setBigUint64(24, 2n ** 64n - 1n, true)));
  add('section-count-huge.card', 'CARD_LIMIT', 'sectionCount 2^31', editHeader((_, v) => v.setUint32(20, 2 ** 31, true)));
  add('header-hash-wrong.card', 'CARD_CORRUPT', 'a header byte changed without rehashing', (() => { const x = b.slice(); x[20] ^= 1; return x; })());
  add('section-length-past-end.card', 'CARD_CORRUPT', 'MODEL section length 2^50 (runs past the card)',
    (() => { const x = b.slice(); new DataView(x.buffer).setBigUint64(CARD_HEADER.size + 8, 2n ** 50n, true); return x; })());
  add('huge-layout.card', 'CARD_LIMIT', 'LAYOUT claims 4096 layers x 1024 heads x 2^24 tokens x 8192 dims (valid hashes): refused before allocating',
    editSection(KIND.LAYOUT, (body) => {
      const l = readStruct(LAYOUT, body);
      writeStruct(LAYOUT, { ...l, layers: 4096, kvHeads: 1024, headDim: 8192, tokenCount: 2 ** 24, nextPosition: 2 ** 24, layerGroup: 4096, tokenBlock: 2 ** 24, chunkCount: 1 }, body);
      return body;
    }));
  add('other-model.card', 'CARD_MODEL', 'bound to another model\'s fingerprint',
    encodeCard(goldenCache(), { model: OTHER_MODEL, precision: presetPrecision('int4', 6) }).bytes, ['model']);
  add('wrong-signature.card', 'CARD_SIGNATURE', 'signed with another key',
    encodeCard(goldenCache(), { model: TEST_MODEL, precision: presetPrecision('int4', 6), key: 'not-the-test-key' }).bytes, ['key']);
  add('unsigned-when-key-required.card', 'CARD_SIGNATURE', 'an unsigned card given to a receiver that requires signatures', b, ['key']);
  add('unknown-required-section.card', 'CARD_UNSUPPORTED', 'a section of kind 0x7777 flagged REQUIRED',
    encodeCard(goldenCache(), { model: TEST_MODEL, precision: presetPrecision('int4', 6), extraSections: [{ kind: 0x7777, required: true, body: new Uint8Array(13) }] }).bytes);
  add('unknown-optional-section.card', null, 'a section of kind 0x7778 not REQUIRED: skipped, card accepted',
    encodeCard(goldenCache(), { model: TEST_MODEL, precision: presetPrecision('int4', 6), extraSections: [{ kind: 0x7778, required: false, body: new Uint8Array(13) }] }).bytes);
  const flipped = b.slice();
  flipped[b.length - 200] ^= 0x10;
  add('bit-flip-in-chunk.card', 'CARD_CORRUPT', 'one payload bit flipped', flipped);
  add('truncated.card', 'CARD_CORRUPT', 'the first half of a card', b.slice(0, b.length >> 1));
  add('trailing-bytes.card', 'CARD_CORRUPT', 'bytes after END', Uint8Array.from([...b, 0, 0, 0, 0, 0, 0, 0, 0]));
  add('nan-scale.card', 'CARD_CORRUPT', 'a NaN fp16 scale in a chunk (valid hashes)',
    editSection(KIND.CHUNK, (body) => { new DataView(body.buffer).setUint16(24 + 24, 0x7e00, true); return body; }));
  add('positions-not-increasing.card', 'CARD_CORRUPT', 'TOKENS positions 5, 8, 8, ... (valid hashes)',
    editSection(KIND.TOKENS, (body) => { new DataView(body.buffer).setInt32(4 * 6 + 8, 8, true); return body; }));
  add('position-past-next.card', 'CARD_CORRUPT', 'a position at or beyond LAYOUT.nextPosition (valid hashes)',
    editSection(KIND.TOKENS, (body) => { new DataView(body.buffer).setInt32(4 * 11, 10 ** 6, true); return body; }));
  add('chunks-swapped.card', 'CARD_CORRUPT', 'chunks 0 and 1 swapped (valid hashes and digest)', (() => {
    const { sections } = splitCard(b);
    const i = sections.findIndex((s) => s.kind === KIND.CHUNK);
    [sections[i], sections[i + 1]] = [sections[i + 1], sections[i]];
    return reassemble(sections).bytes;
  })());
  add('missing-chunk.card', 'CARD_CORRUPT', 'the last chunk left out (counts rebuilt)', (() => {
    const { sections } = splitCard(b);
    const last = sections.map((s) => s.kind).lastIndexOf(KIND.CHUNK);
    return reassemble(sections.filter((_, i) => i !== last)).bytes;
  })());
  add('chunk-length-wrong.card', 'CARD_CORRUPT', 'a chunk body 8 bytes longer than the layout gives (valid hashes)',
    editSection(KIND.CHUNK, (body) => Uint8Array.from([...body, 1, 2, 3, 4, 5, 6, 7, 8])));
  add('plan-index-out-of-range.card', 'CARD_CORRUPT', 'a layer assigned quantizer 9 of a 2-entry table',
    editSection(KIND.PLAN, (body) => { body[PLAN_HEADER.size + SPEC_ENTRY.size * readStruct(PLAN_HEADER, body).specCount] = 9; return body; }));
  add('unknown-format-code.card', 'CARD_UNSUPPORTED', 'quantizer format code 9 (not in v1)',
    editSection(KIND.PLAN, (body) => { body[PLAN_HEADER.size] = 9; return body; }));
  add('bad-group.card', 'CARD_CORRUPT', 'int4 per-group with group 3, which does not divide head dim 8',
    editSection(KIND.PLAN, (body) => { body.set([4, 2, 4, 0, 3, 0, 0, 0], PLAN_HEADER.size); return body; }));
  add('digest-wrong.card', 'CARD_CORRUPT', 'END digest zeroed, END section rehashed', (() => {
    const { sections } = splitCard(b);
    const end = sections[sections.length - 1];
    end.body = new Uint8Array(end.body.length);
    const x = reassemble(sections.slice(0, -1)).bytes;
    // reassemble recomputed END; zero its digest and rehash END's own section hash.
    const at = x.length - 48 - 32;
    x.fill(0, at + 48, at + 80);
    x.set(createHash('sha256').update(x.subarray(at, at + 16)).update(x.subarray(at + 48, at + 80)).digest(), at + 16);
    return x;
  })());
  add('meta-not-json.card', 'CARD_CORRUPT', 'META holding bytes that are not JSON (valid hashes)',
    editSection(KIND.META, (body) => u8(new TextEncoder().encode('{"hops": 1'))));
  return list;
}

function write(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  if (process.argv.includes('--golden')) {
    write(GOLDEN_CARD, goldenCard().bytes);
    console.log(`wrote ${GOLDEN_CARD}`);
  }
  const list = attacks();
  for (const a of list) write(join(ATTACKS_DIR, a.file), a.bytes);
  const manifest = list.map(({ file, code, expect, why }) => ({ file, code, expect, why }));
  writeFileSync(join(ATTACKS_DIR, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  console.log(`wrote ${list.length} attack cards to ${ATTACKS_DIR}`);
}
