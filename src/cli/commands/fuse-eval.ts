/**
 * kvwire fuse-eval: cross-model fusion against its baselines on the same examples (the sharer
 * holds the context, the receiver only the question), with 95% intervals and paired tests.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Session } from '../../engine/index.js';
import { loadItems, type GenerateItem } from '../../eval/datasets/index.js';
import { mcnemar, wilsonInterval } from '../../eval/stats.js';
import {
  checkFuser, CROSS_MODES, DEFAULT_CALIB_TASKS, fitLinearFuser, fuserMacsPerToken, loadFuser, PROTOCOLS, runCross, taskCalibration,
  type CrossMode, type CrossOutcome, type LinearFuser, type Protocol, type TransmitOptions,
} from '../../fuse/index.js';
import { fingerprint, loadModel } from '../../model/index.js';
import { PRESETS } from '../../eval/sweep/runners/index.js';
import { usageError } from '../errors.js';

export const fuseEvalHelp = `kvwire fuse-eval --sharer PATH --receiver PATH --task NAME [options]

Runs each example of a task through the fused path and the baselines (receiver alone, text
relay, receiver reading the whole context, sharer alone) and prints accuracy with 95% Wilson
intervals, bytes sent, time to first token, and McNemar tests of fused vs each baseline.

  --fuser FILE        a fuser from kvwire fuse-fit (default: fit now on --calib examples)
  --calib N           calibration examples when fitting here (default 160)
  --task NAME         facts | twohop | arith | needle | instr (test split) or a dataset
  -n N                examples (default 100)
  --seed S            example seed (default 0)
  --length L          needle: prompt length in tokens
  --modes LIST        of ${CROSS_MODES.join(',')} (default all; handoff only when
                      sharer and receiver are the same model)
  --protocol P        ${PROTOCOLS.join(' | ')} (default question-only)
  --precision NAME    quant preset of the sent cache (${Object.keys(PRESETS).join(', ')}; default fp16)
  --selector NAME     select tokens of the sent cache (with --keep p)
  --keep P            kept fraction for --selector (default 1)
  --rd FRACTION       rate-distortion plan at this fraction of the sent FP16 size (e.g. 1/8)
  --relay-keep F      text relay note size as a fraction of the context tokens (default 0.25)
  --threads N         onnxruntime threads (default 2)
  --json-out FILE     write every example's outcome as JSON`;

export async function fuseEvalCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: {
    sharer: { type: 'string' }, receiver: { type: 'string' }, fuser: { type: 'string' }, calib: { type: 'string', default: '160' },
    task: { type: 'string' }, n: { type: 'string', short: 'n', default: '100' }, seed: { type: 'string', default: '0' },
    length: { type: 'string' }, modes: { type: 'string' }, protocol: { type: 'string', default: 'question-only' },
    precision: { type: 'string' }, selector: { type: 'string' }, keep: { type: 'string' }, rd: { type: 'string' },
    'relay-keep': { type: 'string', default: '0.25' }, threads: { type: 'string', default: '2' }, 'json-out': { type: 'string' },
  } });
  if (!values.sharer || !values.receiver || !values.task) throw usageError('fuse-eval needs --sharer, --receiver and --task', fuseEvalHelp);
  const sharerSpec = loadModel(values.sharer);
  const receiverSpec = loadModel(values.receiver);
  const sameModel = fingerprint(sharerSpec).id === fingerprint(receiverSpec).id;
  // Same-model handoff is a baseline only where it applies.
  const modes = (values.modes?.split(',') ?? CROSS_MODES.filter((m) => m !== 'handoff' || sameModel)) as CrossMode[];
  for (const m of modes) if (!CROSS_MODES.includes(m)) throw usageError(`--modes: unknown mode ${m}; one of ${CROSS_MODES.join(', ')}`, fuseEvalHelp);
  if (modes.includes('handoff') && !sameModel) throw usageError('--modes: handoff needs the same model as sharer and receiver', fuseEvalHelp);
  if (!PROTOCOLS.includes(values.protocol as Protocol)) throw usageError(`--protocol must be one of ${PROTOCOLS.join(', ')}`, fuseEvalHelp);
  const n = Number(values.n);
  if (!Number.isInteger(n) || n <= 0) throw usageError(`-n must be a positive integer, got ${values.n}`, fuseEvalHelp);
  const transmit: TransmitOptions = {};
  if (values.precision) {
    if (!Object.hasOwn(PRESETS, values.precision)) throw usageError(`--precision must be one of ${Object.keys(PRESETS).join(', ')}`, fuseEvalHelp);
    transmit.precision = PRESETS[values.precision];
  }
  if (values.selector) { transmit.selector = values.selector; transmit.keep = { ratio: Number(values.keep ?? '1') }; }
  if (values.rd) transmit.rd = { budget: { fraction: values.rd.split('/').map(Number).reduce((a, b) => a / b) }, actions: ['int4', 'int8'] };
  const threads = Number(values.threads);
  const sharer = await Session.create(sharerSpec, { threads });
  const receiver = await Session.create(receiverSpec, { threads });
  try {
    let fuser: LinearFuser | undefined;
    if (modes.includes('fused')) {
      if (values.fuser) {
        fuser = loadFuser(values.fuser);
        checkFuser(fuser, fingerprint(sharerSpec), fingerprint(receiverSpec));
      } else {
        const calib = taskCalibration(DEFAULT_CALIB_TASKS, Number(values.calib));
        fuser = (await fitLinearFuser(sharer, receiver, calib, { protocol: values.protocol as Protocol, onProgress: (m) => process.stderr.write(`fuse-fit: ${m}\n`) })).fuser;
      }
    }
    const { items } = await loadItems(sharerSpec, { name: values.task, n, seed: Number(values.seed), options: values.length ? { length: Number(values.length) } : {} });
    const tok = sharerSpec.tokenizer;
    const results: Record<string, CrossOutcome[]> = {};
    for (const mode of modes) {
      results[mode] = [];
      for (const item of items as GenerateItem[]) {
        results[mode].push(await runCross(sharer, receiver, {
          sharerContext: item.ids.slice(0, item.split), sharerQuestion: item.ids.slice(item.split),
          contextText: tok.decode(item.ids.slice(0, item.split)), questionText: tok.decode(item.ids.slice(item.split)),
          maxTokens: item.maxTokens, stopAtNewline: item.stopAtNewline, score: item.score,
        }, { mode, fuser, protocol: values.protocol as Protocol, transmit, relayKeep: Number(values['relay-keep']) }));
        if (process.stderr.isTTY) process.stderr.write(`\r${mode}: ${results[mode].length}/${items.length}`);
      }
      if (process.stderr.isTTY) process.stderr.write('\n');
    }
    printTable(results, values, fuser);
    if (values['json-out']) {
      writeFileSync(values['json-out'], JSON.stringify({ argv, ids: items.map((i) => i.id), results }, null, 1));
    }
    return 0;
  } finally {
    await sharer.dispose();
    await receiver.dispose();
  }
}

function printTable(results: Record<string, CrossOutcome[]>, values: Record<string, unknown>, fuser?: LinearFuser): void {
  const pct = (x: number) => (100 * x).toFixed(1);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const ttft = (o: CrossOutcome) => Object.entries(o.ms).filter(([k]) => k !== 'decode' && k !== 'sample').reduce((a, [, v]) => a + v, 0);
  console.log(`${values.task} (n = ${Object.values(results)[0]?.length}), sharer ${values.sharer} -> receiver ${values.receiver}, protocol ${values.protocol}` +
    (fuser ? `, fuser gates ${fuser.layers.map((L) => L.gate).join(' ')}, ${fuserMacsPerToken(fuser, true)} MACs per sent token (${fuserMacsPerToken(fuser)} with every layer open)` : ''));
  console.log('| mode | accuracy | 95% CI | correct | bytes sent (mean) | time to first token (ms, mean) |');
  console.log('|---|---:|---|---:|---:|---:|');
  for (const [mode, outs] of Object.entries(results)) {
    const k = outs.filter((o) => o.correct).length;
    const ci = wilsonInterval(k, outs.length);
    console.log(`| ${mode} | ${pct(k / outs.length)}% | [${pct(ci.low)}, ${pct(ci.high)}] | ${k}/${outs.length} | ${mean(outs.map((o) => o.bytes.total)).toFixed(0)} | ${mean(outs.map(ttft)).toFixed(1)} |`);
  }
  const fused = results.fused;
  if (fused) {
    for (const [mode, outs] of Object.entries(results)) {
      if (mode === 'fused') continue;
      const t = mcnemar(outs.map((o) => o.correct), fused.map((o) => o.correct));
      console.log(`fused vs ${mode}: fused-only correct ${t.c}, ${mode}-only correct ${t.b}, McNemar p = ${t.pValue.toPrecision(3)}`);
    }
  }
}
