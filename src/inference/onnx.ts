/**
 * In-process backend: onnxruntime-node sessions, created once per model at load time.
 * session.run() computes synchronously on the calling thread once started, so a slow model
 * blocks this thread; the worker-pool backend runs this same class inside worker threads.
 */
import * as ort from 'onnxruntime-node';
import type { ModelSpec } from './backend';
import { OrtSessions } from './ort-sessions';

export interface OnnxOptions {
  /** Threads per session for one operator. 1 is fastest per request under concurrent load. */
  intraOpThreads?: number;
  /** The CPU memory arena keeps freed buffers for reuse: faster, but holds on to peak memory. */
  memoryArena?: boolean;
}

export class OnnxBackend extends OrtSessions {
  readonly description = 'onnxruntime-node (in process)';

  constructor(private readonly options: OnnxOptions = {}) {
    super((t) => new ort.Tensor(t.type, t.data, t.dims));
  }

  protected createSession(model: ModelSpec): Promise<ort.InferenceSession> {
    return ort.InferenceSession.create(model.path, {
      intraOpNumThreads: this.options.intraOpThreads ?? 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableCpuMemArena: this.options.memoryArena ?? false,
      enableMemPattern: false,
    });
  }
}
