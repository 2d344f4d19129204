/**
 * One inference worker thread: loads its models into an in-thread OnnxBackend, then answers
 * {id, model, inputs} messages one at a time with {id, outputs, runMs} or {id, error}. The pool
 * (pool.ts) never sends a second job before the first has answered, because session.run() keeps
 * this thread busy anyway.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { ModelSpec, NamedTensors } from './backend';
import { niceThisThread } from '../priority';
import { OnnxBackend, type OnnxOptions } from './onnx';

export interface WorkerInit {
  /** Marks a thread started by the pool; pool.ts imports this module's types too, and must not start it. */
  inferenceWorker: true;
  models: ModelSpec[];
  onnx: OnnxOptions;
  /** Nice value for this thread (Linux), so the event loop that answers HTTP wins the CPU. */
  nice?: number;
}

export interface JobMessage {
  id: number;
  model: string;
  inputs: NamedTensors;
  /** InferOptions.outputs: absent, the model's usual outputs. */
  outputs?: readonly string[];
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'load-error'; message: string }
  | { type: 'result'; id: number; outputs: NamedTensors; runMs: number }
  | { type: 'error'; id: number; message: string };

/** Typed arrays that own their whole buffer, so they can be transferred instead of copied. */
export function transferList(tensors: NamedTensors): ArrayBuffer[] {
  const list: ArrayBuffer[] = [];
  for (const t of Object.values(tensors)) {
    if (Array.isArray(t.data)) continue;
    const buf = t.data.buffer;
    if (buf instanceof ArrayBuffer && t.data.byteOffset === 0 && t.data.byteLength === buf.byteLength && !list.includes(buf)) {
      list.push(buf);
    }
  }
  return list;
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('worker.ts must run as a worker thread');
  const init = workerData as WorkerInit;
  // Before the sessions exist, so onnxruntime's own threads (intra-op > 1) inherit the value.
  if (init.nice !== undefined && init.nice !== 0) niceThisThread(init.nice);
  const backend = new OnnxBackend(init.onnx);
  try {
    await backend.load(init.models);
  } catch (err) {
    port.postMessage({ type: 'load-error', message: err instanceof Error ? err.message : String(err) } satisfies WorkerMessage);
    return;
  }
  port.on('message', (job: JobMessage) => {
    const started = performance.now();
    backend.infer(job.model, job.inputs, { outputs: job.outputs }).then(
      (outputs) => {
        const msg: WorkerMessage = { type: 'result', id: job.id, outputs, runMs: performance.now() - started };
        try {
          port.postMessage(msg, transferList(outputs));
        } catch {
          port.postMessage(msg); // an output buffer that cannot be transferred (external memory): copy it
        }
      },
      (err: unknown) => {
        port.postMessage({ type: 'error', id: job.id, message: err instanceof Error ? err.message : String(err) } satisfies WorkerMessage);
      },
    );
  });
  port.postMessage({ type: 'ready' } satisfies WorkerMessage);
}

if (!isMainThread && (workerData as Partial<WorkerInit> | null)?.inferenceWorker === true) void main();
