/**
 * AgentHost: the main-thread handle of an agent's worker (host.ts). create / call / dispose.
 *
 *   const host = await AgentHost.create({ model: 'models/kvw-tiny' });
 *   await host.call('read', { text, question });
 *   await host.dispose();
 */
import { Worker } from 'node:worker_threads';
import { KvwireError, type KvwireErrorCode } from '../errors.js';
import type { ModelConfig } from '../model/index.js';
import type { CardModel } from '../card/index.js';
import type { HostConfig } from './models.js';

interface Pending { resolve: (v: any) => void; reject: (e: unknown) => void; onPartial?: (p: any) => void }

export class AgentHost {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /** `config` is null for a store-only sharer (no model loaded). */
  private constructor(private readonly worker: Worker, readonly fingerprint: CardModel, readonly config: ModelConfig | null) {}

  static async create(config: HostConfig): Promise<AgentHost> {
    const worker = new Worker(new URL('./host.js', import.meta.url), { workerData: config });
    let ready: { fingerprint: CardModel; config: ModelConfig | null };
    try {
      ready = await new Promise((resolve, reject) => {
        worker.once('message', (m) => (m.error ? reject(revive(m.error)) : resolve(m.ready)));
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new KvwireError('ENGINE', `agent worker exited (${code}) before it was ready`)));
      });
    } catch (e) {
      await worker.terminate();
      throw e;
    }
    const host = new AgentHost(worker, ready.fingerprint, ready.config);
    worker.on('message', (m: { id: number; result?: unknown; partial?: unknown; error?: { code?: string; message: string } }) => {
      const p = host.pending.get(m.id);
      if (!p) return;
      if (m.partial !== undefined) {
        p.onPartial?.(m.partial);
        return;
      }
      host.pending.delete(m.id);
      if (m.error) p.reject(revive(m.error));
      else p.resolve(m.result);
    });
    worker.on('error', (e) => host.failAll(e));
    worker.on('exit', (code) => host.failAll(new KvwireError('ENGINE', `agent worker exited (${code})`)));
    return host;
  }

  /** Runs `op` in the worker; `onPartial` receives a streaming operation's intermediate messages. */
  call<T = any>(op: string, args: unknown = {}, onPartial?: (partial: any) => void): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onPartial });
      this.worker.postMessage({ id, op, args });
    });
  }

  async dispose(): Promise<void> {
    try {
      await this.call('dispose');
    } finally {
      await this.worker.terminate();
    }
  }

  private failAll(e: unknown): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

function revive(e: { code?: string; message: string; path?: string }): Error {
  return e.code ? new KvwireError(e.code as KvwireErrorCode, e.message, { path: e.path }) : new Error(e.message);
}
