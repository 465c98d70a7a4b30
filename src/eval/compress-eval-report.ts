/**
 * compress-eval's summaries: per-method rows (bytes, compression, accuracy with a Wilson 95%
 * interval, mean KL with a bootstrap 95% interval, top-1, greedy match) and the seeds' claims
 * tested with paired statistics on the same items (paired bootstrap of the difference, McNemar).
 */
import { bootstrapMeanCI, mcnemar, pairedBootstrap, wilsonInterval } from './stats.js';
import type { CompressEvalResult, MethodOutcomes } from './compress-eval.js';

export interface MethodRow {
  method: string;
  family: MethodOutcomes['family'];
  ratio?: number;
  n: number;
  meanBytes: number;
  /** Mean FP16 bytes / mean bytes. */
  compression: number;
  correct: number;
  accuracy: number;
  ci95: { low: number; high: number };
  meanKl: number;
  klCi95: { low: number; high: number };
  top1: number;
  meanMatch: number;
}

const mean = (x: number[]) => x.reduce((a, b) => a + b, 0) / Math.max(1, x.length);

export function summarize(result: CompressEvalResult): MethodRow[] {
  return result.methods.map((m) => {
    const correct = m.correct.filter(Boolean).length;
    const kl = bootstrapMeanCI(m.kl, { seed: 1 });
    return {
      method: m.name, family: m.family, ...(m.ratio !== undefined ? { ratio: m.ratio } : {}), n: m.kl.length,
      meanBytes: mean(m.bytes), compression: result.meanFp16Bytes / mean(m.bytes), correct, accuracy: correct / m.correct.length,
      ci95: wilsonInterval(correct, m.correct.length), meanKl: kl.estimate, klCi95: { low: kl.low, high: kl.high },
      top1: mean(m.top1), meanMatch: mean(m.match),
    };
  });
}

export interface Comparison {
  a: string;
  b: string;
  /** b − a: accuracy in points (tasks) or mean KL in nats (text). */
  metric: 'accuracy' | 'kl';
  delta: number;
  ci95: { low: number; high: number };
  /** McNemar two-sided p (accuracy only). */
  pValue?: number;
}

/** Paired comparison of method b against method a on the same items. */
export function compare(result: CompressEvalResult, a: string, b: string): Comparison | null {
  const A = result.methods.find((m) => m.name === a);
  const B = result.methods.find((m) => m.name === b);
  if (!A || !B) return null;
  if (result.scored) {
    const d = pairedBootstrap(A.correct, B.correct, { seed: 2 });
    return { a, b, metric: 'accuracy', delta: 100 * d.estimate, ci95: { low: 100 * d.low, high: 100 * d.high }, pValue: mcnemar(A.correct, B.correct).pValue };
  }
  const d = pairedBootstrap(A.kl, B.kl, { seed: 2 });
  return { a, b, metric: 'kl', delta: d.estimate, ci95: { low: d.low, high: d.high } };
}

/** The seeds' claims as comparisons (b − a). */
export function claimComparisons(result: CompressEvalResult): Array<{ claim: string; comparisons: Comparison[] }> {
  const ratios = [...new Set(result.methods.filter((m) => m.family === 'select').map((m) => m.ratio!))];
  const pick = (xs: Array<Comparison | null>) => xs.filter((x): x is Comparison => x !== null);
  const bn = result.methods.filter((m) => m.family === 'mixed').map((m) => m.name);
  return [
    { claim: 'INT8 within 0.5 points of FP16 (seed 001 Table 1)', comparisons: pick([compare(result, 'fp16', 'int8')]) },
    { claim: 'grouped INT4 within 1.5 points of FP16', comparisons: pick([compare(result, 'fp16', 'int4g')]) },
    { claim: 'back truncation beats front truncation (seed 001 Tables 2-3)', comparisons: pick(ratios.map((p) => compare(result, `front@${p}`, `back@${p}`))) },
    { claim: 'at 25% retention Q2C > SnapKV > H2O (seed 002)', comparisons: pick([compare(result, 'snapkv@0.25', 'q2c@0.25'), compare(result, 'h2o@0.25', 'snapkv@0.25')]) },
    { claim: 'one protected bottleneck layer gives ~3.6x lossless compression (seed 002)', comparisons: pick(bn.map((name) => compare(result, 'fp16', name))) },
    { claim: 'RD drop+int4+int8 matches or beats drop+int8 at 1/16 and 1/8 budgets (seed 001 Table 5)',
      comparisons: pick(['1/16', '1/8', '1/4'].map((b) => compare(result, `rd(drop+int8)@${b}`, `rd(drop+int4+int8)@${b}`))) },
  ];
}

const pct = (x: number) => (100 * x).toFixed(1);
const kb = (x: number) => (x >= 10240 ? `${(x / 1024).toFixed(0)} KiB` : x >= 1024 ? `${(x / 1024).toFixed(1)} KiB` : `${x.toFixed(0)} B`);

/** A markdown table of the rows. */
export function markdownTable(result: CompressEvalResult, rows: MethodRow[]): string {
  const head = result.scored
    ? '| method | mean bytes | × vs FP16 | accuracy % [95% CI] | mean KL [95% CI] | top-1 % | match |\n|---|---:|---:|---|---|---:|---:|'
    : '| method | mean bytes | × vs FP16 | mean KL (nats) [95% CI] | top-1 % | match |\n|---|---:|---:|---|---:|---:|';
  const lines = rows.map((r) => {
    const bytes = r.family === 'full' ? `${kb(r.meanBytes)} (fp32)` : kb(r.meanBytes);
    const comp = r.family === 'full' ? '–' : `${r.compression.toFixed(2)}×`;
    const kl = r.family === 'full' ? '0' : `${r.meanKl.toFixed(4)} [${r.klCi95.low.toFixed(4)}, ${r.klCi95.high.toFixed(4)}]`;
    const acc = `${pct(r.accuracy)} [${pct(r.ci95.low)}, ${pct(r.ci95.high)}]`;
    return result.scored
      ? `| ${r.method} | ${bytes} | ${comp} | ${acc} | ${kl} | ${pct(r.top1)} | ${r.meanMatch.toFixed(2)} |`
      : `| ${r.method} | ${bytes} | ${comp} | ${kl} | ${pct(r.top1)} | ${r.meanMatch.toFixed(2)} |`;
  });
  return [head, ...lines].join('\n');
}

/** Markdown lines for the claims: each comparison's difference, interval and p-value. */
export function markdownClaims(result: CompressEvalResult): string {
  const out: string[] = [];
  for (const { claim, comparisons } of claimComparisons(result)) {
    out.push(`- **${claim}**`);
    if (!comparisons.length) out.push('  - (methods not in this run)');
    for (const c of comparisons) {
      const unit = c.metric === 'accuracy' ? ' points' : ' nats';
      const f = (x: number) => (c.metric === 'accuracy' ? x.toFixed(1) : x.toFixed(4));
      out.push(`  - ${c.b} − ${c.a}: ${c.metric === 'accuracy' ? 'accuracy' : 'mean KL'} ${f(c.delta)}${unit} ` +
        `[95% CI ${f(c.ci95.low)}, ${f(c.ci95.high)}]${c.pValue !== undefined ? `, McNemar p = ${c.pValue.toPrecision(2)}` : ''}`);
    }
  }
  return out.join('\n');
}
