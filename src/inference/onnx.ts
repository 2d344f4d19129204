/**
 * In-process backend: onnxruntime-node sessions, created once per model at load time.
 * session.run() computes synchronously on the calling thread once started, so a slow model
 * blocks this thread; the worker-pool backend runs this same class inside worker threads.
 *
 * At most `runsPerTurn` runs of a model are started at once: the option when given (ONNX_RUNS_PER_TURN),
 * else the model's own (ModelSpec.runsPerTurn, from its definition), else 2. onnxruntime-node starts
 * each run from a setImmediate, so runs asked for together (a burst of decoded uploads) would
 * otherwise all run back to back in one check phase of the event loop while its sockets wait; with a
 * few of a model at a time, the loop polls its sockets between them, and a /healthz or a form post
 * waits for at most that many runs of each model. Measured (bench, 32 image uploads in flight, 2 HTTP
 * processes): /healthz p99 37 ms without the gate, 16 ms with 2, 11 ms with 1. With 1 for every
 * model, 5 alternating rounds (2026-12-07): a new connection's /healthz p99 18.2 ms against 27.7 with
 * 2, images/s 725 against 686, but reviews and form posts at 32 connections 6-7 % slower (a turn of
 * the loop for each cheap run): so a model says its own (the cell classifier 1: 0.7 ms a run), and
 * the others keep 2.
 *
 * Its queue is bounded as the worker pool's is (this backend serves alone when WEB_CONCURRENCY > 1
 * or INFERENCE_WORKERS=0): `queueLimit` runs waiting per model, then 503 overloaded; a run that
 * waited longer than `maxWaitMs`, or whose request no longer waits (the signal: given to infer(), or
 * the prediction route's, src/inference/cancel-scope.ts), is not started. queueDepth() and
 * busyWorkers() feed /metrics (inference_queue_depth, inference_workers_busy: runs in progress).
 */
import * as ort from 'onnxruntime-node';
import type { InferOptions, ModelSpec, NamedTensors } from './backend';
import { currentSignal } from './cancel-scope';
import { RunGate } from './gate';
import { OrtSessions } from './ort-sessions';

export interface OnnxOptions {
  /** Threads per session for one operator. 1 is fastest per request under concurrent load. */
  intraOpThreads?: number;
  /** The CPU memory arena keeps freed buffers for reuse: faster, but holds on to peak memory. */
  memoryArena?: boolean;
  /** Runs of a model started at once in this thread, for every model; the rest wait in order (0: no limit). Absent: each model's own, else 2. */
  runsPerTurn?: number;
  /** Runs waiting per model before infer() refuses with 503 overloaded (QUEUE_LIMIT). Absent: no limit. */
  queueLimit?: number;
  /** A run still waiting after this long is not started: 503 timeout (REQUEST_TIMEOUT_MS). Absent: no limit. */
  maxWaitMs?: number;
}

/** Runs of a model started at once when neither the option nor the model says. */
export const DEFAULT_RUNS_PER_TURN = 2;

export class OnnxBackend extends OrtSessions {
  readonly description = 'onnxruntime-node (in process)';

  /** One gate per model: a cheap model's run never queues behind a slow one's. */
  private readonly gates = new Map<string, RunGate>();

  constructor(private readonly options: OnnxOptions = {}) {
    super((t) => new ort.Tensor(t.type, t.data, t.dims));
  }

  override async load(models: ModelSpec[]): Promise<void> {
    await super.load(models);
    // Each model's gate from the start (/metrics shows its queue), with the model's own limit.
    for (const m of models) this.gate(m.name, m.runsPerTurn);
  }

  override infer(model: string, inputs: NamedTensors, options: InferOptions = {}): Promise<NamedTensors> {
    return this.gate(model).run(() => super.infer(model, inputs, { outputs: options.outputs }), options.signal ?? currentSignal());
  }

  private gate(model: string, own?: number): RunGate {
    let gate = this.gates.get(model);
    if (gate === undefined) {
      const { queueLimit, maxWaitMs } = this.options;
      gate = new RunGate(this.options.runsPerTurn ?? own ?? DEFAULT_RUNS_PER_TURN, { queueLimit, maxWaitMs });
      this.gates.set(model, gate);
    }
    return gate;
  }

  /** Runs waiting per model (for /metrics: inference_queue_depth). */
  queueDepth(): Record<string, number> {
    const depth: Record<string, number> = {};
    for (const [model, gate] of this.gates) depth[model] = gate.queued;
    return depth;
  }

  /** Runs in progress, all models (for /metrics: inference_workers_busy). */
  busyWorkers(): number {
    let running = 0;
    for (const gate of this.gates.values()) running += gate.running;
    return running;
  }

  protected createSession(model: ModelSpec): Promise<ort.InferenceSession> {
    return ort.InferenceSession.create(model.path, {
      intraOpNumThreads: this.options.intraOpThreads ?? 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableCpuMemArena: this.options.memoryArena ?? false,
      enableMemPattern: false,
      // A graph whose weights are stored in 8 bits (DequantizeLinear on int8 initializers, the
      // 8-bit versions training/quantize.py writes) is folded back to float weights at load: with
      // the QDQ fusions kept, onnxruntime dequantizes every weight on every run (1.7× slower,
      // training/eval-quantized.ts). No effect on a graph without QDQ nodes.
      extra: { session: { disable_quant_qdq: '1' } },
    });
  }
}
