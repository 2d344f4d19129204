/**
 * Entry point. HTTP is served on every core by default: WEB_CONCURRENCY HTTP processes where it is
 * set (Heroku sets it from the dyno's size), else one per available core, as many as memory allows
 * (src/config.ts). With more than one, this process becomes the cluster's primary and keeps them
 * running (src/cluster/supervisor.ts); they share PORT. Where the models live (CLUSTER_MODELS):
 *  - `each` (default): every HTTP process holds its own onnxruntime sessions and runs them in
 *    process (no inter-process hop per prediction); the primary holds no model, no Express, no
 *    libvips (it only forks and supervises), so it stays small;
 *  - `host`: the primary holds the models once and runs inference for the HTTP processes over IPC
 *    (src/cluster/host.ts, link.ts); the HTTP processes keep only INFERENCE_INLINE (the models whose
 *    definition says `inline`).
 * With one HTTP process, one process does everything.
 *
 * Two other roles: with INFERENCE_URL the models run on a model tier (src/inference/remote.ts) and
 * one HTTP process serves, and ROLE=models makes this process that model tier (src/oip/role.ts).
 *
 * Every HTTP process: listen on PORT → models ready (/readyz 200) → on SIGTERM: /readyz 503, drain
 * in-flight requests, close, exit 0 within Heroku's 30 s. The primary waits for them, then exits.
 * Heavy modules (Express, libvips, onnxruntime) are imported only by the processes that use them.
 */
import cluster from 'node:cluster';
import { type Config, ConfigError, loadConfig } from './src/config';
import type { InferenceBackend } from './src/inference/backend';
import { SOURCE_HEADER, WEB_TIER_SOURCE } from './src/database/types';
import { createLogger, knownLevel } from './src/log';
import { niceBackgroundThreads } from './src/priority';
import type { HostLink, LinkOptions } from './src/cluster/link';
import type { Metrics, MetricsText } from './src/metrics';

// The logger exists before the configuration is read (to report its errors): an unknown LOG_LEVEL
// falls back to info here, and loadConfig() then stops start-up naming it.
const log = createLogger(knownLevel(process.env.LOG_LEVEL)).child({
  role: process.env.ROLE?.trim() === 'models' ? 'models' : cluster.isWorker ? 'http' : 'main',
});

// A bug that escapes every handler leaves the process in an unknown state: log it and exit, and
// let the platform (Heroku, systemd, a container runtime) or the cluster start a clean one.
process.on('uncaughtException', (err) => {
  log.fatal({ err }, 'uncaught exception; exiting');
  process.exit(1);
});
process.on('unhandledRejection', (reason) => {
  log.fatal({ err: reason }, 'unhandled promise rejection; exiting');
  process.exit(1);
});

const elapsedMs = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e6;

/** The models on a model tier (INFERENCE_URL): this process holds none, not even onnxruntime. */
async function remoteBackend(config: Config, url: string): Promise<InferenceBackend> {
  const { RemoteBackend } = await import('./src/inference/remote');
  return new RemoteBackend({
    url,
    token: config.inferenceToken,
    timeoutMs: config.inferenceTimeoutMs,
    retries: config.inferenceRetries,
    // This tier logs its predictions itself, with where they came from: the model tier need not.
    ...(config.predictionLog ? { inferHeaders: { [SOURCE_HEADER]: WEB_TIER_SOURCE } } : {}),
    log,
  });
}

/** An HTTP process: the app, alone or as one of the cluster's. */
async function serveHttp(config: Config, started: bigint): Promise<void> {
  const [{ configureSharp, decodeLimits }, { createApp }, { serve }, { Lifecycle }, { Metrics }, { MODEL_NAMES, Registry }, configured] = await Promise.all([
    import('./src/images'),
    import('./app'),
    import('./src/http/serve'),
    import('./src/lifecycle'),
    import('./src/metrics'),
    import('./src/predictors/registry'),
    import('./src/inference/configured'),
  ]);
  const lifecycle = new Lifecycle();
  configureSharp(config.sharpConcurrency);
  // Decoding runs in libuv's and libvips' threads: like inference, behind the event loop.
  if (config.inferenceNice !== 0) niceBackgroundThreads(config.inferenceNice);
  const metrics = new Metrics();
  let backend: InferenceBackend;
  let metricsSource: (() => Promise<MetricsText>) | undefined;
  if (config.inferenceUrl !== undefined) {
    backend = await remoteBackend(config, config.inferenceUrl);
  } else if (cluster.isWorker && config.clusterModels === 'host') {
    // Models in INFERENCE_INLINE run here; the rest on the primary.
    const inline = config.inferenceInline.length > 0 ? await configured.inProcessBackend(config) : undefined;
    const link = await hostLink(inline === undefined ? undefined : { models: config.inferenceInline, backend: inline }, metrics);
    backend = link.backend;
    metricsSource = () => link.clusterMetrics();
  } else {
    backend = await configured.localBackend(config, config.inferenceInline);
    const stats = configured.queueStats(backend);
    if (stats !== null) metrics.watchQueue(stats);
    if (cluster.isWorker) {
      // Every model here; the primary only merges the cluster's metrics for /metrics.
      const link = await hostLink({ models: MODEL_NAMES, backend }, metrics);
      backend = link.backend;
      metricsSource = () => link.clusterMetrics();
    }
  }
  const registry = new Registry(metrics.instrument(backend), config.modelsDir, decodeLimits(config));
  // The prediction log, feedback and /monitor (PREDICTION_LOG=0: none): its database opened and migrated.
  const { startMonitoring } = await import('./src/monitoring/setup');
  const monitoring = await startMonitoring(config, { registry, log, metrics });
  const app = createApp({ config, registry, lifecycle, log, metrics, metricsSource, monitoring });
  const onClose = async (): Promise<void> => {
    await registry.close();
    // The log's last entries written, the database closed.
    await monitoring?.close();
  };
  const listen = (): Promise<unknown> => serve(app, { config, lifecycle, log, name: 'ml-forms', onClose });
  const loaded = async (): Promise<void> => {
    await registry.load();
    await monitoring?.modelsLoaded();
  };
  if (cluster.isWorker) {
    // One of several: it joins the shared port once it can answer, so that no connection is
    // handed to it while it would only say "still loading" and another process is ready.
    await loaded();
    await listen();
  } else {
    // Alone: listen at once (the platform sees the port bound; /healthz answers, /readyz says
    // loading and predictions get 503 with Retry-After), then load.
    await listen();
    await loaded();
  }
  log.info({ backend: backend.description, startupMs: Math.round(elapsedMs(started)) }, 'models ready');
}

/** In a cluster: the IPC link to the primary, for the models `local` does not run here and for the cluster's metrics. */
async function hostLink(local: LinkOptions['local'], metrics: Metrics): Promise<HostLink> {
  const { HostLink } = await import('./src/cluster/link');
  return new HostLink(
    { send: (m) => process.connected && process.send?.(m), on: (e: 'message' | 'disconnect', l: (m: unknown) => void) => process.on(e, l) },
    {
      local,
      collect: () => metrics.registry.getMetricsAsJSON(),
      onHostLost: () => {
        log.fatal('the cluster\'s primary process went away; exiting');
        process.exit(1);
      },
    },
  );
}

/** The cluster's primary with CLUSTER_MODELS=each: keeps the HTTP processes running and merges their metrics. */
async function supervise(config: Config): Promise<void> {
  const [{ ModelHost }, { superviseHttpProcesses }] = await Promise.all([import('./src/cluster/host'), import('./src/cluster/supervisor')]);
  const host = new ModelHost(null);
  cluster.setupPrimary({ serialization: 'advanced' });
  superviseHttpProcesses({ count: config.httpProcesses, log, graceMs: config.shutdownGraceMs, attach: (worker) => host.attach(worker) });
  host.ready();
  log.info({ httpProcesses: config.httpProcesses }, `${config.httpProcesses} HTTP processes, each with its own model sessions`);
}

/** The cluster's primary with CLUSTER_MODELS=host: holds the models, runs inference for the HTTP processes, keeps them running. */
async function hostModels(config: Config, started: bigint): Promise<void> {
  const [{ ModelHost }, { superviseHttpProcesses }, { Metrics }, { MODEL_NAMES, modelSpec, readCard }, { localBackend, queueStats }] =
    await Promise.all([
      import('./src/cluster/host'),
      import('./src/cluster/supervisor'),
      import('./src/metrics'),
      import('./src/predictors/registry'),
      import('./src/inference/configured'),
    ]);
  // The HTTP processes run INFERENCE_INLINE's models themselves; the host loads the rest.
  const metrics = new Metrics();
  const backend = await localBackend(config, []);
  const stats = queueStats(backend);
  if (stats !== null) metrics.watchQueue(stats);
  const host = new ModelHost(backend, { ownMetrics: () => metrics.registry.getMetricsAsJSON() });

  cluster.setupPrimary({ serialization: 'advanced' });
  superviseHttpProcesses({
    count: config.httpProcesses,
    log,
    graceMs: config.shutdownGraceMs,
    attach: (worker) => host.attach(worker),
    onStopped: () => backend.close(),
  });
  log.info({ httpProcesses: config.httpProcesses }, `model host: ${config.httpProcesses} HTTP processes`);

  try {
    const models = MODEL_NAMES.filter((m) => !config.inferenceInline.includes(m));
    await backend.load(models.map((name) => modelSpec(config.modelsDir, readCard(config.modelsDir, name))));
  } catch (err) {
    host.failed(err);
    throw err;
  }
  host.ready();
  log.info({ backend: backend.description, startupMs: Math.round(elapsedMs(started)) }, 'models loaded');
}

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  const config = loadConfig();
  log.level = config.logLevel;
  if (config.role === 'models') {
    const { serveModels } = await import('./src/oip/role');
    await serveModels(config, log, started);
  } else if (cluster.isPrimary && config.httpProcesses > 1 && config.inferenceUrl === undefined) {
    await (config.clusterModels === 'host' ? hostModels(config, started) : supervise(config));
  } else {
    // With a model tier there are no models here to share: one HTTP process (scale the web tier
    // with more processes or dynos behind the router instead).
    if (config.inferenceUrl !== undefined && config.httpProcesses > 1) {
      log.warn({ webConcurrency: config.httpProcesses }, 'INFERENCE_URL is set: serving from one HTTP process; WEB_CONCURRENCY is not used');
    }
    await serveHttp(config, started);
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) log.fatal(`configuration error: ${err.message}`);
  else log.fatal({ err }, 'start-up failed');
  process.exit(1);
});
