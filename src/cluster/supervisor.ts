/**
 * The cluster's primary process keeps its HTTP processes running: it forks `count` of them
 * (node:cluster; they share PORT, and the primary hands each new connection to one in turn), replaces
 * one that dies after a pause, and on SIGTERM or SIGINT passes the signal on, waits for every HTTP
 * process to drain and exit, then runs `onStopped` and exits 0 (1 if they overrun the grace period).
 * Whether the primary also holds the models (src/cluster/host.ts) is up to its caller.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../log';

/** A crashed HTTP process is replaced after this pause (no tight crash loop). */
const RESPAWN_DELAY_MS = 1000;

export interface SupervisorOptions {
  count: number;
  log: Logger;
  /** How long the HTTP processes may take to drain after SIGTERM before this process exits anyway. */
  graceMs: number;
  /** Called for each HTTP process started; returns what to call when it has exited. */
  attach?: (worker: Worker) => () => void;
  /** After every HTTP process has exited on shutdown: release what the primary holds. */
  onStopped?: () => Promise<void>;
}

export function superviseHttpProcesses(options: SupervisorOptions): void {
  const { log } = options;
  let stopping = false;
  const fork = (): void => {
    const worker = cluster.fork();
    const detach = options.attach?.(worker);
    worker.on('error', (err) => log.warn({ err, pid: worker.process.pid }, 'IPC with an HTTP process failed'));
    worker.on('exit', (code, signal) => {
      detach?.();
      if (stopping) return;
      log.error({ pid: worker.process.pid, code, signal }, 'an HTTP process exited; starting another');
      // Not if shutdown began meanwhile: on Heroku the whole dyno gets SIGTERM, and an HTTP process
      // may exit just before this one hears it; a process forked then would never be told to stop.
      setTimeout(() => {
        if (!stopping) fork();
      }, RESPAWN_DELAY_MS).unref();
    });
  };
  for (let i = 0; i < options.count; i++) fork();

  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: waiting for the HTTP processes to drain');
    const force = setTimeout(() => {
      log.error('HTTP processes still running after the grace period; exiting');
      process.exit(1);
    }, options.graceMs + 2_000);
    force.unref();
    // On Heroku every process of the dyno gets SIGTERM; elsewhere (kill <pid>) only this one does.
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    const finish = (): void => {
      if (Object.keys(cluster.workers ?? {}).length > 0) return;
      void (options.onStopped?.() ?? Promise.resolve()).finally(() => {
        log.info('stopped');
        process.exit(0);
      });
    };
    cluster.on('exit', finish);
    finish();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
