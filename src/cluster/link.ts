/**
 * The HTTP process's side of the IPC channel to the model host (see host.ts). It offers:
 *  - `backend`: an InferenceBackend whose infer() runs on the model host, so this process holds no
 *    model (models listed in `local` excepted: they run here, in `local.backend`; with
 *    CLUSTER_MODELS=each that is every model, and the host only merges metrics);
 *  - `clusterMetrics()`: /metrics for the whole cluster, gathered by the host;
 *  - answers to the host's requests for this process's own metrics.
 * If the host goes away, every waiting inference fails with 503 and `onHostLost` runs (server.ts
 * exits: an HTTP process without its model host can only answer errors).
 */
import { unavailable } from '../errors';
import type { InferenceBackend, InferOptions, ModelSpec, NamedTensors } from '../inference/backend';
import type { MetricsText } from '../metrics';
import { type HostMessage, type WorkerRequest, fromWire, isMessage } from './protocol';

/** What `process` is in a cluster worker (and what tests fake). */
export interface Channel {
  send(message: unknown): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
}

interface Pending {
  resolve: (value: never) => void;
  reject: (err: unknown) => void;
}

export interface LinkOptions {
  /** Models run in this process (loaded into `local`) instead of on the host. */
  local?: { models: readonly string[]; backend: InferenceBackend };
  /** This process's metrics as prom-client JSON (registry.getMetricsAsJSON()), for the host to merge. */
  collect?: () => Promise<unknown[]>;
  onHostLost?: () => void;
}

export class HostLink {
  readonly backend: InferenceBackend;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private lost = false;
  private hostReady: Promise<string>;
  private settleReady!: { resolve: (description: string) => void; reject: (err: Error) => void };

  constructor(
    private readonly channel: Channel,
    private readonly options: LinkOptions = {},
  ) {
    this.hostReady = new Promise<string>((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.hostReady.catch(() => undefined); // observed by load(); never an unhandled rejection
    channel.on('message', (msg) => this.receive(msg));
    channel.on('disconnect', () => this.hostLost());
    this.backend = this.makeBackend();
    this.send({ mlf: 'hello' });
  }

  /** The whole cluster's metrics in the Prometheus text format, merged by the host. */
  clusterMetrics(): Promise<MetricsText> {
    return this.request<MetricsText>((id) => ({ mlf: 'metrics', id }));
  }

  private makeBackend(): InferenceBackend {
    const local = this.options.local;
    const isLocal = (model: string): boolean => local?.models.includes(model) ?? false;
    let description = 'model host process';
    return {
      get description() {
        return description;
      },
      load: async (models: ModelSpec[]) => {
        if (local !== undefined) await local.backend.load(models.filter((m) => isLocal(m.name)));
        const host = await this.hostReady;
        const here = local !== undefined && local.models.length > 0 ? `; in this process: ${local.models.join(', ')}` : '';
        description = models.every((m) => isLocal(m.name)) && local !== undefined
          ? `${local.backend.description}, in each HTTP process`
          : `model host process: ${host}${here}`;
      },
      infer: (model: string, inputs: NamedTensors, options: InferOptions = {}) => {
        if (local !== undefined && isLocal(model)) return local.backend.infer(model, inputs, options);
        const { outputs } = options;
        return this.request<NamedTensors>((id) => ({ mlf: 'infer', id, model, inputs, ...(outputs === undefined ? {} : { outputs }) }));
      },
      close: async () => {
        await local?.backend.close();
      },
    };
  }

  private request<T>(message: (id: number) => WorkerRequest): Promise<T> {
    if (this.lost) return Promise.reject(hostGone());
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: never) => void, reject });
      this.send(message(id));
    });
  }

  private send(message: WorkerRequest | { mlf: 'collected'; id: number; metrics: unknown[] }): void {
    try {
      this.channel.send(message);
    } catch {
      this.hostLost();
    }
  }

  private receive(msg: unknown): void {
    if (!isMessage<HostMessage>(msg)) return;
    switch (msg.mlf) {
      case 'ready':
        this.settleReady.resolve(msg.description);
        return;
      case 'load-failed':
        this.settleReady.reject(new Error(`the model host could not load the models: ${msg.message}`));
        return;
      case 'collect':
        void this.collect(msg.id);
        return;
      case 'result':
        this.settle(msg.id, (p) => p.resolve(msg.outputs as never));
        return;
      case 'metrics':
        this.settle(msg.id, (p) => p.resolve({ text: msg.text, contentType: msg.contentType } as never));
        return;
      case 'error':
        this.settle(msg.id, (p) => p.reject(fromWire(msg.error)));
        return;
    }
  }

  private async collect(id: number): Promise<void> {
    const metrics = this.options.collect === undefined ? [] : await this.options.collect().catch(() => []);
    this.send({ mlf: 'collected', id, metrics });
  }

  private settle(id: number, f: (p: Pending) => void): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    f(p);
  }

  private hostLost(): void {
    if (this.lost) return;
    this.lost = true;
    this.settleReady.reject(new Error('the model host process went away'));
    for (const p of this.pending.values()) {
      p.reject(hostGone());
    }
    this.pending.clear();
    this.options.onHostLost?.();
  }
}

/** What a request gets while the model host is gone (the cluster is about to replace this process). */
function hostGone(): Error {
  return unavailable('unavailable', 'The model server is restarting. Try again in a moment.', 2);
}
