/** kvwire generate --model PATH --prompt TEXT: greedy or sampled continuation, streamed to stdout. */
import { parseArgs } from 'node:util';
import { Session } from '../../engine/index.js';
import { loadModel } from '../../model/index.js';
import { usageError } from '../errors.js';

export const generateHelp = `kvwire generate --model PATH --prompt TEXT [options]

  --model PATH        Hugging Face folder (config.json, *.safetensors, tokenizer.json) or llama2.c .bin
  --tokenizer FILE    llama2.c only: tokenizer file (default tok<vocab>.bin beside the checkpoint)
  --prompt TEXT       text to continue (default: empty, i.e. start from BOS)
  --max-tokens N      tokens to generate (default 64)
  --temperature T     0 = greedy (default); > 0 samples
  --top-p P           nucleus mass for sampling (default 1)
  --seed N            sampler seed (default 0)
  --threads N         onnxruntime threads (default 2)
  --no-bos            do not prepend the BOS token`;

export async function generateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, tokenizer: { type: 'string' }, prompt: { type: 'string', default: '' },
      'max-tokens': { type: 'string', default: '64' }, temperature: { type: 'string', default: '0' },
      'top-p': { type: 'string', default: '1' }, seed: { type: 'string', default: '0' }, threads: { type: 'string', default: '2' },
      'no-bos': { type: 'boolean', default: false },
    },
  });
  if (!values.model) throw usageError('generate needs --model PATH', generateHelp);
  const spec = loadModel(values.model, { tokenizer: values.tokenizer });
  const tok = spec.tokenizer;
  const prompt = tok.encode(values.prompt!, { addBos: !values['no-bos'] });
  if (prompt.length === 0) throw usageError('the prompt is empty and the model has no BOS token to start from', generateHelp);
  const session = await Session.create(spec, { threads: Number(values.threads) });
  const t0 = performance.now();
  process.stdout.write(values.prompt!);
  // Stream text as it forms: decode the whole continuation and print what is new, so multi-token
  // characters (byte fallback) come out whole.
  const generated: number[] = [];
  let printed = '';
  const result = await session.generate(prompt, {
    maxTokens: Number(values['max-tokens']),
    sampling: { temperature: Number(values.temperature), topP: Number(values['top-p']), seed: Number(values.seed) },
    onToken(token) {
      generated.push(token);
      const text = tok.decode(generated);
      if (!text.endsWith('\uFFFD')) {
        process.stdout.write(text.slice(printed.length));
        printed = text;
      }
    },
  });
  const text = tok.decode(generated);
  process.stdout.write(text.slice(printed.length) + '\n');
  const ms = performance.now() - t0;
  const decodeTps = result.tokens.length > 1 ? ((result.tokens.length - 1) / result.decodeMs) * 1000 : 0;
  process.stderr.write(`[${prompt.length} prompt tokens, ${result.tokens.length} generated (${result.stopReason}), ` +
    `${ms.toFixed(0)} ms, decode ${decodeTps.toFixed(1)} tok/s]\n`);
  await session.dispose();
  return 0;
}
