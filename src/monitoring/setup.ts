/**
 * The prediction log, feedback and monitoring of one HTTP process (issue 26), put together: the
 * database DATABASE_URL names (migrated at start), the batched writer, the recorder the routes
 * call, the sweeper that deletes held inputs past KEEP_INPUTS_MINUTES and everything past
 * RETENTION_DAYS, and the drift gauges of /metrics. A database that is down at start does not stop
 * the app: predictions answer, the writer keeps (a bounded number of) entries and retries, feedback
 * answers 503, and the migrations run once the database answers. The model tier keeps the same
 * log without feedback or the page (openPredictionLog, src/oip/log.ts).
 */
import { projectRoot, type Config } from '../config';
import { openStore, describeUrl } from '../database/open';
import { DatabaseUnavailable, type Store } from '../database/types';
import { LogWriter } from '../database/writer';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { Registry } from '../predictors/registry';
import type { FeedbackDeps } from './feedback';
import { type Describer, loadDescriber } from './features';
import { type InputDescriber, PredictionRecorder } from './recorder';
import { DEFAULT_HOURS, servedModels, summarize } from './summary';

/** The writer's flush interval: also how long feedback waits for another process's log (src/monitoring/feedback.ts). */
export const FLUSH_MS = 100;
/** How often held inputs past their time and old log lines are deleted. */
const SWEEP_MS = 60_000;
/** How often /metrics' drift gauges are computed again (the monitoring page also sets them). */
const DRIFT_MS = 5 * 60_000;
/** While the database is down at start, how often the migrations are tried. */
const MIGRATE_RETRY_MS = 2_000;

export interface MonitoringParts {
  store: Store;
  writer: LogWriter;
  recorder: PredictionRecorder;
  feedback: FeedbackDeps;
  /** Once the registry has loaded: describe inputs with the served versions' files (a vocabulary). */
  modelsLoaded(): Promise<void>;
  close(): Promise<void>;
}

export interface MonitoringOptions {
  registry: Registry;
  log: Logger;
  metrics?: Metrics;
  /** The database, when not DATABASE_URL's (tests). */
  store?: Store;
}

/** The prediction log itself, as each role that answers predictions keeps it (the web's HTTP processes, the model tier). */
export interface PredictionLog {
  store: Store;
  writer: LogWriter;
  recorder: PredictionRecorder;
  /** Runs `work` every `ms` until `close` (errors are the work's to log). */
  every(ms: number, work: () => Promise<unknown>): void;
  /** The timers stopped, the last entries written, the database closed. */
  close(): Promise<void>;
}

/**
 * The database DATABASE_URL names, migrated (or, while it is down, migrated in the background),
 * the batched writer, the recorder (`describer`: the numbers of a fields model's input, worked out
 * by the writer) and the sweeper. Shared by startMonitoring and the model tier (src/oip/log.ts).
 */
export async function openPredictionLog(
  config: Config,
  options: { log: Logger; metrics?: Metrics; store?: Store; describer: InputDescriber },
): Promise<PredictionLog> {
  const { log, metrics } = options;
  const store = options.store ?? (await openStore(config.databaseUrl, { projectRoot: projectRoot(), log }));
  if (config.databaseUrl === undefined && process.env.DYNO !== undefined) {
    log.warn(
      'DATABASE_URL is not set: the prediction log and feedback go to a SQLite file on this dyno, which is lost at every restart (at least daily). Add Heroku Postgres (heroku addons:create heroku-postgresql) to keep them.',
    );
  }
  let timers: NodeJS.Timeout[] = [];
  const migrated = migrate(store, log, (t) => timers.push(t));
  await migrated.first;

  const writer = new LogWriter(store, {
    flushMs: FLUSH_MS,
    log,
    onDrop: (n) => metrics?.logEntriesDropped(n),
    complete: (record, later) => recorder.complete(record, later),
  });
  const recorder: PredictionRecorder = new PredictionRecorder(
    writer,
    options.describer,
    config.keepInputsMs,
    (record) => metrics?.predictionLogged(record.model, record.source, record.label, record.confidence),
  );
  const every = (ms: number, work: () => Promise<unknown>): void => {
    const timer = setInterval(() => void work().catch(() => undefined), ms);
    timer.unref();
    timers.push(timer);
  };
  every(SWEEP_MS, () => store.sweep(Date.now(), Date.now() - config.retentionMs));
  log.info({ database: store.description }, `prediction log on ${store.kind === 'sqlite' ? 'SQLite' : 'Postgres'} (${describeUrl(config.databaseUrl)})`);
  return {
    store,
    writer,
    recorder,
    every,
    async close() {
      for (const t of timers) clearInterval(t);
      timers = [];
      await writer.close();
      await store.close();
    },
  };
}

/** The parts, or null with PREDICTION_LOG=0. */
export async function startMonitoring(config: Config, options: MonitoringOptions): Promise<MonitoringParts | null> {
  if (!config.predictionLog) return null;
  const { registry, metrics } = options;
  let describer: Describer | null = null;
  const { store, writer, recorder, every, close } = await openPredictionLog(config, {
    ...options,
    describer: { describe: (model, input) => (describer === null ? {} : describer.describe(model, input)) },
  });
  const feedback: FeedbackDeps = {
    store,
    writer,
    flushMs: FLUSH_MS,
    model: (name) => {
      const definition = registry.definition(name);
      const card = registry.cards().find((c) => c.name === name);
      return definition === undefined ? undefined : { definition, labels: card?.labels ?? [] };
    },
    onFeedback: (model) => metrics?.feedbackStored(model),
  };
  if (metrics !== undefined) {
    every(DRIFT_MS, async () => {
      if (!registry.ready) return;
      metrics.driftComputed((await summarize(store, servedModels(registry), DEFAULT_HOURS)).models);
    });
  }

  return {
    store,
    writer,
    recorder,
    feedback,
    async modelsLoaded() {
      describer = await loadDescriber(registry.definitions, config.modelsDir, registry.cards());
    },
    close,
  };
}

/**
 * The migrations, now; while the database cannot be reached, again every few seconds in the
 * background (`first` then resolves at once, so the app starts). Any other failure stops start-up.
 */
function migrate(store: Store, log: Logger, keep: (t: NodeJS.Timeout) => void): { first: Promise<void> } {
  const attempt = async (): Promise<boolean> => {
    try {
      await store.migrate();
      return true;
    } catch (err) {
      if (err instanceof DatabaseUnavailable) return false;
      throw err;
    }
  };
  const first = attempt().then((done) => {
    if (done) return;
    log.warn({ database: store.description }, 'the database is not answering: predictions are served and logged once it is back; feedback answers 503 until then');
    const timer = setInterval(() => {
      void attempt().then(
        (ok) => {
          if (!ok) return;
          clearInterval(timer);
          log.info({ database: store.description }, 'database reached: schema up to date');
        },
        (err: unknown) => log.error({ err }, 'database migration failed'),
      );
    }, MIGRATE_RETRY_MS);
    timer.unref();
    keep(timer);
  });
  return { first };
}
