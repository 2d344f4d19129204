/**
 * In-process backend: onnxruntime-node sessions, created once per model at load time.
 * session.run() computes synchronously on the calling thread once started, so a slow model
 * blocks this thread; the worker-pool backend runs this same class inside worker threads.
 *
 * At most `runsPerTurn` runs are started at once (default 2). onnxruntime-node starts each run from
 * a setImmediate, so runs asked for together (a burst of decoded uploads) would otherwise all run
 * back to back in one check phase of the event loop while its sockets wait; with a few of a model at a
 * time, the loop polls its sockets between them, and a /healthz or a form post waits for at most
 * two runs of each model. Measured (bench, 32 image uploads in flight, 2 HTTP processes): /healthz p99 37 ms
 * without the gate, 16 ms with 2, 11 ms with 1; images/s equal with 2, 5-10 % lower with 1.
 */
import * as ort from 'onnxruntime-node';
import type { ModelSpec, NamedTensors } from './backend';
import { RunGate } from './gate';
import { OrtSessions } from './ort-sessions';

export interface OnnxOptions {
  /** Threads per session for one operator. 1 is fastest per request under concurrent load. */
  intraOpThreads?: number;
  /** The CPU memory arena keeps freed buffers for reuse: faster, but holds on to peak memory. */
  memoryArena?: boolean;
  /** Runs started at once in this thread; the rest wait in order (0: no limit). Default 2. */
  runsPerTurn?: number;
}

export class OnnxBackend extends OrtSessions {
  readonly description = 'onnxruntime-node (in process)';

  /** One gate per model: a cheap model's run never queues behind a slow one's. */
  private readonly gates = new Map<string, RunGate>();

  constructor(private readonly options: OnnxOptions = {}) {
    super((t) => new ort.Tensor(t.type, t.data, t.dims));
  }

  override infer(model: string, inputs: NamedTensors): Promise<NamedTensors> {
    let gate = this.gates.get(model);
    if (gate === undefined) {
      gate = new RunGate(this.options.runsPerTurn ?? 2);
      this.gates.set(model, gate);
    }
    return gate.run(() => super.infer(model, inputs));
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
