/**
 * What the model server role serves: for every model of the repository, the versions its version
 * policy allows (Triton's rule), loaded into one inference backend (the worker pool, as in the web
 * role), with the metadata and card that describe each. A request naming no version gets the
 * model's default version (repository.ts defaultVersion: the newest that a card describes, so an
 * 8-bit version served beside its float original is asked for by number); every other served
 * version answers at /v2/models/<name>/versions/<v>/… . Each version's metadata lists that
 * version alone: a client reading `versions` (the web tier's RemoteBackend) finds the default.
 *
 * Hot versions: reload() reads the repository again and, if any model's versions or config have
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
  defaultVersion,
  modelMetadata,
  modelNames,
  modelSpecFor,
  readModelConfig,
  readVersionCard,
  servedVersions,
  versionsOnDisk,
} from './repository';

/** One model version as served: its config, the version loaded, and how it is described. */
export interface ServedEntry {
  name: string;
  version: string;
  config: ModelConfig;
  metadata: ModelMetadata;
  card?: ModelCard;
  /** Its sessions' name in the backend: the model's name for the default version, name@version for the others. */
  key: string;
  /** Every version of this model served (ascending), the default among them. */
  versions: string[];
}

interface Generation {
  backend: InferenceBackend;
  /** The same backend as seen through `instrument` (metrics). */
  timed: InferenceBackend;
  /** The default version of each model, by name. */
  entries: Map<string, ServedEntry>;
  /** The other versions served, by name@version. */
  others: Map<string, ServedEntry>;
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
    if (version === undefined || version === entry.version) return { entry, generation };
    const other = generation.others.get(`${name}@${version}`);
    if (other === undefined) {
      const served = entry.versions.length > 1 ? `versions ${entry.versions.join(', ')}` : `version ${entry.version}`;
      throw notFound(`model "${name}" has no version "${version}" loaded; it serves ${served}`);
    }
    return { entry: other, generation };
  }

  /** `outputs`: the model outputs to compute (onnxruntime runs only the nodes they need). */
  async run(resolved: Resolved, inputs: NamedTensors, outputs?: readonly string[]): Promise<NamedTensors> {
    const g = resolved.generation;
    g.inFlight++;
    try {
      return await g.timed.infer(resolved.entry.key, inputs, outputs === undefined ? {} : { outputs });
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
    const others = new Map<string, ServedEntry>();
    const add = (list: ServedEntry[]): void => {
      for (const e of list) (e.key === e.name ? target : others).set(e.key, e);
    };
    if (only !== undefined) {
      if (!names.includes(only)) throw new RepositoryError(`no model "${only}" in the repository (it has ${names.join(', ')})`);
      for (const [name, entry] of previous) if (name !== only) target.set(name, entry);
      for (const [key, entry] of this.current?.others ?? []) if (entry.name !== only) others.set(key, entry);
      add(this.read(only));
    } else {
      for (const name of names) add(this.read(name));
    }
    if (target.size === 0) throw new RepositoryError(`the repository ${repo} holds no model (no */config.pbtxt)`);

    const changed = [...target.values()]
      .filter((e) => {
        const before = previous.get(e.name);
        return (
          before === undefined ||
          before.version !== e.version ||
          before.versions.join() !== e.versions.join() ||
          JSON.stringify(before.config) !== JSON.stringify(e.config)
        );
      })
      .map((e) => e.name);
    const removed = [...previous.keys()].filter((n) => !target.has(n));
    if (this.current !== null && changed.length === 0 && removed.length === 0) return [];

    const backend = await this.options.createBackend();
    try {
      await backend.load([...target.values(), ...others.values()].map((e) => ({ ...modelSpecFor(repo, e.name, e.version), name: e.key })));
    } catch (err) {
      await backend.close().catch(() => undefined);
      throw new RepositoryError(`could not load ${changed.join(', ')}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (this.closed) {
      await backend.close();
      throw new RepositoryError('the server is shutting down');
    }
    const old = this.current;
    this.current = { backend, timed: this.options.instrument?.(backend) ?? backend, entries: target, others, inFlight: 0, retired: false };
    this.options.log?.info(
      { models: [...target.values()].map((e) => `${e.name}@${e.version}`), others: [...others.keys()], changed, removed },
      old === null ? 'models loaded' : 'models reloaded',
    );
    if (old !== null) {
      old.retired = true;
      if (old.inFlight === 0) await this.release(old);
    }
    return [...changed, ...removed];
  }

  /** One model from disk: its config and the versions its policy serves, the default first. */
  private read(name: string): ServedEntry[] {
    const repo = this.options.repo;
    const config = readModelConfig(repo, name);
    const onDisk = versionsOnDisk(repo, name);
    const served = servedVersions(config, onDisk);
    const version = defaultVersion(repo, name, served);
    if (version === undefined) {
      throw new RepositoryError(
        `model "${name}": no version to serve (folders with model.onnx: ${onDisk.join(', ') || 'none'}; policy ${JSON.stringify(config.versionPolicy)})`,
      );
    }
    const entry = (v: string): ServedEntry => ({
      name,
      version: v,
      config,
      metadata: modelMetadata(config, [v]),
      card: readVersionCard(repo, name, v),
      key: v === version ? name : `${name}@${v}`,
      versions: served,
    });
    return [entry(version), ...served.filter((v) => v !== version).map(entry)];
  }

  private async release(g: Generation): Promise<void> {
    if (!g.retired) return;
    g.retired = false; // release once
    await g.backend.close().catch((err: unknown) => this.options.log?.error({ err }, 'closing the previous models failed'));
  }
}
