import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../util/data.js';
import { CARD_HEADER, CHUNK_HEADER, KIND, LAYOUT, PLAN_HEADER, SECTION_HEADER, SPEC_ENTRY, kindName, type Field } from './layout.js';

// docs/cachecard.md is the public contract; its struct tables must say what layout.ts does.
const doc = readFileSync(join(repoRoot, 'docs', 'cachecard.md'), 'utf8');
const row = (f: Field) => `| ${f.offset} | ${f.size} | ${typeof f.type === 'number' ? `u8[${f.type}]` : f.type} | ${f.name} | ${f.doc} |`;

describe('docs/cachecard.md matches src/card/layout.ts', () => {
  for (const s of [CARD_HEADER, SECTION_HEADER, LAYOUT, PLAN_HEADER, SPEC_ENTRY, CHUNK_HEADER]) {
    it(`${s.name} (${s.size} bytes)`, () => {
      assert.ok(doc.includes(`${s.name} (${s.size} bytes)`), `no heading "${s.name} (${s.size} bytes)"`);
      for (const f of s.fields) assert.ok(doc.includes(row(f)), `missing or different row: ${row(f)}`);
    });
  }
  it('section kinds', () => {
    for (const [name, kind] of Object.entries(KIND)) {
      assert.equal(kindName(kind), name);
      assert.ok(doc.includes(`| 0x${kind.toString(16).toUpperCase().padStart(4, '0').replace('X', 'x')} | ${name} |`), `kind ${name}`);
    }
  });
});
