/** kvwire fuse-fit --sharer A --receiver B --out fuser.safetensors: fit the training-free baseline fuser. */
import { parseArgs } from 'node:util';
import { Session } from '../../engine/index.js';
import {
  ALIGN_POLICIES, DEFAULT_CALIB_TASKS, fitLinearFuser, fuserParameters, GATE_OBJECTIVES, LAYER_PAIRINGS, saveFuser, taskCalibration, textCalibration,
  type AlignPolicy, type FuserInputs, type FuserMode, type GateObjective, type GateProtocol, type LayerPairing,
} from '../../fuse/index.js';
import { loadModel } from '../../model/index.js';
import { usageError } from '../errors.js';

export const fuseFitHelp = `kvwire fuse-fit --sharer PATH --receiver PATH --out FILE [options]

Fits a per-layer linear map from the sharer's K/V to the receiver's (ridge regression on
calibration text, keys with RoPE removed) and a per-layer gate on a validation split, and
writes it as safetensors (docs/fuse.md).

  --calib N           calibration examples from the task suite's train split (default 160)
  --calib-tasks LIST  tasks to draw them from (default ${DEFAULT_CALIB_TASKS.join(',')})
  --calib-text FILE   use passages of a text file instead (one per line)
  --pairing P         layer pairing: ${LAYER_PAIRINGS.join(' | ')} (default last)
  --alignment A       token alignment: ${ALIGN_POLICIES.join(' | ')} (default longest)
  --mode M            layer (every sharer head -> every receiver head) | head (default layer)
  --inputs I          joint (K, V <- [K; V]) | separate (K<-K, V<-V) (default joint)
  --gate G            gate objective: ${GATE_OBJECTIVES.join(' | ')} (default loss)
  --gate-value G      the gate for --gate fixed
  --protocol P        the protocol the loss gates are chosen for: question-only (default;
                      the receiver never sees the context) | receiver-side (it fuses into
                      its own cache of the context)
  --validation F      held-out fraction for alpha and gate selection (default 0.25)
  --threads N         onnxruntime threads (default 2)
  --json              print the fit report as JSON`;

const oneOf = <T extends string>(v: string | undefined, allowed: readonly T[], flag: string, fallback: T): T => {
  if (v === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(v)) throw usageError(`${flag} must be one of ${allowed.join(', ')}, got ${v}`, fuseFitHelp);
  return v as T;
};

export async function fuseFitCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: {
    sharer: { type: 'string' }, receiver: { type: 'string' }, out: { type: 'string' },
    calib: { type: 'string', default: '160' }, 'calib-tasks': { type: 'string' }, 'calib-text': { type: 'string' },
    pairing: { type: 'string' }, alignment: { type: 'string' }, mode: { type: 'string' }, inputs: { type: 'string' },
    gate: { type: 'string' }, 'gate-value': { type: 'string' }, protocol: { type: 'string' }, validation: { type: 'string', default: '0.25' },
    threads: { type: 'string', default: '2' }, json: { type: 'boolean', default: false },
  } });
  if (!values.sharer || !values.receiver || !values.out) throw usageError('fuse-fit needs --sharer, --receiver and --out', fuseFitHelp);
  const n = Number(values.calib);
  if (!Number.isInteger(n) || n < 2) throw usageError(`--calib must be an integer >= 2, got ${values.calib}`, fuseFitHelp);
  const items = values['calib-text'] ? textCalibration(values['calib-text'], n)
    : taskCalibration(values['calib-tasks'] ? values['calib-tasks'].split(',') : DEFAULT_CALIB_TASKS, n);
  const threads = Number(values.threads);
  const sharer = await Session.create(loadModel(values.sharer), { threads });
  const receiver = await Session.create(loadModel(values.receiver), { threads });
  try {
    const progress = values.json ? undefined : (m: string) => process.stderr.write(`fuse-fit: ${m}\n`);
    const { fuser, report } = await fitLinearFuser(sharer, receiver, items, {
      pairing: oneOf<LayerPairing>(values.pairing, LAYER_PAIRINGS, '--pairing', 'last'),
      alignment: oneOf<AlignPolicy>(values.alignment, ALIGN_POLICIES, '--alignment', 'longest'),
      mode: oneOf<FuserMode>(values.mode, ['layer', 'head'], '--mode', 'layer'),
      inputs: oneOf<FuserInputs>(values.inputs, ['separate', 'joint'], '--inputs', 'joint'),
      gate: oneOf<GateObjective>(values.gate, GATE_OBJECTIVES, '--gate', 'loss'),
      fixedGate: values['gate-value'] === undefined ? undefined : Number(values['gate-value']),
      protocol: oneOf<GateProtocol>(values.protocol, ['question-only', 'receiver-side'], '--protocol', 'question-only'),
      validation: Number(values.validation), onProgress: progress,
    });
    saveFuser(fuser, values.out);
    if (values.json) {
      console.log(JSON.stringify({ out: values.out, parameters: fuserParameters(fuser), ...report }, null, 2));
      return 0;
    }
    const nll = report.gates.nll;
    console.log(`wrote ${values.out}: ${fuser.layers.length} receiver layers <- sharer layers ${fuser.layers.map((L) => L.sharerLayer).join(',')}, ` +
      `${fuserParameters(fuser)} parameters, gates ${report.gates.gates.join(' ')}, ${report.seconds.toFixed(1)} s`);
    console.log(`validation R² (K/V per layer): ${report.layers.map((e) => `${e.r2.keys.toFixed(2)}/${e.r2.values.toFixed(2)}`).join(' ')}`);
    if (nll) console.log(`validation NLL per answer token: receiver alone ${nll.alone.toFixed(3)}, fused ${nll.chosen.toFixed(3)} (gates 1: ${nll.projected.toFixed(3)}), receiver reading the context ${nll.oracle.toFixed(3)}`);
    return 0;
  } finally {
    await sharer.dispose();
    await receiver.dispose();
  }
}
