/**
 * Worker-pool backend: the same OnnxBackend, run inside N worker threads so that session.run()
 * (synchronous once started) never blocks the event loop that answers HTTP. One FIFO queue feeds
 * idle workers one job each; a model with `queueLimit` jobs already waiting gets a 503 with
 * Retry-After at once instead of piling up, and a job that waited longer than `maxWaitMs` is
 * dropped (its request has already been answered by the deadline).
 *
 * Models listed in `inline` run in this thread instead: for a model that takes microseconds (a
 * few weights) the round trip to a worker costs more than the inference, and loading it once saves
 * memory. A crashed worker fails its one job with a 500, and is replaced.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { unavailable } from '../errors';
import type { InferOptions, InferenceBackend, ModelSpec, NamedTensors } from './backend';
import { currentSignal } from './cancel-scope';
import { OnnxBackend, type OnnxOptions } from './onnx';
import { type JobMessage, type WorkerInit, type WorkerMessage, transferList } from './worker';

export interface PoolOptions {
  /** Worker threads (≥ 1). */
  workers: number;
  /** Jobs waiting (not yet running) per model before infer() throws 503 overloaded. */
  queueLimit: number;
  /** A job still waiting after this long is rejected with 503 timeout instead of being run. */
  maxWaitMs?: number;
  /** Models run in the calling thread rather than in the workers. */
  inline?: readonly string[];
  /**
   * Workers holding a model, when fewer than all: a model whose session is large can live in one
   * worker only (the text model's first vocabulary took ~120 MB per session; today's ~12 MB).
   */
  replicas?: Readonly<Record<string, number>>;
  onnx?: OnnxOptions;
  /** Retry-After seconds sent with "overloaded". */
  retryAfterSeconds?: number;
  /** Nice value of the worker threads (Linux; 0 = same as the event loop). */
  nice?: number;
  /** The worker to run instead of worker.ts (tests: a stand-in speaking the same messages). */
  workerScript?: { script: string; eval: boolean };
  /** V8 heap limits per worker: they hold little JavaScript, mostly typed arrays in flight. */
  resourceLimits?: { maxOldGenerationSizeMb?: number; maxYoungGenerationSizeMb?: number };
}

interface Job {
  id: number;
  model: string;
  inputs: NamedTensors;
  outputs?: readonly string[];
  enqueuedAt: number;
  /** Aborted when nobody waits for the answer any more: the job is dropped instead of run. */
  signal?: AbortSignal;
  resolve: (outputs: NamedTensors) => void;
  reject: (err: unknown) => void;
}

interface Slot {
  worker: Worker;
  /** The models this worker holds. */
  models: Set<string>;
  job: Job | null;
  ready: boolean;
}

/**
 * worker.js beside this file when compiled (dist/); else worker.ts loaded through tsx's CommonJS
 * hook (under tsx and ts-jest; `execArgv: ['--import', 'tsx']` does not reach workers on Node 20).
 */
export function workerScript(dir: string = __dirname): { script: string; eval: boolean } {
  const js = path.join(dir, 'worker.js');
  if (fs.existsSync(js)) return { script: js, eval: false };
  const ts = path.join(dir, 'worker.ts');
  const script = `require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(ts)});`;
  return { script, eval: true };
}

/**
 * Typed-array inputs copied into buffers of their own (a view may share a larger buffer), which
 * are then moved to the worker. Decoded pixels cannot be moved without this copy: sharp's output
 * is a Node Buffer, which postMessage never transfers, and its transferable toUint8Array() kept
 * libvips' copy of every image (sharp 0.35.5: RSS grew by width × height × 3 per call). The
 * decode budget (src/memory-budget.ts) keeps the originals in flight few, and so the copies.
 */
function ownedCopy(inputs: NamedTensors): NamedTensors {
  const out: NamedTensors = {};
  for (const [name, t] of Object.entries(inputs)) {
    out[name] = Array.isArray(t.data) ? t : ({ ...t, data: t.data.slice() } as typeof t);
  }
  return out;
}

export class WorkerPool implements InferenceBackend {
  readonly description: string;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private readonly waiting = new Map<string, number>();
  private readonly inlineModels: Set<string>;
  private readonly inlineBackend: OnnxBackend;
  private workerModels: ModelSpec[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: PoolOptions) {
    if (!(options.workers >= 1)) throw new Error('a worker pool needs at least one worker');
    this.inlineModels = new Set(options.inline ?? []);
    this.inlineBackend = new OnnxBackend(options.onnx);
    const inline = this.inlineModels.size > 0 ? `; in process: ${[...this.inlineModels].join(', ')}` : '';
    this.description = `onnxruntime-node (${options.workers} worker thread${options.workers === 1 ? '' : 's'}${inline})`;
  }

  async load(models: ModelSpec[]): Promise<void> {
    await this.inlineBackend.load(models.filter((m) => this.inlineModels.has(m.name)));
    this.workerModels = models.filter((m) => !this.inlineModels.has(m.name));
    if (this.workerModels.length === 0) return;
    await Promise.all(Array.from({ length: this.options.workers }, (_, i) => this.spawn(this.modelsForWorker(i))));
  }

  infer(model: string, inputs: NamedTensors, options: InferOptions = {}): Promise<NamedTensors> {
    if (this.inlineModels.has(model)) return this.inlineBackend.infer(model, inputs, options);
    // The request this is for (src/inference/cancel-scope.ts): a job whose request was answered
    // or whose client left is dropped from the queue, never started.
    const signal = options.signal ?? currentSignal();
    if (signal?.aborted === true) return Promise.reject(unavailable('timeout', 'The request was already answered; the prediction was not run.', 1));
    if (this.closed) return Promise.reject(unavailable('shutting_down', 'The server is shutting down. Try again.', 1));
    if (!this.workerModels.some((m) => m.name === model)) return Promise.reject(new Error(`model "${model}" is not loaded`));
    const idle = this.slots.find((s) => s.ready && s.job === null && s.models.has(model));
    if (idle === undefined && (this.waiting.get(model) ?? 0) >= this.options.queueLimit) {
      return Promise.reject(
        unavailable(
          'overloaded',
          'The server is busy with other predictions. Try again in a moment.',
          this.options.retryAfterSeconds ?? 1,
        ),
      );
    }
    return new Promise<NamedTensors>((resolve, reject) => {
      const job: Job = { id: this.nextId++, model, inputs: ownedCopy(inputs), outputs: options.outputs, enqueuedAt: performance.now(), signal, resolve, reject };
      if (idle !== undefined) {
        this.run(idle, job);
      } else {
        this.queue.push(job);
        this.waiting.set(model, (this.waiting.get(model) ?? 0) + 1);
      }
    });
  }

  /** Jobs waiting per model (for /metrics). */
  queueDepth(): Record<string, number> {
    const depth: Record<string, number> = {};
    for (const m of this.workerModels) depth[m.name] = this.waiting.get(m.name) ?? 0;
    return depth;
  }

  /** Workers running a job right now (for /metrics). */
  busyWorkers(): number {
    return this.slots.filter((s) => s.job !== null).length;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) {
      job.reject(unavailable('shutting_down', 'The server is shutting down. Try again.', 1));
    }
    this.waiting.clear();
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
    await this.inlineBackend.close();
  }

  /** Worker i holds every model whose replica count is more than i (at least one worker each). */
  private modelsForWorker(i: number): ModelSpec[] {
    return this.workerModels.filter((m) => i < Math.max(1, this.options.replicas?.[m.name] ?? Infinity));
  }

  private spawn(models: ModelSpec[]): Promise<void> {
    const { script, eval: isEval } = this.options.workerScript ?? workerScript();
    const init: WorkerInit = { inferenceWorker: true, models, onnx: this.options.onnx ?? {}, nice: this.options.nice };
    const worker = new Worker(script, { workerData: init, eval: isEval, resourceLimits: this.options.resourceLimits });
    const slot: Slot = { worker, models: new Set(models.map((m) => m.name)), job: null, ready: false };
    this.slots.push(slot);
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (msg: WorkerMessage) => {
        switch (msg.type) {
          case 'ready':
            slot.ready = true;
            resolve();
            this.dispatch(slot);
            break;
          case 'load-error':
            reject(new Error(`inference worker could not load the models: ${msg.message}`));
            void worker.terminate();
            break;
          case 'result':
          case 'error': {
            const job = slot.job;
            slot.job = null;
            if (job !== null && job.id === msg.id) {
              if (msg.type === 'result') job.resolve(msg.outputs);
              else job.reject(new Error(`inference failed: ${msg.message}`));
            }
            this.dispatch(slot);
            break;
          }
        }
      });
      worker.on('error', (err) => {
        if (!slot.ready) reject(err);
        slot.job?.reject(err);
        slot.job = null;
      });
      worker.on('exit', (code) => {
        const i = this.slots.indexOf(slot);
        if (i >= 0) this.slots.splice(i, 1);
        slot.job?.reject(new Error(`inference worker exited with code ${code}`));
        slot.job = null;
        if (!slot.ready) reject(new Error(`inference worker exited with code ${code} while loading`));
        // Replace a worker that died while serving, unless we are closing.
        if (slot.ready && !this.closed) {
          this.spawn(models).catch((err: unknown) => console.error('could not replace an inference worker', err));
        }
      });
    });
  }

  private run(slot: Slot, job: Job): void {
    slot.job = job;
    const msg: JobMessage = { id: job.id, model: job.model, inputs: job.inputs, outputs: job.outputs };
    slot.worker.postMessage(msg, transferList(job.inputs));
  }

  /** Give an idle worker the oldest job it can run that is still worth running. */
  private dispatch(slot: Slot): void {
    if (!slot.ready || slot.job !== null || this.closed) return;
    const maxWait = this.options.maxWaitMs ?? Infinity;
    const now = performance.now();
    for (let i = 0; i < this.queue.length; ) {
      const job = this.queue[i] as Job;
      const stale = now - job.enqueuedAt > maxWait || job.signal?.aborted === true;
      if (!stale && !slot.models.has(job.model)) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.waiting.set(job.model, (this.waiting.get(job.model) ?? 1) - 1);
      if (stale) {
        job.reject(unavailable('timeout', 'The prediction waited too long in the queue. Try again in a moment.', 1));
        continue;
      }
      this.run(slot, job);
      return;
    }
  }
}
