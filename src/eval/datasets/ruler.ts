/**
 * RULER multi-key needle retrieval (Hsieh et al. 2024), niah_multikey_3 at 4K, read as the jsonl
 * gives it: `input` (haystack, then one query line ending in the answer prefix), `outputs` (the
 * references), `length`. The query line is split off: everything before it is the shared
 * context, its question is what the receiver asks, and the text after its "?" opens the answer,
 * so the plain prompt is the record's `input` byte for byte. Scored as RULER's string_match_all.
 */
import { KvwireError } from '../../errors.js';
import { containsAll } from '../extract.js';
import { readJsonl, stringField } from './jsonl.js';
import { pickIndices } from './sample.js';
import type { DatasetExample, GenerationDataset, PromptParts } from './types.js';

const FILE = 'datasets/ruler/niah_multikey_3_4096.jsonl';

/** Splits a RULER input into context, question and answer prefix (plain prompt = c + "\n" + q + " " + p). */
export function splitRulerInput(input: string, where: string): { context: string; question: string; answerPrefix: string } {
  const nl = input.lastIndexOf('\n');
  if (nl < 0) throw new KvwireError('BAD_FORMAT', `${where}: input has no query line`, { path: 'input' });
  const query = input.slice(nl + 1);
  const q = query.lastIndexOf('? ');
  return q < 0
    ? { context: input.slice(0, nl), question: query, answerPrefix: '' }
    : { context: input.slice(0, nl), question: query.slice(0, q + 1), answerPrefix: query.slice(q + 2) };
}

export const ruler: GenerationDataset = {
  name: 'ruler',
  kind: 'generate',
  description: 'RULER multi-key needle (niah_multikey_3, 4K, 500 items); all references must appear',
  files: [FILE],
  maxTokens: 64,
  load(options = {}) {
    const records = readJsonl(FILE);
    return pickIndices(records.length, options, 'ruler').map((i): DatasetExample => {
      const r = records[i];
      const where = `${FILE}:${i + 1}`;
      const input = stringField(r, 'input', where);
      const outputs = r.outputs;
      if (!Array.isArray(outputs) || outputs.length === 0 || !outputs.every((o) => typeof o === 'string')) {
        throw new KvwireError('BAD_FORMAT', `${where}: outputs must be a non-empty list of strings`, { path: 'outputs' });
      }
      const { context, question, answerPrefix } = splitRulerInput(input, where);
      return {
        id: `ruler-${typeof r.index === 'number' ? r.index : i}`, task: 'ruler', context, question, answer: outputs[0] as string,
        meta: { index: i, references: outputs, answerPrefix, length: r.length },
      };
    });
  },
  parts(ex): PromptParts {
    const prefix = ex.meta.answerPrefix as string;
    return { shared: ex.context, ask: `\n${ex.question}`, answerPrefix: prefix ? ` ${prefix}` : '' };
  },
  score(ex, output) {
    return containsAll(output, ex.meta.references as string[]);
  },
};
