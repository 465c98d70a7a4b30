/**
 * The tokenizer interface the engine and agents use, and the Hugging Face tokenizer.json
 * implementation (through @huggingface/tokenizers, offline). llama2.c's tokenizer is in llama2c.ts.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';
import { KvwireError } from '../errors.js';

export interface TextTokenizer {
  /** Encodes text; `addBos` prepends the beginning-of-sequence token when the model has one. */
  encode(text: string, options?: { addBos?: boolean }): number[];
  /** Decodes ids to text; special tokens are dropped; no ids give ''. */
  decode(ids: readonly number[]): string;
  readonly bosId: number | null;
  readonly eosIds: readonly number[];
  /** One more than the largest id the tokenizer can produce. */
  readonly size: number;
  /** sha256 of the tokenizer's source bytes: part of the model fingerprint. */
  readonly digest: string;
}

/** Loads tokenizer.json (+ tokenizer_config.json if present) from a Hugging Face folder. */
export function loadHfTokenizer(file: string, configFile: string | null, ids: { bos: number | null; eos: number[] }): TextTokenizer {
  if (!existsSync(file)) throw new KvwireError('FILE_NOT_FOUND', `tokenizer file not found: ${file}`, { path: file });
  const bytes = readFileSync(file);
  let json: Record<string, unknown>;
  let cfg: Record<string, unknown> = {};
  try {
    json = JSON.parse(bytes.toString('utf8'));
    if (configFile && existsSync(configFile)) cfg = JSON.parse(readFileSync(configFile, 'utf8'));
  } catch (cause) {
    throw new KvwireError('BAD_FORMAT', `${file}: tokenizer JSON does not parse`, { path: file, cause });
  }
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, cfg);
  } catch (cause) {
    throw new KvwireError('BAD_FORMAT', `${file}: not a tokenizer.json kvwire can read (${(cause as Error).message})`, { path: file, cause });
  }
  const vocab = tok.get_vocab(true);
  let size = 0;
  for (const id of vocab.values()) size = Math.max(size, id + 1);
  const special = (key: string): number | null => {
    const t = cfg[key];
    const text = typeof t === 'string' ? t : (t as { content?: string } | undefined)?.content;
    return text === undefined ? null : tok.token_to_id(text) ?? null;
  };
  const bosId = ids.bos ?? special('bos_token');
  const modelUnk = (json.model as { unk_token?: unknown } | undefined)?.unk_token;
  const unkId = typeof modelUnk === 'string' ? tok.token_to_id(modelUnk) ?? null : special('unk_token');
  const eosIds = ids.eos.length ? ids.eos : [special('eos_token')].filter((e): e is number => e !== null);
  return {
    bosId,
    eosIds,
    size,
    digest: createHash('sha256').update(bytes).digest('hex'),
    encode(text, options = {}) {
      const ids: number[] = tok.encode(text, { add_special_tokens: false }).ids;
      // Some word-level vocabularies yield no id for unknown words; use <unk> or say so.
      if (ids.some((id: number | undefined) => id === undefined)) {
        if (unkId === null) throw new KvwireError('BAD_ARGUMENT', `${file}: the tokenizer has no id for part of the text and no unknown token`);
        for (let i = 0; i < ids.length; i++) if (ids[i] === undefined) ids[i] = unkId;
      }
      return options.addBos && bosId !== null ? [bosId, ...ids] : ids;
    },
    decode(ids) {
      // @huggingface/tokenizers throws on an empty list; a generation that stops at once is ''.
      if (ids.length === 0) return '';
      return tok.decode([...ids], { skip_special_tokens: true });
    },
  };
}
