/**
 * Task accuracy of handoffs against the no-handoff run, on the same examples (paired): single
 * cards at each compression, text relay, and multi-hop chains. Every path is the real one —
 * Sharer.card -> bytes -> Receiver.fromCard (verify, decode, inject) — in one process.
 */
import type { Session } from '../engine/index.js';
import type { CardModel } from '../card/index.js';
import { taskItems } from '../eval/compress-eval-items.js';
import { taskExamples } from '../eval/run-task.js';
import { mcnemar, pairedBootstrap, wilsonInterval } from '../eval/stats.js';
import type { TaskName } from '../eval/tasks/index.js';
import { runChain } from './chain.js';
import { lookaheadFor } from './compression.js';
import { Receiver } from './receiver.js';
import { Sharer } from './sharer.js';

export interface AccuracyOptions {
  tasks: TaskName[];
  n: number;
  seed?: number;
  /** Single-hop card compressions. */
  compressions: string[];
  /** Hop counts for chains (1 is the single card). */
  hops: number[];
  /** Compressions of the chains. */
  chainCompressions: string[];
  /** Text relay note size as a fraction of the context's tokens (0 = no relay row). */
  relayKeep?: number;
  /** Generator options per task (e.g. needle: { length: 1024 }). */
  taskOptions?: Partial<Record<TaskName, Record<string, unknown>>>;
  onProgress?: (task: TaskName, done: number, n: number) => void;
}

export interface AccuracyRow {
  task: TaskName;
  method: string;
  hops: number;
  n: number;
  correct: number;
  accuracy: number;
  ci95: { low: number; high: number };
  /** Accuracy minus the no-handoff accuracy, in points, with a paired-bootstrap 95% interval. */
  deltaPoints: number;
  deltaCi95: { low: number; high: number };
  /** McNemar's two-sided p-value against no-handoff. */
  pValue: number;
  /** Fraction of examples whose answer text equals the no-handoff answer. */
  agree: number;
  /** Mean bytes sent (card bytes summed over hops, or text bytes). */
  meanBytes: number;
  /** The examples whose tokens split cleanly at the context (see taskItems). */
  sameTokens: number;
  /**
   * One character per example, in the task's example order: '1' right, '0' wrong. Rows of one
   * task and seed pair up example by example, so several runs (seeds) can be pooled for paired
   * statistics (McNemar, bootstrap) over all of them.
   */
  outcomes: string;
}

export async function handoffAccuracy(session: Session, model: CardModel, o: AccuracyOptions): Promise<AccuracyRow[]> {
  const tok = session.spec.tokenizer;
  const rows: AccuracyRow[] = [];
  // The sharer drafts once per item, as far as the longest lookahead Q2C asks (+aheadN).
  const lookahead = lookaheadFor(o.compressions);
  for (const task of o.tasks) {
    const items = taskItems(task, o.n, tok, o.seed ?? 0, o.taskOptions?.[task] ?? {});
    const texts = taskExamples(task, o.n, tok, o.seed ?? 0, o.taskOptions?.[task] ?? {}).map((e) => e.context);
    const maxTokens = task === 'arith' ? 48 : 12;
    const results = new Map<string, { hops: number; right: boolean[]; text: string[]; bytes: number[] }>();
    const record = (method: string, hops: number, right: boolean, text: string, bytes: number) => {
      let r = results.get(method);
      if (!r) results.set(method, (r = { hops, right: [], text: [], bytes: [] }));
      r.right.push(right);
      r.text.push(text.trim());
      r.bytes.push(bytes);
    };
    for (const [i, item] of items.entries()) {
      const score = item.score!;
      const base = await session.generate([...item.context, ...item.question], { maxTokens, until: (t) => tok.decode(t).includes('\n') });
      const baseText = tok.decode(base.tokens).split('\n')[0];
      record('no handoff', 0, score(baseText), baseText, 0);
      const sharer = new Sharer(session, { model });
      const receiver = new Receiver(session, { model });
      const ctx = await sharer.read(item.context, { question: item.question, lookahead, text: texts[i] });
      for (const c of o.compressions) {
        const { card } = await sharer.card(ctx.id, c);
        const a = await receiver.fromCard({ bytes: card.bytes }, item.question, { maxTokens });
        record(`card ${c}`, 1, score(a.text), a.text, card.bytes.length);
      }
      if (o.relayKeep) {
        const note = await sharer.text(ctx.id, 'note', o.relayKeep);
        const a = await receiver.fromText({ text: note }, item.question, { maxTokens });
        record(`text relay ${Math.round(o.relayKeep * 100)}%`, 1, score(a.text), a.text, Buffer.byteLength(note));
      }
      for (const h of o.hops.filter((x) => x > 1 && x <= item.context.length)) {
        for (const c of o.chainCompressions) {
          const r = await runChain(session, item.context, item.question, { model, hops: h, compression: c, maxTokens });
          record(`chain ${c} x${h}`, h, score(r.answer.text), r.answer.text, r.cardBytes.reduce((a, b) => a + b, 0));
        }
      }
      o.onProgress?.(task, i + 1, items.length);
    }
    const base = results.get('no handoff')!;
    for (const [method, r] of results) {
      const n = r.right.length;
      const correct = r.right.filter(Boolean).length;
      const paired = n === base.right.length;
      const boot = paired ? pairedBootstrap(base.right, r.right, { seed: 1 }) : null;
      rows.push({
        task, method, hops: r.hops, n, correct, accuracy: correct / n, ci95: wilsonInterval(correct, n),
        deltaPoints: boot ? 100 * boot.estimate : NaN, deltaCi95: boot ? { low: 100 * boot.low, high: 100 * boot.high } : { low: NaN, high: NaN },
        pValue: paired ? mcnemar(base.right, r.right).pValue : NaN,
        agree: paired ? r.text.filter((t, k) => t === base.text[k]).length / n : NaN,
        meanBytes: r.bytes.reduce((a, b) => a + b, 0) / n, sameTokens: items.filter((it) => it.sameTokens).length,
        outcomes: r.right.map((x) => (x ? '1' : '0')).join(''),
      });
    }
  }
  return rows;
}
