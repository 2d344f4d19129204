/**
 * Listening and graceful shutdown, the same for every role that answers HTTP (the web role and
 * the model tier): listen on PORT → on SIGTERM or SIGINT: readiness turns 503 (lifecycle), every
 * answer says Connection: close, in-flight requests finish, the listener closes once nothing has
 * been in flight for a moment, `onClose` releases the models, and the process exits 0 within
 * Heroku's 30 s (or 1 after SHUTDOWN_GRACE_MS with requests unfinished).
 */
import http from 'node:http';
import type { Config } from '../config';
import type { Lifecycle } from '../lifecycle';
import type { Logger } from '../log';

/** Shutdown: how long nothing must be in flight before the listener closes. */
const QUIET_MS = 250;

export interface ServeOptions {
  config: Pick<Config, 'port' | 'host' | 'env' | 'requestTimeoutMs' | 'shutdownGraceMs'>;
  lifecycle: Lifecycle;
  log: Logger;
  /** What the start-up line calls this server, e.g. "ml-forms". */
  name: string;
  /** After the listener has closed: release models and threads. */
  onClose: () => Promise<void>;
}

/** Listens on PORT and installs the shutdown handlers. Resolves once listening. */
export async function serve(app: http.RequestListener, options: ServeOptions): Promise<http.Server> {
  const { config, lifecycle, log } = options;
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
  log.info({ port, env: config.env }, `${options.name} listening on http://localhost:${port}`);

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    lifecycle.shuttingDown = true;
    log.info({ signal }, 'shutting down: readiness 503, draining in-flight requests');
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
        void options.onClose().finally(() => {
          log.info('stopped');
          process.exit(0);
        });
      });
      server.closeAllConnections();
    }, 50);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return server;
}
