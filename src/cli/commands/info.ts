/** kvwire info --model PATH: the architecture, sizes and fingerprint of a checkpoint. */
import { parseArgs } from 'node:util';
import { fingerprint, loadModel } from '../../model/index.js';
import { usageError } from '../errors.js';

export const infoHelp = `kvwire info --model PATH [--json]

  Prints the model's family, shapes, parameter count, KV bytes per token and fingerprint.`;

export async function infoCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { model: { type: 'string' }, tokenizer: { type: 'string' }, json: { type: 'boolean', default: false } } });
  if (!values.model) throw usageError('info needs --model PATH', infoHelp);
  const spec = loadModel(values.model, { tokenizer: values.tokenizer });
  const c = spec.config;
  let params = 0;
  for (const w of spec.weights.values()) params += w.length;
  const info = {
    source: spec.source, format: spec.format, ...c, parameters: params,
    kvBytesPerTokenFp16: 2 * c.layers * c.kvHeads * c.headDim * 2,
    tokenizerSize: spec.tokenizer.size, fingerprint: fingerprint(spec),
  };
  if (values.json) {
    console.log(JSON.stringify(info, null, 2));
    return 0;
  }
  console.log(`${c.family} model from ${spec.source} (${spec.format})`);
  console.log(`  layers ${c.layers}, hidden ${c.hiddenSize}, heads ${c.heads} (KV ${c.kvHeads}), head dim ${c.headDim}, intermediate ${c.intermediateSize}`);
  console.log(`  vocab ${c.vocabSize} (tokenizer ${spec.tokenizer.size}), ${(params / 1e6).toFixed(2)}M parameters, tied embeddings: ${c.tieEmbeddings}`);
  console.log(`  rope theta ${c.ropeTheta}, scaling ${c.ropeScaling.type}, sliding window ${c.slidingWindow ?? 'none'}`);
  console.log(`  KV cache: ${info.kvBytesPerTokenFp16} bytes per token in fp16`);
  console.log(`  fingerprint ${info.fingerprint.id} (weights ${info.fingerprint.weightsDigest.slice(0, 12)}…, tokenizer ${info.fingerprint.tokenizerDigest.slice(0, 12)}…)`);
  return 0;
}
