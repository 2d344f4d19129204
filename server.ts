/**
 * Entry point. With WEB_CONCURRENCY > 1 (default 1; Heroku sets it from the dyno's memory) it
 * starts a cluster:
 *  - this process becomes the model host: it loads the models once (worker-thread pool, queue
 *    limits) and runs inference for the HTTP processes over IPC (src/cluster/host.ts);
 *  - WEB_CONCURRENCY HTTP processes (node:cluster workers) share PORT; each is the Express app with
 *    a backend that forwards to the host (src/cluster/link.ts). Express, body parsing and page
 *    rendering take a whole core at about a thousand form posts a second: this is what lets them
 *    use all cores without a second copy of any model.
 * With WEB_CONCURRENCY=1 one process does everything.
 *
 * Two other roles: with INFERENCE_URL the models run on a model tier (src/inference/remote.ts),
 * and ROLE=models makes this process that model tier (src/oip/role.ts).
 *
 * Every HTTP process: listen on PORT → models ready (/readyz 200) → on SIGTERM: /readyz 503, drain
 * in-flight requests, close, exit 0 within Heroku's 30 s. The host waits for them, then releases
 * the models.
 */
import cluster, { type Worker } from 'node:cluster';
import { HostLink } from './src/cluster/link';
import { type Config, ConfigError, loadConfig } from './src/config';
import type { InferenceBackend } from './src/inference/backend';
import { inProcessBackend, localBackend, queueStats } from './src/inference/configured';
import { serve } from './src/http/serve';
import { Lifecycle } from './src/lifecycle';
import { createLogger } from './src/log';
import { Metrics, type MetricsText } from './src/metrics';

const log = createLogger(process.env.LOG_LEVEL ?? 'info').child({
  role: process.env.ROLE?.trim() === 'models' ? 'models' : cluster.isWorker ? 'http' : 'main',
});
/** A crashed HTTP process is replaced after this pause (no tight crash loop). */
const RESPAWN_DELAY_MS = 1000;

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
    log,
  });
}

/** An HTTP process: the app, alone (WEB_CONCURRENCY=1) or as one of the cluster's workers. */
async function serveHttp(config: Config, started: bigint): Promise<void> {
  const lifecycle = new Lifecycle();
  // The page, the predictors and sharp are loaded here, not at the top: the model tier
  // (ROLE=models) renders no page and decodes no image (libvips alone is ≈ 12 MB).
  const [{ default: sharp }, { createApp }, { Registry }] = await Promise.all([import('sharp'), import('./app'), import('./src/predictors/registry')]);
  // libvips: few threads (uploads are small and requests already run in parallel), and no
  // operation cache (it holds decoded images for reuse that never comes: every upload differs).
  sharp.concurrency(config.sharpConcurrency);
  sharp.cache(false);
  const metrics = new Metrics();
  let backend: InferenceBackend;
  let metricsSource: (() => Promise<MetricsText>) | undefined;
  if (config.inferenceUrl !== undefined) {
    backend = await remoteBackend(config, config.inferenceUrl);
  } else if (cluster.isWorker) {
    // Models in INFERENCE_INLINE run here; the rest on the model host.
    const local =
      config.inferenceInline.length > 0 ? { models: config.inferenceInline, backend: await inProcessBackend(config) } : undefined;
    const link = new HostLink(
      { send: (m) => process.connected && process.send?.(m), on: (e: 'message' | 'disconnect', l: (m: unknown) => void) => process.on(e, l) },
      {
        local,
        collect: () => metrics.registry.getMetricsAsJSON(),
        onHostLost: () => {
          log.fatal('the model host process went away; exiting');
          process.exit(1);
        },
      },
    );
    backend = link.backend;
    metricsSource = () => link.clusterMetrics();
  } else {
    backend = await localBackend(config, config.inferenceInline);
    const stats = queueStats(backend);
    if (stats !== null) metrics.watchQueue(stats);
  }
  const registry = new Registry(metrics.instrument(backend), config.modelsDir, { maxPixels: config.maxImagePixels });
  const app = createApp({ config, registry, lifecycle, log, metrics, metricsSource });
  await serve(app, { config, lifecycle, log, name: 'ml-forms', onClose: () => registry.close() });

  await registry.load();
  log.info({ backend: backend.description, startupMs: Math.round(elapsedMs(started)) }, 'models ready');
}

/** The cluster's primary: holds the models, runs inference for the HTTP processes, keeps them running. */
async function hostModels(config: Config, started: bigint): Promise<void> {
  const { ModelHost } = await import('./src/cluster/host');
  // The HTTP processes run regression (INFERENCE_INLINE) themselves; the host loads the rest.
  const metrics = new Metrics();
  const backend = await localBackend(config, []);
  const stats = queueStats(backend);
  if (stats !== null) metrics.watchQueue(stats);
  const host = new ModelHost(backend, { ownMetrics: () => metrics.registry.getMetricsAsJSON() });

  cluster.setupPrimary({ serialization: 'advanced' });
  let stopping = false;
  const fork = (): void => {
    const worker: Worker = cluster.fork();
    const detach = host.attach(worker);
    worker.on('error', (err) => log.warn({ err, pid: worker.process.pid }, 'IPC with an HTTP process failed'));
    worker.on('exit', (code, signal) => {
      detach();
      if (stopping) return;
      log.error({ pid: worker.process.pid, code, signal }, 'an HTTP process exited; starting another');
      setTimeout(fork, RESPAWN_DELAY_MS).unref();
    });
  };
  for (let i = 0; i < config.httpProcesses; i++) fork();
  log.info({ httpProcesses: config.httpProcesses }, `model host: ${config.httpProcesses} HTTP processes`);

  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: waiting for the HTTP processes to drain');
    const force = setTimeout(() => {
      log.error('HTTP processes still running after the grace period; exiting');
      process.exit(1);
    }, config.shutdownGraceMs + 2_000);
    force.unref();
    // On Heroku every process of the dyno gets SIGTERM; elsewhere (kill <pid>) only this one does.
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    const finish = (): void => {
      if (Object.keys(cluster.workers ?? {}).length > 0) return;
      void backend.close().finally(() => {
        log.info('stopped');
        process.exit(0);
      });
    };
    cluster.on('exit', finish);
    finish();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  try {
    const { MODEL_NAMES, modelSpec, readCard } = await import('./src/predictors/registry');
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
    await hostModels(config, started);
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
