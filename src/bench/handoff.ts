/**
 * npm run bench:handoff — receiver TTFT (from asking for the card to the first token), its stages
 * and bytes, for FP16 / INT8 / INT4 / INT4+Q2C25% cards at 1K–8K tokens of context, over loopback
 * and emulated 1000 / 100 / 10 Mbit/s links with 20 ms RTT; baselines: re-prefill from text and
 * node-llama-cpp's state handoff (saveStateToFile -> the file over the same link ->
 * loadStateFromFile). Timing on random weights with Qwen2.5-0.5B's shapes; accuracy (single hop,
 * text relay, multi-hop chains) on a trained zoo model. Writes bench/results/handoff.json.
 *
 *   --contexts 1024,2048,4096,8192   --links loopback,1000mbit,100mbit,10mbit
 *   --compressions fp16,int8,int4,int4-q2c25,int4-q2c25+ahead2+pool4x4 (+ahead: accuracy only)   --question 16 (tokens)   --reps 3 (loopback) --link-reps 1   --threads 2
 *   --no-peer   --no-timing   --accuracy-model PATH (default: the default zoo model) | --no-accuracy
 *   --tasks needle,instr,arith (needle at --needle-length 1024)   -n 100   --hops 1,2,5,10   --chain int8,int4   --work DIR
 *   --name handoff (bench/results/NAME.json; name partial runs apart)   --reuse (phases 1-2 from --work, if there)
 *   --seed 0 (task examples' seed for accuracy)
 *
 * Phases: (1) this process prefills each context on the random model (the sharer's reading) and
 * stores the cache as a lossless fp32 card plus the question's attention (for Q2C); (2) the peer
 * prefills, saves and loads its state; (3) per link, a sharer agent process (no model: it adopts
 * the stored contexts, then selects, quantizes and encodes on request) and a receiver agent
 * process (the model) run a real handoff each time; emulated links put them in two network
 * namespaces (scripts/netns.sh). Re-prefill is measured end to end on loopback; on emulated
 * links it is the loopback compute plus the measured transfer of the text; the peer's TTFT is
 * save + its file's measured transfer + load + first token.
 */
import { mkdirSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Session } from '../engine/index.js';
import { fingerprint } from '../model/index.js';
import { encodeCard, presetPrecision, type CardModel } from '../card/index.js';
import { rowMass } from '../select/index.js';
import { createAgentProcess, lookaheadFor, type AgentProcess, type Answer } from '../agent/index.js';
import { handoffAccuracy, type AccuracyRow } from '../agent/accuracy.js';
import { createLlamaPeer, writeRandomQwen2Gguf, type PeerHandoff } from '../agent/llamacpp-peer.js';
import { loadModel } from '../model/index.js';
import { canEmulateLinks, createEmulatedLink } from '../transport/index.js';
import type { TaskName } from '../eval/tasks/index.js';
import { DEFAULT_MODEL } from '../cli/defaults.js';
import { QWEN25_05B, randomSpec } from './engine.js';
import { benchArgs, printTable, writeResults, type Row } from './report.js';
import { kernelPath } from '../quant/wasm/kernels.js';

const { values: opt } = benchArgs('handoff', {
  contexts: { type: 'string', default: '1024,2048,4096,8192' }, links: { type: 'string', default: 'loopback,1000mbit,100mbit,10mbit' },
  compressions: { type: 'string', default: 'fp16,int8,int4,int4-q2c25,int4-q2c25+ahead2+pool4x4' }, question: { type: 'string', default: '16' },
  reps: { type: 'string', default: '3' }, 'link-reps': { type: 'string', default: '1' }, threads: { type: 'string', default: '2' }, 'no-peer': { type: 'boolean' },
  'no-timing': { type: 'boolean' }, 'accuracy-model': { type: 'string' }, 'no-accuracy': { type: 'boolean' },
  tasks: { type: 'string', default: 'needle,instr,arith' }, n: { type: 'string', short: 'n', default: '100' }, 'needle-length': { type: 'string', default: '1024' },
  hops: { type: 'string', default: '1,2,5,10' }, chain: { type: 'string', default: 'int8,int4' }, work: { type: 'string', default: '/tmp/kvwire-bench' },
  name: { type: 'string', default: 'handoff' }, reuse: { type: 'boolean' }, seed: { type: 'string', default: '0' },
});
const contexts = opt.contexts!.split(',').map(Number);
const compressions = opt.compressions!.split(',');
// Timing runs on random weights, whose "draft answer" means nothing: lookahead cards (+aheadN) are
// measured for accuracy only (their bytes are the plain Q2C card's, within 0.1%).
const timedCompressions = compressions.filter((c) => !lookaheadFor([c]));
const Q = Number(opt.question);
const repsFor = (link: string) => Number(link === 'loopback' ? opt.reps : opt['link-reps']);
const threads = Number(opt.threads);
const work = opt.work!;
mkdirSync(work, { recursive: true });
const MODEL = 'random:qwen2.5-0.5b';
const contextTokens = (T: number) => Array.from({ length: T }, (_, i) => 300 + ((i * 7919) % 150000));
const questionTokens = Array.from({ length: Q }, (_, i) => 200 + i * 13);
const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const errors: string[] = [];

interface Prepared { T: number; prefillMs: number; q2cMs: number; cardFile: string; massFile: string; textFile: string }

/** Phase 1: the sharer's reading of each context, stored for the store-only sharer agent. */
async function prepare(): Promise<{ model: CardModel; prepared: Prepared[] }> {
  const saved = join(work, 'prepared.json');
  if (opt.reuse && existsSync(saved)) {
    const s = JSON.parse(readFileSync(saved, 'utf8')) as { model: CardModel; prepared: Prepared[] };
    if (contexts.every((T) => s.prepared.some((p) => p.T === T))) {
      log(`reusing phase 1 from ${saved}`);
      return { model: s.model, prepared: s.prepared.filter((p) => contexts.includes(p.T)) };
    }
  }
  const spec = randomSpec(QWEN25_05B);
  const model = fingerprint(spec);
  const session = await Session.create(spec, { threads });
  spec.weights.clear(); // onnxruntime has its own copy
  await session.prefill(contextTokens(64)); // onnxruntime plans its kernels on the first runs
  const prepared: Prepared[] = [];
  for (const T of contexts) {
    let t = performance.now();
    const { cache } = await session.prefill(contextTokens(T));
    const prefillMs = performance.now() - t;
    t = performance.now();
    const rows = questionTokens.map((_, i) => i);
    const { attention } = await session.prefill(questionTokens, { past: cache, attentionRows: rows });
    const q2cMs = performance.now() - t;
    const heads = spec.config.heads;
    const mass = attention!.probs.map((p) => rowMass(p, heads, Q, T + Q, T, rows));
    const f = (ext: string) => join(work, `ctx-${T}.${ext}`);
    writeFileSync(f('mass'), Buffer.concat(mass.map((m) => Buffer.from(m.buffer, m.byteOffset, m.byteLength))));
    writeFileSync(f('card'), encodeCard(cache, { model, precision: presetPrecision('fp32', T) }).bytes);
    writeFileSync(f('txt'), 'a'.repeat(T - 1)); // T tokens with BOS under the random model's byte tokenizer
    prepared.push({ T, prefillMs, q2cMs, cardFile: f('card'), massFile: f('mass'), textFile: f('txt') });
    log(`prepared ${T} tokens: sharer prefill ${prefillMs.toFixed(0)} ms, question attention ${q2cMs.toFixed(0)} ms`);
  }
  await session.dispose();
  writeFileSync(saved, JSON.stringify({ model, prepared }));
  return { model, prepared };
}

/** Phase 2: node-llama-cpp's state handoff on a same-shape random GGUF. */
async function peer(): Promise<Map<number, PeerHandoff & { stateFile: string }>> {
  const out = new Map<number, PeerHandoff & { stateFile: string }>();
  const saved = join(work, 'peer.json');
  if (opt.reuse && existsSync(saved)) {
    const s = new Map(JSON.parse(readFileSync(saved, 'utf8')) as Array<[number, PeerHandoff & { stateFile: string }]>);
    if (contexts.every((T) => s.has(T))) {
      log(`reusing phase 2 from ${saved}`);
      return s;
    }
  }
  const gguf = writeRandomQwen2Gguf(join(work, 'qwen25-05b-random-f16.gguf'), QWEN25_05B);
  const p = await createLlamaPeer(gguf, { threads, contextSize: Math.max(...contexts) + Q + 16 });
  try {
    await p.handoff(contextTokens(32), questionTokens, join(work, 'peer-warmup.state'));
    for (const T of contexts) {
      const stateFile = join(work, `peer-${T}.state`);
      const r = await p.handoff(contextTokens(T), questionTokens, stateFile);
      out.set(T, { ...r, stateFile });
      log(`peer ${T}: prefill ${r.contextPrefillMs.toFixed(0)} ms, save ${r.saveMs.toFixed(1)} ms (${r.stateBytes} B), load ${r.loadMs.toFixed(1)} ms, first token ${r.firstTokenMs.toFixed(0)} ms`);
    }
  } finally {
    await p.close();
  }
  writeFileSync(saved, JSON.stringify([...out]));
  return out;
}

type Measured = { link: string; T: number; method: string; bytes: number; ttftMs: number; stages: Record<string, number>; note?: string };

/** Phase 3 on one pair of agents: every context and method over the link the pair sits on. */
async function measure(link: string, sharer: AgentProcess, receiver: AgentProcess, sharerUrl: string, prep: Prepared[],
  peers: Map<number, PeerHandoff & { stateFile: string }>, reprefill: Map<number, number>): Promise<Measured[]> {
  const out: Measured[] = [];
  const median = <X>(xs: X[], key: (x: X) => number) => [...xs].sort((a, b) => key(a) - key(b))[xs.length >> 1];
  for (const p of prep) {
    for (const c of timedCompressions) {
      const runs: Answer[] = [];
      for (let r = 0; r < repsFor(link); r++) {
        runs.push(await receiver.call('answer', { from: sharerUrl, context: `T${p.T}`, via: 'card', compression: c, questionTokens, maxTokens: 1 }));
      }
      const a = median(runs, (x) => x.timings.ttftMs);
      out.push({ link, T: p.T, method: `card ${c}`, bytes: a.bytes, ttftMs: a.timings.ttftMs, stages: {
        plan: a.sharer?.planMs ?? NaN, encode: a.sharer?.encodeMs ?? NaN, 'transfer+verify': a.timings.fetchMs, decode: a.timings.decodeMs,
        inject: a.timings.injectMs, 'question+first token': a.timings.ttftMs - a.timings.fetchMs - a.timings.injectMs,
      } });
      log(`${link} ${p.T} card ${c}: ${a.bytes} B, TTFT ${a.timings.ttftMs.toFixed(0)} ms`);
    }
    if (link === 'loopback') {
      const a: Answer = await receiver.call('answer', { from: sharerUrl, context: `T${p.T}`, via: 'text', questionTokens, maxTokens: 1 });
      reprefill.set(p.T, a.timings.ttftMs - a.timings.fetchMs);
      out.push({ link, T: p.T, method: 're-prefill', bytes: a.bytes, ttftMs: a.timings.ttftMs, stages: { 'transfer+verify': a.timings.fetchMs, prefill: a.timings.ttftMs - a.timings.fetchMs } });
    } else if (reprefill.has(p.T)) {
      const f = await receiver.call('fetchFile', { url: `${sharerUrl}/files/text-${p.T}` });
      out.push({ link, T: p.T, method: 're-prefill', bytes: f.bytes, ttftMs: f.ms + reprefill.get(p.T)!, note: 'loopback compute + measured text transfer',
        stages: { 'transfer+verify': f.ms, prefill: reprefill.get(p.T)! } });
    }
    const pr = peers.get(p.T);
    if (pr) {
      const f = await receiver.call('fetchFile', { url: `${sharerUrl}/files/peer-${p.T}` });
      out.push({ link, T: p.T, method: 'llama.cpp state', bytes: f.bytes, ttftMs: pr.saveMs + f.ms + pr.loadMs + pr.firstTokenMs,
        note: 'save + measured transfer + load + first token', stages: { save: pr.saveMs, 'transfer+verify': f.ms, inject: pr.loadMs, 'question+first token': pr.firstTokenMs } });
      log(`${link} ${p.T} peer state: ${f.bytes} B in ${f.ms.toFixed(0)} ms`);
    }
  }
  return out;
}

async function startPair(model: CardModel, prep: Prepared[], peers: Map<number, PeerHandoff & { stateFile: string }>, placement: { s?: string[]; r?: string[]; host?: string }) {
  const [sharer, receiver] = await Promise.all([
    createAgentProcess({ model: '', storeOnly: model, prefix: placement.s, host: placement.host }),
    createAgentProcess({ model: MODEL, prefix: placement.r, threads }),
  ]);
  for (const p of prep) {
    await sharer.call('adopt', { cardFile: p.cardFile, massFile: p.massFile, heads: QWEN25_05B.heads, id: `T${p.T}`, text: 'a'.repeat(p.T - 1) });
    await sharer.call('publish', { name: `text-${p.T}`, path: p.textFile });
    const pr = peers.get(p.T);
    if (pr) await sharer.call('publish', { name: `peer-${p.T}`, path: pr.stateFile });
  }
  await receiver.call('warmup');
  return { sharer, receiver };
}

async function timing(): Promise<{ rows: Measured[]; prep: Prepared[]; peers: Record<number, PeerHandoff> }> {
  const { model, prepared } = await prepare();
  const peers = opt['no-peer'] ? new Map() : await peer();
  const links = opt.links!.split(',');
  const rows: Measured[] = [];
  const reprefill = new Map<number, number>();
  // One link failing (a transfer that gives up) must not lose the others: record and go on,
  // and checkpoint what was measured after every link.
  const run = async (link: string, go: () => Promise<Measured[]>) => {
    try {
      rows.push(...await go());
    } catch (e) {
      log(`${link}: failed: ${(e as Error).message}`);
      errors.push(`${link}: ${(e as Error).message}`);
    }
    writeResults(`${opt.name}-partial`, { rows, errors });
  };
  if (links.includes('loopback')) {
    const { sharer, receiver } = await startPair(model, prepared, peers, {});
    try {
      await run('loopback', () => measure('loopback', sharer, receiver, sharer.url, prepared, peers, reprefill));
    } finally {
      await Promise.all([sharer.close(), receiver.close()]);
    }
  }
  const emulated = links.filter((l) => l !== 'loopback');
  if (emulated.length && !canEmulateLinks()) console.log(`skipping ${emulated.join(', ')}: emulated links need root and iproute2 (scripts/netns.sh)`);
  else if (emulated.length) {
    const link = await createEmulatedLink(emulated[0], 10);
    try {
      const { sharer, receiver } = await startPair(model, prepared, peers, { s: link.prefix('s'), r: link.prefix('r'), host: '0.0.0.0' });
      try {
        const port = await link.relay(Number(new URL(sharer.url).port));
        const url = `http://${link.sharerIp}:${port}`;
        log(`namespaces up: receiver ${link.receiverIp} -> sharer ${url}; delay ${link.netem ? 'netem' : 'user-space relay (no sch_netem in this kernel)'}`);
        for (const rate of emulated) {
          link.reshape(rate);
          await run(rate, () => measure(rate, sharer, receiver, url, prepared, peers, reprefill));
        }
      } finally {
        await Promise.all([sharer.close(), receiver.close()]);
      }
    } finally {
      await link.close();
    }
  }
  return { rows, prep: prepared, peers: Object.fromEntries(peers) };
}

function report(rows: Measured[]): Row[] {
  const table: Row[] = rows.map((m) => {
    const peerRow = rows.find((x) => x.link === m.link && x.T === m.T && x.method === 'llama.cpp state');
    const re = rows.find((x) => x.link === m.link && x.T === m.T && x.method === 're-prefill');
    const s = (k: string) => (m.stages[k] === undefined || !Number.isFinite(m.stages[k]) ? '' : Math.round(m.stages[k] * 10) / 10);
    return {
      link: m.link, context: m.T, method: m.method, 'bytes': m.bytes, 'TTFT ms': Math.round(m.ttftMs),
      'plan': s('plan'), 'encode': s('encode'), 'transfer+verify': s('transfer+verify'), 'decode (in transfer)': s('decode'),
      'inject/load': s('inject'), 'question+1st tok': s('question+first token'),
      'x re-prefill': re ? Math.round((re.ttftMs / m.ttftMs) * 100) / 100 : '', 'x peer': peerRow ? Math.round((peerRow.ttftMs / m.ttftMs) * 100) / 100 : '',
    };
  });
  printTable(table);
  return table;
}

function targets(rows: Measured[], acc: AccuracyRow[]): Record<string, unknown> {
  const at = (link: string, T: number, method: string) => rows.find((r) => r.link === link && r.T === T && r.method === method);
  const out: Record<string, unknown> = {};
  const peer4 = at('loopback', 4096, 'llama.cpp state');
  for (const c of timedCompressions) {
    const k = at('loopback', 4096, `card ${c}`);
    if (k && peer4) out[`loopback 4K: card ${c} TTFT within 2x of the peer's state handoff`] = { met: k.ttftMs <= 2 * peer4.ttftMs, kvwireMs: k.ttftMs, peerMs: peer4.ttftMs };
    if (k) out[`loopback 4K: card ${c} encode + decode <= 10% of TTFT`] = { met: k.stages.encode + k.stages.decode <= 0.1 * k.ttftMs, share: (k.stages.encode + k.stages.decode) / k.ttftMs };
  }
  for (const T of contexts) {
    const k = at('10mbit', T, 'card int4-q2c25');
    const p = at('10mbit', T, 'llama.cpp state');
    if (k && p) out[`10 Mbit/s ${T}: INT4+Q2C25% card >= 10x faster than the peer's state handoff`] = { met: p.ttftMs >= 10 * k.ttftMs, speedup: p.ttftMs / k.ttftMs };
  }
  // Every INT4 + Q2C 25% card asked for: plain, and with options (+aheadN: its draft is made when
  // the sharer reads, before any card is asked for, and its card has the same size; +poolBxA; the
  // KIVI-paired int4k).
  for (const r of acc.filter((a) => /^card int4k?-q2c25(\+[a-z]+\d*(x\d+)?)*$/.test(a.method))) {
    out[`${r.task}: ${r.method.slice(5)} card loses <= 1 point of accuracy`] = { met: r.deltaPoints >= -1, deltaPoints: r.deltaPoints, ci95: r.deltaCi95, n: r.n };
  }
  for (const r of acc.filter((a) => a.method.startsWith('chain') && a.hops === 10)) {
    out[`${r.task}: ${r.method} within 5 points of no handoff (seed 003's falsification test)`] = { met: r.deltaPoints >= -5, deltaPoints: r.deltaPoints, ci95: r.deltaCi95 };
  }
  return out;
}

async function accuracy(): Promise<{ model: string; rows: AccuracyRow[] } | null> {
  if (opt['no-accuracy']) return null;
  const path = opt['accuracy-model'] ?? (existsSync(DEFAULT_MODEL) ? DEFAULT_MODEL : undefined);
  if (!path) {
    console.log(`no zoo model at ${DEFAULT_MODEL}: skipping accuracy (pass --accuracy-model PATH)`);
    return null;
  }
  const spec = loadModel(path);
  const session = await Session.create(spec, { threads });
  const tasks = opt.tasks!.split(',') as TaskName[];
  log(`accuracy on ${path}: ${tasks.join(', ')}, n = ${opt.n}`);
  try {
    const rows = await handoffAccuracy(session, fingerprint(spec), {
      tasks, n: Number(opt.n), seed: Number(opt.seed), compressions, hops: opt.hops!.split(',').map(Number), chainCompressions: opt.chain!.split(','), relayKeep: 0.25,
      taskOptions: { needle: { length: Number(opt['needle-length']) } },
      onProgress: (task, done, n) => { if (done % 25 === 0 || done === n) log(`${task}: ${done}/${n}`); },
    });
    printTable(rows.map((r) => ({
      task: r.task, method: r.method, hops: r.hops, n: r.n, accuracy: `${(100 * r.accuracy).toFixed(1)}%`,
      '95% CI': `${(100 * r.ci95.low).toFixed(1)}-${(100 * r.ci95.high).toFixed(1)}`, 'Δ points': Number.isFinite(r.deltaPoints) ? r.deltaPoints.toFixed(1) : '',
      'Δ 95% CI': Number.isFinite(r.deltaCi95.low) ? `${r.deltaCi95.low.toFixed(1)}..${r.deltaCi95.high.toFixed(1)}` : '', 'McNemar p': Number.isFinite(r.pValue) ? r.pValue.toFixed(3) : '',
      'same answer': Number.isFinite(r.agree) ? `${(100 * r.agree).toFixed(0)}%` : '', 'mean bytes': Math.round(r.meanBytes),
    })));
    return { model: path, rows };
  } finally {
    await session.dispose();
  }
}

const t0 = performance.now();
const load = [os.loadavg()];
log(`codec kernels: ${kernelPath()}`);
const timed = opt['no-timing'] ? null : await timing();
const table = timed ? report(timed.rows) : [];
const acc = await accuracy();
const goals = targets(timed?.rows ?? [], acc?.rows ?? []);
for (const [k, v] of Object.entries(goals)) console.log(`${(v as { met: boolean }).met ? 'MET ' : 'MISS'}  ${k}  ${JSON.stringify(v)}`);
const path = writeResults(opt.name!, {
  command: `npm run bench:handoff -- ${process.argv.slice(2).join(' ')}`.trim(), model: 'random weights, Qwen2.5-0.5B shapes (timing)', questionTokens: Q,
  reps: { loopback: Number(opt.reps), links: Number(opt['link-reps']) }, threads, kernels: kernelPath(),
  // 1/5/15-minute load averages at the start and the end: this machine's 2 cores are shared.
  loadAverage: [...load, os.loadavg()],
  prepared: timed?.prep, peer: timed?.peers, table, rows: timed?.rows, errors, accuracy: acc, targets: goals, wallSeconds: (performance.now() - t0) / 1000,
});
console.log(`wrote ${path} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
