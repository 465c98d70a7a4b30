/**
 * kvwire demo: the main job. Two agents run as separate processes on loopback HTTP; the sharer
 * reads a task's context, the receiver answers the question from the sharer's KV cache, sent as a
 * CacheCard at several compressions, and — as baselines over the same path — by re-prefilling
 * the context's text and from a short text relay note. Prints bytes, the stages of each handoff,
 * TTFT against the baselines, and whether each answer was right, for one example in detail and
 * for the first N examples in summary.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { dataRoot } from '../../util/data.js';
import { createAgentProcess, lookaheadFor, type Answer, type AgentProcess } from '../../agent/index.js';
import { taskExamples } from '../../eval/run-task.js';
import { TASK_NAMES, formatPrompt, getTask, type TaskName } from '../../eval/tasks/index.js';
import { loadModel } from '../../model/index.js';
import { printTable, type Row } from '../../bench/report.js';
import { DEFAULT_MODEL } from '../defaults.js';
import { usageError } from '../errors.js';

export const demoHelp = `kvwire demo [--model PATH] [--task NAME] [-n N] [--index I] [--compressions LIST]
            [--length TOKENS] [--facts N] [--link RATE --latency-ms MS] [--key KEY]

  Hands a KV cache from a sharer agent to a receiver agent (two processes, loopback HTTP) as a
  CacheCard and compares it with re-prefilling the text and with a text relay note.
  Defaults: model ${DEFAULT_MODEL}; task needle at --length 1024 tokens (a passkey in a book
  passage; needs ../shared/data, else task instr); 6 test examples, detail for example 0;
  compressions fp16,int8,int4,int4-q2c25,int4-q2c25+ahead2+pool4x4 (docs/cachecard.md, src/agent/compression.ts); no link
  shaping (--link 10mbit --latency-ms 10 shapes the sharer's sends); --facts N sets the facts
  per context of facts/twohop/instr; --key signs and checks cards.`;

interface Method { label: string; via: 'card' | 'text' | 'note'; compression?: string }

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: {
    model: { type: 'string', default: DEFAULT_MODEL }, task: { type: 'string' }, n: { type: 'string', short: 'n', default: '6' },
    index: { type: 'string', default: '0' }, compressions: { type: 'string', default: 'fp16,int8,int4,int4-q2c25,int4-q2c25+ahead2+pool4x4' }, key: { type: 'string' },
    link: { type: 'string' }, 'latency-ms': { type: 'string' }, length: { type: 'string' }, facts: { type: 'string' }, 'max-tokens': { type: 'string', default: '12' },
  } });
  // Default: a passkey in 1K tokens of a book (long enough for re-prefill to cost something);
  // without the book corpus (../shared/data), instructions among filler lines.
  const task = (values.task ?? (existsSync(join(dataRoot(), 'corpora', 'gutenberg')) ? 'needle' : 'instr')) as TaskName;
  if (task === 'needle' && !values.length) values.length = '1024';
  if (!TASK_NAMES.includes(task)) throw usageError(`unknown task "${task}"; one of ${TASK_NAMES.join(', ')}`, demoHelp);
  const n = Number(values.n);
  const index = Number(values.index);
  if (!(Number.isInteger(n) && n >= 1 && Number.isInteger(index) && index >= 0 && index < n)) throw usageError('-n must be >= 1 and --index in 0..n-1', demoHelp);
  const maxTokens = Number(values['max-tokens']);
  const modelPath = values.model!;
  const tok = loadModel(modelPath).tokenizer;
  const taskOptions: Record<string, unknown> = {};
  if (values.length) taskOptions.length = Number(values.length);
  if (values.facts && ['facts', 'twohop', 'instr'].includes(task)) taskOptions.numFacts = Number(values.facts);
  const examples = taskExamples(task, n, tok, 0, taskOptions);
  const methods: Method[] = [
    ...values.compressions!.split(',').map((c): Method => ({ label: `card ${c}`, via: 'card', compression: c })),
    { label: 're-prefill text', via: 'text' },
    { label: 'text relay 25%', via: 'note' },
  ];
  // The sharer drafts its answer when it reads, as far as the longest lookahead Q2C asks (+aheadN).
  const lookahead = lookaheadFor(values.compressions!.split(','));

  const t0 = performance.now();
  const link = values.link ? { rate: values.link, latencyMs: values['latency-ms'] ? Number(values['latency-ms']) : undefined } : undefined;
  const start = (role: string) => createAgentProcess({ model: modelPath, key: values.key, link: role === 'sharer' ? link : undefined });
  let sharer: AgentProcess | undefined;
  let receiver: AgentProcess | undefined;
  try {
    [sharer, receiver] = await Promise.all([start('sharer'), start('receiver')]);
    await Promise.all([sharer.call('warmup'), receiver.call('warmup')]); // onnxruntime plans kernels on first runs
    console.log(`kvwire demo: ${modelPath} (${sharer.fingerprint.shape}, fingerprint ${sharer.fingerprint.id})`);
    console.log(`sharer ${sharer.url} and receiver ${receiver.url}: separate processes, loopback HTTP${link ? `, sharer's link ${link.rate} + ${link.latencyMs ?? 0} ms` : ''}; ` +
      `task ${task}, ${n} test examples\n`);

    const results: Array<Array<{ answer: Answer; right: boolean }>> = methods.map(() => []);
    const reads: Array<{ tokens: number; timings: { prefillMs: number; scoreMs: number } }> = [];
    for (let i = -1; i < n; i++) { // i = -1: one untimed round, so V8 has compiled the card code paths
      const ex = examples[Math.max(i, 0)];
      const prompt = formatPrompt(ex);
      const question = prompt.slice(ex.context.length);
      const read = await sharer.call('read', { text: ex.context, question, lookahead, id: `ex${i}` });
      if (i >= 0) reads.push(read);
      for (const [k, m] of methods.entries()) {
        const answer: Answer = await receiver.call('answer', { from: sharer.url, context: `ex${i}`, via: m.via, compression: m.compression, keep: 0.25, question, maxTokens });
        if (i >= 0) results[k].push({ answer, right: getTask(task).score(ex, answer.text) });
      }
      await sharer.call('drop', { id: `ex${i}` });
    }

    const ex = examples[index];
    const base = results[methods.findIndex((m) => m.via === 'text')][index].answer;
    console.log(`example ${ex.id}: ${reads[index].tokens} context tokens; sharer prefill ${reads[index].timings.prefillMs.toFixed(1)} ms ` +
      `(+ ${reads[index].timings.scoreMs.toFixed(1)} ms for the question's attention, Q2C); gold answer ${JSON.stringify(ex.answer)}`);
    const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(1));
    const detail: Row[] = methods.map((m, k) => {
      const { answer: a, right } = results[k][index];
      return {
        method: m.label, bytes: a.bytes, 'plan ms': ms(a.sharer?.planMs), 'encode ms': ms(a.sharer?.encodeMs),
        'transfer+verify ms': ms(a.timings.fetchMs), 'of which decode ms': ms(a.timings.decodeMs), 'inject ms': ms(a.timings.injectMs),
        'prefill ms': ms(a.timings.prefillMs), 'TTFT ms': ms(a.timings.ttftMs), 'vs re-prefill': `${(a.timings.ttftMs / base.timings.ttftMs).toFixed(2)}x`,
        answer: JSON.stringify(a.text.trim()).slice(0, 24), 'right?': right ? 'yes' : 'no',
      };
    });
    printTable(detail);
    console.log('\n(prefill ms: the question after an injected card; the whole text + question for the baselines. TTFT: from asking the sharer to the first answer token.)\n');
    const summary: Row[] = methods.map((m, k) => {
      const rs = results[k];
      const mean = (f: (a: Answer) => number) => rs.reduce((s, r) => s + f(r.answer), 0) / rs.length;
      const baseline = results[methods.findIndex((x) => x.via === 'text')];
      return {
        method: m.label, 'mean bytes': Math.round(mean((a) => a.bytes)), 'mean TTFT ms': ms(mean((a) => a.timings.ttftMs)),
        right: `${rs.filter((r) => r.right).length}/${n}`, 'same answer as re-prefill': `${rs.filter((r, i) => r.answer.text.trim() === baseline[i].answer.text.trim()).length}/${n}`,
      };
    });
    console.log(`all ${n} examples:`);
    printTable(summary);
    const fp16 = methods.findIndex((m) => m.compression === 'fp16');
    if (fp16 >= 0) {
      const text = methods.findIndex((m) => m.via === 'text');
      const same = results[fp16].every((r, i) => r.answer.text.trim() === results[text][i].answer.text.trim());
      console.log(`\ncard fp16 vs re-prefill text, answers identical  ${same}`);
    }
    console.log(`\n${((performance.now() - t0) / 1000).toFixed(1)} s in all. Accuracy with intervals and timings at 1K-8K tokens: npm run bench:handoff.`);
    return 0;
  } finally {
    await Promise.all([sharer?.close(), receiver?.close()]);
  }
}
