/**
 * Entry point: config → listen on PORT → load models (/readyz turns 200) → on SIGTERM stop
 * accepting, let in-flight requests finish, release the models, exit 0 within Heroku's 30 s.
 */
import http from 'node:http';
import { createApp } from './app';
import { ConfigError, loadConfig } from './src/config';
import { OnnxBackend } from './src/inference/onnx';
import { Lifecycle } from './src/lifecycle';
import { Registry } from './src/predictors/registry';

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  const config = loadConfig();
  const lifecycle = new Lifecycle();
  const backend = new OnnxBackend();
  const registry = new Registry(backend, config.modelsDir, { maxPixels: config.maxImagePixels });
  const app = createApp({ config, registry, lifecycle });

  const server = http.createServer(app);
  server.requestTimeout = config.requestTimeoutMs + 5_000;
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 65_000; // longer than the router's idle timeout, so it never hits a closed socket

  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  console.log(`ml-forms listening on http://localhost:${port} (${config.env})`);

  await registry.load();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  console.log(`models loaded (${backend.description}); ready in ${ms.toFixed(0)} ms`);

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    lifecycle.shuttingDown = true;
    console.log(`${signal}: finishing in-flight requests`);
    const force = setTimeout(() => {
      console.error('shutdown grace period over; exiting');
      process.exit(1);
    }, config.shutdownGraceMs);
    force.unref();
    server.close(() => {
      void registry.close().finally(() => {
        console.log('stopped');
        process.exit(0);
      });
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? `configuration error: ${err.message}` : err);
  process.exit(1);
});
