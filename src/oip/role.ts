/**
 * ROLE=models: this process is the model tier. It serves the Open Inference Protocol v2 on PORT
 * (createModelServer) for every model of MODELS_DIR, run by the same inference backend as the web
 * role (the worker pool, INFERENCE_WORKERS, QUEUE_LIMIT), with the same /metrics and the same
 * graceful shutdown. It listens at once and answers 503 until the models are loaded.
 *
 * New model versions are loaded without a restart and without dropping a request: on
 * `POST /v2/repository/models/{name}/load` (Triton's repository extension) or on SIGHUP (every
 * model), see store.ts.
 *
 * It logs the runs its clients ask for (./log.ts), in the database DATABASE_URL names, unless
 * PREDICTION_LOG=0; the web tier's own calls are logged by the web tier.
 *
 * It does not start without INFERENCE_TOKEN on an address other machines can reach, unless
 * ALLOW_NO_TOKEN=1 (loadConfig says so and which variables to set).
 */
import type { Config } from '../config';
import { localBackend } from '../inference/configured';
import { METRICS_OFF, metricsToken } from '../http/metrics-endpoint';
import { serve } from '../http/serve';
import { Lifecycle } from '../lifecycle';
import type { Logger } from '../log';
import { Metrics } from '../metrics';
import { MODELS } from '../models';
import type { ModelDefinition } from '../models/model';
import { openTierLog } from './log';
import { createModelServer } from './server';
import { ModelStore } from './store';

/** `table`: the model definitions whose examples the document shows (default MODELS). */
export async function serveModels(config: Config, log: Logger, started: bigint, table: readonly ModelDefinition[] = MODELS): Promise<void> {
  const lifecycle = new Lifecycle();
  const metrics = new Metrics();
  const store = new ModelStore({
    repo: config.modelsDir,
    createBackend: () => localBackend(config, config.inferenceInline),
    instrument: (backend) => metrics.instrument(backend),
    log,
  });
  metrics.watchQueue(store);
  // The prediction log of the runs clients ask for themselves (./log.ts); PREDICTION_LOG=0: none.
  const logged = await openTierLog(config, { log, metrics, table });
  const app = createModelServer({ config, store, lifecycle, log, metrics, table, ...(logged === null ? {} : { tierLog: logged.tierLog }) });
  if (metricsToken(config, config.inferenceToken) === null) log.info(METRICS_OFF);
  // Reached only on loopback or with ALLOW_NO_TOKEN=1 (loadConfig refuses the rest).
  if (config.inferenceToken === undefined) log.warn({ host: config.host }, 'INFERENCE_TOKEN is unset: any client that reaches this address can run the models');
  const onClose = async (): Promise<void> => {
    await store.close();
    await logged?.predictionLog.close();
  };
  await serve(app, { config, lifecycle, log, name: 'ml-forms model server', onClose });

  process.on('SIGHUP', () => {
    log.info('SIGHUP: reading the model repository again');
    store.reload().then(
      (changed) => log.info({ changed }, changed.length > 0 ? 'repository reloaded' : 'repository unchanged'),
      (err: unknown) => log.error({ err }, 'reload failed; the models already loaded keep serving'),
    );
  });

  await store.reload();
  const startupMs = Math.round(Number(process.hrtime.bigint() - started) / 1e6);
  log.info({ models: store.entries().map((e) => `${e.name}@${e.version}`), startupMs, token: config.inferenceToken !== undefined }, 'model server ready');
}
