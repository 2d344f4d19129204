/**
 * The inference-backend interface: predictors hand it named tensors and get named tensors back,
 * without knowing whether the model runs in this thread (onnx.ts), in a worker pool, or on a
 * model server speaking the Open Inference Protocol v2. Tensors are plain data so they can cross
 * thread and network boundaries unchanged.
 */
import type { ModelCard, TensorSpec } from '../predictors/types';

export type TensorType = 'float32' | 'uint8' | 'int64' | 'bool' | 'string';

export interface TensorDataMap {
  float32: Float32Array;
  uint8: Uint8Array;
  int64: BigInt64Array;
  /** One byte per element, 0 or 1 (onnxruntime's layout for bool). */
  bool: Uint8Array;
  string: string[];
}

export interface Tensor<T extends TensorType = TensorType> {
  type: T;
  dims: number[];
  data: TensorDataMap[T];
}

export type NamedTensors = Record<string, Tensor>;

/** Where one model's files are: models/<name>/<version>/model.onnx (a URL in the browser engine). */
export interface ModelSpec {
  name: string;
  version: string;
  path: string;
  /** The tensors the card promises (a remote backend checks the model server against them). */
  inputs?: TensorSpec[];
  outputs?: TensorSpec[];
  /** The card's sha256 of model.onnx: the browser engine refuses a file that does not match. */
  sha256?: string;
  /** Its runs started at once in a thread (ModelDefinition.runsPerTurn), unless the backend is told otherwise (ONNX_RUNS_PER_TURN). */
  runsPerTurn?: number;
}

/** The version a model tier runs, and its card when the model tier serves one. */
export interface ServedModel {
  version: string;
  card?: ModelCard;
}

/** The outputs a model computes when a caller does not name any: its card's, except those computed on request. */
export function usualOutputs(spec: Pick<ModelSpec, 'outputs'>): string[] | undefined {
  return spec.outputs?.filter((o) => o.on_request !== true).map((o) => o.name);
}

/** What a caller can say about one infer() call besides its inputs. */
export interface InferOptions {
  /**
   * Aborts when nobody waits for the answer any more (its request was answered, by its deadline's
   * 503 for one, or its client left). Prediction routes set it without passing it through the
   * predictors: see src/inference/cancel-scope.ts.
   */
  signal?: AbortSignal;
  /**
   * The outputs to compute, by name. Absent: the model's usual outputs (its card's, except those
   * marked `on_request`, such as the tensors an explanation is made from). onnxruntime runs only
   * the nodes the requested outputs need, so what nobody asks for is never computed.
   */
  outputs?: readonly string[];
}

export interface InferenceBackend {
  /** Human-readable, e.g. "onnxruntime-node (in process)". */
  readonly description: string;
  /** Loads each model once. Called at start-up, never per request. */
  load(models: ModelSpec[]): Promise<void>;
  /**
   * `options.signal`: the caller no longer wants the answer once it aborts; a backend that queues
   * work skips it instead of starting it (the in-process backend does; others may ignore it).
   */
  infer(model: string, inputs: NamedTensors, options?: InferOptions): Promise<NamedTensors>;
  /** Releases sessions (and threads, for pooled backends). */
  close(): Promise<void>;
  /**
   * Backends whose models live elsewhere (a model server): whether that server can answer now.
   * /readyz reports it. Absent: ready whenever loaded.
   */
  ready?(): Promise<boolean>;
  /**
   * Backends whose model server decides which version runs: `listener` hears the version (and
   * card) each model is served at, at load time and whenever it changes, before the first
   * prediction made by the new version is returned.
   */
  onServed?(listener: (model: string, served: ServedModel) => void): void;
}

export function tensor<T extends TensorType>(type: T, data: TensorDataMap[T], dims: number[]): Tensor<T> {
  return { type, data, dims };
}

/** The output a predictor needs, checked: a model with the wrong outputs is a server bug. */
export function output<T extends TensorType>(outputs: NamedTensors, name: string, type: T): Tensor<T> {
  const t = outputs[name];
  if (t === undefined || t.type !== type) {
    throw new Error(`model output "${name}" missing or not ${type}`);
  }
  return t as Tensor<T>;
}
