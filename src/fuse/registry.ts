/**
 * Which fuser serves a (sharer, receiver) pair. A receiver holds fusers for the sharers it can
 * read; a cache from any other sharer is refused with NO_FUSER before anything is decoded, and a
 * fuser is never applied to a model other than the two it was fitted on (fingerprints compared:
 * id, weights and tokenizer digests).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KvwireError } from '../errors.js';
import type { LinearFuser } from './fuser.js';
import { loadFuser } from './io.js';

/** The model identity a card or a loaded model gives (CardModel and ModelFingerprint both fit). */
export interface ModelIdentity {
  id: string;
  weightsDigest: string;
  tokenizerDigest: string;
  family?: string;
}

const same = (a: ModelIdentity, b: ModelIdentity) =>
  a.id === b.id && a.weightsDigest === b.weightsDigest && a.tokenizerDigest === b.tokenizerDigest;

/** The fuser from `sharer` to `receiver` among `fusers`; NO_FUSER naming both models otherwise. */
export function fuserFor(fusers: readonly LinearFuser[], sharer: ModelIdentity, receiver: ModelIdentity): LinearFuser {
  const found = fusers.find((f) => same(f.sharer, sharer) && same(f.receiver, receiver));
  if (found) return found;
  const known = fusers.map((f) => `${f.sharer.family}:${f.sharer.id} -> ${f.receiver.family}:${f.receiver.id}`).join(', ') || 'none';
  throw new KvwireError('NO_FUSER',
    `no fuser maps sharer ${sharer.family ?? 'model'} ${sharer.id} to receiver ${receiver.family ?? 'model'} ${receiver.id} ` +
    `(fusers held: ${known}); fit one with \`kvwire fuse-fit --sharer SHARER --receiver RECEIVER --out FILE\``, { path: sharer.id });
}

/** Throws NO_FUSER unless `fuser` was fitted for exactly this sharer and receiver. */
export function checkFuser(fuser: LinearFuser, sharer: ModelIdentity, receiver: ModelIdentity): void {
  fuserFor([fuser], sharer, receiver);
}

/**
 * Every fuser a receiver holds in a folder: `DIR/<sharer>--<receiver>/fuser.safetensors` (the
 * layout of models/fusers/), either kind. A folder without that file is skipped; a malformed
 * file throws (BAD_FORMAT / TENSOR_SHAPE from loadFuser).
 */
export function loadFusers(dir: string): LinearFuser[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'fuser.safetensors')))
    .map((e) => e.name)
    .sort()
    .map((name) => loadFuser(join(dir, name, 'fuser.safetensors')));
}
