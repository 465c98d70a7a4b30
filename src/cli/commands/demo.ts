/**
 * kvwire demo: the smallest complete handoff. A sharer session (its own worker thread) reads a
 * context and hands its KV cache to a receiver session (another worker), which injects it and
 * answers a question without reading the context; the same question answered by re-prefilling the
 * text is the baseline. Prints bytes and stage timings, and whether both answers agree.
 */
import { parseArgs } from 'node:util';
import { WorkerSession } from '../../engine/index.js';
import { loadModel } from '../../model/index.js';
import { DEFAULT_MODEL } from '../defaults.js';

export const demoHelp = `kvwire demo [--model PATH] [--context TEXT] [--question TEXT] [--max-tokens N]

  Runs a same-model KV-cache handoff between two worker sessions and compares it with
  re-prefilling the context from text. Default model: ${DEFAULT_MODEL}.`;

const CONTEXT = 'Mira keeps the red key in the blue box under the stairs. Tom keeps the green key in the old boot by the door. ' +
  'The blue box is locked, and only Mira knows the code, which is four one seven.';
const QUESTION = ' Question: Where does Tom keep the green key? Answer:';

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: {
    model: { type: 'string', default: DEFAULT_MODEL }, context: { type: 'string', default: CONTEXT },
    question: { type: 'string', default: QUESTION }, 'max-tokens': { type: 'string', default: '16' },
  } });
  const modelPath = values.model!;
  const tok = loadModel(modelPath).tokenizer;
  const context = tok.encode(values.context!, { addBos: true });
  const question = tok.encode(values.question!);
  const maxTokens = Number(values['max-tokens']);
  console.log(`kvwire demo on ${modelPath}: ${context.length} context tokens, ${question.length} question tokens`);

  const [sharer, receiver] = await Promise.all([WorkerSession.create(modelPath), WorkerSession.create(modelPath)]);
  try {
    // onnxruntime plans its kernels on a session's first runs; keep that out of the timings.
    await Promise.all([sharer.prefill(context.slice(0, 2)), receiver.prefill(context.slice(0, 2))]);
    const t0 = performance.now();
    const { cache } = await sharer.prefill(context);
    const prefillMs = performance.now() - t0;
    const fp16Bytes = cache.payloadBytes(16);

    const t1 = performance.now();
    const seq = await receiver.inject(cache);
    await seq.append(question);
    const injectFirstMs = performance.now() - t1;
    const handoff = await seq.generate({ maxTokens });

    const t2 = performance.now();
    const fresh = await receiver.inject(cache.slice(0, 0));
    await fresh.append([...context, ...question]);
    const reprefillFirstMs = performance.now() - t2;
    const baseline = await fresh.generate({ maxTokens });

    const rows: Array<[string, string]> = [
      ['context tokens', String(context.length)],
      ['KV cache, fp16 payload', `${fp16Bytes} bytes`],
      ['sharer prefill', `${prefillMs.toFixed(1)} ms`],
      ['receiver: inject + question, to first token', `${injectFirstMs.toFixed(1)} ms`],
      ['receiver: re-prefill text, to first token', `${reprefillFirstMs.toFixed(1)} ms`],
      ['answer via handoff', JSON.stringify(tok.decode(handoff.tokens))],
      ['answer via re-prefill', JSON.stringify(tok.decode(baseline.tokens))],
      ['answers identical', String(handoff.tokens.join() === baseline.tokens.join())],
    ];
    const w = Math.max(...rows.map(([k]) => k.length));
    for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
    return handoff.tokens.join() === baseline.tokens.join() ? 0 : 1;
  } finally {
    await Promise.all([sharer.dispose(), receiver.dispose()]);
  }
}
