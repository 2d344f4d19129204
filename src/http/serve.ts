/**
 * Listening and graceful shutdown, the same for every role that answers HTTP (the web role and
 * the model tier): listen on PORT → on SIGTERM or SIGINT: readiness turns 503 (lifecycle), every
 * answer says Connection: close, in-flight requests finish, the listener closes once nothing has
 * been in flight for a moment, `onClose` releases the models, and the process exits 0 within
 * Heroku's 30 s (or 1 after SHUTDOWN_GRACE_MS with requests unfinished).
 */
import http from 'node:http';
import type { Express } from 'express';
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

/** A constructor Node's http server can be given for its requests or responses. */
type Base = abstract new (...args: never[]) => object;

/**
 * `base`'s objects, born with `prototype`: a function constructor calling `base` on the object
 * `new` made from its own prototype. Node's IncomingMessage and ServerResponse are plain functions
 * (callable on `this`), which this relies on; were either ever a class, null (use Node's own).
 * Reflect.construct(base, args, Born) would work for classes too, but V8 does not optimize a plain
 * function as new.target: measured 25–50 % fewer requests per second than Node's own objects.
 */
export function bornWith(base: Base, prototype: object): Base | null {
  if (/^class\b/.test(Function.prototype.toString.call(base))) return null;
  const init = base as unknown as (this: object, ...args: unknown[]) => void;
  function Born(this: object, ...args: unknown[]): void {
    init.apply(this, args);
  }
  Born.prototype = prototype;
  return Born as unknown as Base;
}

/**
 * An HTTP server for an Express app whose requests and responses are born with the app's
 * prototypes (`app.request`, `app.response`). Express gives every request and response its
 * prototypes with Object.setPrototypeOf (expressjs/express#5998); done to a live object, that
 * costs V8 a new hidden class each time and keeps a request's objects alive into the next garbage
 * collection. Measured here on Express answering a fixed page at one connection: 43 % of the young
 * generation survived each scavenge (0 % for node:http), each scavenge paused about 3 ms, and p99
 * was 4–6 ms; with the objects born with those prototypes (Express's own call then changes
 * nothing) nothing survived, scavenges took 0.1–0.3 ms, p99 1.5–2.3 ms, with 20–50 % more
 * requests per second. The objects still inherit from http.IncomingMessage.prototype (and
 * ServerResponse's), through Express's.
 */
export function appServer(app: Express): http.Server {
  const IncomingMessage = bornWith(http.IncomingMessage, app.request as object);
  const ServerResponse = bornWith(http.ServerResponse, app.response as object);
  if (IncomingMessage === null || ServerResponse === null) return http.createServer(app);
  return http.createServer(
    {
      IncomingMessage: IncomingMessage as typeof http.IncomingMessage,
      ServerResponse: ServerResponse as typeof http.ServerResponse,
    },
    app,
  );
}

/** Listens on PORT and installs the shutdown handlers. Resolves once listening. */
export async function serve(app: Express, options: ServeOptions): Promise<http.Server> {
  const { config, lifecycle, log } = options;
  const server = appServer(app);
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
