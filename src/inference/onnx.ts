/**
 * In-process backend: onnxruntime-node sessions, created once per model at load time.
 * session.run() computes synchronously on the calling thread once started, so a slow model
 * blocks this thread; the worker-pool backend runs this same class inside worker threads.
 */
import * as ort from 'onnxruntime-node';
import { fromOrt, type InferenceBackend, type ModelSpec, type NamedTensors } from './backend';

export interface OnnxOptions {
  /** Threads per session for one operator. 1 is fastest per request under concurrent load. */
  intraOpThreads?: number;
  /** The CPU memory arena keeps freed buffers for reuse: faster, but holds on to peak memory. */
  memoryArena?: boolean;
}

export class OnnxBackend implements InferenceBackend {
  readonly description = 'onnxruntime-node (in process)';
  private readonly sessions = new Map<string, ort.InferenceSession>();

  constructor(private readonly options: OnnxOptions = {}) {}

  async load(models: ModelSpec[]): Promise<void> {
    for (const model of models) {
      const session = await ort.InferenceSession.create(model.path, {
        intraOpNumThreads: this.options.intraOpThreads ?? 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        enableCpuMemArena: this.options.memoryArena ?? false,
        enableMemPattern: false,
      });
      this.sessions.set(model.name, session);
    }
  }

  async infer(model: string, inputs: NamedTensors): Promise<NamedTensors> {
    const session = this.sessions.get(model);
    if (session === undefined) throw new Error(`model "${model}" is not loaded`);
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(inputs)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
    const results = await session.run(feeds);
    const out: NamedTensors = {};
    for (const [name, value] of Object.entries(results)) out[name] = fromOrt(value as ort.Tensor);
    return out;
  }

  async close(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map((s) => s.release()));
  }
}
