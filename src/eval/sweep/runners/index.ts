/**
 * The built-in runners, registered on import. A new built-in: a file here exporting a CellRunner,
 * and one registerRunner line below. Runners living in other modules (src/select, src/plan,
 * src/agent) may instead call registerRunner themselves and be listed in `runnerModules`.
 */
import { registerRunner } from '../runner.js';
import { fullRunner } from './full.js';
import { quantRunner } from './quant.js';
import { c2cRunner } from './c2c.js';
import { selectRunner } from './select.js';
import { planRunner } from './plan.js';
import { handoffRunner } from './handoff.js';

registerRunner(fullRunner, { replace: true });
registerRunner(quantRunner, { replace: true });
registerRunner(c2cRunner, { replace: true });
registerRunner(selectRunner, { replace: true });
registerRunner(planRunner, { replace: true });
registerRunner(handoffRunner, { replace: true });

export { fullRunner, quantRunner, selectRunner, planRunner, handoffRunner };
export { PRESETS, quantOptions } from './quant.js';
export { runHandoff, since, type Handed, type Transform } from './handoff-path.js';
