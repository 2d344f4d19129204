/**
 * The inference backend the configuration asks for, shared by the roles that hold models: the web
 * role in one process, a cluster's model host, and the model tier (ROLE=models).
 */
import type { Config } from '../config';
import type { QueueStats } from '../metrics';
import type { InferenceBackend } from './backend';

/** onnxruntime sessions in this thread. */
export async function inProcessBackend(config: Pick<Config, 'onnxThreads' | 'onnxRunsPerTurn'>): Promise<InferenceBackend> {
  const { OnnxBackend } = await import('./onnx');
  return new OnnxBackend({ intraOpThreads: config.onnxThreads, runsPerTurn: config.onnxRunsPerTurn });
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

/** The backend's queue statistics, if it keeps a queue (the worker pool). */
export function queueStats(backend: InferenceBackend): QueueStats | null {
  const b = backend as Partial<QueueStats>;
  return typeof b.queueDepth === 'function' && typeof b.busyWorkers === 'function' ? (b as QueueStats) : null;
}
