/**
 * The inference backend the configuration asks for, shared by the roles that hold models: the web
 * role in one process, a cluster's model host, and the model tier (ROLE=models).
 */
import type { Config } from '../config';
import type { QueueStats } from '../metrics';
import type { InferenceBackend } from './backend';

/**
 * onnxruntime sessions in this thread, with the same bounds as the worker pool's queue: QUEUE_LIMIT
 * runs waiting per model, and none started after REQUEST_TIMEOUT_MS of waiting (the request's
 * deadline has answered it by then). This is the backend of every HTTP process when there are
 * several (WEB_CONCURRENCY > 1) and of INFERENCE_WORKERS=0.
 */
export async function inProcessBackend(
  config: Pick<Config, 'onnxThreads' | 'onnxRunsPerTurn' | 'queueLimit' | 'requestTimeoutMs'>,
): Promise<InferenceBackend> {
  const { OnnxBackend } = await import('./onnx');
  return new OnnxBackend({
    intraOpThreads: config.onnxThreads,
    runsPerTurn: config.onnxRunsPerTurn,
    queueLimit: config.queueLimit,
    maxWaitMs: config.requestTimeoutMs,
  });
}

/**
 * Worker threads (default) or this thread (INFERENCE_WORKERS=0). Models in `inline` run in this
 * thread either way.
 */
export async function localBackend(config: Config, inline: readonly string[]): Promise<InferenceBackend> {
  if (config.inferenceWorkers === 0) return inProcessBackend(config);
  const { WorkerPool } = await import('./pool');
  return new WorkerPool({
    workers: config.inferenceWorkers,
    queueLimit: config.queueLimit,
    maxWaitMs: config.requestTimeoutMs,
    inline,
    replicas: config.inferenceReplicas,
    nice: config.inferenceNice,
    resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 4 },
    onnx: { intraOpThreads: config.onnxThreads, runsPerTurn: config.onnxRunsPerTurn },
  });
}

/** The backend's queue statistics, if it keeps a queue (the worker pool, the in-process backend). */
export function queueStats(backend: InferenceBackend): QueueStats | null {
  const b = backend as Partial<QueueStats>;
  return typeof b.queueDepth === 'function' && typeof b.busyWorkers === 'function' ? (b as QueueStats) : null;
}
