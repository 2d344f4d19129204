/**
 * Entry point: config → listen on PORT → load models (/readyz turns 200) → on SIGTERM: /readyz
 * 503, drain in-flight requests, close, release the models, exit 0 within Heroku's 30 s.
 */
import http from 'node:http';
import { createApp } from './app';
import { ConfigError, loadConfig } from './src/config';
import sharp from 'sharp';
import type { InferenceBackend } from './src/inference/backend';
import { OnnxBackend } from './src/inference/onnx';
import { WorkerPool } from './src/inference/pool';
import { Lifecycle } from './src/lifecycle';
import { createLogger } from './src/log';
import { Metrics } from './src/metrics';
import { Registry } from './src/predictors/registry';

const log = createLogger(process.env.LOG_LEVEL ?? 'info');
/** Shutdown: how long nothing must be in flight before the listener closes. */
const QUIET_MS = 250;

// A bug that escapes every handler leaves the process in an unknown state: log it and exit, and
// let the platform (Heroku, systemd, a container runtime) start a clean one.
process.on('uncaughtException', (err) => {
  log.fatal({ err }, 'uncaught exception; exiting');
  process.exit(1);
});
process.on('unhandledRejection', (reason) => {
  log.fatal({ err: reason }, 'unhandled promise rejection; exiting');
  process.exit(1);
});

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  const config = loadConfig();
  log.level = config.logLevel;
  const lifecycle = new Lifecycle();
  // libvips: few threads (uploads are small and requests already run in parallel), and no
  // operation cache (it holds decoded images for reuse that never comes: every upload differs).
  sharp.concurrency(config.sharpConcurrency);
  sharp.cache(false);
  const metrics = new Metrics();
  const onnx = { intraOpThreads: config.onnxThreads };
  let backend: InferenceBackend;
  if (config.inferenceWorkers === 0) {
    backend = new OnnxBackend(onnx);
  } else {
    const pool = new WorkerPool({
      workers: config.inferenceWorkers,
      queueLimit: config.queueLimit,
      maxWaitMs: config.requestTimeoutMs,
      inline: config.inferenceInline,
      replicas: config.inferenceReplicas,
      nice: config.inferenceNice,
      resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 4 },
      onnx,
    });
    metrics.watchQueue(pool);
    backend = pool;
  }
  const registry = new Registry(metrics.instrument(backend), config.modelsDir, { maxPixels: config.maxImagePixels });
  const app = createApp({ config, registry, lifecycle, log, metrics });

  const server = http.createServer(app);
  server.requestTimeout = config.requestTimeoutMs + 5_000;
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 65_000; // longer than the router's idle timeout, so it never hits a closed socket

  let inFlight = 0;
  server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    inFlight++;
    res.once('close', () => inFlight--);
  });

  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  log.info({ port, env: config.env }, `ml-forms listening on http://localhost:${port}`);

  await registry.load();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  log.info({ backend: backend.description, startupMs: Math.round(ms) }, `models loaded; ready in ${ms.toFixed(0)} ms`);

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    lifecycle.shuttingDown = true;
    log.info({ signal }, 'shutting down: readyz 503, draining in-flight requests');
    const force = setTimeout(() => {
      log.error({ graceMs: config.shutdownGraceMs }, 'shutdown grace period over; exiting with requests unfinished');
      process.exit(1);
    }, config.shutdownGraceMs);
    force.unref();
    // Drain, then close. Requests already sent may still sit in the accept backlog or in a socket
    // not yet parsed; closing the listener or "idle" sockets now would reset them. So keep
    // accepting while anything is in flight (every response says Connection: close, and the
    // router has stopped sending new traffic), and close only after a quiet moment.
    let quietSince = Date.now();
    const drain = setInterval(() => {
      if (inFlight > 0) {
        quietSince = Date.now();
        return;
      }
      if (Date.now() - quietSince < QUIET_MS) return;
      clearInterval(drain);
      server.close(() => {
        void registry.close().finally(() => {
          log.info('stopped');
          process.exit(0);
        });
      });
      server.closeAllConnections();
    }, 50);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) log.fatal(`configuration error: ${err.message}`);
  else log.fatal({ err }, 'start-up failed');
  process.exit(1);
});
