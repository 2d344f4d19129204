/**
 * The model host: the cluster's primary process holds the models once (in an InferenceBackend:
 * the worker-thread pool, with its per-model queue limit) and runs inference for every HTTP
 * process over IPC (CLUSTER_MODELS=host; with CLUSTER_MODELS=each the HTTP processes hold their
 * own models and the primary runs a ModelHost without a backend, for the metrics below). HTTP
 * processes hold no model but INFERENCE_INLINE's (a few bytes, run in place: cheaper than an IPC
 * round trip), so adding one costs an Express process (~100–130 MB of RSS, much of it code shared
 * with the others), not another copy of every model.
 *
 * It also answers /metrics for the whole cluster: it asks each HTTP process for its metrics,
 * adds its own (queue depth, busy inference threads, its memory) and merges them with
 * prom-client's AggregatorRegistry (counters and histograms summed; so is resident memory, which
 * then reads as the cluster's total).
 */
import type { InferenceBackend } from '../inference/backend';
import type { MetricsText } from '../metrics';
import { type CollectReply, type HostMessage, type WorkerRequest, isMessage, toWire } from './protocol';

/** What a cluster Worker is to the host (and what tests fake). */
export interface WorkerChannel {
  send(message: unknown): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
}

export interface HostOptions {
  /** The host process's own metrics as prom-client JSON (registry.getMetricsAsJSON()). */
  ownMetrics?: () => Promise<unknown[]>;
  /** How long to wait for an HTTP process's metrics before leaving it out of a scrape. */
  collectTimeoutMs?: number;
}

type State = { kind: 'loading' } | { kind: 'ready'; description: string } | { kind: 'failed'; message: string };

export class ModelHost {
  private readonly channels = new Set<WorkerChannel>();
  private readonly collecting = new Map<number, (metrics: unknown[]) => void>();
  private nextId = 1;
  private state: State = { kind: 'loading' };

  /** `backend` null: the HTTP processes hold their own models, and this host only merges metrics. */
  constructor(
    private readonly backend: InferenceBackend | null,
    private readonly options: HostOptions = {},
  ) {}

  /** Serve one HTTP process. Returns the function to call when it has exited. */
  attach(channel: WorkerChannel): () => void {
    this.channels.add(channel);
    channel.on('message', (msg) => this.receive(channel, msg));
    return () => {
      this.channels.delete(channel);
    };
  }

  /** The models are loaded: tell every HTTP process (and, through hello, every later one). */
  ready(): void {
    this.state = { kind: 'ready', description: this.backend?.description ?? 'no models here' };
    for (const c of this.channels) this.announce(c);
  }

  failed(err: unknown): void {
    this.state = { kind: 'failed', message: err instanceof Error ? err.message : String(err) };
    for (const c of this.channels) this.announce(c);
  }

  /** Every process's metrics merged, in the Prometheus text format. */
  async metrics(): Promise<MetricsText> {
    const parts = await Promise.all([...this.channels].map((c) => this.collectFrom(c)));
    parts.push((await this.options.ownMetrics?.()) ?? []);
    // Loaded at the first scrape: the primary starts its HTTP processes sooner without it.
    const { AggregatorRegistry } = await import('prom-client');
    const merged = AggregatorRegistry.aggregate(parts.filter((p) => p.length > 0) as never[]);
    return { text: await merged.metrics(), contentType: merged.contentType };
  }

  private announce(channel: WorkerChannel): void {
    if (this.state.kind === 'ready') send(channel, { mlf: 'ready', description: this.state.description });
    else if (this.state.kind === 'failed') send(channel, { mlf: 'load-failed', message: this.state.message });
  }

  private receive(channel: WorkerChannel, msg: unknown): void {
    if (!isMessage<WorkerRequest | CollectReply>(msg)) return;
    switch (msg.mlf) {
      case 'hello':
        this.announce(channel);
        return;
      case 'infer': {
        const { id } = msg;
        if (this.backend === null) {
          send(channel, { mlf: 'error', id, error: toWire(new Error(`model "${msg.model}" is not held by the primary process`)) });
          return;
        }
        this.backend.infer(msg.model, msg.inputs, msg.outputs === undefined ? {} : { outputs: msg.outputs }).then(
          (outputs) => send(channel, { mlf: 'result', id, outputs }),
          (err: unknown) => send(channel, { mlf: 'error', id, error: toWire(err) }),
        );
        return;
      }
      case 'metrics': {
        const { id } = msg;
        this.metrics().then(
          ({ text, contentType }) => send(channel, { mlf: 'metrics', id, text, contentType }),
          (err: unknown) => send(channel, { mlf: 'error', id, error: toWire(err) }),
        );
        return;
      }
      case 'collected':
        this.collecting.get(msg.id)?.(Array.isArray(msg.metrics) ? msg.metrics : []);
        return;
    }
  }

  private collectFrom(channel: WorkerChannel): Promise<unknown[]> {
    const id = this.nextId++;
    return new Promise<unknown[]>((resolve) => {
      const timer = setTimeout(() => done([]), this.options.collectTimeoutMs ?? 2000);
      const done = (metrics: unknown[]): void => {
        clearTimeout(timer);
        this.collecting.delete(id);
        resolve(metrics);
      };
      this.collecting.set(id, done);
      send(channel, { mlf: 'collect', id });
    });
  }
}

/** A message to a process that may have just exited: dropping it is right (nobody waits for it). */
function send(channel: WorkerChannel, message: HostMessage): void {
  try {
    channel.send(message);
  } catch {
    // the HTTP process is gone; its requests died with it
  }
}
