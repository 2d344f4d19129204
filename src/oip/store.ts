/**
 * What the model server role serves: for every model of the repository, one version (the newest
 * its version policy allows), loaded into one inference backend (the worker pool, as in the web
 * role), with the metadata and card that describe it.
 *
 * Hot versions: reload() reads the repository again and, if any model's version or config has
 * changed, loads a complete new backend beside the running one, switches to it in one step, and
 * closes the old one once the requests it was running have answered. No request is refused or
 * dropped on the way, and a response always names the version that computed it. Reloading
 * everything rather than one model costs a second or so of loading and, briefly, the models'
 * memory twice (about 40 MB for ours), and keeps every request on one consistent set of sessions.
 */
import { AppError, notFound, unavailable } from '../errors';
import type { InferenceBackend, NamedTensors } from '../inference/backend';
import { queueStats } from '../inference/configured';
import type { Logger } from '../log';
import type { QueueStats } from '../metrics';
import type { ModelCard } from '../predictors/types';
import type { ModelMetadata, RepositoryIndexEntry } from './protocol';
import {
  type ModelConfig,
  RepositoryError,
  modelMetadata,
  modelNames,
  modelSpecFor,
  readModelConfig,
  readVersionCard,
  servedVersions,
  versionsOnDisk,
} from './repository';

/** One model as served: its config, the version loaded, and how it is described. */
export interface ServedEntry {
  name: string;
  version: string;
  config: ModelConfig;
  metadata: ModelMetadata;
  card?: ModelCard;
}

interface Generation {
  backend: InferenceBackend;
  /** The same backend as seen through `instrument` (metrics). */
  timed: InferenceBackend;
  entries: Map<string, ServedEntry>;
  inFlight: number;
  retired: boolean;
}

/** A model resolved for one request: run() uses the sessions it was resolved against. */
export interface Resolved {
  entry: ServedEntry;
  generation: Generation;
}

export interface StoreOptions {
  repo: string;
  /** A fresh, unloaded backend (the worker pool as configured). */
  createBackend: () => Promise<InferenceBackend>;
  /** Wraps a backend for metrics (Metrics.instrument). */
  instrument?: (backend: InferenceBackend) => InferenceBackend;
  log?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

const modelsLoading = (): AppError => unavailable('loading', 'the models are still loading; try again in a few seconds', 2);

export class ModelStore implements QueueStats {
  private current: Generation | null = null;
  /** Reloads run one at a time, in order. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: StoreOptions) {}

  get ready(): boolean {
    return this.current !== null && !this.closed;
  }

  /** The models served now, by name. */
  entries(): ServedEntry[] {
    return [...(this.current?.entries.values() ?? [])];
  }

  /**
   * Reads the repository and loads what changed: every model, or with `only` that model alone
   * (Triton's load API). Resolves with the models whose version or config changed; rejects with
   * a RepositoryError (the running models stay as they were) if a model cannot be loaded.
   */
  reload(only?: string): Promise<string[]> {
    const run = this.queue.then(() => this.reloadNow(only));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The model (and version, if given) a request asks for, or a 404 / 503 saying why not. */
  resolve(name: string, version?: string): Resolved {
    const generation = this.current;
    if (generation === null || this.closed) throw modelsLoading();
    const entry = generation.entries.get(name);
    if (entry === undefined) throw notFound(`unknown model "${name}"; this server has ${[...generation.entries.keys()].join(', ')}`);
    if (version !== undefined && version !== entry.version) {
      throw notFound(`model "${name}" has no version "${version}" loaded; it serves version ${entry.version}`);
    }
    return { entry, generation };
  }

  async run(resolved: Resolved, inputs: NamedTensors): Promise<NamedTensors> {
    const g = resolved.generation;
    g.inFlight++;
    try {
      return await g.timed.infer(resolved.entry.name, inputs);
    } finally {
      g.inFlight--;
      if (g.retired && g.inFlight === 0) void this.release(g);
    }
  }

  /** Triton's repository index: every model in the repository and whether it is served. */
  index(): RepositoryIndexEntry[] {
    const served = this.current?.entries ?? new Map<string, ServedEntry>();
    return modelNames(this.options.repo).map((name) => {
      const entry = served.get(name);
      if (entry !== undefined) return { name, version: entry.version, state: 'READY', reason: '' };
      return { name, state: 'UNAVAILABLE', reason: this.current === null ? 'loading' : 'not loaded; POST /v2/repository/models/' + name + '/load' };
    });
  }

  queueDepth(): Record<string, number> {
    return this.stats()?.queueDepth() ?? {};
  }

  busyWorkers(): number {
    return this.stats()?.busyWorkers() ?? 0;
  }

  /** The running backend's queue, if it keeps one (the worker pool). */
  private stats(): QueueStats | null {
    return this.current === null ? null : queueStats(this.current.backend);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    const g = this.current;
    this.current = null;
    if (g !== null) await g.backend.close();
  }

  private async reloadNow(only?: string): Promise<string[]> {
    if (this.closed) throw new RepositoryError('the server is shutting down');
    const repo = this.options.repo;
    const names = modelNames(repo);
    const previous = this.current?.entries ?? new Map<string, ServedEntry>();
    const target = new Map<string, ServedEntry>();
    if (only !== undefined) {
      if (!names.includes(only)) throw new RepositoryError(`no model "${only}" in the repository (it has ${names.join(', ')})`);
      for (const [name, entry] of previous) target.set(name, entry);
      target.set(only, this.read(only));
    } else {
      for (const name of names) target.set(name, this.read(name));
    }
    if (target.size === 0) throw new RepositoryError(`the repository ${repo} holds no model (no */config.pbtxt)`);

    const changed = [...target.values()]
      .filter((e) => {
        const before = previous.get(e.name);
        return before === undefined || before.version !== e.version || JSON.stringify(before.config) !== JSON.stringify(e.config);
      })
      .map((e) => e.name);
    const removed = [...previous.keys()].filter((n) => !target.has(n));
    if (this.current !== null && changed.length === 0 && removed.length === 0) return [];

    const backend = await this.options.createBackend();
    try {
      await backend.load([...target.values()].map((e) => modelSpecFor(repo, e.name, e.version)));
    } catch (err) {
      await backend.close().catch(() => undefined);
      throw new RepositoryError(`could not load ${changed.join(', ')}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (this.closed) {
      await backend.close();
      throw new RepositoryError('the server is shutting down');
    }
    const old = this.current;
    this.current = { backend, timed: this.options.instrument?.(backend) ?? backend, entries: target, inFlight: 0, retired: false };
    this.options.log?.info(
      { models: [...target.values()].map((e) => `${e.name}@${e.version}`), changed, removed },
      old === null ? 'models loaded' : 'models reloaded',
    );
    if (old !== null) {
      old.retired = true;
      if (old.inFlight === 0) await this.release(old);
    }
    return [...changed, ...removed];
  }

  /** One model from disk: its config and the newest version its policy serves. */
  private read(name: string): ServedEntry {
    const repo = this.options.repo;
    const config = readModelConfig(repo, name);
    const onDisk = versionsOnDisk(repo, name);
    const served = servedVersions(config, onDisk);
    const version = served.at(-1);
    if (version === undefined) {
      throw new RepositoryError(
        `model "${name}": no version to serve (folders with model.onnx: ${onDisk.join(', ') || 'none'}; policy ${JSON.stringify(config.versionPolicy)})`,
      );
    }
    if (served.length > 1) this.options.log?.warn({ model: name, served }, 'the version policy allows several versions; serving the newest only');
    return { name, version, config, metadata: modelMetadata(config, [version]), card: readVersionCard(repo, name, version) };
  }

  private async release(g: Generation): Promise<void> {
    if (!g.retired) return;
    g.retired = false; // release once
    await g.backend.close().catch((err: unknown) => this.options.log?.error({ err }, 'closing the previous models failed'));
  }
}
