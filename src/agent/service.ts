/**
 * An agent's HTTP service: every agent can share (serve cards of the contexts it has read) and
 * receive (fetch a card from another agent and answer). JSON routes are operations; cards travel
 * as binary streams.
 *
 *   POST /contexts              {text | tokens, question? | questionTokens?, lookahead?, id?}  read a context
 *   POST /contexts/:id/card     {compression}             make a card now and stream it as it is encoded
 *                                                          (card-stream.ts; Content-Location for resumption)
 *   GET  /cards/:digest                                   a card made earlier (Range / If-Range resume)
 *   POST /contexts/:id/text     {mode: full|note, keep?}  text for the re-prefill and relay baselines
 *   DELETE /contexts/:id
 *   POST /answer                {from, context, via: card|text|note, compression?, keep?,
 *                                question | questionTokens, maxTokens?}   receive and answer
 *   GET  /health
 *
 * The same operations are reachable without HTTP through `ops` (the benchmark drives agents in
 * other network namespaces over their stdin).
 */
import type { ServerResponse } from 'node:http';
import { KvwireError } from '../errors.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CardStore, LinkShaper, createService, drained, readJson, sendJson, serveCard, type LinkSpec, type Service, type StoredCard } from '../transport/index.js';
import type { AgentHost } from './agent-host.js';
import { streamCard, type PendingCards } from './card-stream.js';

export interface AgentServiceOptions {
  host?: string;
  port?: number;
  /** Emulated link applied to everything this agent sends (cards and text). */
  link?: LinkSpec;
  /** Bytes of cards kept for resumption (default 2 GiB). */
  storeBytes?: number;
}

export type Ops = Record<string, (body: any) => Promise<unknown>>;

export interface AgentService extends Service {
  ops: Ops;
}

/** Operations shared by the HTTP routes and the stdin control channel. */
export function agentOps(agent: AgentHost): Ops {
  return {
    health: async () => ({ fingerprint: agent.fingerprint, layers: agent.config?.layers, kvHeads: agent.config?.kvHeads, headDim: agent.config?.headDim }),
    fetchFile: (b) => agent.call('fetchFile', b),
    warmup: (b) => agent.call('warmup', b),
    read: (b) => agent.call('read', b),
    adopt: (b) => agent.call('adopt', b),
    drop: (b) => agent.call('drop', b),
    text: (b) => agent.call('text', b),
    answer: async (b: { from: string; context: string; via?: 'card' | 'text' | 'note'; compression?: string; keep?: number; question?: string; questionTokens?: number[]; maxTokens?: number }) => {
      if (!b.from || !b.context) throw new KvwireError('BAD_ARGUMENT', 'answer needs "from" (the sharer\'s URL) and "context" (its context id)');
      const base = b.from.replace(/\/$/, '');
      const ctx = encodeURIComponent(b.context);
      const q = { question: b.question, questionTokens: b.questionTokens, maxTokens: b.maxTokens };
      const via = b.via ?? 'card';
      if (via === 'card') return agent.call('fromCard', { url: `${base}/contexts/${ctx}/card`, request: { compression: b.compression ?? 'int4' }, ...q });
      if (via === 'text' || via === 'note') {
        return agent.call('fromText', { url: `${base}/contexts/${ctx}/text`, request: { mode: via === 'text' ? 'full' : 'note', keep: b.keep }, ...q });
      }
      throw new KvwireError('BAD_ARGUMENT', `answer: "via" must be card, text or note, got "${via}"`);
    },
  };
}

export async function createAgentService(agent: AgentHost, options: AgentServiceOptions = {}): Promise<AgentService> {
  const store = new CardStore(options.storeBytes);
  const shaper = () => (options.link ? new LinkShaper(options.link) : undefined);
  const files = new Map<string, StoredCard>();
  const pending: PendingCards = new Map();
  const ops: Ops = {
    ...agentOps(agent),
    // Any file, served like a card (Range, link shaping): the benchmark moves the llama.cpp
    // peer's state file over the same link this way.
    publish: async (b: { name: string; path: string }) => {
      const bytes = new Uint8Array(readFileSync(b.path));
      files.set(b.name, { bytes, digest: createHash('sha256').update(bytes).digest('hex') });
      return { url: `/files/${encodeURIComponent(b.name)}`, bytes: bytes.length };
    },
  };
  const service = await createService(async (req, res, url) => {
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const route = `${req.method} /${parts.map((p, i) => (i % 2 ? ':' : p)).join('/')}`;
    switch (route) {
      case 'GET /health': return sendJson(res, 200, await ops.health({}));
      case 'POST /contexts': return sendJson(res, 200, await ops.read(await readJson(req, 64 << 20)));
      case 'POST /answer': return sendJson(res, 200, await ops.answer(await readJson(req, 16 << 20)));
      case 'DELETE /contexts/:': return sendJson(res, 200, await ops.drop({ id: parts[1] }));
      case 'POST /contexts/:/text': {
        const b = await readJson<{ mode?: 'full' | 'note'; keep?: number }>(req);
        const r = await ops.text({ id: parts[1], mode: b.mode ?? 'full', keep: b.keep });
        return sendShaped(res, Buffer.from(JSON.stringify(r)), shaper());
      }
      case 'POST /contexts/:/card': {
        const b = await readJson<{ compression?: string }>(req);
        return streamCard(req, res, agent, store, pending, { id: parts[1], compression: b.compression ?? 'int4' }, shaper());
      }
      case 'GET /files/:': {
        const file = files.get(parts[1]);
        if (!file) throw new KvwireError('FILE_NOT_FOUND', `no file ${parts[1]} published here`);
        return serveCard(req, res, file, { shaper: shaper() });
      }
      case 'GET /cards/:':
      case 'HEAD /cards/:': {
        await pending.get(parts[1]); // a resume may arrive while the card is still being written
        const card = store.get(parts[1]);
        if (!card) throw new KvwireError('FILE_NOT_FOUND', `no card ${parts[1]} here (expired?)`);
        return serveCard(req, res, card, { shaper: shaper() });
      }
      default:
        throw new KvwireError('FILE_NOT_FOUND', `no route ${req.method} ${url.pathname}`);
    }
  }, { host: options.host, port: options.port });
  return { ...service, ops };
}

/** A JSON reply written through the link shaper (so text baselines cross the same link as cards). */
async function sendShaped(res: ServerResponse, body: Buffer, shaper: LinkShaper | undefined): Promise<void> {
  if (shaper) await shaper.delay();
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  if (shaper) await shaper.write(res, body);
  else if (!res.write(body)) await drained(res);
  res.end();
}

/** Reads `{id, op, body}` lines from `input`, answers `{id, result}` / `{id, error}` lines on `output`. */
export function serveLines(ops: Ops, input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    let buffered = '';
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line) continue;
        void (async () => {
          let id: unknown = null;
          try {
            const m = JSON.parse(line) as { id: unknown; op: string; body?: unknown };
            id = m.id;
            const fn = ops[m.op];
            if (!fn) throw new KvwireError('BAD_ARGUMENT', `unknown op "${m.op}"`);
            output.write(JSON.stringify({ id, result: await fn(m.body ?? {}) }) + '\n');
          } catch (e) {
            const err = e instanceof KvwireError ? { code: e.code, message: e.message } : { message: (e as Error)?.message ?? String(e) };
            output.write(JSON.stringify({ id, error: err }) + '\n');
          }
        })();
      }
    });
    input.on('end', () => resolve());
  });
}

