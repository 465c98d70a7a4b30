/**
 * What the seeds report, shown beside our numbers for reference (never mixed into them): seed
 * 001's Tables 1-5 and 7 (Qwen3-0.6B receiver, Qwen2.5-0.5B sharer, C2C, OpenBookQA 500 / ARC-C
 * 1150 examples, accuracy %) and seed 002's headline claims (it gives no per-table numbers).
 */

export interface ReferenceTable {
  caption: string;
  header: string[];
  rows: string[][];
}

const SEED001 = 'Seed 001 reports (Qwen3-0.6B ← Qwen2.5-0.5B, C2C; accuracy %)';

export const REFERENCE: Record<string, ReferenceTable> = {
  ptq: {
    caption: `${SEED001}, Table 1`,
    header: ['setting', 'OpenBookQA', 'ARC-C'],
    rows: [['FP16 baseline', '52.8', '55.1'], ['INT8 PTQ', '52.8', '55.0'], ['INT4 PTQ', '52.6', '55.4']],
  },
  pruning: {
    caption: `${SEED001}, Tables 2-3 (INT8, kept fraction p)`,
    header: ['order', 'dataset', 'p=0.75', 'p=0.5', 'p=0.25', 'p=0.1'],
    rows: [
      ['front', 'OpenBookQA', '44.6', '43.0', '38.8', '38.6'], ['back', 'OpenBookQA', '52.2', '52.0', '50.8', '49.2'],
      ['front', 'ARC-C', '40.2', '46.3', '38.3', '40.7'], ['back', 'ARC-C', '55.7', '57.2', '56.2', '53.7'],
    ],
  },
  selection: {
    caption: `${SEED001}, Table 4 (p = 0.25, INT8)`,
    header: ['selector', 'OpenBookQA', 'ARC-C'],
    rows: [['vnorm', '47.0', '49.6'], ['proj_vnorm', '46.2', '52.6'], ['delta_proj_vnorm', '49.8', '54.8']],
  },
  rd: {
    caption: `${SEED001}, Table 5 (budgets as fractions of the FP16 bytes)`,
    header: ['setting', 'OpenBookQA', 'ARC-C'],
    rows: [
      ['RD 1/16 (drop+int8)', '52.6', '57.2'], ['RD 1/16 (drop+int4+int8)', '53.4', '57.0'],
      ['RD 1/8 (drop+int8)', '52.4', '54.9'], ['RD 1/8 (drop+int4+int8)', '52.4', '54.9'],
    ],
  },
  hetero: {
    caption: 'Seed 001 reports, Table 6 (hetero spot check Qwen3 -> Llama3.2, alignment on; accuracy %)',
    header: ['setting', 'OpenBookQA', 'ARC-C'],
    rows: [['M9 delta (p=0.25)', '40.0', '44.6'], ['M10 RD (1/8)', '40.4', '46.0']],
  },
  mixed: {
    caption: `${SEED001}, Table 7 (mixed precision)`,
    header: ['setting', 'OpenBookQA', 'ARC-C'],
    rows: [['INT8 + last-2 FP16', '53.0', '55.0'], ['INT8 + last-4 FP16', '52.8', '55.3'], ['INT8 + last-8 FP16', '52.4', '55.2']],
  },
  q2c: {
    caption: 'Seed 002 claims (7 models, 4 tasks; no per-table numbers given)',
    header: ['claim', 'value'],
    rows: [
      ['Q2C vs SnapKV at 25% retention', '+29 to +47% (relative)'], ['Q2C vs H2O at 25% retention', '+92 to +128% (relative)'],
      ['INT4 quality (Yi-6B vs Qwen-7B, same GQA shape)', '100% vs 77% of FP16'], ['one protected bottleneck layer', 'lossless at ~3.6x'],
      ['delta encoding + quantization', '−5.6 to −14.0 points'],
    ],
  },
  latency: {
    caption: 'Seed 002 claims (per-stage latency, GPU + simulated link) and seed 003 (TTFT, GPU)',
    header: ['claim', 'value'],
    rows: [['transmission vs other stages (seed 002)', 'TX dominates, ~43x'], ['QKVShare TTFT vs re-prefill at 8K (seed 003)', '397 ms vs 1030 ms']],
  },
};
