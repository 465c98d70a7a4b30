/**
 * kvwire card inspect FILE: a CacheCard's header, sections and plan, fully verified (hashes,
 * digest, and with --key the HMAC; with --model the model binding). Exit 1 with the typed error
 * when the card is refused.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeCard, kindName } from '../../card/index.js';
import { specLabel as specLabelOf } from '../../quant/index.js';
import { splitCard } from '../../card/raw.js';
import { fingerprint, loadModel } from '../../model/index.js';
import { usageError } from '../errors.js';

export const cardHelp = `kvwire card inspect FILE [--key KEY] [--model PATH]

  Prints a CacheCard's header, sections, layout and precision plan (docs/cachecard.md) after
  verifying every section hash and the digest; --key also checks the HMAC signature, --model
  checks that the card is bound to that model.`;

export async function cardCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { key: { type: 'string' }, model: { type: 'string' } } });
  const [verb, file] = positionals;
  if (verb !== 'inspect' || !file) throw usageError('card: expected "inspect FILE"', cardHelp);
  const bytes = new Uint8Array(readFileSync(file));
  const card = decodeCard(bytes, { key: values.key, expectModel: values.model ? fingerprint(loadModel(values.model)) : undefined });
  const { header, sections } = splitCard(bytes);
  const i = card.info;
  console.log(`${file}: CacheCard ${i.versionMajor}.${i.versionMinor}, ${i.totalLength} bytes, ${i.sectionCount} sections, digest ${card.digest}`);
  console.log(`  signature   ${card.signature}${header.flags & 1 ? '' : ' (unsigned)'}`);
  console.log(`  model       ${i.model.family} ${i.model.shape}, fingerprint ${i.model.id}, tokenizer ${i.model.tokenizerDigest.slice(0, 16)}`);
  console.log(`  layout      ${i.layers} layers x ${i.kvHeads} KV heads x ${i.headDim} dims; ${i.tokenCount} tokens (positions ${card.cache.positions[0] ?? '-'}..${card.cache.positions[i.tokenCount - 1] ?? '-'}), next position ${i.nextPosition}`);
  console.log(`  chunks      ${i.chunkCount} (${i.layerGroup} layer(s) x ${i.tokenBlock} tokens each)`);
  const p = i.precision;
  console.log(`  precision   ${p.assign.length} class(es)${p.classMap ? (p.classMap.perLayer ? ', a class per layer and token' : ', a class per token') : ''}`);
  p.assign.forEach((layers, c) => {
    const distinct = new Set(layers.map(([k, v]) => `keys ${specLabelOf(p.specs[k])}, values ${specLabelOf(p.specs[v])}`));
    console.log(`    class ${c}: ${[...distinct].join(' | ')}`);
  });
  if (card.meta) console.log(`  meta        ${JSON.stringify(card.meta)}`);
  console.log('  sections');
  for (const s of sections) console.log(`    ${String(s.offset).padStart(10)}  ${kindName(s.kind).padEnd(7)} ${s.flags & 1 ? 'required' : 'optional'}  ${s.body.length} bytes`);
  return 0;
}
