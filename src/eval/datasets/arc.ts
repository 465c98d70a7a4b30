/**
 * ARC-Challenge (Clark et al. 2018), test split, in the C2C protocol: zero-shot multiple choice,
 * no chain of thought, greedy, 64 new tokens, the answer read as an option letter. The question
 * and its options are the shared context (the sharer reads the whole item, as in C2C); the
 * receiver appends the instruction, and the answer opens with "The correct answer is".
 * Numeric labels ("1".."5", a few ARC items) are mapped to letters.
 */
import { KvwireError } from '../../errors.js';
import { CHOICE_LETTERS, scoreChoiceLetter } from '../extract.js';
import { readJsonl, stringField } from './jsonl.js';
import { pickIndices } from './sample.js';
import type { DatasetExample, GenerationDataset, PromptParts } from './types.js';

const FILE = 'datasets/arc_challenge/ARC-Challenge-Test.jsonl';

export const arc: GenerationDataset = {
  name: 'arc',
  kind: 'generate',
  description: 'ARC-Challenge science questions (1,172 test items, 3-5 options); option letter',
  files: [FILE],
  maxTokens: 64,
  load(options = {}) {
    const records = readJsonl(FILE);
    return pickIndices(records.length, options, 'arc').map((i): DatasetExample => {
      const r = records[i];
      const where = `${FILE}:${i + 1}`;
      const question = stringField(r, 'question', where).trim();
      const choices = r.choices as { text?: unknown; label?: unknown } | undefined;
      const texts = choices?.text;
      const labels = choices?.label;
      if (!Array.isArray(texts) || !Array.isArray(labels) || texts.length !== labels.length || texts.length < 2 ||
        texts.length > CHOICE_LETTERS.length || !texts.every((t) => typeof t === 'string')) {
        throw new KvwireError('BAD_FORMAT', `${where}: choices must be {text: string[], label: string[]} of equal length 2..${CHOICE_LETTERS.length}`, { path: 'choices' });
      }
      const key = stringField(r, 'answerKey', where);
      const at = labels.indexOf(key);
      if (at < 0) throw new KvwireError('BAD_FORMAT', `${where}: answerKey ${JSON.stringify(key)} is not one of the labels ${JSON.stringify(labels)}`, { path: 'answerKey' });
      const id = typeof r.id === 'string' ? r.id : String(i);
      return { id: `arc-${id}`, task: 'arc', context: '', question, answer: CHOICE_LETTERS[at], choices: texts as string[], meta: { index: i, labels } };
    });
  },
  parts(ex): PromptParts {
    const options = (ex.choices ?? []).map((c, i) => `${CHOICE_LETTERS[i]}. ${c}`).join('\n');
    const letters = CHOICE_LETTERS.slice(0, ex.choices?.length ?? 4).join('/');
    return {
      shared: `Answer the following multiple-choice question.\n\nQuestion: ${ex.question}\n\nOptions:\n${options}\n`,
      ask: `\nReply with only the letter (${letters}) of the correct option.`,
      answerPrefix: '\nThe correct answer is',
    };
  },
  score(ex, output) {
    return scoreChoiceLetter(ex.answer, ex.choices ?? [], output);
  },
};
