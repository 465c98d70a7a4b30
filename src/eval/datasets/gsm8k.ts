/**
 * GSM8K (Cobbe et al. 2021), test split, in the C2C protocol: zero-shot, no chain of thought,
 * greedy, at most 64 new tokens. The problem's last sentence (its question) is what the receiver
 * appends; the sentences before it are the shared context whose cache is handed over.
 */
import { KvwireError } from '../../errors.js';
import { gsm8kGold, scoreGsm8k } from '../extract.js';
import { readJsonl, stringField } from './jsonl.js';
import { pickIndices, sentences } from './sample.js';
import type { DatasetExample, GenerationDataset, PromptParts } from './types.js';

const FILE = 'datasets/gsm8k/test.jsonl';

export const gsm8k: GenerationDataset = {
  name: 'gsm8k',
  kind: 'generate',
  description: 'GSM8K grade-school math (1,319 test problems); exact final number, no chain of thought',
  files: [FILE],
  maxTokens: 64,
  load(options = {}) {
    const records = readJsonl(FILE);
    return pickIndices(records.length, options, 'gsm8k').map((i): DatasetExample => {
      const where = `${FILE}:${i + 1}`;
      const problem = stringField(records[i], 'question', where).trim();
      const solution = stringField(records[i], 'answer', where);
      const answer = gsm8kGold(solution);
      if (answer === undefined) throw new KvwireError('BAD_FORMAT', `${where}: answer has no "#### number"`, { path: 'answer' });
      const s = sentences(problem);
      const [context, question] = s.length > 1 ? [s.slice(0, -1).join(' '), s[s.length - 1]] : ['', problem];
      return { id: `gsm8k-${i}`, task: 'gsm8k', context, question, answer, meta: { index: i, solution } };
    });
  },
  parts(ex): PromptParts {
    const instruction = 'Give only the final answer as a number, without explanation.';
    // Without a passage, the whole problem is shared and the receiver asks for the answer.
    if (!ex.context) return { shared: `Question: ${ex.question}`, ask: `\n${instruction}`, answerPrefix: '\nAnswer:' };
    return { shared: `Question: ${ex.context}`, ask: ` ${ex.question}\n${instruction}`, answerPrefix: '\nAnswer:' };
  },
  score(ex, output) {
    return scoreGsm8k(ex.answer, output);
  },
};
